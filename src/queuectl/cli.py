"""The command line: parse, call ``Queue``, render. No SQL and no lifecycle rules here."""

from __future__ import annotations

import json
import os
import sys
from types import SimpleNamespace

from queuectl.errors import InvalidInput, QueuectlError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from argparse import ArgumentParser, Namespace
    from collections.abc import Callable, Sequence
    from typing import Any, NoReturn

    from queuectl.api import Queue
    from queuectl.jobspec import JobSpec

PROG = "queuectl"


def _bad_value(message: str) -> Exception:
    import argparse  # only for a bad value: a plain enqueue never loads argparse

    return argparse.ArgumentTypeError(message)


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise _bad_value(f"expected a whole number, got {text[:20]!r}") from None
    if not 0 <= value <= 2**31 - 1:
        raise _bad_value(f"must be between 0 and {2**31 - 1}, got {text[:20]}")
    return value


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise _bad_value(f"expected a whole number, got {text!r}") from None


def _add_enqueue(commands: Any) -> None:
    enqueue = commands.add_parser("enqueue", help="add a job (JSON, flags, or a JSON Lines file)")
    enqueue.add_argument("job", nargs="?", metavar="JSON", help='e.g. \'{"command":"sleep 2"}\'')
    enqueue.add_argument("--command", dest="shell", metavar="CMD", help="run CMD with /bin/sh -c")
    enqueue.add_argument("--file", metavar="FILE", help="JSON Lines file of jobs ('-' = stdin)")
    enqueue.add_argument("--id")
    enqueue.add_argument("--priority", type=_whole, help="higher runs first (default 0)")
    enqueue.add_argument("--max-retries", type=_non_negative)
    enqueue.add_argument("--timeout", metavar="SECONDS", help="e.g. 30, 90s, 5m")
    when = enqueue.add_mutually_exclusive_group()
    when.add_argument("--run-at", metavar="ISO8601", help="do not run before this instant")
    when.add_argument("--delay", metavar="DURATION", help="do not run for this long: 30s, 5m, 2h")
    enqueue.add_argument("--queue", metavar="NAME")
    enqueue.add_argument("--cwd", metavar="DIR")
    enqueue.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    enqueue.set_defaults(run=cmd_enqueue)


def _add_list(commands: Any) -> None:
    listing = commands.add_parser("list", help="list jobs")
    listing.add_argument("--state")
    listing.add_argument("--queue")
    listing.add_argument("--limit", type=_non_negative, help="at most N jobs (default: all)")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=cmd_list)


def _add_status(commands: Any) -> None:
    status = commands.add_parser("status", help="jobs per state and live workers")
    status.add_argument("--json", action="store_true")
    status.add_argument("--watch", action="store_true", help="redraw until Ctrl+C")
    status.add_argument("--interval", metavar="SECONDS", help="with --watch: 2 (default), 500ms…")
    status.set_defaults(run=cmd_status)


def _add_stats(commands: Any) -> None:
    stats = commands.add_parser(
        "stats", help="finished attempts: success rate, throughput, p50/p95"
    )
    stats.add_argument(
        "--since", metavar="DURATION", help="only the last 1h, 30m, 7d… (default: all)"
    )
    stats.add_argument("--json", action="store_true")
    stats.set_defaults(run=cmd_stats)


def _add_show(commands: Any) -> None:
    show = commands.add_parser("show", help="one job and every attempt")
    show.add_argument("id")
    show.add_argument("--json", action="store_true")
    show.set_defaults(run=cmd_show)


def _add_logs(commands: Any) -> None:
    logs = commands.add_parser("logs", help="output of a job's attempt")
    logs.add_argument("id")
    logs.add_argument("--attempt", type=_non_negative, help="attempt number (default: latest)")
    logs.add_argument("--follow", "-f", action="store_true", help="stream until the job ends")
    logs.set_defaults(run=cmd_logs)


def _add_cancel(commands: Any) -> None:
    cancel = commands.add_parser("cancel", help="cancel pending or running jobs")
    cancel.add_argument("ids", nargs="+", metavar="ID")
    cancel.set_defaults(run=cmd_cancel)


