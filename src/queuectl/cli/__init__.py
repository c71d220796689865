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


def open_queue(args: Namespace, read_only: bool = False) -> Queue:
    """The queue of ``--db``. ``read_only``: for a command that only reads, which must not
    create a queue where none is (location.READER, location.GLANCE): a mistyped --db is an
    error, not an empty queue."""
    from queuectl.api import Queue

    if read_only:
        from queuectl.location import GLANCE, READER

        return Queue(args.db, role=READER if _waits(args) else GLANCE)
    return Queue(args.db)


def _waits(args: Namespace) -> bool:
    """Whether a command that reads keeps reading as the queue changes (``wait``,
    ``logs --follow``, ``status --watch``): it runs for as long as it waits, so its
    start-up is not what a user waits for, and it opens the full backend (psycopg on
    PostgreSQL; ``logs --follow`` LISTENs through it, the others poll). The others only
    glance, and on PostgreSQL read without psycopg (location.GLANCE)."""
    return args.command == "wait" or bool(
        getattr(args, "follow", False) or getattr(args, "watch", False)
    )


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
    if value < 0:
        raise bad_value(f"must not be negative, got {text[:20]}")
    if value > 2**31 - 1:
        raise bad_value(f"must be between 0 and {2**31 - 1}, got {text[:20]}")
    return value


class Option:
    """One of enqueue's options: what argparse is told, and all that the quick parse needs
    to read it the same way. ``convert`` is argparse's ``type``; ``append`` collects every
    use into a list; a ``switch`` takes no value (True when given, else None); options
    sharing an ``exclusive`` name exclude each other (an argparse mutually exclusive
    group); ``field`` is the job field the value goes in (cmd_enqueue merges it into the
    job), None for --command/--file/--id."""

    __slots__ = (
        "append",
        "convert",
        "dest",
        "exclusive",
        "field",
        "flag",
        "help",
        "metavar",
        "switch",
    )

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
        field: str | None = "",
        switch: bool = False,
    ) -> None:
        self.flag = flag
        self.dest = flag.removeprefix("--").replace("-", "_") if dest is None else dest
        self.field = self.dest if field == "" else field
        self.convert = convert
        self.metavar = metavar
        self.help = help
        self.append = append
        self.exclusive = exclusive
        self.switch = switch


# In the order of `queuectl enqueue --help`. The positional JSON job is `job`.
OPTIONS = (
    Option("--command", dest="shell", field=None, metavar="CMD", help="run CMD with /bin/sh -c"),
    Option("--file", field=None, metavar="FILE", help="JSON Lines file of jobs ('-' = stdin)"),
    Option("--id", field=None, help="the job's id (default: a generated one)"),
    Option("--priority", convert=whole, help="higher runs first (default 0)"),
    Option(
        "--max-retries",
        convert=non_negative,
        metavar="N",
        help="retries after a failed attempt (default: config max-retries, 3)",
    ),
    Option(
        "--timeout",
        metavar="DURATION",
        help="kill the attempt after 30, 90s, 5m… (default: config job-timeout, none)",
    ),
    Option("--run-at", metavar="ISO8601", help="do not run before this instant", exclusive="when"),
    Option(
        "--delay",
        metavar="DURATION",
        help="do not run for this long: 30s, 5m, 2h (default: run now)",
        exclusive="when",
    ),
    Option("--queue", metavar="NAME", help="the queue to put it in (default: 'default')"),
    Option("--cwd", metavar="DIR", help="run in DIR (default: the worker's directory)"),
    Option(
        "--env",
        metavar="KEY=VALUE",
        help="set a variable for the job (repeatable; added to the worker's environment)",
        append=True,
    ),
    Option(
        "--env-file",
        metavar="FILE",
        help="set the variables of a dotenv FILE, read here and now, for the job "
        "(repeatable, a later file wins; below --env and JSON env)",
        append=True,
    ),
    Option(
        "--clean-env",
        help="run with only PATH, HOME, LANG, TZ of the worker's environment and the job's "
        "own variables (default: the worker's whole environment)",
        switch=True,
    ),
    Option(
        "--tag",
        metavar="TAG",
        help="label the job, for list --tag (repeatable; default: no tags)",
        append=True,
        field="tags",
    ),
    Option(
        "--unique-key",
        metavar="KEY",
        help="at most one active job with KEY (default: no key)",
    ),
    Option(
        "--unique-within",
        metavar="active|DURATION",
        help="hold the key while a job is active (default), or also for DURATION after one "
        "is created",
    ),
    Option(
        "--on-duplicate",
        metavar="error|skip",
        help="when KEY is held: fail, exit 1 (default), or print the holder's id, exit 0",
    ),
    Option(
        "--no-retry-on",
        metavar="CODE[,CODE...]",
        help="exit codes that go straight to dead (default: config no-retry-on, none)",
    ),
    Option(
        "--limit",
        metavar="mem=SIZE,cpu=CORES,pids=N,nofile=N",
        help="what each attempt may use, e.g. mem=2G,cpu=1.5,pids=256,nofile=4096 "
        "(default: the queue's, none)",
        field="limits",
    ),
    Option(
        "--after",
        metavar="ID",
        help="blocked until job ID has ended (repeatable; default: runs at once)",
        append=True,
    ),
    Option(
        "--after-mode",
        metavar="success|done",
        help="success: every --after job completed, a failed one cancels this one; "
        "done: ended in any way (default: success)",
    ),
)

