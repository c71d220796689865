"""``worker start``, ``stop``, ``list``, ``unit``: the processes live in ``queuectl.worker``."""

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


def cmd_worker_unit(args: Namespace) -> int:
    """A systemd unit on stdout (cli.unit); what the reader should know on stderr. The
    queue's own stop-timeout, kill-grace and hook-timeout set TimeoutStopSec: read, never
    created (a queue not made yet has the defaults, which the unit then says)."""
    import os
    import sys

    from queuectl.cli.unit import check_user, executable, render
    from queuectl.config import Settings
    from queuectl.credentials import carries_password
    from queuectl.errors import NotFound
    from queuectl.jobspec import check_queues

    user = None if args.user is None else check_user(args.user)
    queues = check_queues(args.queues) if args.queues else None
    notes = []
    queue = open_queue(args, read_only=True)
    where = queue.where
    try:
        with queue:
            settings = queue.settings
    except NotFound:
        settings = Settings({})
        notes.append(
            f"no queue at {where.shown} yet: the worker creates it; the unit has the default "
            "stop-timeout, kill-grace and hook-timeout"
        )
    if user is None:
        user = _current_user()
    if user is None:
        notes.append("the unit runs the worker as root: --user NAME runs it as that user")
    if where.is_postgres and carries_password(where.target):
        notes.append(
            "the password was left out of the unit (every user may read it): put "
            "PGPASSWORD=... in /etc/queuectl/queuectl-worker.env (mode 0600), or use "
            "the worker's ~/.pgpass"
        )
    home = os.environ.get("QUEUECTL_HOME") or None
    sys.stdout.write(
        render(where, settings, user=user, count=args.count, queues=queues,
               command=executable(), home=home)
    )  # fmt: skip
    for note in notes:
        sys.stderr.write(f"note: {note}\n")
    return 0


def _current_user() -> str | None:
    """The user running this, by name: the queue is theirs; None for root."""
    import os
    import pwd

    if os.geteuid() == 0:
        return None
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())
