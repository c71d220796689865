"""Settings that live in the queue (``queuectl config``): names, defaults, validation.

Keys are stored in snake_case; kebab-case is accepted everywhere. Values are stored
as their canonical text so every process and host reads the same thing.
"""

from __future__ import annotations

import math

from queuectl.errors import InvalidInput, brief
from queuectl.limits import parse_size
from queuectl.timefmt import parse_duration

TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping


def _non_negative_int(limit: int) -> Callable[[str], str]:
    def check(text: str) -> str:
        try:
            value = int(text.strip())
        except ValueError:
            raise ValueError("expected a whole number") from None
        if not 0 <= value <= limit:
            raise ValueError(f"must be between 0 and {limit}")
        return str(value)

    return check


def _base(text: str) -> str:
    try:
        value = float(text.strip())
    except ValueError:
        raise ValueError("expected a number ≥ 1, e.g. 2") from None
    if not math.isfinite(value) or not 1 <= value <= 1000:
        raise ValueError("must be a number between 1 and 1000")
    return repr(value) if value != int(value) else str(int(value))


def _seconds(
    minimum: float, allow_none: bool = False, zero_is_none: bool = True
) -> Callable[[str], str]:
    """A duration in seconds, at least ``minimum``; with ``allow_none``, also ``none``
    (or ``off``, or nothing, or 0 unless ``zero_is_none`` is False: then 0 is a duration)."""
    nothing = ("none", "off", "0", "") if zero_is_none else ("none", "off", "")

    def check(text: str) -> str:
        if allow_none and text.strip().lower() in nothing:
            return "none"
        try:
            value = parse_duration(text)
        except InvalidInput:
            raise ValueError("expected a duration such as 30, 30s, 5m or 2h") from None
        if value < minimum:
            raise ValueError(f"must be at least {minimum:g}s")
        return repr(value) if value != int(value) else str(int(value))

    return check


MIN_LOG_BYTES = 8192


def _log_bytes(text: str) -> str:
    """A size in bytes (``65536``, ``64k``, ``64m``, ``1g``: binary units), or ``none``/0
    for no limit; stored as whole bytes."""
    value = text.strip().lower()
    if value in ("none", "off", "0", "unlimited"):
        return "none"
    try:
        size = parse_size(value)
    except ValueError:
        raise ValueError("expected a size such as 65536, 64k, 64m or 1g, or none") from None
    if not MIN_LOG_BYTES <= size <= 1 << 50:
        raise ValueError(f"must be at least {MIN_LOG_BYTES} bytes (or none)")
    return str(size)


def _output_bytes(text: str) -> str:
    """A size as for max-log-bytes, but always a bound (``none`` is refused)."""
    value = _log_bytes(text)
    if value == "none":
        raise ValueError(f"expected a size of at least {MIN_LOG_BYTES} bytes, such as 1m")
    return value


def _fraction(text: str) -> str:
    try:
        value = float(text.strip())
    except ValueError:
        raise ValueError("expected a number from 0 to 1, e.g. 0.25") from None
    if not 0 <= value <= 1:  # also refuses nan
        raise ValueError("must be a number from 0 to 1")
    return repr(value) if value != int(value) else str(int(value))


def _exit_code(text: str) -> str:
    """An exit code a job can end with on purpose (1-255), or none."""
    value = text.strip().lower()
    if value in ("none", "off", ""):
        return "none"
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= 255:
        raise ValueError("expected an exit code from 1 to 255, or none")
    return str(int(value))


def exit_codes(text: str) -> frozenset[int]:
    """``2,126,127`` → the exit codes (0-255); ValueError naming the rule."""
    codes = set()
    for part in text.split(","):
        part = part.strip()
        if not (part.isascii() and part.isdigit()) or int(part) > 255:
            raise ValueError("expected exit codes from 0 to 255, separated by commas, e.g. 2,126")
        codes.add(int(part))
    return frozenset(codes)


def _exit_codes(text: str) -> str:
    if text.strip().lower() in ("none", "off", ""):
        return "none"
    return ",".join(map(str, sorted(exit_codes(text))))


def _keep_for(text: str) -> str:
    """How long a final job is kept before live workers purge it: a duration of at least
    a second, or ``none`` (kept until purged by hand). 0 is refused: it could be read
    either way."""
    if text.strip().lower() in ("none", "off", "forever"):
        return "none"
    try:
        value = parse_duration(text)
    except InvalidInput:
        raise ValueError("expected a duration such as 12h, 7d or 30d, or none") from None
    if value < 1:
        raise ValueError("must be at least 1s (none: keep)")
    return repr(value) if value != int(value) else str(int(value))


