"""Schedules (recurring jobs): their rules, pure, with the clock passed in.

A schedule makes *slots*, instants at which its job is due: ``--every DURATION`` (whole
seconds, multiples of the duration since the epoch) or ``--cron EXPR`` (5 fields, read by
``cronsim`` in the wall clock of ``--tz``, UTC by default). Each slot becomes the job
``NAME@<slot>`` (``slot_id``); the queue refuses a second job of one id, which is what
makes a slot fire once however many workers try (DECISIONS.md, "Schedules").

Daylight saving time (``Timing``): a cron expression names wall-clock times, and each one
it matches gives one slot. A wall-clock time that does not exist (the clock jumped past
it) is due at the first instant after the jump; one that occurs twice (the clock went
back) is due at its first occurrence only.

``Schedule.plan`` says what a firing does with the slots due at ``now``: which to enqueue
(``--missed``, ``--overlap``), how far the schedule is settled, and its next slot.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

from queuectl.errors import InvalidInput, brief
from queuectl.jobspec import check_job
from queuectl.timefmt import iso, parse_duration

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from datetime import datetime, tzinfo
    from typing import Any, NamedTuple

    from queuectl.jobspec import JobSpec
else:
    from typing import NamedTuple

# A schedule's name: a job id's characters without '@', which separates it from the slot.
NAME_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._:-]{0,63}")
MISSED = ("latest", "skip", "all")
OVERLAP = ("skip", "allow")
# --missed all enqueues at most this many missed slots, the latest ones.
MAX_CATCH_UP = 100
# A job of the schedule in one of these states holds its next slots back (--overlap skip).
ACTIVE = frozenset(("pending", "processing", "failed", "blocked"))
# What the job of a slot is made of: the enqueue fields a recurring job can have. An id,
# a time (the slot is its time), a unique key or dependencies make no sense for it.
TEMPLATE_KEYS = (
    "command",
    "priority",
    "max_retries",
    "timeout",
    "queue",
    "cwd",
    "env",
    "tags",
    "no_retry_on",
    "limits",
    "clean_env",
)
SCHEDULE_ENV = "QUEUECTL_SCHEDULE"  # the job's environment: the schedule's name
SLOT_ENV = "QUEUECTL_SCHEDULED_FOR"  # and its slot, ISO 8601 UTC
_LONGEST_SLOT = "0000-00-00T00:00:00.000000Z"  # run-now's instants have microseconds
# How far the wall clock may have been put back at most (a DST change, a zone's new
# offset): the reverse walk of Timing.before starts this far past its instant.
_MAX_SETBACK = 3 * 3600.0
_GAP_STEP_LIMIT = 48 * 60  # minutes walked out of a gap in the wall clock, at most


def check_name(value: object) -> str:
    if not isinstance(value, str) or NAME_PATTERN.fullmatch(value) is None:
        raise InvalidInput(
            f"invalid schedule name {brief(value)}: use 1-64 of A-Z a-z 0-9 . _ : - "
            "(not starting with '.' or '-'; no '@', which separates the name from the slot)"
        )
    return value


def check_choice(what: str, value: object, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise InvalidInput(f"{what} must be one of {', '.join(choices)}, not {brief(value)}")
    return str(value)


def check_every(value: object) -> float:
    """``--every``: a whole number of seconds, at least one, at most a year."""
    seconds = parse_duration(value, "--every")
    if seconds < 1 or seconds != int(seconds):
        raise InvalidInput(f"--every must be a whole number of seconds, 1s or more, not {value!r}")
    return seconds


def zone(name: str | None) -> tzinfo:
    """The IANA zone ``name`` (None: UTC)."""
    from datetime import UTC

    if name is None:
        return UTC
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "Europe" is a folder
        raise InvalidInput(
            f"unknown time zone {brief(name)}: use an IANA name such as Europe/Berlin"
        ) from None


def check_cron(expr: object, tz: object) -> tuple[str, str | None]:
    """A 5-field cron expression (minute hour day-of-month month day-of-week, as cron(5)
    has them) that matches some time in the next 50 years, and its zone."""
    from datetime import datetime

    from cronsim import CronSim, CronSimError

    if not isinstance(expr, str) or len(expr.split()) != 5 or len(expr) > 200:
        raise InvalidInput(
            f"--cron expects 5 fields (minute hour day month weekday), e.g. '0 2 * * *', "
            f"got {brief(expr)}"
        )
    if tz is not None and not isinstance(tz, str):
        raise InvalidInput(f"--tz must be a zone name, not {brief(tz)}")
    where = zone(tz)
    try:
        next(iter(CronSim(expr, datetime.now(where).replace(tzinfo=None))))
    except CronSimError as exc:
        raise InvalidInput(f"bad --cron {expr!r}: {exc}") from None
    except StopIteration:
        raise InvalidInput(f"--cron {expr!r} matches no time in the next 50 years") from None
    return " ".join(expr.split()), tz


def slot_text(instant: float) -> str:
    """A slot as its job id shows it: ISO 8601 UTC, whole seconds unless it has a fraction."""
    text = iso(instant) or ""
    return text.replace(".000000Z", "Z")


def slot_id(name: str, slot: float) -> str:
    """The job of a slot: ``nightly@2026-12-07T02:00:00Z``."""
    return f"{name}@{slot_text(slot)}"


def run_now_id(name: str, instant: float) -> str:
    """The job of a ``run-now``: ``nightly@now-2026-12-07T09:13:21.402133Z``, apart from
    every slot."""
    return f"{name}@now-{iso(instant)}"


@dataclass(frozen=True, slots=True)
class Timing:
    """What makes a schedule's slots: ``every`` seconds, or a ``cron`` expression in the
    wall clock of zone ``tz`` (None: UTC)."""

    cron: str | None = None
    tz: str | None = None
    every: float | None = None

    def text(self) -> str:
        if self.every is not None:
            return f"every {_duration(self.every)}"
        return f"cron '{self.cron}'" + (f" {self.tz}" if self.tz else " UTC")

    def after(self, instant: float) -> Iterator[float]:
        """The slots after ``instant``, in order (none more after 50 years of a cron that
        stops matching)."""
        if self.every is not None:
            k = math.floor(instant / self.every) + 1
            while True:
                yield k * self.every
                k += 1
        from cronsim import CronSim

        where = zone(self.tz)
        last = instant
        try:
            for wall in CronSim(str(self.cron), _wall(instant, where)):
                # after the clock went back, wall times later than instant's may have had
                # their one slot already (their first occurrence): passed over
                at = _instant(wall, where)
                if at > last:
                    yield at
                    last = at
        except StopIteration:  # pragma: no cover - cronsim ends its iteration this way too
            return

    def before(self, instant: float, limit: int, floor: float) -> list[float]:
        """The latest slots at or before ``instant`` and after ``floor``, newest first, at
        most ``limit`` of them."""
        found: list[float] = []
        if self.every is not None:
            k = math.floor(instant / self.every)
            while len(found) < limit and k * self.every > floor:
                found.append(k * self.every)
                k -= 1
            return found
        from cronsim import CronSim

        where = zone(self.tz)
        setback = 0.0 if self.tz is None else _MAX_SETBACK
        last = math.inf
        for wall in CronSim(str(self.cron), _wall(instant + setback, where), reverse=True):
            at = _instant(wall, where)
            if at > instant or at >= last:
                continue  # not yet due, or the same instant as a later wall time (a gap)
            if at <= floor or len(found) >= limit:
                break
            found.append(at)
            last = at
        return found

    def next_after(self, instant: float) -> float | None:
        return next(iter(self.after(instant)), None)

    def preview(self, instant: float, count: int) -> list[float]:
        """The next ``count`` slots after ``instant``."""
        slots = self.after(instant)
        return [at for _, at in zip(range(count), slots, strict=False)]


def _wall(instant: float, where: tzinfo) -> datetime:
    """The wall-clock time of ``instant`` in zone ``where``, without its zone."""
    from datetime import datetime

    return datetime.fromtimestamp(instant, where).replace(tzinfo=None)


def _instant(wall: datetime, where: tzinfo) -> float:
    """The one instant a wall-clock time of zone ``where`` is due: its first occurrence if
    the clock went back over it (fold 0); the first instant after the jump if the clock
    jumped past it (walked out of the gap a minute at a time: zones jump by minutes)."""
    from datetime import timedelta

    local = wall.replace(tzinfo=where)
    for _ in range(_GAP_STEP_LIMIT):
        if _exists(local):
            break
        wall += timedelta(minutes=1)
        local = wall.replace(tzinfo=where)
    return local.timestamp()


def _exists(local: datetime) -> bool:
    """Whether a zoned wall-clock time is one the clock shows (not inside a forward jump):
    it survives the round trip through UTC (same zone: compared as wall times)."""
    from datetime import UTC

    return local == local.astimezone(UTC).astimezone(local.tzinfo)


def _duration(seconds: float) -> str:
    """``--every`` as typed: ``1s``, ``90s``, ``5m``, ``2h``, ``1d``."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


