"""``queue list``, ``queue pause``, ``queue resume``, ``queue set``: queues as objects."""

from __future__ import annotations

import sys

from queuectl.cli import open_queue, print_json
from queuectl.errors import InvalidInput

TYPE_CHECKING = False
if TYPE_CHECKING:
    from argparse import Namespace

    from queuectl.queues import QueueInfo


def cmd_queue_list(args: Namespace) -> int:
    with open_queue(args, read_only=True) as queue:
        found, now = queue.queues(), queue.now()
    if args.json:
        print_json([q.to_dict(now) for q in found])
    elif not found:
        print("no queues yet")
    else:
        print("\n".join(_line(q, now) for q in found))
    return 0


def _line(info: QueueInfo, now: float) -> str:
    """The queue's summary (pause, limits as used/limit), its jobs and workers."""
    counts = ", ".join(f"{state} {n}" for state, n in (info.counts or {}).items() if n)
    workers = f"{info.workers} worker{'s' if info.workers != 1 else ''}"
    return f"{info.summary(now)}  [{counts or 'no jobs'}; {workers}]"


def cmd_queue_pause(args: Namespace) -> int:
    from queuectl.identity import hostname

    names = _names(args)
    duration = None
    if args.duration is not None:
        from queuectl.timefmt import parse_duration

        duration = parse_duration(args.duration, "--for")
        if duration <= 0:
            raise InvalidInput(f"--for: expected a duration above 0, got {args.duration!r}")
    by = f"{_user()}@{hostname()}"
    with open_queue(args) as queue:
        done = queue.pause(names, duration, args.reason, by)
    return _report(done, "paused")


def cmd_queue_resume(args: Namespace) -> int:
    names = _names(args)
    with open_queue(args) as queue:
        done = queue.resume(names)
    return _report(done, "resumed")


def cmd_queue_set(args: Namespace) -> int:
    from queuectl.queues import (
        parse_concurrency,
        parse_limits,
        parse_no_retry_on,
        parse_rate,
        parse_timeout,
    )

    changes: dict[str, object] = {}
    if args.concurrency is not None:
        changes["concurrency"] = parse_concurrency(args.concurrency)
    if args.rate is not None:
        changes["rate"] = parse_rate(args.rate)
    if args.timeout is not None:
        changes["timeout"] = parse_timeout(args.timeout)
    if args.no_retry_on is not None:
        changes["no_retry_on"] = parse_no_retry_on(args.no_retry_on)
    if args.limit is not None:
        changes["limits"] = parse_limits(args.limit)
    if not changes:
        raise InvalidInput(
            "queue set: give --concurrency, --rate, --timeout, --no-retry-on or --limit"
        )
    with open_queue(args) as queue:
        queue.set_queue(args.name, changes)
    sys.stderr.write(f"queue {args.name} set\n")
    return 0


def _names(args: Namespace) -> list[str] | None:
    if args.all == bool(args.names):
        raise InvalidInput(f"queue {args.queue_action}: name queues or give --all (not both)")
    from queuectl.jobspec import check_queue

    return None if args.all else [check_queue(n) for n in args.names]


def _report(done: list[str], verb: str) -> int:
    for name in done:
        print(name)
    sys.stderr.write(f"{verb} {len(done)} queue{'s' if len(done) != 1 else ''}\n")
    return 0


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
