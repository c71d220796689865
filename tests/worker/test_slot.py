"""A slot takes one attempt to its outcome: spawn, stop (SIGTERM, then SIGKILL after the
grace), reap, and one mapping from why the worker stopped it to the lifecycle outcome.
Real processes (``true``, ``sleep``), the slot's deadlines on a fake clock."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from queuectl.config import Settings
from queuectl.lifecycle import (
    Cancelled,
    Failed,
    Interrupted,
    Killed,
    Outcome,
    SpawnError,
    Succeeded,
    TimedOut,
    WorkerLost,
)
from queuectl.worker.fence import ENV as FENCE_ENV
from queuectl.worker.slot import Slot, StopReason, outcome_of
from tests.worker.fakes import WALL, Clock, end, make_job, poll, wait_reaped

SETTINGS = Settings({"kill_grace": "5"})
EXIT_3 = 3 << 8  # the wait status of a process that exited with 3
KILLED_9 = signal.SIGKILL  # ... and of one killed by SIGKILL


@pytest.fixture
def devnull() -> Iterator[int]:
    fd = os.open(os.devnull, os.O_WRONLY)
    yield fd
    os.close(fd)


@pytest.fixture
def slot(tmp_path: Path, clock: Clock) -> Iterator[Slot]:
    slot = Slot("host:1:1", str(tmp_path / "logs"), clock)
    yield slot
    end(slot)
    slot.log.remove()


def run(slot: Slot, command: str | list[str], devnull: int, **fields: Any) -> None:
    job = make_job("j", command, **fields)
    assert slot.start(job, dict(os.environ), None, SETTINGS, devnull) is None


@pytest.mark.parametrize(
    ("reason", "outcome"),
    [
        (StopReason.TIMEOUT, TimedOut(7.0)),
        (StopReason.INTERRUPT, Interrupted()),
        (StopReason.REVOKED, Cancelled()),
        (StopReason.FENCED, WorkerLost()),
    ],
)
@pytest.mark.parametrize("status", [0, EXIT_3, KILLED_9])
def test_why_the_worker_stopped_an_attempt_decides_its_outcome_whatever_it_exited_with(
    reason: StopReason, outcome: Outcome, status: int
) -> None:
    assert outcome_of(status, reason, 7.0) == outcome


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(0, Succeeded()), (EXIT_3, Failed(3)), (KILLED_9, Killed(signal.SIGKILL))],
)
def test_an_attempt_the_worker_did_not_stop_is_named_by_its_exit_status(
    status: int, outcome: Outcome
) -> None:
    assert outcome_of(status, None, 7.0) == outcome


@pytest.mark.parametrize(
    ("command", "outcome"),
    [
        ("true", Succeeded()),
        ("exit 3", Failed(3)),
        ("kill -KILL $$", Killed(signal.SIGKILL)),
    ],
)
def test_a_real_attempt_ends_with_the_outcome_of_its_exit(
    slot: Slot, devnull: int, command: str, outcome: Outcome
) -> None:
    run(slot, command, devnull)
    status = wait_reaped(slot)
    assert slot.outcome(status, slot.timeout(SETTINGS)) == outcome


def test_a_forfeit_reason_replaces_an_earlier_one_and_only_a_forfeit_one_replaces_it(
    slot: Slot, devnull: int, clock: Clock
) -> None:
    run(slot, "sleep 30", devnull)
    reasons = []
    for reason in (StopReason.TIMEOUT, StopReason.INTERRUPT, StopReason.REVOKED):
        slot.stop(reason, clock(), 5.0)
        reasons.append(slot.stop_reason)
    assert reasons == [StopReason.TIMEOUT, StopReason.TIMEOUT, StopReason.REVOKED]
    slot.stop(StopReason.TIMEOUT, clock(), 5.0)
    slot.kill(StopReason.FENCED)
    assert slot.stop_reason is StopReason.REVOKED, "a forfeit stop keeps its reason"
    assert slot.outcome(wait_reaped(slot), 0.0) == Cancelled()


def test_a_timeout_sends_sigterm_then_sigkill_once_the_grace_has_passed(
    slot: Slot, devnull: int, clock: Clock
) -> None:
    """The job ignores SIGTERM: only the escalation, on the slot's clock, ends it."""
    run(slot, "trap '' TERM; echo ready; exec sleep 30", devnull, timeout=10.0)
    poll(lambda: os.path.getsize(slot.log.path) > 0)  # the trap is set
    assert slot.wake_at() == clock.now + 10.0
    clock.now += 9.9
    slot.enforce(clock(), SETTINGS)
    assert slot.stop_reason is None and slot.kill_at is None

    clock.now += 0.1
    slot.enforce(clock(), SETTINGS)
    assert slot.stop_reason is StopReason.TIMEOUT
    assert slot.wake_at() == clock.now + 5.0, "SIGKILL after the grace"
    assert slot.reap() is None, "SIGTERM is ignored"

    clock.now += 5.0
    slot.enforce(clock(), SETTINGS)
    status = wait_reaped(slot)
    assert os.waitstatus_to_exitcode(status) == -signal.SIGKILL
    assert slot.outcome(status, slot.timeout(SETTINGS)) == TimedOut(10.0)


def test_a_command_that_cannot_be_spawned_ends_at_once_and_says_why_in_its_log(
    slot: Slot, devnull: int
) -> None:
    job = make_job("j", ["/nonexistent/command"])
    outcome = slot.start(job, dict(os.environ), None, SETTINGS, devnull)
    assert isinstance(outcome, SpawnError) and outcome.exit_code == 127
    ended = slot.finish(outcome, SETTINGS, lambda: WALL)
    assert ended.outcome == "spawn_error" and slot.job is None
    assert ended.log_path is not None
    assert "cannot run '/nonexistent/command'" in Path(ended.log_path).read_text()


def test_an_attempt_carries_its_tag_and_a_fence_token_its_own_env_cannot_replace(
    slot: Slot, devnull: int
) -> None:
    base = {**os.environ, FENCE_ENV: "token"}
    job = make_job(
        "j",
        'echo "$QUEUECTL_FENCE $QUEUECTL_JOB_ID $QUEUECTL_ATTEMPT $MINE"',
        runs=4,
        env={FENCE_ENV: "escape", "MINE": "mine"},
    )
    assert slot.start(job, base, "token", SETTINGS, devnull) is None
    assert slot.tag == (
        b"QUEUECTL_FENCE=token",
        b"QUEUECTL_JOB_ID=j",
        b"QUEUECTL_ATTEMPT=4",
    )
    ended = slot.finish(slot.outcome(wait_reaped(slot), 0.0), SETTINGS, lambda: WALL)
    assert ended.log_path is not None
    assert Path(ended.log_path).read_text() == "token j 4 mine\n"
    assert "MINE" not in base, "the worker's base environment is left as it was"


def test_finish_decides_the_next_state_by_the_queues_clock_and_frees_the_slot(
    slot: Slot, devnull: int
) -> None:
    run(slot, "exit 3", devnull)
    ended = slot.finish(slot.outcome(wait_reaped(slot), 0.0), SETTINGS, lambda: WALL)
    assert (ended.outcome, ended.worker) == ("failed", "host:1:1")
    assert ended.transition.state == "failed"
    assert ended.transition.run_at == WALL + 2, "the first backoff: 2 ** 1 s"
    assert ended.log_path is None, "a silent job keeps no file"
    assert (slot.job, slot.pid, slot.stop_reason) == (None, 0, None)
