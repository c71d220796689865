"""``purge``: delete ended jobs, their attempts and log files; the statistics stay."""

from __future__ import annotations

import sys

from queuectl.cli import open_queue, print_json
from queuectl.errors import InvalidInput

TYPE_CHECKING = False
if TYPE_CHECKING:
    from argparse import Namespace

DEFAULT_STATES = ("completed", "cancelled")  # dead jobs are evidence: named to be purged


def cmd_purge(args: Namespace) -> int:
    from queuectl.api import check_final
    from queuectl.timefmt import iso, parse_duration

    states = check_final(args.states or DEFAULT_STATES)
    older = 0.0 if args.older_than is None else parse_duration(args.older_than, "--older-than")
    if not (args.dry_run or args.yes or sys.stdin.isatty()):
        raise InvalidInput(
            "purge deletes jobs for good: confirm with --yes (there is no terminal to ask on)"
        )
    with open_queue(args, read_only=args.dry_run) as queue:
        before = queue.now() - older
        counts = queue.purgeable(states, before, args.queue)
        if args.dry_run or not sum(counts.values()):
            return _done(args, counts, before, dry_run=args.dry_run)
        if not args.yes and not _confirmed(
            f"purge {_jobs(counts)} that ended before {iso(before)}, with their attempts "
            "and log files? Statistics are kept. [y/N] "
        ):
            sys.stderr.write("nothing was purged\n")
            return 1
        done = queue.purge(states, before, args.queue)
    return _done(args, done, before, dry_run=False)


def _done(args: Namespace, counts: dict[str, int], before: float, dry_run: bool) -> int:
    """What was (or with --dry-run, would be) purged: JSON on stdout, or one line."""
    from queuectl.timefmt import iso

    total = sum(counts.values())
    if args.json:
        print_json({"dry_run": dry_run, "before": iso(before), "jobs": counts, "total": total})
    elif dry_run:
        print(f"would purge {_jobs(counts)} that ended before {iso(before)}")
    else:
        sys.stderr.write(f"purged {_jobs(counts)}\n" if total else "nothing to purge\n")
    return 0


def _jobs(counts: dict[str, int]) -> str:
    """``12 jobs (10 completed, 2 cancelled)``."""
    total = sum(counts.values())
    each = ", ".join(f"{n} {state}" for state, n in counts.items())
    return f"{total} job{'s' if total != 1 else ''} ({each})"


def _confirmed(question: str) -> bool:
    """Ask on the terminal (the question on stderr, so stdout stays data): y or yes."""
    sys.stderr.write(question)
    sys.stderr.flush()
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")
