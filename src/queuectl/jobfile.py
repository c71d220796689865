"""JSON Lines of jobs: what ``export`` writes and ``import`` reads back.

A line is a job's spec, the keys ``enqueue --file`` takes (jobspec.KEYS), so either
command re-creates it as a new job. A line written ``--with-history`` also holds what
happened to the job (jobspec.HISTORY_KEYS: its state, counters, times, last result, the
dependencies that still hold it, and ``history``, its attempts), and ``import`` restores
the job as it was. Keys without a value (null, an empty list, a zero count) are left
out. Environment values are secrets: without ``--with-env-values`` only their names go
out (``env_keys``), and a line whose names have no values is refused by both readers.

Pure: it turns jobs into lines and lines into jobs, and checks them; the queue is the
backend's (``Jobs.job_page``, ``Jobs.import_jobs``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from queuectl.errors import InvalidInput, brief
from queuectl.jobspec import (
    ENV_KEYS,
    HISTORY_KEYS,
    KNOWN_KEYS,
    MAX_ARG,
    check_id,
    check_job,
    check_text,
    decode_json,
)
from queuectl.models import STATES, Attempt, Job, JobState
from queuectl.timefmt import iso, parse_instant

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

    from queuectl.jobspec import JobSpec

# The keys of an attempt in ``history`` (Attempt.to_dict's, with ``log_tail`` and without
# ``duration``, which the times give).
ATTEMPT_KEYS = (
    "attempt",
    "worker",
    "started_at",
    "finished_at",
    "outcome",
    "exit_code",
    "error",
    "log_path",
    "log_tail",
    "cpu_user_s",
    "cpu_sys_s",
    "max_rss_kb",
)
# enqueue's own keys, which no stored job keeps: a window, and what to do on a taken key
ENQUEUE_ONLY = ("unique_within", "on_duplicate")
LINE_KEYS = KNOWN_KEYS | frozenset(HISTORY_KEYS)
MAX_COUNT = 2**31 - 1
MAX_TAIL = 4 << 20  # bytes of a stored tail (config log-tail-bytes is at most 1 MiB)


class Line(NamedTuple):
    """One line, checked. ``spec``: the job as enqueue takes it. ``job``: with history, the
    job as it was (state, counters, times …), else None: a new job, made at the insert
    (``new_job``). ``attempts``: its history, oldest first."""

    number: int
    spec: JobSpec
    job: Job | None
    attempts: list[Attempt]

    def waits_for(self) -> list[str]:
        """The dependencies that still hold the job: those whose end must be applied to it
        (a new job's every ``after``; a restored blocked job's ``blocked_by``)."""
        if self.job is None:
            return list(self.spec["after"] or ())
        return list(self.job.blocked_by)


# --- jobs → lines ------------------------------------------------------------------
def line_of(
    job: Job, attempts: Sequence[Attempt] | None = None, env_values: bool = False
) -> dict[str, Any]:
    """The line of ``job``: its spec, and with ``attempts`` (its history, possibly empty)
    what happened to it. ``env_values``: the environment's values, else only its names."""
    line: dict[str, Any] = {
        "id": job.id,
        "command": job.command,
        "queue": job.queue,
        "priority": job.priority,
        "max_retries": job.max_retries,
        "run_at": iso(job.run_at),
    }
    if job.env:
        line["env" if env_values else ENV_KEYS] = job.env if env_values else sorted(job.env)
    _put(line, "timeout", job.timeout)
    _put(line, "cwd", job.cwd)
    _put(line, "tags", list(job.tags))
    _put(line, "unique_key", job.unique_key)
    _put(line, "no_retry_on", sorted(job.no_retry_on))
    _put(line, "limits", job.limits)
    if job.after:
        line["after"] = list(job.after)
        line["after_mode"] = job.after_mode
    if job.clean_env:
        line["clean_env"] = True
    if attempts is None:
        return line
    line.update(
        state=job.state.value,
        attempts=job.attempts,
        runs=job.runs,
        created_at=iso(job.created_at),
        updated_at=iso(job.updated_at),
    )
    _put(line, "snoozes", job.snoozes)
    for key in ("started_at", "finished_at", "lease_until"):
        _put(line, key, iso(getattr(job, key)))
    for key in ("exit_code", "last_error", "worker"):
        _put(line, key, getattr(job, key))
    _put(line, "blocked_by", list(job.blocked_by))
    _put(line, "history", [_attempt_line(a) for a in attempts])
    return line


