"""argparse, for every command line but a plain ``enqueue`` (``cli.quick_parse``).

A usage error is one line on stderr and exit 2. Only the named command's parser is
built, and a command's functions are imported by its builder: building all twenty-odd
subparsers, or importing every command's module, costs milliseconds that a single
command should not pay.
"""

from __future__ import annotations

import argparse
import os
import sys

from queuectl.cli import (
    OPTIONS,
    PROG,
    Option,
    bad_value,
    cmd_enqueue,
    negative_number,
    non_negative,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any, NoReturn


DB_HELP = (
    "queue location (default: $QUEUECTL_DB "
    "or $QUEUECTL_HOME/queuectl.db); postgresql://… for PostgreSQL"
)


def parse(words: Sequence[str]) -> argparse.Namespace:
    """``words`` as argparse reads them, with the global options (``--db``, ``--json``)
    before or after the command, and ``enqueue``'s ``-- CMD ARG...`` as ``argv``.
    ``--version`` and a bare ``queuectl`` (the help) exit 0 here, the first without
    building the parser of every command."""
    words = list(words)
    if words == ["--version"]:
        sys.stdout.write(f"{_version()}\n")
        raise SystemExit(0)
    if not words:
        build_parser().print_help()
        raise SystemExit(0)
    command = command_of(words)
    argv = None
    if command in ("enqueue", "schedule") and "--" in words:
        # argparse would take CMD ARG... as JSON, or as words it does not know
        cut = words.index("--")
        words, argv = words[:cut], words[cut + 1 :]
    parser = build_parser(command)
    args, extra = parser.parse_known_args(words)  # what parse_args does, but for --json
    before = vars(args).pop("json_before")
    if (before or "--json" in extra) and not hasattr(args, "json"):
        # the command declares no --json of its own
        named = " ".join(filter(None, (args.command, getattr(args, args.command, None))))
        parser.error(f"--json: '{PROG} {named}' has no JSON output")
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if before:
        args.json = True
    if argv is not None:
        if not hasattr(args, "argv"):  # a schedule command other than add
            parser.error("-- CMD [ARG...] goes with enqueue and schedule add only")
        args.argv = argv
    return args


def _version() -> str:
    from queuectl import __version__

    return f"{PROG} {__version__}"


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser, or with ``only`` one command's."""
    parser = Parser(prog=PROG, description="A background job queue for shell commands.")
    parser.add_argument("--version", action="version", version=_version())
    parser.add_argument("--db", metavar="PATH|URL", help=DB_HELP)
    parser.add_argument(
        "--json",
        dest="json_before",
        action="store_true",
        help="print JSON, for the commands that can (also after the command)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    for name, add in COMMANDS.items():
        if only is None or name == only:
            add(commands)
    return parser


def command_of(argv: Sequence[str]) -> str | None:
    """The command named in ``argv`` (after global options), if it is a known one."""
    words = iter(argv)
    for word in words:
        if word == "--db":
            next(words, None)
        elif word.startswith("-"):
            if not word.startswith("--db=") and word != "--json":
                return None  # --help or a mistake: the whole parser answers
        else:
            return word if word in COMMANDS else None
    return None


def _columns() -> int:
    """``shutil.get_terminal_size().columns`` without importing shutil (and the compression
    modules it imports): argparse builds a formatter for every argument it is given, even
    when no help is printed."""
    text = os.environ.get("COLUMNS", "")
    if text.isdigit() and int(text) > 0:
        return int(text)
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or 80  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        return 80


class _Formatter(argparse.HelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, width=_columns() - 2)


class _Lines(argparse.RawDescriptionHelpFormatter, _Formatter):
    """A description that keeps its lines (commands to copy)."""


class Parser(argparse.ArgumentParser):
    """Its subparsers are of this class too (argparse's default for add_subparsers).

    A word such as ``-5s`` or ``-1.5`` is a value, as argparse already takes ``-5``
    (``cli.negative_number``): else ``--delay -5s`` is refused with "expected one
    argument" instead of the value's own message. argparse has no public setting for it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = _NegativeNumber()  # type: ignore[assignment]
        self.register("action", "parsers", _Commands)

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see '{self.prog} --help')\n")
        raise SystemExit(2)


class _NegativeNumber:
    """What argparse asks of its ``_negative_number_matcher``, by ``cli.negative_number``,
    the rule the quick parse follows too."""

    @staticmethod
    def match(word: str) -> bool:
        return word.startswith("-") and negative_number(word)


class _Commands(argparse._SubParsersAction):  # type: ignore[type-arg]
    """Every command's parser also takes ``--db`` after the command; its default is
    SUPPRESS, so that one given before the command stays unless given again after it
    (then the later one wins, as for any repeated option)."""

    def add_parser(self, name: str, **kwargs: Any) -> Any:
        parser = super().add_parser(name, **kwargs)
        parser.add_argument("--db", metavar="PATH|URL", default=argparse.SUPPRESS, help=DB_HELP)
        return parser


def positive(text: str) -> int:
    value = non_negative(text)
    if not 1 <= value <= 256:
        raise bad_value(f"must be between 1 and 256, got {value}")
    return value


def port(text: str) -> int:
    value = non_negative(text)
    if value > 65535:
        raise bad_value(f"must be between 0 and 65535, got {value}")
    return value


def _add_json(parser: Any) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON on stdout, not a table")


# --- one builder per command ---------------------------------------------------------
def _add_enqueue(commands: Any) -> None:
    enqueue = commands.add_parser(
        "enqueue",
        help="add a job (JSON, flags, or a JSON Lines file)",
        usage=f"{PROG} enqueue [OPTIONS] (JSON | --command CMD | --file FILE | -- CMD [ARG...])",
        epilog="-- CMD [ARG...]: everything after -- is the job's command, "
        "run as argv without a shell. Options beside JSON or --file add fields "
        "to the job, or to every line; a field given both ways is refused.",
    )
    enqueue.add_argument("job", nargs="*", metavar="JSON", help='e.g. \'{"command":"sleep 2"}\'')
    _add_options(enqueue, OPTIONS)
    enqueue.add_argument(
        "--json",
        action="store_true",
        help="print the new job as 'show --json' does, not its id (with --file: an array)",
    )
    enqueue.set_defaults(run=cmd_enqueue, argv=None)


def _add_options(parser: Any, options: Sequence[Option]) -> None:
    """Enqueue's ``options`` (cli.OPTIONS) on ``parser``, as the quick parse reads them."""
    exclusive: dict[str, Any] = {}
    for option in options:
        into = parser
        if option.exclusive is not None:
            if option.exclusive not in exclusive:
                exclusive[option.exclusive] = parser.add_mutually_exclusive_group()
            into = exclusive[option.exclusive]
        if option.switch:
            # None when absent, as the quick parse has it: no field for the job
            into.add_argument(
                option.flag, dest=option.dest, action="store_const", const=True, help=option.help
            )
            continue
        into.add_argument(
            option.flag,
            dest=option.dest,
            type=option.convert,
            metavar=option.metavar,
            help=option.help,
            **({"action": "append", "default": []} if option.append else {}),
        )


def _add_list(commands: Any) -> None:
    from queuectl.cli.jobs import cmd_list
    from queuectl.models import SORTS

    listing = commands.add_parser(
        "list",
        help="list jobs",
        description="Jobs in enqueue order, filtered and chosen by the queue itself.",
        epilog="Many jobs? Read them in a pager (queuectl list | less -S), or narrow the "
        "list down: --state, --queue, --tag, --since, --grep, and --limit N for the newest "
        "N; with --sort, --limit keeps the first N of that order (--sort updated --reverse "
        "--limit 20: the 20 jobs that changed last).",
    )
    _add_state_and_queue(listing)
    listing.add_argument(
        "--tag",
        dest="tags",
        action="append",
        type=tag,
        metavar="TAG",
        help="only jobs labelled TAG; repeated, jobs with every TAG (default: any)",
    )
    listing.add_argument(
        "--since",
        metavar="DURATION",
        help="only jobs enqueued within the last 30m, 2h, 7d… (default: any time)",
    )
    listing.add_argument(
        "--grep",
        metavar="TEXT",
        help="only jobs whose command or id contains TEXT (case-sensitive; default: any)",
    )
    listing.add_argument(
        "--sort",
        choices=SORTS,
        help="order by time enqueued, last change, priority (the order workers take "
        "jobs in) or run_at (default: enqueue order)",
    )
    listing.add_argument(
        "--reverse", action="store_true", help="newest first; with --sort, that order reversed"
    )
    listing.add_argument(
        "--limit",
        type=at_least_one,
        metavar="N",
        help="the newest N jobs, or with --sort the first N (default: all)",
    )
    _add_json(listing)
    listing.set_defaults(run=cmd_list)


def _add_state_and_queue(command: Any) -> None:
    """``--state S[,S…]`` and ``--queue NAME``: the filters of list and export."""
    from queuectl.models import STATES

    command.add_argument(
        "--state",
        dest="states",
        type=states,
        metavar="STATE[,STATE…]",
        help=f"only jobs in these states: {', '.join(STATES)} (default: every state)",
    )
    command.add_argument("--queue", metavar="NAME", help="only jobs of queue NAME (default: all)")


def states(text: str) -> list[str]:
    """``pending,failed`` → the states named, each once."""
    from queuectl.models import STATES

    named = [name.strip() for name in text.split(",")]
    for name in named:
        if name not in STATES:
            raise bad_value(f"unknown state {name!r}; states: {', '.join(STATES)}")
    return list(dict.fromkeys(named))


def tag(text: str) -> str:
    from queuectl.errors import InvalidInput
    from queuectl.jobspec import check_tags

    try:
        check_tags([text])
    except InvalidInput as exc:
        raise bad_value(str(exc)) from None
    return text


def at_least_one(text: str) -> int:
    value = non_negative(text)
    if value < 1:
        raise bad_value(f"must be at least 1, got {value} (leave --limit out for every job)")
    return value


def _add_status(commands: Any) -> None:
    from queuectl.cli.jobs import cmd_status

    status = commands.add_parser("status", help="jobs per state and live workers")
    _add_json(status)
    status.add_argument("--watch", action="store_true", help="redraw until Ctrl+C")
    status.add_argument("--interval", metavar="SECONDS", help="with --watch: 2 (default), 500ms…")
    status.set_defaults(run=cmd_status)


def _add_stats(commands: Any) -> None:
    from queuectl.cli.jobs import cmd_stats

    stats = commands.add_parser(
        "stats", help="finished attempts: success rate, throughput, p50/p95"
    )
    stats.add_argument(
        "--since", metavar="DURATION", help="only the last 1h, 30m, 7d… (default: all)"
    )
    _add_json(stats)
    stats.set_defaults(run=cmd_stats)


def _add_show(commands: Any) -> None:
    from queuectl.cli.jobs import cmd_show

    show = commands.add_parser("show", help="one job and every attempt")
    show.add_argument("id", metavar="ID", help="the job's id")
    _add_json(show)
    show.set_defaults(run=cmd_show)


def _add_explain(commands: Any) -> None:
    from queuectl.cli.explain import cmd_explain

    explain = commands.add_parser(
        "explain", help="why a job is not running, from the claim's own rules"
    )
    explain.add_argument("id", metavar="ID", help="the job's id")
    _add_json(explain)
    explain.set_defaults(run=cmd_explain)


def _add_logs(commands: Any) -> None:
    from queuectl.cli.jobs import cmd_logs

    logs = commands.add_parser("logs", help="output of a job's attempt")
    logs.add_argument("id", metavar="ID", nargs="?", help="the job's id")
    logs.add_argument("--attempt", type=non_negative, help="attempt number (default: latest)")
    logs.add_argument("--follow", "-f", action="store_true", help="stream until the job ends")
    logs.add_argument(
        "--all",
        action="store_true",
        help="with --follow: every running job's output, each line prefixed [ID#ATTEMPT]",
    )
    logs.add_argument("--queue", metavar="NAME", help="with --all: only jobs of queue NAME")
    _add_follow_timeout(logs)
    logs.set_defaults(run=cmd_logs)


def _add_follow_timeout(logs: Any) -> None:
    logs.add_argument(
        "--timeout",
        metavar="DURATION",
        help="with --follow: give up after this long (30s, 5m, 2h), exit 124 (default: none)",
    )


def _add_wait(commands: Any) -> None:
    from queuectl.cli.jobs import cmd_wait

    wait = commands.add_parser(
        "wait",
        help="wait until jobs are final (completed, dead or cancelled): "
        "exit 0 if all completed, 1 otherwise",
    )
    wait.add_argument("ids", nargs="+", metavar="ID", help="the jobs to wait for")
    wait.add_argument(
        "--timeout",
        metavar="DURATION",
        help="give up after this long (30s, 5m, 2h), exit 124 (default: wait for ever)",
    )
    wait.add_argument(
        "--json",
        action="store_true",
        help="print the jobs as a JSON array once all are final, instead of a line per job",
    )
    wait.set_defaults(run=cmd_wait)


def _add_cancel(commands: Any) -> None:
    from queuectl.cli.jobs import cmd_cancel

    cancel = commands.add_parser("cancel", help="cancel pending or running jobs")
    cancel.add_argument("ids", nargs="+", metavar="ID", help="the jobs to cancel")
    cancel.set_defaults(run=cmd_cancel)


def _add_rerun(commands: Any) -> None:
    from queuectl.cli.changes import cmd_rerun

    about = "completed, dead or cancelled jobs: pending again, history kept"
    rerun = _add_job_changes(commands, "rerun", about, cmd_rerun)
    rerun.add_argument(
        "--with-dependents",
        action="store_true",
        help="also block again the jobs that their ending cancelled (enqueue --after), "
        "transitively (default: they stay cancelled)",
    )


def _add_run_now(commands: Any) -> None:
    from queuectl.cli.changes import cmd_run_now

    about = "waiting jobs (scheduled, or failed and backing off): due now"
    _add_job_changes(commands, "run-now", about, cmd_run_now)


def _add_job_changes(commands: Any, name: str, about: str, run: Callable[[Any], int]) -> Any:
    """A command that changes each job it names (IDs), one by one."""
    change = commands.add_parser(name, help=about)
    change.add_argument("ids", nargs="+", metavar="ID", help="the jobs to change")
    change.set_defaults(run=run)
    return change


def _add_edit(commands: Any) -> None:
    from queuectl.cli import whole
    from queuectl.cli.changes import cmd_edit

    about = "change a job that has not started (pending, failed, blocked)"
    edit = commands.add_parser("edit", help=about)
    edit.add_argument("id", metavar="ID", help="the job to change")
    unchanged = "(default: unchanged)"
    edit.add_argument(
        "--command", dest="shell", metavar="CMD", help=f"run CMD with /bin/sh -c {unchanged}"
    )
    edit.add_argument("--priority", type=whole, metavar="N", help=f"higher runs first {unchanged}")
    edit.add_argument("--queue", metavar="NAME", help=f"move the job to queue NAME {unchanged}")
    when = edit.add_mutually_exclusive_group()
    when.add_argument(
        "--run-at", metavar="ISO8601", help=f"do not run before this instant {unchanged}"
    )
    when.add_argument(
        "--delay",
        metavar="DURATION",
        help=f"do not run for this long from now: 30s, 5m… {unchanged}",
    )
    edit.add_argument(
        "--max-retries",
        type=non_negative,
        metavar="N",
        help=f"retries after the first run {unchanged}",
    )
    edit.add_argument(
        "--timeout", metavar="DURATION", help=f"stop a run after 90s, 5m… {unchanged}"
    )
    edit.add_argument(
        "--clean-env",
        action=argparse.BooleanOptionalAction,
        help="run with only PATH, HOME, LANG, TZ of the worker's environment and the job's "
        f"own variables, or (--no-clean-env) with the worker's whole environment {unchanged}",
    )
    edit.add_argument(
        "--limit",
        metavar="mem=SIZE,cpu=CORES,pids=N,nofile=N|none",
        help=f"what each attempt may use, replaced whole; none: no limits of its own {unchanged}",
    )
    edit.set_defaults(run=cmd_edit)


def _add_dlq(commands: Any) -> None:
    from queuectl.cli.dlq import cmd_dlq_list, cmd_dlq_purge, cmd_dlq_retry

    dlq = commands.add_parser("dlq", help="the dead letter queue").add_subparsers(
        dest="dlq", metavar="ACTION"
    )
    dlq.required = True
    dlq_list = dlq.add_parser("list", help="jobs that ran out of retries")
    _add_json(dlq_list)
    dlq_list.set_defaults(run=cmd_dlq_list)
    for name, run, what in (
        ("retry", cmd_dlq_retry, "run again from attempt 0"),
        ("purge", cmd_dlq_purge, "delete for good"),
    ):
        sub = dlq.add_parser(name, help=f"dead jobs: {what}")
        sub.add_argument("ids", nargs="*", metavar="ID", help="dead jobs (or --all)")
        sub.add_argument("--all", action="store_true", help="every dead job")
        sub.set_defaults(run=run)


def _add_purge(commands: Any) -> None:
    from queuectl.cli.purge import cmd_purge

    purge = commands.add_parser(
        "purge",
        help="delete ended jobs with their attempts and log files; statistics stay",
        description="Delete ended jobs, their attempts and their log files, a bounded "
        "batch at a time. stats, the dashboard and /metrics keep counting their attempts. "
        "Never a job that a job still to run depends on. Asks first on a terminal.",
    )
    purge.add_argument(
        "--state",
        dest="states",
        type=states,
        metavar="STATE[,STATE…]",
        help="jobs that ended so: completed, cancelled, dead (default: completed,cancelled)",
    )
    purge.add_argument(
        "--older-than",
        metavar="DURATION",
        help="only jobs that ended longer ago than 12h, 7d, 30d… (default: every one)",
    )
    purge.add_argument("--queue", metavar="NAME", help="only jobs of queue NAME (default: all)")
    purge.add_argument(
        "--dry-run", action="store_true", help="count what would be purged; delete nothing"
    )
    purge.add_argument("--yes", action="store_true", help="do not ask (needed off a terminal)")
    _add_json(purge)
    purge.set_defaults(run=cmd_purge)


def _add_export(commands: Any) -> None:
    from queuectl.cli.transfer import cmd_export

    export = commands.add_parser(
        "export",
        help="jobs as JSON Lines on stdout, for import (or enqueue --file)",
        description="Every job, in enqueue order, one JSON object a line. Without "
        "--with-history, a line is the job's spec: enqueue --file and import make a new job "
        "of it. With it, import restores the job as it was. Read from one snapshot of the "
        "queue, a page at a time.",
    )
    _add_state_and_queue(export)
    export.add_argument(
        "--with-history",
        action="store_true",
        help="also each job's state, counters, times and attempts (default: its spec only)",
    )
    export.add_argument(
        "--with-env-values",
        action="store_true",
        help="write the values of the jobs' environment variables, which may be secrets "
        "(default: their names only, which import and enqueue refuse without values)",
    )
    export.set_defaults(run=cmd_export)


def _add_import(commands: Any) -> None:
    from queuectl.cli.transfer import cmd_import

    imports = commands.add_parser(
        "import",
        help="jobs from JSON Lines (what export writes): all or nothing",
        description="Every line into the queue in one transaction, or nothing. A line with "
        "its history (export --with-history) is restored as it was, state and attempts "
        "included; a line without is a new job, as enqueue makes it.",
    )
    imports.add_argument("--file", metavar="FILE", help="JSON Lines file ('-' = stdin)")
    imports.add_argument(
        "--on-duplicate",
        choices=("error", "skip"),
        default="error",
        help="a job whose id is in the queue already: fail, importing nothing (default), "
        "or leave the queue's job as it is and import the others",
    )
    imports.set_defaults(run=cmd_import)


def _add_config(commands: Any) -> None:
    from queuectl.cli.config import (
        cmd_config_get,
        cmd_config_list,
        cmd_config_set,
        cmd_config_unset,
    )

    config = commands.add_parser("config", help="settings stored in the queue").add_subparsers(
        dest="config", metavar="ACTION"
    )
    config.required = True
    get = config.add_parser("get", help="print a setting's value")
    get.add_argument("key", metavar="KEY", help="a setting (see config list)")
    get.set_defaults(run=cmd_config_get)
    put = config.add_parser("set", help="change a setting")
    put.add_argument("key", metavar="KEY", help="a setting (see config list)")
    put.add_argument("value", metavar="VALUE", help="its new value")
    put.set_defaults(run=cmd_config_set)
    unset = config.add_parser("unset", help="back to the default")
    unset.add_argument("key", metavar="KEY", help="a setting (see config list)")
    unset.set_defaults(run=cmd_config_unset)
    for name in ("list", "show"):
        every = config.add_parser(name, help="every setting with its value")
        _add_json(every)
        every.set_defaults(run=cmd_config_list)


def _add_queue(commands: Any) -> None:
    from queuectl.cli.queues import cmd_queue_list, cmd_queue_pause, cmd_queue_resume, cmd_queue_set

    queue = commands.add_parser(
        "queue", help="queues as objects: pause, resume, limits"
    ).add_subparsers(dest="queue_action", metavar="ACTION")
    queue.required = True
    every = queue.add_parser(
        "list", help="every queue: paused, limits, jobs per state, workers serving it"
    )
    _add_json(every)
    every.set_defaults(run=cmd_queue_list)
    pause = queue.add_parser("pause", help="start no job of these queues on any host")
    resume = queue.add_parser("resume", help="start their jobs again")
    for sub, what in ((pause, "every queue known"), (resume, "every paused queue")):
        sub.add_argument("names", nargs="*", metavar="NAME", help="queues (or --all)")
        sub.add_argument("--all", action="store_true", help=what)
    pause.add_argument(
        "--for", dest="duration", metavar="DURATION",
        help="the pause ends by itself after this long: 30s, 5m… (default: until resumed)",
    )  # fmt: skip
    pause.add_argument("--reason", metavar="TEXT", help="why, shown by queue list (default: none)")
    pause.set_defaults(run=cmd_queue_pause)
    resume.set_defaults(run=cmd_queue_resume)
    put = queue.add_parser("set", help="a queue's limits across all workers and hosts")
    put.add_argument("name", metavar="NAME", help="the queue")
    unchanged = "or none (default: unchanged)"
    put.add_argument(
        "--concurrency", metavar="N", help=f"at most N of its jobs run at once, {unchanged}"
    )
    put.add_argument(
        "--rate", metavar="N/s|N/m|N/h", help=f"at most N starts per period, {unchanged}"
    )
    put.add_argument(
        "--timeout", metavar="DURATION",
        help=f"stop a run of its jobs without their own timeout after this long, {unchanged}",
    )  # fmt: skip
    put.add_argument(
        "--no-retry-on", metavar="CODE[,CODE...]",
        help="exit codes its jobs go straight to dead after, added to the job's own and "
        f"config no-retry-on, {unchanged}",
    )  # fmt: skip
    put.add_argument(
        "--limit", metavar="mem=SIZE,cpu=CORES,pids=N,nofile=N",
        help="what each attempt of its jobs may use (a job's own limit can only lower it; "
        f"the whole set is replaced), {unchanged}",
    )  # fmt: skip
    put.set_defaults(run=cmd_queue_set)


def _add_schedule(commands: Any) -> None:
    from queuectl.cli.schedules import (
        SCHEDULE_OPTIONS,
        cmd_schedule_add,
        cmd_schedule_change,
        cmd_schedule_list,
        cmd_schedule_preview,
        cmd_schedule_run_now,
        cmd_schedule_show,
    )
    from queuectl.schedules import MAX_CATCH_UP, MISSED, OVERLAP

    schedule = commands.add_parser(
        "schedule", help="recurring jobs: fired by live workers, each slot once"
    ).add_subparsers(dest="schedule", metavar="ACTION")
    schedule.required = True
    add = schedule.add_parser(
        "add",
        help="a job due at every slot of --cron or --every",
        usage=f"{PROG} schedule add NAME (--cron EXPR [--tz ZONE] | --every DURATION) "
        "[OPTIONS] (--command CMD | -- CMD [ARG...])",
        epilog="Each slot becomes the job NAME@<slot as ISO UTC>, enqueued once by any live "
        "worker, with QUEUECTL_SCHEDULE and QUEUECTL_SCHEDULED_FOR in its environment.",
    )
    add.add_argument("name", metavar="NAME", help="the schedule's name (no '@')")
    timing = add.add_mutually_exclusive_group()
    timing.add_argument(
        "--cron", metavar="EXPR", help="5 fields: minute hour day month weekday, e.g. '0 2 * * *'"
    )
    timing.add_argument(
        "--every", metavar="DURATION",
        help="whole seconds: 30s, 5m, 1h…; slots at its multiples since 1970-01-01 UTC",
    )  # fmt: skip
    add.add_argument(
        "--tz", metavar="ZONE", help="--cron's time zone, e.g. Europe/Berlin (default: UTC)"
    )
    _add_options(add, SCHEDULE_OPTIONS)
    add.add_argument(
        "--missed", choices=MISSED, default=None,
        help="slots no live worker fired within a lease of their time: latest: one catch-up "
        f"run (default); skip: none; all: each (the latest {MAX_CATCH_UP})",
    )  # fmt: skip
    add.add_argument(
        "--overlap", choices=OVERLAP, default=None,
        help="skip: no slot fires while a job of the schedule is still active (default); "
        "allow: it fires anyway",
    )  # fmt: skip
    add.set_defaults(run=cmd_schedule_add, argv=None)
    every = schedule.add_parser("list", help="every schedule, its next run and last slot")
    _add_json(every)
    every.set_defaults(run=cmd_schedule_list)
    show = schedule.add_parser("show", help="one schedule")
    show.add_argument("name", metavar="NAME", help="the schedule")
    _add_json(show)
    show.set_defaults(run=cmd_schedule_show)
    for name, run, about in (
        ("remove", cmd_schedule_change, "delete a schedule (the jobs it enqueued stay)"),
        ("pause", cmd_schedule_change, "fire no slot until resumed"),
        ("resume", cmd_schedule_change, "fire again from now on (not the slots of the pause)"),
        ("run-now", cmd_schedule_run_now, "enqueue its job now, as NAME@now-<instant>"),
    ):
        sub = schedule.add_parser(name, help=about)
        sub.add_argument("name", metavar="NAME", help="the schedule")
        sub.set_defaults(run=run)
    preview = schedule.add_parser("preview", help="the next slots, in UTC and in the zone")
    preview.add_argument("name", metavar="NAME", help="the schedule")
    preview.add_argument(
        "--next", dest="count", type=non_negative, default=5, metavar="N",
        help="how many slots, 1-1000 (default: 5)",
    )  # fmt: skip
    _add_json(preview)
    preview.set_defaults(run=cmd_schedule_preview)


def _add_worker(commands: Any) -> None:
    from queuectl.cli.workers import (
        cmd_worker_list,
        cmd_worker_start,
        cmd_worker_stop,
        cmd_worker_unit,
    )

    worker = commands.add_parser("worker", help="run, stop and list workers").add_subparsers(
        dest="worker", metavar="ACTION"
    )
    worker.required = True
    start = worker.add_parser("start", help="run jobs (foreground unless --detach)")
    start.add_argument(
        "--count",
        "-c",
        "--concurrency",
        type=positive,
        default=1,
        metavar="N",
        help="run up to N jobs at once in this process, 1-256 (default: 1)",
    )
    start.add_argument(
        "--queue",
        action="append",
        dest="queues",
        metavar="NAME",
        help="serve only queue NAME, or with '!NAME' every queue but NAME; repeatable, "
        "one kind or the other (default: every queue)",
    )
    start.add_argument(
        "--burst",
        action="store_true",
        help="exit once nothing is runnable or waiting to be retried (jobs scheduled for "
        "later do not hold it): 0, or 1 if a job it ran ended dead",
    )
    start.add_argument("--detach", action="store_true", help="run in the background")
    _add_log_format(start)
    start.set_defaults(run=cmd_worker_start)
    stop = worker.add_parser("stop", help="stop every worker of this queue gracefully")
    stop.add_argument(
        "--timeout",
        default="30",
        metavar="DURATION",
        help="wait this long for the workers to exit: 30, 2m… (default: 30s)",
    )
    _add_stop_now(stop)
    stop.set_defaults(run=cmd_worker_stop)
    wlist = worker.add_parser("list", help="live workers")
    _add_json(wlist)
    wlist.set_defaults(run=cmd_worker_list)
    unit = worker.add_parser(
        "unit",
        help="print a systemd unit that runs a worker of this queue",
        description="A systemd service on stdout, for /etc/systemd/system: the worker "
        "started as printed, with the queue's location, stopped gracefully (SIGTERM to the "
        "worker alone, the time the queue's stop-timeout allows), restarted on failure.",
    )
    unit.add_argument(
        "--user", metavar="USER", help="run the worker as USER (default: you; none for root)"
    )
    unit.add_argument(
        "--count", "-c", "--concurrency", type=positive, default=1, metavar="N",
        help="run up to N jobs at once, 1-256 (default: 1)",
    )  # fmt: skip
    unit.add_argument(
        "--queue", action="append", dest="queues", metavar="NAME",
        help="serve only queue NAME, or with '!NAME' every queue but NAME; repeatable "
        "(default: every queue)",
    )  # fmt: skip
    unit.set_defaults(run=cmd_worker_unit)


def _add_log_format(start: Any) -> None:
    start.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="text: a line per event, with its ISO UTC time (default); "
        "json: one JSON object per line (serving, started, claimed, ended, rescued, fenced, "
        "fired, stopping, stopped, purged)",
    )


def _add_stop_now(stop: Any) -> None:
    stop.add_argument(
        "--now",
        action="store_true",
        help="interrupt running jobs too: they go back to pending without using up an "
        "attempt (default: let them finish)",
    )


def _add_dashboard(commands: Any) -> None:
    from queuectl.cli.dashboard import cmd_dashboard

    board = commands.add_parser("dashboard", help="serve the web dashboard and /metrics")
    board.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    board.add_argument(
        "--port", type=port, default=8700, help="(default: %(default)s; 0 = any free)"
    )
    board.add_argument(
        "--token-file",
        metavar="FILE",
        help="read the access token from FILE (default: $QUEUECTL_DASHBOARD_TOKEN); "
        "a token is required off loopback",
    )
    # refused with a hint (cmd_dashboard): every user of the machine can read it with ps
    board.add_argument("--token", help=argparse.SUPPRESS)
    board.set_defaults(run=cmd_dashboard)


def _add_completion(commands: Any) -> None:
    from queuectl.cli.completion import SHELLS, cmd_completion

    completion = commands.add_parser(
        "completion",
        help="print a shell completion script",
        formatter_class=_Lines,
        description="Print the completion script of a shell on stdout. Install it with:\n"
        "  queuectl completion bash > ~/.local/share/bash-completion/completions/queuectl\n"
        "  queuectl completion zsh > ~/.zfunc/_queuectl  "
        "# with fpath+=(~/.zfunc) before compinit\n"
        "  queuectl completion fish > ~/.config/fish/completions/queuectl.fish",
    )
    completion.add_argument("shell", choices=SHELLS, help="the shell: " + ", ".join(SHELLS))
    completion.set_defaults(run=cmd_completion)


COMMANDS: dict[str, Callable[[Any], None]] = {
    "enqueue": _add_enqueue,
    "list": _add_list,
    "status": _add_status,
    "stats": _add_stats,
    "show": _add_show,
    "explain": _add_explain,
    "logs": _add_logs,
    "wait": _add_wait,
    "cancel": _add_cancel,
    "rerun": _add_rerun,
    "edit": _add_edit,
    "run-now": _add_run_now,
    "dlq": _add_dlq,
    "purge": _add_purge,
    "export": _add_export,
    "import": _add_import,
    "config": _add_config,
    "queue": _add_queue,
    "schedule": _add_schedule,
    "worker": _add_worker,
    "dashboard": _add_dashboard,
    "completion": _add_completion,
}
