"""``worker start``, ``stop``, ``list``: the processes live in ``queuectl.worker``."""

from __future__ import annotations

from queuectl.cli import open_queue, print_json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from argparse import Namespace


def cmd_worker_start(args: Namespace) -> int:
    from queuectl.worker.supervisor import start

    return start(args.db, args.count, args.queues, args.burst, args.detach, args.log_format)


def cmd_worker_stop(args: Namespace) -> int:
    from queuectl.timefmt import parse_duration
    from queuectl.worker.control import stop_workers

    timeout = parse_duration(args.timeout, "--timeout")
    with open_queue(args) as queue:
        return stop_workers(queue, timeout, now=args.now)


def cmd_worker_list(args: Namespace) -> int:
    with open_queue(args, read_only=True) as queue:
        workers = queue.workers()
    if args.json:
        print_json([w.to_dict() for w in workers])
    else:
        import sys

        from queuectl.render import screen, workers_table

        sys.stderr.write(f"workers of {queue.where.shown}\n")  # which queue: not table data
        print(workers_table(workers, screen(sys.stdout)))
    return 0
