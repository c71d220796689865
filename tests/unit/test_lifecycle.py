"""decide() and backoff(): the lifecycle as a pure function, with the clock passed in."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from queuectl.lifecycle import (
    Cancelled,
    Failed,
    Interrupted,
    Killed,
    LeaseWatch,
    Outcome,
    Policy,
    SpawnError,
    Succeeded,
    TimedOut,
    WorkerLost,
    backoff,
    decide,
)
from queuectl.models import Job, JobState

NOW = 1_800_000_000.0
POLICY = Policy(backoff_base=2.0, max_backoff=3600.0)


@dataclass(frozen=True)
class Counters:
    """The counters decide() reads from a job."""

    attempts: int
    max_retries: int
    no_retry_on: frozenset[int] = frozenset()
    snoozes: int = 0


FAILURES: list[Outcome] = [
    Failed(1),
    Failed(255),
    TimedOut(30.0),
    SpawnError("no such file: nope", 127),
    Killed(9),
    WorkerLost(),
]


# --- backoff --------------------------------------------------------------------
@pytest.mark.parametrize(("attempts", "delay"), [(1, 2.0), (2, 4.0), (3, 8.0), (10, 1024.0)])
def test_backoff_is_base_to_the_power_of_attempts(attempts: int, delay: float) -> None:
    assert backoff(attempts, POLICY) == delay


def test_backoff_is_capped_by_max_backoff() -> None:
    assert backoff(12, POLICY) == 3600.0
    assert backoff(5, Policy(backoff_base=3.0, max_backoff=100.0)) == 100.0


@pytest.mark.parametrize("attempts", [1024, 10_000, 10**9, 10**18, 2**200])
def test_backoff_of_huge_attempts_does_not_overflow(attempts: int) -> None:
    assert backoff(attempts, POLICY) == 3600.0


def test_backoff_before_any_attempt_is_zero() -> None:
    assert backoff(0, POLICY) == 0.0


@given(
    attempts=st.integers(min_value=1, max_value=10**6),
    base=st.floats(min_value=1.0, max_value=1000.0),
    cap=st.floats(min_value=0.0, max_value=10**7),
)
def test_backoff_never_exceeds_the_cap_and_is_finite(
    attempts: int, base: float, cap: float
) -> None:
    delay = backoff(attempts, Policy(backoff_base=base, max_backoff=cap))
    assert math.isfinite(delay)
    assert 0.0 <= delay <= cap


# --- decide ---------------------------------------------------------------------
def test_success_completes_the_job_and_counts_the_attempt() -> None:
    step = decide(Counters(attempts=0, max_retries=3), Succeeded(), POLICY, NOW)
    assert step.state is JobState.COMPLETED
    assert step.attempts == 1
    assert step.exit_code == 0
    assert step.error is None


def test_success_after_retries_counts_every_attempt() -> None:
    step = decide(Counters(attempts=2, max_retries=3), Succeeded(), POLICY, NOW)
    assert (step.state, step.attempts) == (JobState.COMPLETED, 3)


def test_first_failure_with_retries_left_waits_two_seconds() -> None:
    step = decide(Counters(attempts=0, max_retries=3), Failed(3), POLICY, NOW)
    assert step.state is JobState.FAILED
    assert step.attempts == 1
    assert step.run_at == NOW + 2.0
    assert step.exit_code == 3
    assert step.error == "exit code 3"


def test_second_failure_waits_four_seconds() -> None:
    step = decide(Counters(attempts=1, max_retries=3), Failed(1), POLICY, NOW)
    assert (step.state, step.attempts, step.run_at) == (JobState.FAILED, 2, NOW + 4.0)


def test_failure_of_the_last_allowed_run_is_dead() -> None:
    # max_retries=3: runs 1..4 are allowed; the 4th failure (attempts 3 before it) is final
    step = decide(Counters(attempts=3, max_retries=3), Failed(1), POLICY, NOW)
    assert step.state is JobState.DEAD
    assert step.attempts == 4


def test_no_retries_means_dead_after_the_first_failure() -> None:
    step = decide(Counters(attempts=0, max_retries=0), Failed(1), POLICY, NOW)
    assert (step.state, step.attempts) == (JobState.DEAD, 1)


def test_interrupted_goes_back_to_pending_without_using_an_attempt() -> None:
    step = decide(Counters(attempts=2, max_retries=3), Interrupted(), POLICY, NOW)
    assert step.state is JobState.PENDING
    assert step.attempts == 2
    assert step.run_at is not None and step.run_at <= NOW  # runnable again right away


def test_interrupted_on_the_last_run_is_not_dead() -> None:
    step = decide(Counters(attempts=0, max_retries=0), Interrupted(), POLICY, NOW)
    assert (step.state, step.attempts) == (JobState.PENDING, 0)


def test_cancelled_outcome_ends_cancelled() -> None:
    step = decide(Counters(attempts=0, max_retries=3), Cancelled(), POLICY, NOW)
    assert step.state is JobState.CANCELLED


@pytest.mark.parametrize("outcome", FAILURES, ids=lambda o: type(o).__name__)
def test_every_failure_kind_uses_up_an_attempt_and_retries(outcome: Outcome) -> None:
    step = decide(Counters(attempts=0, max_retries=2), outcome, POLICY, NOW)
    assert step.state is JobState.FAILED
    assert step.attempts == 1
    assert step.run_at == NOW + 2.0
    assert step.error


@pytest.mark.parametrize("outcome", FAILURES, ids=lambda o: type(o).__name__)
def test_every_failure_kind_kills_a_job_out_of_retries(outcome: Outcome) -> None:
    step = decide(Counters(attempts=2, max_retries=2), outcome, POLICY, NOW)
    assert (step.state, step.attempts) == (JobState.DEAD, 3)


@pytest.mark.parametrize(
    ("outcome", "exit_code", "error"),
    [
        (Failed(42), 42, "exit code 42"),
        (SpawnError("cannot run 'nope': not found"), 127, "cannot run 'nope': not found"),
        (SpawnError("not executable", 126), 126, "not executable"),
        (TimedOut(30.0), None, "timed out after 30s"),
        (Killed(9), None, "killed by signal 9"),
        (WorkerLost(), None, "worker lost"),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, int | str | None) else None,
)
def test_failures_record_exit_code_and_error(
    outcome: Outcome, exit_code: int | None, error: str
) -> None:
    step = decide(Counters(attempts=0, max_retries=1), outcome, POLICY, NOW)
    assert step.exit_code == exit_code
    assert step.error == error


def test_huge_attempts_are_capped_not_overflowed() -> None:
    step = decide(Counters(attempts=10**9, max_retries=10**9 + 5), Failed(1), POLICY, NOW)
    assert step.state is JobState.FAILED
    assert step.run_at == NOW + 3600.0


def test_backoff_follows_the_policy() -> None:
    policy = Policy(backoff_base=3.0, max_backoff=20.0)
    first = decide(Counters(attempts=0, max_retries=5), Failed(1), policy, NOW)
    third = decide(Counters(attempts=2, max_retries=5), Failed(1), policy, NOW)
    assert first.run_at == NOW + 3.0
    assert third.run_at == NOW + 20.0  # 27 s capped at 20 s


def test_decide_takes_a_stored_job() -> None:
    job = Job(
        id="a",
        command="false",
        state=JobState.PROCESSING,
        attempts=1,
        max_retries=3,
        priority=0,
        queue="default",
        run_at=NOW,
        timeout=None,
        cwd=None,
        env=None,
        created_at=NOW,
        updated_at=NOW,
        started_at=NOW,
        finished_at=None,
        exit_code=None,
        last_error=None,
        worker="w1",
        runs=2,
        lease_until=NOW + 30,
    )
    step = decide(job, Failed(1), POLICY, NOW)
    assert (step.state, step.attempts, step.run_at) == (JobState.FAILED, 2, NOW + 4.0)


# --- the whole life of a job, for any outcomes ------------------------------------
outcomes = st.one_of(
    st.just(Succeeded()),
    st.builds(Failed, st.integers(min_value=1, max_value=255)),
    st.builds(TimedOut, st.floats(min_value=0.001, max_value=1e6)),
    st.builds(SpawnError, st.text(max_size=20), st.integers(min_value=1, max_value=255)),
    st.builds(Killed, st.integers(min_value=1, max_value=64)),
    st.just(WorkerLost()),
    st.just(Interrupted()),
    st.just(Cancelled()),
)
RUNNABLE = (JobState.PENDING, JobState.FAILED)
FINAL = (JobState.COMPLETED, JobState.DEAD, JobState.CANCELLED)


@given(
    max_retries=st.integers(min_value=0, max_value=20),
    history=st.lists(outcomes, max_size=60),
    base=st.sampled_from([1.5, 2.0, 10.0]),
)
def test_any_life_of_a_job_respects_the_retry_budget(
    max_retries: int, history: list[Outcome], base: float
) -> None:
    policy = Policy(backoff_base=base, max_backoff=3600.0)
    now = NOW
    state, attempts = JobState.PENDING, 0
    runs = failures = 0
    for outcome in history:
        if state not in RUNNABLE:
            break
        step = decide(Counters(attempts, max_retries), outcome, policy, now)
        assert step.state in JobState
        assert step.attempts >= attempts, "attempts never decreases"
        assert step.attempts <= max_retries + 1
        if isinstance(outcome, Interrupted):
            assert (step.state, step.attempts) == (JobState.PENDING, attempts)
        else:
            runs += 1
            assert step.attempts == attempts + 1
        if not isinstance(outcome, Succeeded | Interrupted | Cancelled):
            failures += 1
        if step.state is JobState.FAILED:
            assert step.run_at is not None
            assert step.run_at == now + backoff(step.attempts, policy)
            assert step.run_at > now
        state, attempts = step.state, step.attempts
        now = step.run_at if step.run_at is not None else now + 1.0
    assert state in (*RUNNABLE, *FINAL)
    assert runs <= max_retries + 1
    assert attempts == runs
    assert (state is JobState.DEAD) == (failures == max_retries + 1)


@pytest.mark.parametrize("max_retries", [0, 1, 3, 20])
def test_a_job_that_always_fails_runs_max_retries_plus_one_times(max_retries: int) -> None:
    state, attempts, runs, now = JobState.PENDING, 0, 0, NOW
    delays = []
    while state in RUNNABLE:
        step = decide(Counters(attempts, max_retries), Failed(1), POLICY, now)
        runs += 1
        if step.run_at is not None:
            delays.append(step.run_at - now)
            now = step.run_at
        state, attempts = step.state, step.attempts
    assert state is JobState.DEAD
    assert runs == attempts == max_retries + 1
    assert delays == [min(2.0**n, 3600.0) for n in range(1, max_retries + 1)]


# --- LeaseWatch: leases judged by what the rescuer saw, on its own monotonic clock ---------
def test_a_lease_is_lost_only_after_standing_unchanged_for_its_length() -> None:
    watch = LeaseWatch()
    assert watch.lost([("a", 100.0, 30.0)], now=0.0) == []  # first seen: watch only
    assert watch.lost([("a", 100.0, 30.0)], now=29.9) == []
    assert watch.lost([("a", 100.0, 30.0)], now=30.0) == ["a"]


def test_a_renewal_starts_the_wait_again() -> None:
    watch = LeaseWatch()
    watch.lost([("a", 100.0, 30.0)], now=0.0)
    assert watch.lost([("a", 105.0, 30.0)], now=25.0) == []  # renewed
    assert watch.lost([("a", 105.0, 30.0)], now=54.9) == []
    assert watch.lost([("a", 105.0, 30.0)], now=55.0) == ["a"]


def test_the_value_of_the_lease_says_nothing_about_its_age() -> None:
    # lease_until far in the past (a clock stepped forward) or in the future (stepped back):
    # only how long the rescuer has seen it unchanged counts.
    watch = LeaseWatch()
    assert watch.lost([("past", -1e9, 30.0), ("future", 1e12, 30.0)], now=5.0) == []
    assert watch.lost([("past", -1e9, 30.0), ("future", 1e12, 30.0)], now=35.0) == [
        "past",
        "future",
    ]


def test_another_run_or_holder_is_another_lease() -> None:
    watch = LeaseWatch()
    watch.lost([("a", ("w1", 1, 100.0), 30.0)], now=0.0)
    assert watch.lost([("a", ("w2", 2, 100.0), 30.0)], now=40.0) == []
    assert watch.lost([("a", ("w2", 2, 100.0), 30.0)], now=70.0) == ["a"]


def test_ended_attempts_are_forgotten() -> None:
    watch = LeaseWatch()
    watch.lost([("a", 100.0, 30.0)], now=0.0)
    assert watch.lost([], now=10.0) == []  # ended (and claimed again later, same value)
    assert watch.lost([("a", 100.0, 30.0)], now=35.0) == []  # seen anew at 35
    assert watch.lost([("a", 100.0, 30.0)], now=65.0) == ["a"]


def test_each_lease_waits_its_own_length() -> None:
    watch = LeaseWatch()
    watch.lost([("short", 1.0, 3.0), ("long", 1.0, 60.0)], now=0.0)
    assert watch.lost([("short", 1.0, 3.0), ("long", 1.0, 60.0)], now=3.0) == ["short"]