_BY_FLAG = {option.flag: option for option in OPTIONS}


def negative_number(word: str) -> bool:
    """Whether argparse takes ``word`` (which starts with '-') as a value rather than an
    option: a negative number or duration, ``-5``, ``-.5``, ``-5s`` (``parser.Parser``)."""
    return word[1:2].isdecimal() or (word[1:2] == "." and word[2:3].isdecimal())


def quick_parse(words: Sequence[str]) -> SimpleNamespace | None:
    """``enqueue [JSON...] [--option VALUE]… [-- CMD ARG...]``, with ``--db X`` and
    ``--json`` before or after ``enqueue``, read as ``parser.parse`` reads it, without
    importing and building argparse (a fifth of such a call's time). Anything else (help,
    an abbreviation, a value starting with '-' that is not a negative number, a bad number,
    two options that exclude each other) gives None, and argparse answers as before;
    tests/cli/test_quick_parse.py checks that both agree."""
    values: dict[str, object] = {option.dest: None for option in OPTIONS if not option.append}
    values.update(db=None, json=False, command=None, argv=None, run=cmd_enqueue)
    lists: dict[str, list[object]] = {option.dest: [] for option in OPTIONS if option.append}
    job: list[str] = []
    chosen: dict[str, str] = {}  # exclusive name → the flag given for it
    closed = False  # the JSON words are one run: argparse refuses more after an option
    rest = iter(words)
    for word in rest:
        if not word.startswith("-"):
            if values["command"] is None:
                if word != "enqueue":
                    return None
                values["command"] = word
            elif closed:
                return None
            else:
                job.append(word)
            continue
        closed = bool(job)
        if word == "--" and values["command"] is not None:
            values["argv"] = list(rest)
            break
        if word == "--json":
            values["json"] = True
            continue
        flag, explicit, value = word.partition("=")
        option = _BY_FLAG.get(flag)
        if flag != "--db" and (option is None or values["command"] is None):
            return None
        if option is not None and option.switch:
            if explicit:
                return None  # argparse refuses a value
            values[option.dest] = True
            continue
        if not explicit:
            value = next(rest, "")
            if not value or (value.startswith("-") and value != "-" and not negative_number(value)):
                return None  # also an empty value: argparse takes it, but it is rare
        if option is None:
            values["db"] = value
            continue
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
    if values["command"] is None:
        return None
    return SimpleNamespace(**values, job=job, **lists)


# --- enqueue --------------------------------------------------------------------------
def flag_fields(args: Namespace, options: Sequence[Option]) -> dict[str, object]:
    """The job fields that ``options`` given on the command line set, as JSON has them."""
    given = {
        option.field: value
        for option in options
        if option.field and (value := getattr(args, option.dest)) not in (None, [])
    }
    if "env" in given or "no_retry_on" in given:
        from queuectl.jobspec import parse_env_flags, parse_exit_codes

        if "env" in given:
            given["env"] = parse_env_flags(given["env"])
        if "no_retry_on" in given:
            given["no_retry_on"] = parse_exit_codes(given["no_retry_on"])
    if "env_file" in given:  # jobspec.ENV_FILE: with_flags puts them below the job's env
        from queuectl.dotenv import read_env_files

        given["env_file"] = read_env_files(given["env_file"])
    return given