class Plan(NamedTuple):
    """What one firing does with a schedule (Schedule.plan): enqueue the jobs of ``slots``
    (oldest first), settle every slot up to ``settled_to``, and wait for ``next_at``."""

    slots: list[float]
    settled_to: float
    next_at: float | None


@dataclass(frozen=True, slots=True)
class Schedule:
    """A schedule as stored. ``job``: the template of its jobs (TEMPLATE_KEYS, checked as
    an enqueue checks them). Every slot at or before ``settled_to`` has been dealt with
    (enqueued, skipped, or before the schedule began or was resumed); ``next_at`` is the
    first slot after it. ``last_job``: the job of the latest slot enqueued (``last_slot``),
    ``now_job`` the latest run-now's; ``last_state``/``now_state`` their states (None: not
    read, or purged)."""

    name: str
    timing: Timing
    job: dict[str, Any]
    missed: str = "latest"
    overlap: str = "skip"
    paused: bool = False
    created_at: float = 0.0
    settled_to: float = 0.0
    next_at: float | None = None
    last_slot: float | None = None
    last_job: str | None = None
    now_job: str | None = None
    last_state: str | None = None
    now_state: str | None = None

    @classmethod
    def from_row(cls, row: Any) -> Schedule:
        return cls(
            name=row["name"],
            timing=Timing(row["cron"], row["tz"], row["every"]),
            job=json.loads(row["job"]),
            missed=row["missed"],
            overlap=row["overlap"],
            paused=bool(row["paused"]),
            created_at=row["created_at"],
            settled_to=row["settled_to"],
            next_at=row["next_at"],
            last_slot=row["last_slot"],
            last_job=row["last_job"],
            now_job=row["now_job"],
            last_state=row["last_state"],
            now_state=row["now_state"],
        )

    def columns(self) -> dict[str, Any]:
        """The row as stored (query schedule_insert)."""
        return {
            "name": self.name,
            "cron": self.timing.cron,
            "tz": self.timing.tz,
            "every": self.timing.every,
            "job": json.dumps(self.job),
            "missed": self.missed,
            "overlap": self.overlap,
            "paused": self.paused,
            "created_at": self.created_at,
            "settled_to": self.settled_to,
            "next_at": self.next_at,
        }

    def starting(self, now: float) -> Schedule:
        """The schedule as added at ``now``: its first slot is the first after ``now`` (the
        slots before it were never due, so none of them is missed)."""
        from dataclasses import replace

        return replace(self, created_at=now, settled_to=now, next_at=self.timing.next_after(now))

    @property
    def busy(self) -> bool:
        """A job of this schedule is still active (pending, running, failed and waiting for
        its retry, blocked): with --overlap skip, slots due now are skipped."""
        return self.last_state in ACTIVE or self.now_state in ACTIVE

    def plan(self, now: float, grace: float) -> Plan:
        """The slots due at ``now`` (after ``settled_to``): a slot less than ``grace`` late
        is on time and enqueued; an older one was missed (no live worker fired it in time)
        and ``missed`` decides: ``skip`` none, ``latest`` the latest of them unless a slot
        is on time (that one is the catch-up run), ``all`` every one (the latest
        MAX_CATCH_UP). With ``overlap`` skip and a job of the schedule still active, none
        is enqueued. Every slot up to ``now`` is settled either way."""
        late = now - grace
        on_time = []
        for slot in self.timing.after(max(self.settled_to, late)):
            if slot > now:
                break
            on_time.append(slot)
        missed: list[float] = []
        if self.settled_to < late:
            if self.missed == "all":
                missed = self.timing.before(late, MAX_CATCH_UP, self.settled_to)[::-1]
            elif self.missed == "latest" and not on_time:
                missed = self.timing.before(late, 1, self.settled_to)
        slots = [] if self.busy and self.overlap == "skip" else missed + on_time
        settled_to = max(self.settled_to, now)  # never back: a slot settled stays settled
        return Plan(slots, settled_to, self.timing.next_after(settled_to))

    def resumed(self, now: float) -> tuple[float, float | None]:
        """(settled_to, next_at) of a schedule resumed at ``now``: the slots of the pause
        are not missed, they were not wanted; the next slot after ``now`` is the next run."""
        settled_to = max(self.settled_to, now)
        return settled_to, self.timing.next_after(settled_to)

    def job_spec(self, job_id: str, slot: float, max_retries: int) -> JobSpec:
        """The job of ``slot`` (or of a run-now at that instant), due at ``slot``: the
        template (checked when the schedule was added), with QUEUECTL_SCHEDULE and
        QUEUECTL_SCHEDULED_FOR in its environment."""
        job = self.job
        env = {**(job.get("env") or {}), SCHEDULE_ENV: self.name, SLOT_ENV: slot_text(slot)}
        return {
            "id": job_id,
            "command": job["command"],
            "priority": job.get("priority", 0),
            "max_retries": job.get("max_retries", max_retries),
            "timeout": job.get("timeout"),
            "run_at": slot,
            "delay": 0.0,
            "queue": job.get("queue", "default"),
            "cwd": job.get("cwd"),
            "env": env,
            "tags": job.get("tags"),
            "unique_key": None,
            "unique_within": None,
            "on_duplicate": "error",
            "no_retry_on": job.get("no_retry_on"),
            "limits": job.get("limits"),
            "after": None,
            "after_mode": "success",
            "clean_env": job.get("clean_env", False),
        }

    def to_dict(self) -> dict[str, Any]:
        """The public JSON shape (`schedule list/show --json`); environment values are
        never shown, only names."""
        job = {key: value for key, value in self.job.items() if key != "env"}
        job["env_keys"] = sorted(self.job.get("env") or {})
        return {
            "name": self.name,
            "cron": self.timing.cron,
            "tz": self.timing.tz,
            "every": self.timing.every,
            "missed": self.missed,
            "overlap": self.overlap,
            "paused": self.paused,
            "next_at": None if self.paused else iso(self.next_at),
            "last_slot": iso(self.last_slot),
            "last_job": self.last_job,
            "last_state": self.last_state,
            "run_now_job": self.now_job,
            "run_now_state": self.now_state,
            "created_at": iso(self.created_at),
            "job": job,
        }

    def when_text(self) -> str:
        """``cron '0 2 * * *' Europe/Berlin`` or ``every 1h``, and the policies."""
        return f"{self.timing.text()}, missed {self.missed}, overlap {self.overlap}"


