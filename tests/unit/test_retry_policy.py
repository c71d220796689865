"""The retry policy inside decide(): no-retry-on codes, backoff jitter and the snooze
code, with the clock and the random source passed in."""

from __future__ import annotations

import pytest

from queuectl.config import Settings
from queuectl.lifecycle import (
    Failed,
    Killed,
    Policy,
    SpawnError,
    Succeeded,
    TimedOut,
    decide,
    policy_of,
)
from queuectl.models import JobState
from tests.unit.test_lifecycle import Counters

NOW = 1_800_000_000.0


def never() -> float:
    raise AssertionError("no jitter was asked for, so nothing is drawn")


# --- no-retry-on --------------------------------------------------------------------
def test_a_code_of_the_job_goes_straight_to_dead() -> None:
    job = Counters(attempts=0, max_retries=3, no_retry_on=frozenset({2}))
    step = decide(job, Failed(2), Policy(), NOW)
    assert (step.state, step.attempts, step.exit_code) == (JobState.DEAD, 1, 2)
    assert step.error == "exit code 2: not retried (no-retry-on 2)"


def test_a_code_of_the_queue_goes_straight_to_dead() -> None:
    policy = Policy(no_retry_on=frozenset({126, 127}))
    step = decide(Counters(attempts=0, max_retries=3), SpawnError("no such file: x"), policy, NOW)
    assert step.state is JobState.DEAD
    assert step.exit_code == 127


@pytest.mark.parametrize("outcome", [Failed(1), TimedOut(5.0), Killed(9)])
def test_other_failures_are_retried_as_before(outcome: Failed | TimedOut | Killed) -> None:
    job = Counters(attempts=0, max_retries=3, no_retry_on=frozenset({2}))
    step = decide(job, outcome, Policy(no_retry_on=frozenset({126})), NOW)
    assert (step.state, step.run_at) == (JobState.FAILED, NOW + 2.0)


# --- jitter ---------------------------------------------------------------------------
def test_without_jitter_the_delays_are_exact_and_nothing_is_drawn() -> None:
    delays = [
        decide(Counters(attempts=n, max_retries=5), Failed(1), Policy(), NOW, never).run_at
        for n in range(3)
    ]
    assert delays == [NOW + 2.0, NOW + 4.0, NOW + 8.0]


@pytest.mark.parametrize(("drawn", "delay"), [(0.0, 4.0), (0.5, 5.0), (0.999, 5.998)])
def test_jitter_adds_up_to_its_fraction_of_the_delay(drawn: float, delay: float) -> None:
    policy = Policy(backoff_jitter=0.5)
    step = decide(Counters(attempts=1, max_retries=5), Failed(1), policy, NOW, lambda: drawn)
    assert step.run_at == pytest.approx(NOW + delay)


def test_jobs_that_failed_together_spread_out() -> None:
    import random

    source = random.Random(7)
    policy = Policy(backoff_jitter=1.0)
    job = Counters(attempts=0, max_retries=5)
    times = [decide(job, Failed(1), policy, NOW, source.random).run_at or 0 for _ in range(100)]
    assert all(NOW + 2.0 <= t < NOW + 4.0 for t in times)
    assert max(times) - min(times) > 1.5  # uniform over [2 s, 4 s)


# --- snooze ---------------------------------------------------------------------------
SNOOZE = Policy(snooze_exit_code=75, snooze_delay=30.0, max_snoozes=2)


def test_the_snooze_code_reschedules_without_spending_an_attempt() -> None:
    step = decide(Counters(attempts=1, max_retries=1), Failed(75), SNOOZE, NOW)
    assert (step.state, step.attempts, step.run_at, step.snoozes) == (
        JobState.PENDING, 1, NOW + 30.0, 1
    )  # fmt: skip
    assert step.error == "snoozed: exit code 75 (1 of 2)"


def test_past_max_snoozes_the_snooze_code_is_a_failure() -> None:
    step = decide(Counters(attempts=0, max_retries=3, snoozes=2), Failed(75), SNOOZE, NOW)
    assert (step.state, step.attempts, step.run_at, step.snoozes) == (
        JobState.FAILED, 1, NOW + 2.0, 2
    )  # fmt: skip


def test_without_a_snooze_code_75_is_a_failure_like_any_other() -> None:
    step = decide(Counters(attempts=0, max_retries=3), Failed(75), Policy(), NOW)
    assert (step.state, step.snoozes) == (JobState.FAILED, 0)


def test_success_keeps_the_snooze_count() -> None:
    step = decide(Counters(attempts=0, max_retries=3, snoozes=1), Succeeded(), SNOOZE, NOW)
    assert (step.state, step.snoozes) == (JobState.COMPLETED, 1)


# --- from the settings ----------------------------------------------------------------
def test_the_policy_of_the_settings() -> None:
    stored = {
        "no_retry_on": "2,126,127",
        "backoff_jitter": "0.25",
        "snooze_exit_code": "75",
        "snooze_delay": "5",
        "max_snoozes": "3",
    }
    expected = Policy(2.0, 3600.0, 0.25, frozenset({2, 126, 127}), 75, 5.0, 3)
    assert policy_of(Settings(stored)) == expected
    assert policy_of(Settings({})) == Policy()
