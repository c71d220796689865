"""Validation of what users enqueue: JSON objects and CLI flags → one normal form.

Kept free of heavy imports: it is on the enqueue path, whose start-up time is a
product figure.
"""

from __future__ import annotations

import itertools
import os
import re

from queuectl.errors import InvalidInput, brief
from queuectl.timefmt import MAX_DURATION, parse_duration, parse_instant

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence
    from typing import Any, TypedDict

    class JobSpec(TypedDict):
        """A validated job, ready to insert. ``max_retries`` None = the queue's setting;
        ``run_at`` None = ``delay`` seconds after the insert, by the queue's clock."""

        id: str
        command: str | list[str]
        priority: int
        max_retries: int | None
        timeout: float | None
        run_at: float | None
        delay: float
        queue: str
        cwd: str | None
        env: dict[str, str] | None
        tags: list[str] | None
        unique_key: str | None
        unique_within: float | None  # None: the key is held while a job with it is active
        on_duplicate: str  # "error" or "skip"
        no_retry_on: list[int] | None
        after: list[str] | None
        after_mode: str
        limits: dict[str, int | float] | None
        clean_env: bool  # only PATH, HOME, LANG, TZ of the worker's environment


# '@' is a job id's only in the jobs of schedules (NAME@<slot>, schedules.slot_id): a job
# enqueued with an id cannot take a slot's place (check_job refuses the '@').
ID_PATTERN = re.compile(r"[A-Za-z0-9_:-][A-Za-z0-9._:@-]{0,127}")
QUEUE_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._:-]{0,63}")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,255}")
# A tag is a word: no space or comma, so a list of them prints and is typed unambiguously.
TAG_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._:=/@+-]{0,63}")
MAX_TAGS = 32
MAX_AFTER = 1000
AFTER_MODES = ("success", "done")
KEYS = (
    "id",
    "command",
    "priority",
    "max_retries",
    "timeout",
    "run_at",
    "delay",
    "queue",
    "cwd",
    "env",
    "tags",
    "unique_key",
    "unique_within",
    "on_duplicate",
    "no_retry_on",
    "after",
    "after_mode",
    "limits",
    "clean_env",
)
# Also accepted, and not part of the spec: "env_keys", the names of variables whose values
# were left out (export without --with-env-values): each must be given in "env".
ENV_KEYS = "env_keys"
KNOWN_KEYS = frozenset((*KEYS, ENV_KEYS))
# Not a job key: the flags' field of the variables read from `--env-file` (with_flags
# puts them below the job's env).
ENV_FILE = "env_file"
# What a job's history adds to its spec in a line of `export --with-history`: `import`
# restores those lines (jobfile.check_line); enqueue refuses them, saying so.
HISTORY_KEYS = (
    "state",
    "attempts",
    "runs",
    "snoozes",
    "created_at",
    "updated_at",
    "started_at",
    "finished_at",
    "exit_code",
    "last_error",
    "worker",
    "lease_until",
    "blocked_by",
    "history",
)
# Keys of flow control (unique jobs, retry policy, dependencies), checked only when given,
# and their values when none is (unique_key … after_mode, as _check_flow returns them).
FLOW_KEYS = frozenset(
    ("unique_key", "unique_within", "on_duplicate", "no_retry_on", "after", "after_mode")
)
NO_FLOW = (None, None, "error", None, None, "success")
MAX_ARG = 131071  # Linux refuses a single exec argument longer than this (MAX_ARG_STRLEN - 1)
MAX_ARGV_TOTAL = 1 << 20
# Of the room exec gives a command and its environment (ARG_MAX), this much is left for
# the worker's own environment, which every job inherits, and the cwd prelude.
ARG_ROOM = 128 << 10
KERNEL_ARG_CAP = 6 << 20  # Linux never allows more, whatever the stack limit (_STK_LIM / 4 * 3)
_ARG_MAX: list[int] = []
MAX_PRIORITY = 2**31 - 1
MAX_RETRIES = 1000


