"""What the queue stores, as immutable values: jobs, attempts, workers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum

from queuectl.timefmt import iso, span

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class JobState(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"  # failed, waiting out its backoff before the next attempt
    DEAD = "dead"  # out of retries: the dead letter queue
    CANCELLED = "cancelled"
    BLOCKED = "blocked"  # waits for its dependencies (enqueue --after)


STATES = tuple(state.value for state in JobState)
# the states a job never leaves by itself: `wait` and `logs --follow` end there
FINAL = frozenset({JobState.COMPLETED, JobState.DEAD, JobState.CANCELLED})
# The orders a listing knows (Jobs.list_jobs): created = enqueue order, priority = the
# order workers claim in. Each engine has a statement fragment per order and direction.
SORTS = ("created", "updated", "priority", "run_at")


def total_counts(per_queue: dict[str, dict[str, int]]) -> dict[str, int]:
    """Jobs per state over every queue, from ``Queue.counts_by_queue()``: one read gives
    both, and the totals always match the rows beside them."""
    return {state: sum(counts.get(state, 0) for counts in per_queue.values()) for state in STATES}


# the states in which a job holds its unique key (the index jobs_unique_active)
ACTIVE = ("pending", "blocked", "failed", "processing")
# the states `cancel` accepts: every job that has not ended (the SQL guards say the same)
CANCELLABLE = ("pending", "failed", "processing", "blocked")
# The states the operator's changes leave, passed to their guarded statements (the one
# place to extend them): `rerun` takes a final job, `edit` one that has not started,
# `run-now` one that waits for its time.
RERUNNABLE = ("completed", "dead", "cancelled")
EDITABLE = ("pending", "failed", "blocked")
WAITING = ("pending", "failed")


_NONE: frozenset[int] = frozenset()


# Each class has a docstring: without one, @dataclass computes inspect.signature() for it.
@dataclass(frozen=True, slots=True)
class Job:
    """A job as stored, with its current state."""

    id: str
    command: str | list[str]
    state: JobState
    attempts: int  # finished attempts since enqueue or the last `dlq retry`
    max_retries: int
    priority: int
    queue: str
    run_at: float
    timeout: float | None
    cwd: str | None
    env: dict[str, str] | None
    created_at: float
    updated_at: float
    started_at: float | None
    finished_at: float | None
    exit_code: int | None
    last_error: str | None
    worker: str | None
    runs: int  # attempts ever started; never reset, so it fences a run (see DECISIONS.md)
    lease_until: float | None
    tags: tuple[str, ...] = ()  # labels given at enqueue, in their order
    unique_key: str | None = None  # at most one active job holds it (enqueue --unique-key)
    no_retry_on: frozenset[int] = frozenset()  # exit codes that end it dead at once
    snoozes: int = 0  # times its snooze exit code rescheduled it (lifecycle.decide)
    after: tuple[str, ...] = ()  # the jobs it was enqueued after (enqueue --after)
    after_mode: str | None = None  # "success" or "done"; None without dependencies
    # the dependencies that still hold a blocked job: read apart (Queue.with_blockers)
    blocked_by: tuple[str, ...] = ()
    # what it may use (enqueue --limit; queuectl.limits): mem in bytes, cpu in cores, …
    limits: dict[str, int | float] | None = None
    # runs with only PATH, HOME, LANG, TZ of the worker's environment (enqueue --clean-env)
    clean_env: bool = False

    @classmethod
    def from_row(cls, row: Any) -> Job:
        """A row with the jobs table's columns, by name."""
        return cls(
            id=row["id"],
            command=json.loads(row["command"]),
            state=JobState(row["state"]),
            attempts=row["attempts"],
            max_retries=row["max_retries"],
            priority=row["priority"],
            queue=row["queue"],
            run_at=row["run_at"],
            timeout=row["timeout"],
            cwd=row["cwd"],
            env=json.loads(row["env"]) if row["env"] else None,
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            exit_code=row["exit_code"],
            last_error=row["last_error"],
            worker=row["worker"],
            runs=row["runs"],
            lease_until=row["lease_until"],
            tags=tuple(json.loads(row["tags"])) if row["tags"] else (),
            unique_key=row["unique_key"],
            no_retry_on=frozenset(json.loads(row["no_retry_on"])) if row["no_retry_on"] else _NONE,
            snoozes=row["snoozes"],
            after=tuple(json.loads(row["after_ids"])) if row["after_ids"] else (),
            after_mode=row["after_mode"],
            limits=json.loads(row["limits"]) if row["limits"] else None,
            clean_env=bool(row["clean_env"]),
        )

    def to_dict(self) -> dict[str, Any]:
        """The public JSON shape (CLI.md). Environment values are never shown, only names."""
        return {
            "id": self.id,
            "command": self.command,
            "state": self.state.value,
            "attempts": self.attempts,
            "max_retries": self.max_retries,
            "priority": self.priority,
            "queue": self.queue,
            "run_at": iso(self.run_at),
            "timeout": self.timeout,
            "cwd": self.cwd,
            "env_keys": sorted(self.env) if self.env else [],
            "clean_env": self.clean_env,
            "tags": list(self.tags),
            "unique_key": self.unique_key,
            "no_retry_on": sorted(self.no_retry_on),
            "snoozes": self.snoozes,
            "after": list(self.after),
            "after_mode": self.after_mode,
            "blocked_by": list(self.blocked_by),
            "limits": self.limits,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "exit_code": self.exit_code,
            "last_error": self.last_error,
            "worker": self.worker,
            "lease_until": iso(self.lease_until),
        }

    def command_text(self) -> str:
        """The command as a user would type it."""
        if isinstance(self.command, str):
            return self.command
        import shlex

        return shlex.join(self.command)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One run of a job, finished or not."""

    job_id: str
    run: int  # 1, 2, 3 … over the job's whole life (not reset by `dlq retry`)
    worker: str
    started_at: float
    finished_at: float | None
    outcome: str | None
    exit_code: int | None
    error: str | None
    log_path: str | None
    log_tail: str | None
    # what its processes used (the kernel's accounting); None where not measured
    cpu_user_s: float | None = None
    cpu_sys_s: float | None = None
    max_rss_kb: int | None = None

    @classmethod
    def from_row(cls, row: Any) -> Attempt:
        return cls(
            job_id=row["job_id"],
            run=row["run"],
            worker=row["worker"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            outcome=row["outcome"],
            exit_code=row["exit_code"],
            error=row["error"],
            log_path=row["log_path"],
            log_tail=row["log_tail"],
            cpu_user_s=row["cpu_user_s"],
            cpu_sys_s=row["cpu_sys_s"],
            max_rss_kb=row["max_rss_kb"],
        )

    def to_dict(self) -> dict[str, Any]:
        duration = None
        if self.finished_at is not None:
            duration = span(self.started_at, self.finished_at)
        return {
            "attempt": self.run,
            "worker": self.worker,
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "duration": duration,
            "outcome": self.outcome,
            "exit_code": self.exit_code,
            "error": self.error,
            "log_path": self.log_path,
            "cpu_user_s": self.cpu_user_s,
            "cpu_sys_s": self.cpu_sys_s,
            "max_rss_kb": self.max_rss_kb,
        }


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """A registered worker slot and the job it runs, if any."""

    id: str
    host: str
    pid: int
    pid_start: str | None  # the process's start time: tells a reused pid apart
    queues: list[str] | None
    started_at: float
    heartbeat_at: float
    current_job: str | None
    job_started_at: float | None
    stop_requested: bool

    @classmethod
    def from_row(cls, row: Any) -> WorkerInfo:
        return cls(
            id=row["id"],
            host=row["host"],
            pid=row["pid"],
            pid_start=row["pid_start"],
            queues=json.loads(row["queues"]) if row["queues"] else None,
            started_at=row["started_at"],
            heartbeat_at=row["heartbeat_at"],
            current_job=row["current_job"],
            job_started_at=row["job_started_at"],
            stop_requested=bool(row["stop_requested"]),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "host": self.host,
            "pid": self.pid,
            "queues": self.queues,
            "since": iso(self.started_at),
            "last_heartbeat": iso(self.heartbeat_at),
            "current_job": self.current_job,
            "job_started_at": iso(self.job_started_at),
            "stopping": self.stop_requested,
        }