def make(
    name: str,
    job: Mapping[str, object],
    *,
    cron: str | None = None,
    tz: str | None = None,
    every: float | str | None = None,
    missed: str | None = None,
    overlap: str | None = None,
    now: float,
) -> Schedule:
    """A new schedule, every input checked (InvalidInput: nothing is written). Its first
    slot is the first after ``now``: the slots before it are not missed, they were never
    due."""
    check_name(name)
    if (cron is None) == (every is None):
        raise InvalidInput("give either --cron EXPR or --every DURATION (one of them)")
    if tz is not None and cron is None:
        raise InvalidInput("--tz is the zone of --cron; --every counts seconds, in no zone")
    timing = Timing(*check_cron(cron, tz)) if cron is not None else Timing(every=check_every(every))
    unknown = [key for key in job if key not in TEMPLATE_KEYS]
    if unknown:
        raise InvalidInput(
            f"a schedule's job cannot have {unknown[0]!r}; it takes {', '.join(TEMPLATE_KEYS)}"
        )
    env = job.get("env")
    # checked as the slots' jobs will be, with the two variables a slot adds at their
    # longest (exec's size limit counts them)
    probe = {SCHEDULE_ENV: name, SLOT_ENV: _LONGEST_SLOT}
    spec = check_job(
        {**job, "env": {**env, **probe} if isinstance(env, dict) else env or probe}, now
    )
    template = {key: spec[key] for key in TEMPLATE_KEYS}  # type: ignore[literal-required]
    template["env"] = {k: v for k, v in (spec["env"] or {}).items() if k not in probe} or None
    # kept only where set: a template without clean_env inherits the worker's environment
    template = {
        key: value for key, value in template.items() if value is not None and value is not False
    }
    return Schedule(
        name=name,
        timing=timing,
        job=template,
        missed=check_choice("--missed", missed or "latest", MISSED),
        overlap=check_choice("--overlap", overlap or "skip", OVERLAP),
    ).starting(now)


def check_count(value: int) -> int:
    if not 1 <= value <= 1000:
        raise InvalidInput(f"--next must be between 1 and 1000, got {value}")
    return value
