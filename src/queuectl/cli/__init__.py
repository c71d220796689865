"""The command line: parse, call ``Queue``, render. No SQL and no lifecycle rules here.

A plain ``enqueue`` is read by ``enqueue.quick_parse`` without argparse; any other command
line by ``parser.parse``, which builds only the named command's parser. Each command's
module is imported only when that command runs: start-up time is a measured feature.
"""

from __future__ import annotations

import os
import sys

from queuectl.cli.enqueue import quick_parse
from queuectl.errors import InvalidInput, QueuectlError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from argparse import Namespace
    from collections.abc import Sequence
    from typing import Any, NoReturn

PROG = "queuectl"


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    args: Any = quick_parse(words)
    if args is None:
        from queuectl.cli.parser import parse

        args = parse(words)
    try:
        _precheck(args)
        code: int = args.run(args)
        return code
    except QueuectlError as exc:
        sys.stderr.write(f"{PROG}: error: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader went away (e.g. `| head`); say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def run() -> NoReturn:
    """The ``queuectl`` command: ``main()``, then exit without the interpreter's teardown
    (freeing every module and object), a few milliseconds of each call. Everything is
    closed by then; output is flushed here, and a failed flush exits the usual way so
    that it is reported as before."""
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        sys.exit(code)
    os._exit(code)


def _precheck(args: Namespace) -> None:
    """Refuse malformed ids, names, states and settings before any queue is opened, so
    bad input creates and writes nothing."""
    from queuectl.jobspec import check_id, check_queue

    named = getattr(args, "ids", None) or []
    if getattr(args, "id", None) is not None:
        named = [args.id, *named]
    for job_id in named:
        check_id(job_id)
    for queue in [getattr(args, "queue", None), *(getattr(args, "queues", None) or [])]:
        if queue is not None:
            check_queue(queue)
    if getattr(args, "state", None) is not None:
        from queuectl.api import check_state

        check_state(args.state)
    if getattr(args, "key", None) is not None:
        from queuectl import config

        config.canonical_key(args.key)
        if getattr(args, "value", None) is not None:
            config.validate(args.key, args.value)
    long_running = _long_running(args) if args.db is not None else None
    if long_running is not None:
        from queuectl.credentials import PASSWORD_HINT, carries_password

        if carries_password(args.db):
            raise InvalidInput(
                f"{long_running} keeps running, and a password in --db stays visible "
                f"to every user of this machine (ps) meanwhile: {PASSWORD_HINT}"
            )


def _long_running(args: Namespace) -> str | None:
    """The name of a command that runs for minutes or days, whose arguments must hold no
    secret (a short command's are visible only for the moment it runs); else None. Told
    by the words parsed, not by ``args.run``: comparing functions would import every
    command's module on every call."""
    command = args.command
    if command == "worker" and args.worker == "start":
        return "worker start"
    if command == "dashboard":
        return "dashboard"
    if command == "status" and args.watch:
        return "status --watch"
    if command == "logs" and args.follow:
        return "logs --follow"
    return None