def _add_dlq(commands: Any) -> None:
    dlq = commands.add_parser("dlq", help="the dead letter queue").add_subparsers(
        dest="dlq", metavar="ACTION"
    )
    dlq.required = True
    dlq_list = dlq.add_parser("list", help="jobs that ran out of retries")
    dlq_list.add_argument("--json", action="store_true")
    dlq_list.set_defaults(run=cmd_dlq_list)
    for name, run, what in (
        ("retry", cmd_dlq_retry, "run again from attempt 0"),
        ("purge", cmd_dlq_purge, "delete for good"),
    ):
        sub = dlq.add_parser(name, help=f"dead jobs: {what}")
        sub.add_argument("ids", nargs="*", metavar="ID")
        sub.add_argument("--all", action="store_true")
        sub.set_defaults(run=run)


def _add_config(commands: Any) -> None:
    config = commands.add_parser("config", help="settings stored in the queue").add_subparsers(
        dest="config", metavar="ACTION"
    )
    config.required = True
    get = config.add_parser("get", help="print a setting's value")
    get.add_argument("key")
    get.set_defaults(run=cmd_config_get)
    put = config.add_parser("set", help="change a setting")
    put.add_argument("key")
    put.add_argument("value")
    put.set_defaults(run=cmd_config_set)
    unset = config.add_parser("unset", help="back to the default")
    unset.add_argument("key")
    unset.set_defaults(run=cmd_config_unset)
    for name in ("list", "show"):
        every = config.add_parser(name, help="every setting with its value")
        every.add_argument("--json", action="store_true")
        every.set_defaults(run=cmd_config_list)


def _add_worker(commands: Any) -> None:
    worker = commands.add_parser("worker", help="run, stop and list workers").add_subparsers(
        dest="worker", metavar="ACTION"
    )
    worker.required = True
    start = worker.add_parser("start", help="run jobs (foreground unless --detach)")
    start.add_argument("--count", "-c", "--concurrency", type=_positive, default=1, metavar="N")
    start.add_argument("--queue", action="append", dest="queues", metavar="NAME")
    start.add_argument("--burst", action="store_true", help="exit 0 once nothing is left to run")
    start.add_argument("--detach", action="store_true", help="run in the background")
    start.set_defaults(run=cmd_worker_start)
    stop = worker.add_parser("stop", help="stop every worker of this queue gracefully")
    stop.add_argument("--timeout", default="30", metavar="SECONDS")
    stop.set_defaults(run=cmd_worker_stop)
    wlist = worker.add_parser("list", help="live workers")
    wlist.add_argument("--json", action="store_true")
    wlist.set_defaults(run=cmd_worker_list)


def _add_dashboard(commands: Any) -> None:
    board = commands.add_parser("dashboard", help="serve the web dashboard and /metrics")
    board.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    board.add_argument(
        "--port", type=_port, default=8700, help="(default: %(default)s; 0 = any free)"
    )
    board.add_argument(
        "--token-file",
        metavar="FILE",
        help="read the access token from FILE (default: $QUEUECTL_DASHBOARD_TOKEN); "
        "a token is required off loopback",
    )
    import argparse

    # refused with a hint (cmd_dashboard): every user of the machine can read it with ps
    board.add_argument("--token", help=argparse.SUPPRESS)
    board.set_defaults(run=cmd_dashboard)


COMMANDS: dict[str, Callable[[Any], None]] = {
    "enqueue": _add_enqueue,
    "list": _add_list,
    "status": _add_status,
    "stats": _add_stats,
    "show": _add_show,
    "logs": _add_logs,
    "cancel": _add_cancel,
    "dlq": _add_dlq,
    "config": _add_config,
    "worker": _add_worker,
    "dashboard": _add_dashboard,
}


