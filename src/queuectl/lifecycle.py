"""The job lifecycle as a pure function: (job, outcome, policy, now) → transition.

No database, no clock of its own: the caller passes ``now``. Backends apply the
transition with a guarded write; this module decides what it is.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, Protocol

from queuectl.limits import size_text
from queuectl.models import JobState

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from queuectl.config import Settings
    from queuectl.models import Job


# --- what an attempt can end with (a failed command is data, not an exception) ---
@dataclass(frozen=True, slots=True)
class Succeeded:
    name = "succeeded"


@dataclass(frozen=True, slots=True)
class Failed:
    exit_code: int
    name = "failed"


@dataclass(frozen=True, slots=True)
class TimedOut:
    after: float
    name = "timed_out"


@dataclass(frozen=True, slots=True)
class SpawnError:
    message: str
    exit_code: int = 127
    name = "spawn_error"


@dataclass(frozen=True, slots=True)
class Killed:
    signal: int
    name = "killed"


@dataclass(frozen=True, slots=True)
class WorkerLost:
    """The lease expired: the worker died or was cut off mid-attempt."""

    name = "worker_lost"


@dataclass(frozen=True, slots=True)
class Interrupted:
    """The worker was told to stop now; the attempt is not held against the job."""

    name = "interrupted"


@dataclass(frozen=True, slots=True)
class Cancelled:
    name = "cancelled"


@dataclass(frozen=True, slots=True)
class OutOfMemory:
    """The kernel killed a process of the attempt at its memory limit (``limit``, bytes)."""

    limit: int
    name = "oom"


Outcome = (
    Succeeded
    | Failed
    | TimedOut
    | SpawnError
    | Killed
    | WorkerLost
    | Interrupted
    | Cancelled
    | OutOfMemory
)


class Usage(NamedTuple):
    """What an attempt's processes used, from the kernel's accounting: CPU seconds in user
    and kernel mode, and peak memory in KiB, None where it cannot be told (DECISIONS.md,
    "Resources": what each mode counts)."""

    cpu_user_s: float
    cpu_sys_s: float
    max_rss_kb: int | None


@dataclass(frozen=True, slots=True)
class Policy:
    """What decide() applies to every job (the queue's settings): backoff, its jitter (a
    fraction 0..1 of the delay added at random), the exit codes never retried, and the
    opt-in snooze code (None: none) with its delay and how often a job may take it."""

    backoff_base: float = 2.0
    max_backoff: float = 3600.0
    backoff_jitter: float = 0.0
    no_retry_on: frozenset[int] = frozenset()
    snooze_exit_code: int | None = None
    snooze_delay: float = 60.0
    max_snoozes: int = 10


def policy_of(settings: Settings) -> Policy:
    """The Policy of a queue's settings."""
    return Policy(
        settings.backoff_base,
        settings.max_backoff,
        settings.backoff_jitter,
        settings.no_retry_on,
        settings.snooze_exit_code,
        settings.snooze_delay,
        settings.max_snoozes,
    )


@dataclass(frozen=True, slots=True)
class Transition:
    state: JobState
    attempts: int
    run_at: float | None  # when the job may run next; None = unchanged
    exit_code: int | None
    error: str | None
    snoozes: int = 0  # the job's snooze count after this transition


class Finished(NamedTuple):
    """An ended attempt, decided and ready to be written (see Backend.exchange)."""

    job: Job
    worker: str | None
    transition: Transition
    outcome: str
    log_path: str | None = None
    log_tail: str | None = None
    usage: Usage | None = None


def backoff(attempts: int, policy: Policy) -> float:
    """Seconds to wait after ``attempts`` finished attempts: min(base ** attempts, max)."""
    if attempts <= 0:
        return 0.0
    if policy.backoff_base <= 1:
        return min(1.0, policy.max_backoff)
    # compare in log space: base ** attempts overflows a float long before max_backoff matters
    if attempts * math.log(policy.backoff_base) >= math.log(max(policy.max_backoff, 1e-9)):
        return policy.max_backoff
    return float(policy.backoff_base**attempts)


def describe(outcome: Outcome) -> tuple[int | None, str | None]:
    """(exit code, error text) recorded for an outcome."""
    match outcome:
        case Succeeded():
            return 0, None
        case Failed(code):
            return code, f"exit code {code}"
        case TimedOut(after):
            return None, f"timed out after {after:g}s"
        case SpawnError(message, code):
            return code, message
        case Killed(sig):
            return None, f"killed by signal {sig}"
        case WorkerLost():
            return None, "worker lost"
        case Interrupted():
            return None, "interrupted: worker stopped"
        case Cancelled():
            return None, "cancelled"
        case OutOfMemory(limit):
            return None, f"killed at its memory limit (mem={size_text(limit)})"