def cmd_enqueue(args: Namespace) -> int:
    """One job (JSON, ``--command``, ``-- CMD ARG...``) or a JSON Lines file; the flags
    beside a JSON job, or beside ``--file`` for every line, are fields of it."""
    given = flag_fields(args, OPTIONS)
    sources = [
        name
        for name, value in (
            ("a JSON job", args.job or None),
            ("--command CMD", args.shell),
            ("-- CMD [ARG...]", args.argv),
            ("--file FILE", args.file),
        )
        if value is not None
    ]
    if len(sources) != 1:
        raise InvalidInput(
            "give exactly one of: a JSON job, --command CMD, -- CMD [ARG...], or --file FILE"
            + (f" (got {' and '.join(sources)})" if sources else "")
        )
    from queuectl.jobspec import with_flags

    if args.file is not None:
        if args.id is not None:
            raise InvalidInput("--id names one job: with --file, give each line its own id")
        specs = _read_file(args.file, given)  # checked line by line as it is read
        with open_queue(args) as queue:
            ids = queue.enqueue_checked(specs)
            shown = _shown(queue, ids) if args.json else None
    else:
        if args.id is not None:
            given["id"] = args.id
        job: object
        if args.shell is not None:
            job = with_flags({"command": args.shell}, given)
        elif args.argv is not None:
            if not args.argv:
                raise InvalidInput("-- needs the command to run after it, e.g. -- echo hello")
            job = with_flags({"command": args.argv}, given)
        else:
            job = with_flags(_json_job(args.job), given)
        with open_queue(args) as queue:  # opened only once the job is found valid
            ids = queue.enqueue_many([job])
            shown = _shown(queue, ids) if args.json else None
    if shown is not None:
        print_json(shown if args.file is not None else shown[0])
    else:
        sys.stdout.write("\n".join(ids) + "\n")
    if args.file is not None:
        skipped = sum(spec["id"] != got for spec, got in zip(specs, ids, strict=True))
        added = f" ({skipped} duplicates skipped: their ids are those of the jobs holding the key)"
        sys.stderr.write(f"enqueued {len(ids) - skipped} jobs{added if skipped else ''}\n")
    return 0


def _shown(queue: Queue, ids: list[str]) -> list[dict[str, Any]]:
    """The new jobs as ``show --json`` shows a job (without its history and edges)."""
    return [queue.get(job_id).to_dict() for job_id in ids]


def _json_job(words: list[str]) -> object:
    """The positional JSON job, decoded. Words that are no JSON at all are read as the
    habit of queues that take a command there (``pueue add``, ``tsp``): say how."""
    if words[0].lstrip()[:1] in ("{", "["):
        if len(words) > 1:
            raise InvalidInput(f"give one JSON job, not {len(words)} (quote it as one word)")
        from queuectl.jobspec import decode_json

        return decode_json(words[0])
    import shlex  # only to answer a mistake

    line = words[0] if len(words) == 1 else shlex.join(words)
    if not line.isprintable() or len(line) > 200:
        how = "--command CMD (run by /bin/sh) or -- CMD [ARG...] (argv, no shell)"
        raise InvalidInput(f"that is not a JSON job; to enqueue a command, give {how}")
    how = f"--command {shlex.quote(line)} (run by /bin/sh)"
    if not set(line) & set("\\'\"`$|&;<>()*?[]{}#~="):  # as argv it means the same
        how += f" or -- {line} (argv, no shell)"
    raise InvalidInput(f"{line!r} is not a JSON job; to enqueue a command, give {how}")


def _read_file(name: str, flags: dict[str, object]) -> list[JobSpec]:
    """The jobs of a JSON Lines file ('-' = stdin), checked line by line, each with the
    fields of ``flags``."""
    from queuectl.api import read_jobs

    if name == "-":
        return read_jobs(sys.stdin, "stdin", flags)
    try:
        with open(name, encoding="utf-8") as handle:
            return read_jobs(handle, name, flags)
    except FileNotFoundError:
        raise InvalidInput(f"no such file: {name}") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(f"cannot read {name}: {exc}") from None