def build_parser(only: str | None = None) -> ArgumentParser:
    """The whole parser, or with ``only`` one command's: building all twenty-odd
    subparsers costs milliseconds that a single ``enqueue`` should not pay."""
    from queuectl.argparser import Parser

    parser = Parser(prog=PROG, description="A background job queue for shell commands.")
    parser.add_argument(
        "--db",
        metavar="PATH|URL",
        help="queue location (default: $QUEUECTL_DB "
        "or $QUEUECTL_HOME/queuectl.db); postgresql://… for PostgreSQL",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    for name, add in COMMANDS.items():
        if only is None or name == only:
            add(commands)
    return parser


def _positive(text: str) -> int:
    value = _non_negative(text)
    if not 1 <= value <= 256:
        raise _bad_value(f"must be between 1 and 256, got {value}")
    return value


def _port(text: str) -> int:
    value = _non_negative(text)
    if value > 65535:
        raise _bad_value(f"must be between 0 and 65535, got {value}")
    return value


def _print_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _open(args: Namespace) -> Queue:
    from queuectl.api import Queue

    return Queue(args.db)


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
    secret (a short command's are visible only for the moment it runs); else None."""
    run = args.run
    if run is cmd_worker_start:
        return "worker start"
    if run is cmd_dashboard:
        return "dashboard"
    if run is cmd_status and args.watch:
        return "status --watch"
    if run is cmd_logs and args.follow:
        return "logs --follow"
    return None


# --- commands ------------------------------------------------------------------
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
        with _open(args) as queue:
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
        with _open(args) as queue:  # opened only once the job is found valid
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


def cmd_list(args: Namespace) -> int:
    with _open(args) as queue:
        jobs = queue.jobs(args.state, args.queue, args.limit)
    if args.json:
        _print_json([job.to_dict() for job in jobs])
    else:
        from queuectl.render import jobs_table

        print(jobs_table(jobs))
    return 0


def cmd_status(args: Namespace) -> int:
    if args.watch:
        return _watch(args)
    if args.interval is not None:
        raise InvalidInput("--interval goes with --watch")
    with _open(args) as queue:
        counts, workers = queue.counts(), queue.workers()
    if args.json:
        _print_json({"jobs": counts, "workers": [w.to_dict() for w in workers]})
    else:
        from queuectl.render import status_text

        print(status_text(counts, workers))
    return 0


def _watch(args: Namespace) -> int:
    from queuectl.timefmt import parse_duration

    if args.json:
        raise InvalidInput("--watch and --json cannot be combined")
    interval = parse_duration("2" if args.interval is None else args.interval, "--interval")
    if interval < 0.1:
        raise InvalidInput(f"--interval must be at least 100ms, got {args.interval}")
    from queuectl.watch import watch

    with _open(args) as queue:
        return watch(queue, interval)


def cmd_stats(args: Namespace) -> int:
    seconds = None
    if args.since is not None:
        from queuectl.timefmt import parse_duration

        seconds = parse_duration(args.since, "--since")
        if seconds <= 0:
            raise InvalidInput(f"--since must be longer than 0, got {args.since}")
    with _open(args) as queue:
        figures = queue.stats(None if seconds is None else queue.now() - seconds)
    if args.json:
        _print_json(figures)
    else:
        from queuectl.render import stats_table

        print(stats_table(figures))
    return 0


def cmd_show(args: Namespace) -> int:
    with _open(args) as queue:
        job, attempts = queue.get(args.id), queue.attempts(args.id)
    if args.json:
        _print_json({**job.to_dict(), "history": [a.to_dict() for a in attempts]})
    else:
        from queuectl.render import job_detail

        print(job_detail(job, attempts))
    return 0


def cmd_logs(args: Namespace) -> int:
    from queuectl.logview import show_logs

    with _open(args) as queue:
        return show_logs(queue, args.id, args.attempt, args.follow, sys.stdout)


def cmd_cancel(args: Namespace) -> int:
    with _open(args) as queue:
        for job_id in queue.cancel(args.ids):
            print(job_id)
    return 0


def cmd_dlq_list(args: Namespace) -> int:
    with _open(args) as queue:
        jobs = queue.dlq()
    if args.json:
        _print_json([job.to_dict() for job in jobs])
    else:
        from queuectl.render import jobs_table

        print(jobs_table(jobs) if jobs else "the dead letter queue is empty")
    return 0


def _dlq_ids(args: Namespace) -> list[str] | None:
    if args.all == bool(args.ids):
        raise InvalidInput(f"dlq {args.dlq}: name job ids or give --all (not both)")
    return None if args.all else list(args.ids)


def _dlq_action(args: Namespace, verb: str, act: Callable[[Queue], list[str]]) -> int:
    with _open(args) as queue:
        done = act(queue)
    for job_id in done:
        print(job_id)
    sys.stderr.write(f"{verb} {len(done)} job{'s' if len(done) != 1 else ''}\n")
    return 0


def cmd_dlq_retry(args: Namespace) -> int:
    ids = _dlq_ids(args)
    return _dlq_action(args, "retried", lambda queue: queue.dlq_retry(ids))


def cmd_dlq_purge(args: Namespace) -> int:
    ids = _dlq_ids(args)
    return _dlq_action(args, "purged", lambda queue: queue.dlq_purge(ids))


def cmd_config_get(args: Namespace) -> int:
    with _open(args) as queue:
        print(queue.config_get(args.key))
    return 0


def cmd_config_set(args: Namespace) -> int:
    with _open(args) as queue:
        value = queue.config_set(args.key, args.value)
    sys.stderr.write(f"{args.key} = {value}\n")
    return 0


def cmd_config_unset(args: Namespace) -> int:
    with _open(args) as queue:
        value = queue.config_unset(args.key)
    sys.stderr.write(f"{args.key} = {value} (default)\n")
    return 0


def cmd_config_list(args: Namespace) -> int:
    with _open(args) as queue:
        values = queue.config_list()
    if args.json:
        _print_json(values)
    else:
        from queuectl.config import SETTINGS
        from queuectl.render import table

        rows = [(k.replace("_", "-"), v, SETTINGS[k][0], SETTINGS[k][2]) for k, v in values.items()]
        print(table(("key", "value", "default", "meaning"), rows))
    return 0


def cmd_worker_start(args: Namespace) -> int:
    from queuectl.worker.supervisor import start

    return start(args.db, args.count, args.queues, args.burst, args.detach)


def cmd_worker_stop(args: Namespace) -> int:
    from queuectl.timefmt import parse_duration
    from queuectl.worker.control import stop_workers

    timeout = parse_duration(args.timeout, "--timeout")
    with _open(args) as queue:
        return stop_workers(queue, timeout)


def cmd_worker_list(args: Namespace) -> int:
    with _open(args) as queue:
        workers = queue.workers()
    if args.json:
        _print_json([w.to_dict() for w in workers])
    else:
        from queuectl.render import workers_table

        print(workers_table(workers))
    return 0


def cmd_dashboard(args: Namespace) -> int:
    from queuectl.credentials import TOKEN_ENV

    if args.token is not None:
        raise InvalidInput(
            "--token would be visible to every user of this machine (ps): "
            f"use --token-file FILE or set ${TOKEN_ENV}"
        )
    from queuectl.web.server import read_token_file, serve

    token = read_token_file(args.token_file) if args.token_file is not None else None
    return serve(args.db, args.host, args.port, token)


def _command_of(argv: Sequence[str]) -> str | None:
    """The command named in ``argv`` (after global options), if it is a known one."""
    words = iter(argv)
    for word in words:
        if word == "--db":
            next(words, None)
        elif word.startswith("-"):
            if not word.startswith("--db="):
                return None  # --help or a mistake: the whole parser answers
        else:
            return word if word in COMMANDS else None
    return None


# enqueue's options that take a value → (dest, type), as _add_enqueue declares them
_ENQUEUE_OPTIONS: dict[str, tuple[str, Callable[[str], object]]] = {
    "--command": ("shell", str),
    "--file": ("file", str),
    "--id": ("id", str),
    "--priority": ("priority", _whole),
    "--max-retries": ("max_retries", _non_negative),
    "--timeout": ("timeout", str),
    "--run-at": ("run_at", str),
    "--delay": ("delay", str),
    "--queue": ("queue", str),
    "--cwd": ("cwd", str),
    "--env": ("env", str),  # appended
}


def _quick_enqueue(words: Sequence[str]) -> SimpleNamespace | None:
    """``[--db X] enqueue [JSON] [--option VALUE]…`` parsed as argparse parses it, without
    importing and building argparse (a fifth of such a call's time). Anything else (help,
    an abbreviation, a value starting with '-', a bad number, both --run-at and --delay)
    gives None, and argparse answers as before; tests/cli/test_quick_parse.py checks
    that both agree."""
    values: dict[str, object] = {dest: None for dest, _ in _ENQUEUE_OPTIONS.values()}
    values.update(db=None, command=None, job=None, run=cmd_enqueue)
    env: list[str] = []
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
        option, explicit, value = word.partition("=")
        if not explicit:
            value = next(rest, "")
            if not value or (value.startswith("-") and value != "-"):
                return None  # also an empty value: argparse takes it, but it is rare
        if option == "--db" and values["command"] is None:
            values["db"] = value
        elif option in _ENQUEUE_OPTIONS and values["command"] is not None:
            dest, convert = _ENQUEUE_OPTIONS[option]
            try:
                values[dest] = convert(value)
            except Exception:  # argparse reports it
                return None
            if dest == "env":
                env.append(value)
        else:
            return None
    if values["command"] is None or (values["run_at"] is not None and values["delay"] is not None):
        return None
    return SimpleNamespace(**{**values, "env": env})


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    args: Any = _quick_enqueue(words) or build_parser(_command_of(words)).parse_args(words)
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