_COUNTER: list[Iterator[int]] = []  # this process's ids, once its start is drawn


def new_id() -> str:
    """A new job's id: 16 hex digits. A process draws a random 64-bit start (again in a
    forked child) and counts up from it (one C call: safe across threads), so its ids are
    as unique as random ones (two processes collide only if their ranges overlap) and
    follow each other in the id index: a batch's jobs go into a few of its pages instead
    of one random page each (DECISIONS.md, "Job ids count up from a random start")."""
    if not _COUNTER:
        _COUNTER.append(itertools.count(int.from_bytes(os.urandom(8), "big")))
    return f"{next(_COUNTER[0]) & 0xFFFF_FFFF_FFFF_FFFF:016x}"


os.register_at_fork(after_in_child=_COUNTER.clear)


def check_id(value: object) -> str:
    if not isinstance(value, str) or ID_PATTERN.fullmatch(value) is None:
        raise InvalidInput(
            f"invalid job id {brief(value)}: "
            "use 1-128 of A-Z a-z 0-9 . _ : - (not starting with '.')"
        )
    return value


def check_queue(value: object) -> str:
    if not isinstance(value, str) or QUEUE_PATTERN.fullmatch(value) is None:
        raise InvalidInput(f"invalid queue name {brief(value)}: use 1-64 of A-Z a-z 0-9 . _ : -")
    return value


