"""``dlq list``, ``dlq retry``, ``dlq purge``: the jobs that ran out of retries."""

from __future__ import annotations

import sys

from queuectl.cli import open_queue, print_json
from queuectl.errors import InvalidInput

TYPE_CHECKING = False
if TYPE_CHECKING:
    from argparse import Namespace
    from collections.abc import Callable

    from queuectl.api import Queue


def cmd_dlq_list(args: Namespace) -> int:
    with open_queue(args) as queue:
        jobs = queue.dlq()
    if args.json:
        print_json([job.to_dict() for job in jobs])
    else:
        from queuectl.render import jobs_table, screen

        print(jobs_table(jobs, screen(sys.stdout)) if jobs else "the dead letter queue is empty")
    return 0


def cmd_dlq_retry(args: Namespace) -> int:
    ids = _ids(args)
    return _act(args, "retried", lambda queue: queue.dlq_retry(ids))


def cmd_dlq_purge(args: Namespace) -> int:
    ids = _ids(args)
    return _act(args, "purged", lambda queue: queue.dlq_purge(ids))


def _ids(args: Namespace) -> list[str] | None:
    if args.all == bool(args.ids):
        raise InvalidInput(f"dlq {args.dlq}: name job ids or give --all (not both)")
    return None if args.all else list(args.ids)


def _act(args: Namespace, verb: str, act: Callable[[Queue], list[str]]) -> int:
    with open_queue(args) as queue:
        done = act(queue)
    for job_id in done:
        print(job_id)
    sys.stderr.write(f"{verb} {len(done)} job{'s' if len(done) != 1 else ''}\n")
    return 0
