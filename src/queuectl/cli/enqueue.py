"""``enqueue``: its options, written once, and the command itself.

A plain enqueue is the hot path (one process per job), so this module is all that the
package imports for it: ``quick_parse`` reads such a command line from ``OPTIONS``
without argparse, and ``parser.py`` declares the same options to argparse from the same
table for everything else (help, mistakes, abbreviations).
"""

from __future__ import annotations

import sys
from types import SimpleNamespace

from queuectl.errors import InvalidInput

TYPE_CHECKING = False
if TYPE_CHECKING:
    from argparse import Namespace
    from collections.abc import Callable, Sequence

    from queuectl.jobspec import JobSpec


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


# In the order of `queuectl enqueue --help`.
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
    from queuectl.api import Queue

    if args.file is not None:
        specs = _read_file(args.file)  # checked line by line as it is read
        with Queue(args.db) as queue:
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
        with Queue(args.db) as queue:  # opened only once the job is found valid
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