class RetryCounters(Protocol):
    """What decide() needs of a job (a models.Job has it)."""

    @property
    def attempts(self) -> int: ...

    @property
    def max_retries(self) -> int: ...

    @property
    def no_retry_on(self) -> frozenset[int]: ...

    @property
    def snoozes(self) -> int: ...


def decide(
    job: RetryCounters,
    outcome: Outcome,
    policy: Policy,
    now: float,
    draw: Callable[[], float] = random.random,
) -> Transition:
    """The next state of a job whose running attempt ended with ``outcome``.

    ``job.attempts`` counts finished attempts before this one; a job runs at most
    ``max_retries + 1`` times. ``draw``: a uniform number in [0, 1) for the backoff's
    jitter (injected by tests; drawn only when the policy has jitter).
    """
    attempts, max_retries, snoozes = job.attempts, job.max_retries, job.snoozes
    exit_code, error = describe(outcome)
    if isinstance(outcome, Interrupted):
        return Transition(JobState.PENDING, attempts, now, exit_code, error, snoozes)
    if snoozed(job, outcome, policy):
        error = f"snoozed: exit code {exit_code} ({snoozes + 1} of {policy.max_snoozes})"
        return Transition(
            JobState.PENDING, attempts, now + policy.snooze_delay, exit_code, error, snoozes + 1
        )
    done = attempts + 1
    if isinstance(outcome, Succeeded):
        return Transition(JobState.COMPLETED, done, None, exit_code, error, snoozes)
    if isinstance(outcome, Cancelled):
        return Transition(JobState.CANCELLED, done, None, exit_code, error, snoozes)
    if not_retried(job, exit_code, policy):
        error = f"{error}: not retried (no-retry-on {exit_code})"
        return Transition(JobState.DEAD, done, None, exit_code, error, snoozes)
    if done > max_retries:
        return Transition(JobState.DEAD, done, None, exit_code, error, snoozes)
    delay = backoff(done, policy)
    if policy.backoff_jitter:
        delay += delay * policy.backoff_jitter * draw()
    return Transition(JobState.FAILED, done, now + delay, exit_code, error, snoozes)


def snoozed(job: RetryCounters, outcome: Outcome, policy: Policy) -> bool:
    """Whether the attempt asked to be run again later (it exited with the policy's snooze
    code) and the job may still be snoozed: then no attempt is spent."""
    return (
        policy.snooze_exit_code is not None
        and isinstance(outcome, Failed)
        and outcome.exit_code == policy.snooze_exit_code
        and job.snoozes < policy.max_snoozes
    )


def not_retried(job: RetryCounters, exit_code: int | None, policy: Policy) -> bool:
    """Whether an attempt that failed with ``exit_code`` ends the job at once: the code is
    one of the job's own no-retry-on codes or the queue's (config no-retry-on)."""
    return exit_code is not None and (
        exit_code in job.no_retry_on or exit_code in policy.no_retry_on
    )


class LeaseWatch:
    """Which leases a rescuer may take, judged by what it has itself seen.

    Every renewal rewrites a running attempt's lease (its ``lease_until``). A lease is
    lost once the rescuer has seen the same value stand for a whole lease length of its
    own monotonic clock: its holder has renewed nothing for that long, so the holder's
    fence (which acts at a share of the lease after the last renewal, on the holder's own
    monotonic clock) has stopped the attempt. No two clock readings are ever compared, so
    a step of a wall clock (NTP, a VM's clock corrected) can neither make a renewed lease
    look expired nor keep a lost one alive. A rescuer that has just started has seen
    nothing yet: it waits a whole lease too.
    """

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: dict[str, tuple[object, float]] = {}  # job id → (value, first seen)

    def lost(self, leases: Iterable[tuple[str, object, float]], now: float) -> list[str]:
        """``leases``: (job id, its lease as stored now, lease length) for every running
        attempt; ``now``: the rescuer's monotonic clock. → the ids whose value has not
        changed for a lease length. Attempts absent from ``leases`` are forgotten."""
        seen: dict[str, tuple[object, float]] = {}
        lost = []
        for job_id, value, length in leases:
            before = self._seen.get(job_id)
            since = before[1] if before is not None and before[0] == value else now
            seen[job_id] = (value, since)
            if now - since >= length:
                lost.append(job_id)
        self._seen = seen
        return lost