def _check_int(key: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{key} must be a whole number, not {type(value).__name__}")
    if not low <= value <= high:
        raise InvalidInput(f"{key} must be between {low} and {high}, got {value}")
    return value


def check_text(key: str, value: str, limit: int = MAX_ARG, extra: int = 0) -> str:
    """``value`` without NUL, valid UTF-8, and at most ``limit`` bytes with ``extra``."""
    if "\x00" in value:
        raise InvalidInput(f"{key} must not contain NUL bytes")
    if _size(key, value) + extra > limit:
        raise InvalidInput(f"{key} is too long (the limit is {limit - extra} bytes)")
    return value


def _size(key: str, value: str) -> int:
    if value.isascii():  # O(1) in CPython, and then one byte per character
        return len(value)
    try:
        return len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidInput(f"{key} is not valid UTF-8 text") from None


def arg_max() -> int:
    """The room exec gives a command and its environment here (``SC_ARG_MAX``, set by the
    stack limit), as the kernel caps it."""
    if not _ARG_MAX:
        try:
            found = os.sysconf("SC_ARG_MAX")
        except (OSError, ValueError):
            found = -1
        _ARG_MAX.append(min(found, KERNEL_ARG_CAP) if found > 0 else MAX_ARG + 1)
    return _ARG_MAX[0]


def check_exec_size(command: str | list[str], cwd: str | None, env: dict[str, str] | None) -> None:
    """Refuse a job that exec can never start: its argv and environment, counted as the
    kernel counts them (each string and its NUL, and a pointer to it), must leave
    ARG_ROOM of ARG_MAX for the worker's own environment."""
    if isinstance(command, str):  # /bin/sh -c COMMAND
        total = 27 + _size("command", command) + 9  # "/bin/sh", "-c": 7 + 9, 2 + 9
    else:
        total = sum(_size("command", arg) + 9 for arg in command)
    if cwd is not None:
        total += _size("cwd", cwd) + 64  # the prelude: sh -c 'cd -- "$1" …' queuectl-cwd DIR
    if env:
        total += sum(len(name) + _size(name, text) + 10 for name, text in env.items())
    room = arg_max() - ARG_ROOM
    if total > room:
        raise InvalidInput(
            f"the command and environment take {total} bytes, more than a job can be started "
            f"with here ({room}: ARG_MAX {arg_max()} less {ARG_ROOM} for the worker's own)"
        )


def check_command(value: object) -> str | list[str]:
    """A string (run by /bin/sh -c) or a non-empty array of strings (run as argv)."""
    if isinstance(value, str):
        if not value.strip():
            raise InvalidInput("command must not be empty")
        return check_text("command", value)
    if isinstance(value, list) and value and all(isinstance(arg, str) for arg in value):
        if not value[0]:
            raise InvalidInput("command array must start with a program name")
        total = 0
        for arg in value:
            total += len(check_text("command argument", arg))
        if total > MAX_ARGV_TOTAL:
            raise InvalidInput(f"command is too long (the limit is {MAX_ARGV_TOTAL} bytes)")
        return list(value)
    raise InvalidInput("command must be a string or a non-empty array of strings")


def check_env(value: object) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidInput("env must be an object of NAME: value strings")
    env: dict[str, str] = {}
    for name, text in value.items():
        if not isinstance(name, str) or ENV_NAME.fullmatch(name) is None:
            raise InvalidInput(f"invalid environment variable name {brief(name)}")
        if not isinstance(text, str):
            raise InvalidInput(f"env value of {name} must be a string")
        # exec takes each variable as one "NAME=value" string of at most MAX_ARG bytes
        env[name] = check_text(f"env value of {name}", text, extra=len(name) + 1)
    if len(env) > 1000:
        raise InvalidInput("env has too many variables (the limit is 1000)")
    return env or None


def _check_env_keys(value: object, env: dict[str, str] | None) -> None:
    """``env_keys``, names of variables a job had (an export leaves their values out: they
    are secrets): each must be given a value in ``env``, or the job would run without it."""
    if value is None:
        return
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise InvalidInput("env_keys must be an array of variable names")
    missing = [name for name in value if name not in (env or {})]
    if missing:
        shown = ", ".join(brief(name, 40) for name in missing[:5])
        raise InvalidInput(
            f"the job needs the environment variable(s) {shown}, whose values were not "
            "exported (they may be secrets): export with --with-env-values, or give them in env"
        )


def check_tags(value: object) -> list[str] | None:
    """An array of tags (words: see TAG_PATTERN), each kept once in the order given;
    None for none."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(tag, str) for tag in value):
        raise InvalidInput("tags must be an array of strings")
    for tag in value:
        if TAG_PATTERN.fullmatch(tag) is None:
            raise InvalidInput(
                f"invalid tag {brief(tag)}: use 1-64 of A-Z a-z 0-9 _ . : = / @ + -, "
                "starting with a letter, a digit or _"
            )
    tags = list(dict.fromkeys(value))
    if len(tags) > MAX_TAGS:
        raise InvalidInput(f"a job has at most {MAX_TAGS} tags, got {len(tags)}")
    return tags or None


MAX_UNIQUE_KEY = 256
ON_DUPLICATE = ("error", "skip")


def check_unique(
    key: object, within: object, on_duplicate: object
) -> tuple[str, float | None, str]:
    """(unique_key, unique_within, on_duplicate): the key, held while a job with it is
    active (``"active"``, the default) or also for a DURATION after one was created; a
    duplicate is refused (``"error"``, the default) or answered with the job that holds the
    key (``"skip"``)."""
    if not isinstance(key, str) or not key:
        raise InvalidInput("unique_key must be a non-empty string")
    check_text("unique_key", key, MAX_UNIQUE_KEY)
    window: float | None = None
    if within is not None and within != "active":
        window = parse_duration(within, "unique_within")
        if window <= 0:
            raise InvalidInput("unique_within must be 'active' or a duration greater than zero")
    if on_duplicate is None:
        on_duplicate = "error"
    elif on_duplicate not in ON_DUPLICATE:
        raise InvalidInput(f"on_duplicate must be error or skip, not {brief(on_duplicate)}")
    return key, window, str(on_duplicate)


def check_exit_codes(value: object) -> list[int] | None:
    """``no_retry_on``: an array of exit codes 0-255, kept sorted and once each; None for none."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise InvalidInput("no_retry_on must be an array of exit codes, e.g. [2, 126, 127]")
    for code in value:
        _check_int("no_retry_on code", code, 0, 255)
    return sorted(set(value)) or None


def parse_exit_codes(text: str) -> list[int]:
    """``--no-retry-on 2,126,127`` → [2, 126, 127] (range-checked with the rest)."""
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise InvalidInput(
            f"--no-retry-on expects exit codes separated by commas, e.g. 2,126,127, "
            f"got {brief(text)}"
        ) from None


def check_after(value: object, job_id: str) -> list[str] | None:
    """An array of job ids to run after, each kept once in the order given; None for
    none. Whether they exist is the backend's to say, in the enqueue's transaction."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise InvalidInput("after must be an array of job ids")
    after = list(dict.fromkeys(check_id(dep) for dep in value))
    if job_id in after:
        raise InvalidInput(f"job {job_id!r} cannot run after itself")
    if len(after) > MAX_AFTER:
        raise InvalidInput(f"a job runs after at most {MAX_AFTER} jobs, got {len(after)}")
    return after or None


def check_after_mode(value: object) -> str:
    if value not in AFTER_MODES:
        raise InvalidInput(
            f"after_mode must be one of {', '.join(AFTER_MODES)}, not {brief(value)}"
        )
    return str(value)


def parse_env_flags(pairs: list[str]) -> dict[str, str] | None:
    """``--env KEY=VALUE`` flags → a dict (validated later with the rest)."""
    env: dict[str, str] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep:
            raise InvalidInput(f"--env expects KEY=VALUE, got {brief(pair)}")
        env[name] = text
    return env or None


def check_priority(value: object) -> int:
    return _check_int("priority", value, -MAX_PRIORITY, MAX_PRIORITY)


def check_max_retries(value: object) -> int:
    return _check_int("max_retries", value, 0, MAX_RETRIES)


def check_timeout(value: object) -> float:
    timeout = parse_duration(value, "timeout")
    if timeout <= 0:
        raise InvalidInput("timeout must be greater than zero")
    return timeout


def check_when(run_at: object, delay: object, now: float) -> tuple[float | None, float]:
    """(run_at, delay): an ISO 8601 instant, or a delay in seconds from the write (by the
    queue's clock), never both; neither is a delay of 0. ``now`` is this host's clock,
    only for the bound."""
    if run_at is None:
        delay = 0.0 if delay is None else parse_duration(delay, "delay")
        start = now + delay
    elif delay is not None:
        raise InvalidInput("give either run_at or delay, not both")
    elif not isinstance(run_at, str):
        raise InvalidInput("run_at must be an ISO 8601 string")
    else:
        start = run_at = parse_instant(run_at)
        delay = 0.0
    if start > now + 100 * MAX_DURATION:
        raise InvalidInput("run_at is more than a century away")
    return run_at, delay


def decode_json(text: str) -> object:
    """A JSON document (a job, a line of a file), or InvalidInput saying what is wrong."""
    import json

    try:
        return json.loads(text)
    except RecursionError:
        raise InvalidInput("malformed JSON: nested too deeply") from None
    except ValueError as exc:
        raise InvalidInput(f"malformed JSON: {exc}") from None


def with_flags(raw: object, flags: dict[str, object] | None) -> object:
    """A decoded JSON job with the fields that CLI flags give added. A field given both
    ways is refused: neither can be assumed to be the one meant. The variables of
    ``--env-file`` (flags[ENV_FILE]) are the one exception: they go below the job's
    ``env``, whose variables win."""
    if not flags or not isinstance(raw, dict):
        return raw  # check_job refuses what is not an object
    for key in flags:
        if key in raw:
            flag = {"tags": "--tag"}.get(key, "--" + key.replace("_", "-"))
            raise InvalidInput(f"{key} is given twice: in the JSON job and as {flag}")
    job = {**raw, **flags}
    if ENV_FILE in job:
        below = job.pop(ENV_FILE)
        env = job.get("env")
        # an env that is no object is left for check_env to refuse
        job["env"] = {**below, **env} if isinstance(env, dict) else below if env is None else env
    return job


# What check_job makes of a job that gives only its command (its id and command aside).
COMMAND_ONLY = {
    "id": None,
    "command": None,
    "priority": 0,
    "max_retries": None,
    "timeout": None,
    "run_at": None,
    "delay": 0.0,
    "queue": "default",
    "cwd": None,
    "env": None,
    "tags": None,
    "unique_key": None,  # unique_key … after_mode: NO_FLOW
    "unique_within": None,
    "on_duplicate": "error",
    "no_retry_on": None,
    "after": None,
    "after_mode": "success",
    "limits": None,
    "clean_env": False,
}


def check_job(raw: object, now: float, cwd_base: str | None = None) -> JobSpec:
    """A decoded JSON object (or the CLI flags as one) → a JobSpec, or InvalidInput.

    On the enqueue path of every job (a batch checks thousands): absent and null keys
    cost one lookup each.
    """
    if not isinstance(raw, dict):
        raise InvalidInput('a job must be a JSON object with at least a "command"')
    if len(raw) == 1 and "command" in raw:  # the commonest line of a batch: no lookups
        command = check_command(raw["command"])
        check_exec_size(command, None, None)
        return {**COMMAND_ONLY, "id": new_id(), "command": command}  # type: ignore[typeddict-item]
    if not raw.keys() <= KNOWN_KEYS:
        unknown = next(key for key in raw if key not in KNOWN_KEYS)
        if unknown in HISTORY_KEYS:
            raise InvalidInput(
                f"{unknown!r} belongs to a job's history (export --with-history): restore such "
                "a line with queuectl import, or export without --with-history to enqueue anew"
            )
        raise InvalidInput(f"unknown job key {brief(unknown)}; known keys: {', '.join(KEYS)}")
    if "command" not in raw:
        raise InvalidInput('a job needs a "command"')
    get = raw.get
    job_id = get("id")
    job_id = new_id() if job_id is None else check_id(job_id)
    if "@" in job_id:
        raise InvalidInput(
            f"invalid job id {brief(job_id)}: '@' is kept for the jobs of schedules (NAME@SLOT)"
        )
    priority = check_priority(get("priority", 0))
    max_retries = get("max_retries")
    if max_retries is not None:
        max_retries = check_max_retries(max_retries)
    timeout = get("timeout")
    if timeout is not None:
        timeout = check_timeout(timeout)
    run_at, delay = check_when(get("run_at"), get("delay"), now)
    cwd = get("cwd")
    if cwd is not None:
        if not isinstance(cwd, str) or not cwd:
            raise InvalidInput("cwd must be a non-empty string")
        cwd = check_text("cwd", cwd, 4096)
        if not os.path.isabs(cwd):
            try:
                cwd = os.path.join(cwd_base or os.getcwd(), cwd)
            except FileNotFoundError:
                raise InvalidInput("a relative cwd needs a current directory that exists") from None
        cwd = os.path.normpath(cwd)
    queue = get("queue", "default")
    command = check_command(raw["command"])
    env = check_env(get("env"))
    if ENV_KEYS in raw:
        _check_env_keys(raw[ENV_KEYS], env)
    tags = check_tags(get("tags"))
    if not FLOW_KEYS.isdisjoint(raw):
        unique_key, unique_within, on_duplicate, no_retry_on, after, after_mode = _check_flow(
            get, job_id
        )
    else:  # a job without flow control: no further lookup
        unique_key, unique_within, on_duplicate, no_retry_on, after, after_mode = NO_FLOW
    limits = get("limits")
    if limits is not None:
        from queuectl.limits import check as check_limits

        limits = check_limits(limits) or None
    clean_env = get("clean_env")
    if clean_env is not None and not isinstance(clean_env, bool):
        raise InvalidInput(f"clean_env must be true or false, not {brief(clean_env)}")
    check_exec_size(command, cwd, env)
    return {
        "id": job_id,
        "command": command,
        "priority": priority,
        "max_retries": max_retries,
        "timeout": timeout,
        "run_at": run_at,
        "delay": delay,
        "queue": queue if queue == "default" else check_queue(queue),
        "cwd": cwd,
        "env": env,
        "tags": tags,
        "unique_key": unique_key,
        "unique_within": unique_within,
        "on_duplicate": on_duplicate,
        "no_retry_on": no_retry_on,
        "after": after,
        "after_mode": after_mode,
        "limits": limits,
        "clean_env": clean_env is True,
    }


def _check_flow(get: Callable[[str], Any], job_id: str) -> tuple[Any, ...]:
    """A job's flow-control fields (FLOW_KEYS), checked, in the order of NO_FLOW."""
    unique_key = get("unique_key")
    unique_within = None
    on_duplicate = "error"
    if unique_key is not None:
        unique_key, unique_within, on_duplicate = check_unique(
            unique_key, get("unique_within"), get("on_duplicate")
        )
    elif get("unique_within") is not None or get("on_duplicate") is not None:
        # checked, and without a key they change nothing: beside --file, the flags are
        # fields of every line, and apply to the lines that have a key
        check_unique("-", get("unique_within"), get("on_duplicate"))
    no_retry_on = get("no_retry_on")
    if no_retry_on is not None:
        no_retry_on = check_exit_codes(no_retry_on)
    after = check_after(get("after"), job_id)
    after_mode = get("after_mode")
    after_mode = "success" if after_mode is None else check_after_mode(after_mode)
    return unique_key, unique_within, on_duplicate, no_retry_on, after, after_mode


# What `edit` may change in a job that has not started, in the order of its options.
CHANGEABLE = (
    "command",
    "priority",
    "queue",
    "run_at",
    "delay",
    "max_retries",
    "timeout",
    "clean_env",
    "limits",
)


def check_changes(raw: Mapping[str, object], now: float) -> dict[str, object]:
    """What `edit` changes (a value per key of CHANGEABLE; None: leave it as it is), each
    checked by enqueue's rules → every key of CHANGEABLE, None where unchanged. ``delay``
    is set only without ``run_at``: seconds from the write, by the queue's clock. The
    command's size with the job's own cwd and environment is checked once the job is
    read (``check_exec_size``)."""
    given = {key: value for key, value in raw.items() if value is not None}
    if not given:
        raise InvalidInput(f"name something to change: {', '.join(CHANGEABLE)}")
    changes: dict[str, object] = dict.fromkeys(CHANGEABLE)
    if "command" in given:
        changes["command"] = check_command(given["command"])
    if "priority" in given:
        changes["priority"] = check_priority(given["priority"])
    if "queue" in given:
        changes["queue"] = check_queue(given["queue"])
    if "run_at" in given or "delay" in given:
        run_at, delay = check_when(given.get("run_at"), given.get("delay"), now)
        changes["run_at"], changes["delay"] = run_at, None if run_at is not None else delay
    if "max_retries" in given:
        changes["max_retries"] = check_max_retries(given["max_retries"])
    if "timeout" in given:
        changes["timeout"] = check_timeout(given["timeout"])
    if "limits" in given:
        from queuectl.limits import check as check_limits

        # {} is "none": the job's own limits removed (its queue's still apply)
        wanted = given["limits"]
        changes["limits"] = {} if wanted == "none" else check_limits(wanted)
    if "clean_env" in given:
        if not isinstance(given["clean_env"], bool):
            raise InvalidInput(f"clean_env must be true or false, not {brief(given['clean_env'])}")
        changes["clean_env"] = given["clean_env"]
    return changes


def check_queues(names: Sequence[str]) -> list[str]:
    """A worker's ``--queue`` values: NAME serves only the queues named, !NAME every queue
    but those named; one worker does one or the other, never both."""
    left_out = [name.startswith("!") for name in names]
    if any(left_out) and not all(left_out):
        raise InvalidInput(
            "--queue: name the queues to serve (NAME) or the queues to leave out (!NAME), not both"
        )
    for name in names:
        check_queue(name[1:] if name.startswith("!") else name)
    return list(names)