MAX_HOOK = 4096  # bytes of a hook's command (other values are short: at most 100)
HOOKS = ("on_complete", "on_failure", "on_dead")


def _hook(text: str) -> str:
    """A hook: a command for /bin/sh -c, kept as written; ``none`` (or nothing) for none."""
    if text.strip().lower() in ("none", ""):
        return "none"
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValueError("not valid UTF-8 text") from None
    if size > MAX_HOOK:
        raise ValueError(f"longer than {MAX_HOOK} bytes")
    return text


def _choice(*choices: str) -> Callable[[str], str]:
    def check(text: str) -> str:
        value = text.strip().lower()
        if value not in choices:
            raise ValueError("expected one of " + ", ".join(choices))
        return value

    return check


# key → (default, validator, help)
SETTINGS: dict[str, tuple[str, Callable[[str], str], str]] = {
    "max_retries": ("3", _non_negative_int(1000), "retries after the first run, for new jobs"),
    "backoff_base": ("2", _base, "retry delay is backoff_base ** attempts seconds"),
    "max_backoff": ("3600", _seconds(0), "upper bound of a retry delay, seconds"),
    "job_timeout": ("none", _seconds(0.001, allow_none=True), "timeout of jobs that set none"),
    "kill_grace": ("5", _seconds(0), "SIGTERM → SIGKILL grace for timeouts and interrupts"),
    "stop_timeout": (
        "none",
        _seconds(0, allow_none=True, zero_is_none=False),
        "a graceful stop waits this long for running jobs, then interrupts them (none: for ever)",
    ),
    "lease": ("30", _seconds(3), "how long a claim stays valid without a heartbeat"),
    "heartbeat": ("5", _seconds(0.5), "how often workers renew leases and rescue lost jobs"),
    "poll_interval": ("2", _seconds(0.05), "safety-net wake-up of idle workers"),
    "log_tail_bytes": ("16384", _non_negative_int(1 << 20), "output kept in the database"),
    "durability": ("full", _choice("full", "normal", "off"), "SQLite fsync: full|normal|off"),
    "no_retry_on": ("none", _exit_codes, "exit codes that go straight to dead, e.g. 2,126,127"),
    "backoff_jitter": ("0", _fraction, "up to this fraction of a retry delay is added at random"),
    "snooze_exit_code": ("none", _exit_code, "exit code that reschedules a job, no attempt spent"),
    "snooze_delay": ("60", _seconds(0), "how long a snoozed job waits before it runs again"),
    "max_snoozes": ("10", _non_negative_int(1000), "snoozes a job may take; then they fail"),
    "on_complete": ("none", _hook, "run (/bin/sh -c) by the worker when an attempt succeeds"),
    "on_failure": ("none", _hook, "run by the worker after every failed attempt, the last too"),
    "on_dead": ("none", _hook, "run by the worker when a job goes dead"),
    "hook_timeout": ("30", _seconds(0.1), "a hook still running after this long is killed"),
    "max_log_bytes": (
        str(64 << 20),
        _log_bytes,
        "a job's log keeps its start and end within this size (none: no limit)",
    ),
    "keep_output": (
        "tail",
        _choice("tail", "full"),
        "PostgreSQL: after an attempt, keep only its stored tail, or its whole output (full)",
    ),
    "live_output_bytes": (
        str(1 << 20),
        _output_bytes,
        "PostgreSQL: a running attempt's output kept in the queue, its start and end",
    ),
    "retention_completed": ("604800", _keep_for, "completed jobs are purged this long after"),
    "retention_cancelled": ("604800", _keep_for, "cancelled jobs are purged this long after"),
    "retention_dead": ("none", _keep_for, "dead jobs are purged this long after (none: kept)"),
}
# the final states retention purges, and the setting of each
RETENTION = {"completed": "retention_completed", "cancelled": "retention_cancelled",
             "dead": "retention_dead"}  # fmt: skip


def canonical_key(key: str) -> str:
    """``max-retries`` and ``max_retries`` name the same setting."""
    name = key.strip().replace("-", "_").lower()
    if name not in SETTINGS:
        known = ", ".join(k.replace("_", "-") for k in SETTINGS)
        raise InvalidInput(f"unknown config key {brief(key)}; known keys: {known}")
    return name


