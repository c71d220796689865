"""Changing what is queued: ``rerun``, ``edit``, ``run-now``."""

from __future__ import annotations

import sys

from queuectl.cli import PROG, open_queue

TYPE_CHECKING = False
if TYPE_CHECKING:
    from argparse import Namespace

    from queuectl.backends.results import Changes


def cmd_rerun(args: Namespace) -> int:
    with open_queue(args) as queue:
        return _report(queue.rerun(args.ids, args.with_dependents), "reran {}")


def cmd_run_now(args: Namespace) -> int:
    with open_queue(args) as queue:
        return _report(queue.run_now(args.ids), "{} due now")


def cmd_edit(args: Namespace) -> int:
    with open_queue(args) as queue:  # opened only once the changes are found valid
        job = queue.edit(
            args.id,
            command=args.shell,
            priority=args.priority,
            queue=args.queue,
            run_at=args.run_at,
            delay=args.delay,
            max_retries=args.max_retries,
            timeout=args.timeout,
            limits=args.limit,
            clean_env=args.clean_env,
        )
    print(job.id)
    return 0


def _report(changes: Changes, summary: str) -> int:
    """The ids changed on stdout; one line on stderr per job left as it was, and the
    count. Exit 1 when any job was refused: the others are changed all the same."""
    for job_id in changes.done:
        print(job_id)
    for refusal in changes.refused.values():
        sys.stderr.write(f"{PROG}: error: {refusal}\n")
    count = len(changes.done)
    sys.stderr.write(summary.format(f"{count} job{'s' if count != 1 else ''}") + "\n")
    return 1 if changes.refused else 0
