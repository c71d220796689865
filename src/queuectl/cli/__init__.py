"""The command line: parse, call ``Queue``, render. No SQL and no lifecycle rules here.

This module is everything a plain ``queuectl enqueue`` runs, and the only one of the
package that such a call imports: each further module cost ~0.13 ms of every such
call (DECISIONS.md, "Command line"), and start-up time is a product figure. So it
holds ``main`` and ``run``, the checks made before any queue is opened, enqueue's
options (the one table that ``parser.py`` declares to argparse too), ``quick_parse``
of them without argparse, and ``cmd_enqueue``. Every other command line is parsed by
``parser.parse``, and each command's functions live in a module of their own,
imported when it runs.
"""

from __future__ import annotations

import json
import os
import sys
from types import SimpleNamespace

from queuectl.errors import InvalidInput, QueuectlError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from argparse import Namespace
    from collections.abc import Callable, Sequence
    from typing import Any, NoReturn

    from queuectl.api import Queue
    from queuectl.jobspec import JobSpec

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


def open_queue(args: Namespace) -> Queue:
    from queuectl.api import Queue

    return Queue(args.db)


def print_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


# --- before any queue is opened ------------------------------------------------------
def _precheck(args: Namespace) -> None:
    """Refuse malformed ids, names, states and settings before any queue is opened, so
    bad input creates and writes nothing."""
    from queuectl.jobspec import check_id, check_queue, check_queues

    named = getattr(args, "ids", None) or []
    if getattr(args, "id", None) is not None:
        named = [args.id, *named]
    for job_id in named:
        check_id(job_id)
    if getattr(args, "queue", None) is not None:
        check_queue(args.queue)
    if getattr(args, "queues", None):
        check_queues(args.queues)  # a worker's: NAME or !NAME
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
    by the words parsed, not by ``args.run``: comparing it with functions would import
    every command's module on every call."""
    command = args.command
    if command == "worker" and args.worker == "start":
        return "worker start"
    if command == "dashboard":
        return "dashboard"
    if command == "status" and args.watch:
        return "status --watch"
    if command == "logs" and args.follow:
        return "logs --follow"
    if command == "wait":
        return "wait"
    return None


# --- enqueue's options: one table for both parsers -----------------------------------
def bad_value(message: str) -> Exception:
    import argparse  # only for a bad value: a plain enqueue never loads argparse

    return argparse.ArgumentTypeError(message)


def whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise bad_value(f"expected a whole number, got {text!r}") from None


def non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise bad_value(f"expected a whole number, got {text[:20]!r}") from None
    if not 0 <= value <= 2**31 - 1:
        raise bad_value(f"must be between 0 and {2**31 - 1}, got {text[:20]}")
    return value


class Option:
    """One of enqueue's options (each takes a value): what argparse is told, and all that
    the quick parse needs to read it the same way. ``convert`` is argparse's ``type``;
    ``append`` collects every use into a list; options sharing an ``exclusive`` name
    exclude each other (an argparse mutually exclusive group)."""

    __slots__ = ("append", "convert", "dest", "exclusive", "flag", "help", "metavar")

    def __init__(
        self,
        flag: str,
        *,
        dest: str | None = None,
        convert: Callable[[str], object] | None = None,
        metavar: str | None = None,
        help: str | None = None,
        append: bool = False,
        exclusive: str | None = None,
    ) -> None:
        self.flag = flag
        self.dest = flag.removeprefix("--").replace("-", "_") if dest is None else dest
        self.convert = convert
        self.metavar = metavar
        self.help = help
        self.append = append
        self.exclusive = exclusive


# In the order of `queuectl enqueue --help`. The positional JSON job is `job`.
OPTIONS = (
    Option("--command", dest="shell", metavar="CMD", help="run CMD with /bin/sh -c"),
    Option("--file", metavar="FILE", help="JSON Lines file of jobs ('-' = stdin)"),
    Option("--id"),
    Option("--priority", convert=whole, help="higher runs first (default 0)"),
    Option("--max-retries", convert=non_negative),
    Option("--timeout", metavar="SECONDS", help="e.g. 30, 90s, 5m"),
    Option("--run-at", metavar="ISO8601", help="do not run before this instant", exclusive="when"),
    Option(
        "--delay",
        metavar="DURATION",
        help="do not run for this long: 30s, 5m, 2h",
        exclusive="when",
    ),
    Option("--queue", metavar="NAME"),
    Option("--cwd", metavar="DIR"),
    Option("--env", metavar="KEY=VALUE", append=True),
)