def _attempt_line(attempt: Attempt) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "attempt": attempt.run,
        "worker": attempt.worker,
        "started_at": iso(attempt.started_at),
    }
    _put(entry, "finished_at", iso(attempt.finished_at))
    for key in ("outcome", "exit_code", "error", "log_path", "log_tail"):
        _put(entry, key, getattr(attempt, key))
    for key in ("cpu_user_s", "cpu_sys_s", "max_rss_kb"):
        _put(entry, key, getattr(attempt, key))
    return entry


def _put(line: dict[str, Any], key: str, value: object) -> None:
    """``value`` under ``key``, unless it says nothing (None, empty, a zero count)."""
    if value is not None and value != [] and not (value == 0 and key == "snoozes"):
        line[key] = value


# --- lines → jobs ------------------------------------------------------------------
def read_lines(lines: Iterable[str], source: str, now: float) -> Iterator[Line]:
    """Each line of JSON Lines (blank lines skipped), checked; a bad one is InvalidInput
    naming ``source`` and its number."""
    for number, text in enumerate(lines, 1):
        if not text.strip():
            continue
        try:
            yield check_line(decode_json(text), now, number)
        except InvalidInput as exc:
            raise InvalidInput(f"{source}, line {number}: {exc}") from None


def check_lines(lines: Iterable[str], source: str, now: float) -> list[str]:
    """Check every line and the file as a whole, touching no queue: ids once each, and
    each dependency that holds a job (``Line.waits_for``) earlier in the file or, as the
    result says, to be found in the queue (so that no cycle can be written). → those."""
    seen: set[str] = set()
    outside: set[str] = set()
    for line in read_lines(lines, source, now):
        job_id = line.spec["id"]
        if job_id in seen:
            raise InvalidInput(f"{source}, line {line.number}: job id {job_id!r} appears twice")
        outside.update(dep for dep in line.waits_for() if dep not in seen)
        seen.add(job_id)
    if not seen:
        raise InvalidInput(f"{source}: no jobs found")
    return sorted(outside)


def check_line(raw: object, now: float, number: int = 0) -> Line:
    """A decoded line → a Line, or InvalidInput. The spec keys follow enqueue's rules
    (jobspec.check_job); a line with a ``state`` carries its history, checked here."""
    if not isinstance(raw, dict):
        raise InvalidInput('a job must be a JSON object with at least a "command"')
    for key in ENQUEUE_ONLY:
        if key in raw:
            raise InvalidInput(
                f"{key} is for enqueue, which decides on a unique key as it inserts; "
                "import restores jobs as export wrote them"
            )
    if "state" not in raw:
        return Line(number, check_job(raw, now), None, [])
    unknown = [key for key in raw if key not in LINE_KEYS]
    if unknown:
        raise InvalidInput(f"unknown key {brief(unknown[0])} in a job with its history")
    if "delay" in raw:
        raise InvalidInput("a job with its history has a run_at, not a delay")
    for key in ("run_at", "created_at", "updated_at", "max_retries"):
        if raw.get(key) is None:
            raise InvalidInput(f"a job with its history needs {key}")
    spec = check_job({k: v for k, v in raw.items() if k not in HISTORY_KEYS}, now)
    job = _restored(spec, raw)
    return Line(number, spec, job, _attempts(raw.get("history"), job))


def _restored(spec: JobSpec, raw: dict[str, Any]) -> Job:
    state = raw["state"]
    if state not in STATES:
        raise InvalidInput(f"unknown state {brief(state)}; states: {', '.join(STATES)}")
    runs = _count(raw, "runs")
    attempts = _count(raw, "attempts")
    if attempts > runs:
        raise InvalidInput(f"attempts ({attempts}) cannot exceed runs ({runs})")
    after = spec["after"] or []
    blocked_by = raw.get("blocked_by") or []
    if not isinstance(blocked_by, list):
        raise InvalidInput("blocked_by must be an array of job ids")
    blocked_by = [check_id(dep) for dep in blocked_by]
    if (state == JobState.BLOCKED) != bool(blocked_by):
        raise InvalidInput("a blocked job, and only one, names the jobs it is blocked by")
    if not set(blocked_by) <= set(after):
        raise InvalidInput("blocked_by names a job that is not in after")
    worker = _text(raw, "worker", 256)
    if state == JobState.PROCESSING and worker is None:
        raise InvalidInput("a processing job needs the worker that runs it")
    max_retries = spec["max_retries"]
    # a history line has both (checked by the caller)
    assert spec["run_at"] is not None and max_retries is not None
    return Job(
        id=spec["id"],
        command=spec["command"],
        state=JobState(state),
        attempts=attempts,
        max_retries=max_retries,
        priority=spec["priority"],
        queue=spec["queue"],
        run_at=spec["run_at"],
        timeout=spec["timeout"],
        cwd=spec["cwd"],
        env=spec["env"],
        clean_env=spec["clean_env"],
        created_at=parse_instant(raw["created_at"]),
        updated_at=parse_instant(raw["updated_at"]),
        started_at=_instant(raw, "started_at"),
        finished_at=_instant(raw, "finished_at"),
        exit_code=_int(raw, "exit_code"),
        last_error=_text(raw, "last_error"),
        worker=worker,
        runs=runs,
        lease_until=_instant(raw, "lease_until"),
        tags=tuple(spec["tags"] or ()),
        unique_key=spec["unique_key"],
        no_retry_on=frozenset(spec["no_retry_on"] or ()),
        snoozes=_count(raw, "snoozes"),
        after=tuple(after),
        after_mode=spec["after_mode"] if after else None,
        blocked_by=tuple(blocked_by),
        limits=spec["limits"],
    )