def validate(key: str, value: str) -> tuple[str, str]:
    """(canonical key, canonical value) or InvalidInput naming the rule."""
    name = canonical_key(key)
    if "\x00" in value or len(value) > (MAX_HOOK if name in HOOKS else 100):
        raise InvalidInput(f"invalid value for {name.replace('_', '-')}: too long or not text")
    try:
        return name, SETTINGS[name][1](value)
    except ValueError as exc:
        shown = name.replace("_", "-")
        raise InvalidInput(f"invalid value {brief(value)} for {shown}: {exc}") from None


def check_consistent(values: Mapping[str, str]) -> None:
    """Relations between settings: a heartbeat must fit in a lease with room to spare."""
    settings = Settings(values)
    if settings.heartbeat * 2 > settings.lease:
        raise InvalidInput(
            f"heartbeat ({settings.heartbeat:g}s) must be at most half the lease "
            f"({settings.lease:g}s), or a busy worker could lose its jobs"
        )


class Settings:
    """Typed view of the stored settings, defaults filled in."""

    __slots__ = ("_values",)

    def __init__(self, stored: Mapping[str, str]) -> None:
        self._values = {key: stored.get(key, default) for key, (default, _, _) in SETTINGS.items()}

    def raw(self) -> dict[str, str]:
        return dict(self._values)

    @property
    def max_retries(self) -> int:
        return int(self._values["max_retries"])

    @property
    def backoff_base(self) -> float:
        return float(self._values["backoff_base"])

    @property
    def max_backoff(self) -> float:
        return float(self._values["max_backoff"])

    @property
    def job_timeout(self) -> float | None:
        text = self._values["job_timeout"]
        return None if text == "none" else float(text)

    @property
    def kill_grace(self) -> float:
        return float(self._values["kill_grace"])

    @property
    def stop_timeout(self) -> float | None:
        """None: a graceful stop waits for running jobs however long they take."""
        text = self._values["stop_timeout"]
        return None if text == "none" else float(text)

    def hook(self, name: str) -> str | None:
        """The command of hook ``name`` (one of HOOKS), None when none is set."""
        text = self._values[name]
        return None if text == "none" else text

    @property
    def hook_timeout(self) -> float:
        return float(self._values["hook_timeout"])

    @property
    def lease(self) -> float:
        return float(self._values["lease"])

    @property
    def heartbeat(self) -> float:
        return float(self._values["heartbeat"])

    @property
    def poll_interval(self) -> float:
        return float(self._values["poll_interval"])

    @property
    def log_tail_bytes(self) -> int:
        return int(self._values["log_tail_bytes"])

    @property
    def durability(self) -> str:
        return self._values["durability"]

    @property
    def max_log_bytes(self) -> int:
        """0 = no limit."""
        text = self._values["max_log_bytes"]
        return 0 if text == "none" else int(text)

    @property
    def keep_output(self) -> str:
        """``tail`` or ``full``: what of a finished attempt's chunks the queue keeps."""
        return self._values["keep_output"]

    @property
    def output_bound(self) -> int:
        """Bytes of an attempt's output kept in the queue as chunks (PostgreSQL), its start
        and its end (0: no bound): ``live-output-bytes``, or with keep-output full what
        its log file keeps (max-log-bytes)."""
        if self.keep_output == "full":
            return self.max_log_bytes
        return int(self._values["live_output_bytes"])

    @property
    def no_retry_on(self) -> frozenset[int]:
        text = self._values["no_retry_on"]
        return frozenset() if text == "none" else exit_codes(text)

    @property
    def backoff_jitter(self) -> float:
        return float(self._values["backoff_jitter"])

    @property
    def snooze_exit_code(self) -> int | None:
        text = self._values["snooze_exit_code"]
        return None if text == "none" else int(text)

    @property
    def snooze_delay(self) -> float:
        return float(self._values["snooze_delay"])

    @property
    def max_snoozes(self) -> int:
        return int(self._values["max_snoozes"])

    def retention(self, state: str) -> float | None:
        """Seconds a job that ended ``state`` (completed, cancelled, dead) is kept before
        live workers purge it; None: kept until purged by hand."""
        text = self._values[RETENTION[state]]
        return None if text == "none" else float(text)