_BY_FLAG = {option.flag: option for option in OPTIONS}


def quick_parse(words: Sequence[str]) -> SimpleNamespace | None:
    """``[--db X] enqueue [JSON] [--option VALUE]…`` read as argparse reads it, without
    importing and building argparse (a fifth of such a call's time). Anything else (help,
    an abbreviation, a value starting with '-', a bad number, two options that exclude
    each other) gives None, and argparse answers as before; tests/cli/test_quick_parse.py
    checks that both agree."""
    values: dict[str, object] = {option.dest: None for option in OPTIONS if not option.append}
    values.update(db=None, command=None, job=None, run=cmd_enqueue)
    lists: dict[str, list[object]] = {option.dest: [] for option in OPTIONS if option.append}
    chosen: dict[str, str] = {}  # exclusive name → the flag given for it
    rest = iter(words)
    for word in rest:
        if not word.startswith("-"):
            if values["command"] is None and word == "enqueue":
                values["command"] = word
            elif values["command"] is None or values["job"] is not None:
                return None
            else:
                values["job"] = word
            continue
        flag, explicit, value = word.partition("=")
        if not explicit:
            value = next(rest, "")
            if not value or (value.startswith("-") and value != "-"):
                return None  # also an empty value: argparse takes it, but it is rare
        option = _BY_FLAG.get(flag)
        if flag == "--db" and values["command"] is None:
            values["db"] = value
        elif option is not None and values["command"] is not None:
            if option.exclusive and chosen.setdefault(option.exclusive, flag) != flag:
                return None  # argparse names both in its refusal
            try:
                converted = value if option.convert is None else option.convert(value)
            except Exception:  # argparse reports it
                return None
            if option.append:
                lists[option.dest].append(converted)
            else:
                values[option.dest] = converted
        else:
            return None
    if values["command"] is None:
        return None
    return SimpleNamespace(**values, **lists)


# --- enqueue --------------------------------------------------------------------------
def cmd_enqueue(args: Namespace) -> int:
    flags = {
        "id": args.id,
        "priority": args.priority,
        "max_retries": args.max_retries,
        "timeout": args.timeout,
        "run_at": args.run_at,
        "delay": args.delay,
        "queue": args.queue,
        "cwd": args.cwd,
    }
    given = {key: value for key, value in flags.items() if value is not None}
    if args.env:
        given["env"] = args.env
    sources = [
        name
        for name, value in (("JSON", args.job), ("--command", args.shell), ("--file", args.file))
        if value is not None
    ]
    if len(sources) != 1:
        raise InvalidInput("give exactly one of: a JSON job, --command CMD, or --file FILE")
    if given and args.shell is None:
        raise InvalidInput(
            f"--{next(iter(given)).replace('_', '-')} goes with --command, "
            "not with a JSON job or --file"
        )
    if args.file is not None:
        specs = _read_file(args.file)  # checked line by line as it is read
        with open_queue(args) as queue:
            ids = queue.enqueue_checked(specs)
    else:
        if args.shell is not None:
            from queuectl.jobspec import parse_env_flags

            flagged: dict[str, object] = {**given, "command": args.shell}
            if args.env:
                flagged["env"] = parse_env_flags(args.env)
            job: object = flagged
        else:
            from queuectl.api import decode_json

            job = decode_json(args.job)
        with open_queue(args) as queue:  # opened only once the job is found valid
            ids = queue.enqueue_many([job])
    sys.stdout.write("\n".join(ids) + "\n")
    if args.file is not None:
        sys.stderr.write(f"enqueued {len(ids)} jobs\n")
    return 0


def _read_file(name: str) -> list[JobSpec]:
    """The jobs of a JSON Lines file ('-' = stdin), checked line by line."""
    from queuectl.api import read_jobs

    if name == "-":
        return read_jobs(sys.stdin, "stdin")
    try:
        with open(name, encoding="utf-8") as handle:
            return read_jobs(handle, name)
    except FileNotFoundError:
        raise InvalidInput(f"no such file: {name}") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(f"cannot read {name}: {exc}") from None