def _attempts(value: object, job: Job) -> list[Attempt]:
    """``history``: attempts in increasing run order, each of a run the job has had."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidInput("history must be an array of attempts")
    found: list[Attempt] = []
    for entry in value:
        if not isinstance(entry, dict):
            raise InvalidInput("an attempt of history must be an object")
        unknown = [key for key in entry if key not in ATTEMPT_KEYS]
        if unknown:
            raise InvalidInput(f"unknown key {brief(unknown[0])} in an attempt of history")
        run = _count(entry, "attempt")
        if not 1 <= run <= job.runs or (found and run <= found[-1].run):
            raise InvalidInput(
                f"history: attempt {run} is out of order, or beyond the job's {job.runs} runs"
            )
        worker = _text(entry, "worker", 256)
        started = _instant(entry, "started_at")
        if worker is None or started is None:
            raise InvalidInput(f"history: attempt {run} needs its worker and started_at")
        found.append(
            Attempt(
                job_id=job.id,
                run=run,
                worker=worker,
                started_at=started,
                finished_at=_instant(entry, "finished_at"),
                outcome=_text(entry, "outcome", 64),
                exit_code=_int(entry, "exit_code"),
                error=_text(entry, "error"),
                log_path=_text(entry, "log_path", 4096),
                log_tail=_text(entry, "log_tail", MAX_TAIL),
                cpu_user_s=_seconds(entry, "cpu_user_s"),
                cpu_sys_s=_seconds(entry, "cpu_sys_s"),
                max_rss_kb=_int(entry, "max_rss_kb", 0),
            )
        )
    return found


def new_job(spec: JobSpec, now: float, max_retries: int) -> Job:
    """A line without history as the job enqueue would make of it at ``now`` (the queue's
    clock): pending, or blocked on every ``after`` until their endings are applied."""
    after = tuple(spec["after"] or ())
    return Job(
        id=spec["id"],
        command=spec["command"],
        state=JobState.BLOCKED if after else JobState.PENDING,
        attempts=0,
        max_retries=max_retries if spec["max_retries"] is None else spec["max_retries"],
        priority=spec["priority"],
        queue=spec["queue"],
        run_at=now + spec["delay"] if spec["run_at"] is None else spec["run_at"],
        timeout=spec["timeout"],
        cwd=spec["cwd"],
        env=spec["env"],
        clean_env=spec["clean_env"],
        created_at=now,
        updated_at=now,
        started_at=None,
        finished_at=None,
        exit_code=None,
        last_error=None,
        worker=None,
        runs=0,
        lease_until=None,
        tags=tuple(spec["tags"] or ()),
        unique_key=spec["unique_key"],
        no_retry_on=frozenset(spec["no_retry_on"] or ()),
        after=after,
        after_mode=spec["after_mode"] if after else None,
        blocked_by=after,
        limits=spec["limits"],
    )


# --- values ------------------------------------------------------------------------
def _count(raw: dict[str, Any], key: str) -> int:
    """A count: absent is 0."""
    return _int(raw, key, 0) or 0


def _int(raw: dict[str, Any], key: str, low: int = -MAX_COUNT) -> int | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_COUNT:
        raise InvalidInput(f"{key} must be a whole number from {low} to {MAX_COUNT}")
    return value


def _seconds(raw: dict[str, Any], key: str) -> float | None:
    """A number of seconds at least 0 (CPU time), or None."""
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1e12:
        raise InvalidInput(f"{key} must be a number of seconds, at least 0")
    return float(value)


def _instant(raw: dict[str, Any], key: str) -> float | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{key} must be an ISO 8601 instant, e.g. 2026-11-22T10:30:00Z")
    return parse_instant(value)


def _text(raw: dict[str, Any], key: str, limit: int = MAX_ARG) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{key} must be a string")
    return check_text(key, value, limit)
