"""The loop's turn in-process: the results of ended attempts and the claims for free
slots go to the queue in one exchange; claims wait for a change once the queue ran
short; a result the queue refuses is retried apart at a growing pace and given up a
lease after its first failure. Stop signals, the heartbeat's part, and one whole run.
A fake queue and clock; jobs are real ``true``/``sleep`` processes."""

from __future__ import annotations

import json
import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from queuectl.errors import StorageError
from queuectl.lifecycle import Interrupted
from queuectl.worker.lease import FENCE_SHARE
from queuectl.worker.loop import GRACEFUL, STOP_NOW, STOP_REQUEST
from queuectl.worker.runner import Runner
from queuectl.worker.slot import Slot, StopReason
from tests.worker.fakes import Clock, FakePort, ended, make_job, poll, wait_reaped

LEASE = 30.0
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")  # ISO 8601, UTC


def ids(runner: Runner) -> list[str]:
    return [slot.worker_id for slot in runner.slots]


def running(runner: Runner) -> list[str]:
    return [slot.job.id for slot in runner.slots if slot.job is not None]


# --- one exchange per turn -----------------------------------------------------------
def test_a_turn_writes_the_results_and_claims_for_every_free_slot_in_one_exchange(
    runner: Runner, port: FakePort
) -> None:
    runner.results.add(ended("done"))
    port.ready = [make_job("a"), make_job("b")]
    runner.loop._turn()
    assert port.named("exchange") == [(["done"], ids(runner), LEASE)]
    assert running(runner) == ["a", "b"]
    assert [r.job.id for r in port.written] == ["done"]
    assert runner.results.unrecorded == [] and not runner.loop.claim_blocked


def test_when_the_queue_runs_short_claims_wait_for_a_change(runner: Runner, port: FakePort) -> None:
    port.ready = [make_job("a", "sleep 30")]
    runner.loop._turn()
    assert runner.loop.claim_blocked, "one job for two free slots: nothing more to claim"
    runner.loop._turn()
    assert len(port.named("exchange")) == 1, "no claim until something changes"

    runner.loop._wait(0.0)  # no event before the timeout: a timer fired
    assert not runner.loop.claim_blocked
    runner.loop._turn()
    assert port.named("exchange")[-1] == ([], [runner.slots[1].worker_id], LEASE)


def test_an_ended_attempt_goes_with_the_claims_of_the_next_turn(
    runner: Runner, port: FakePort
) -> None:
    port.ready = [make_job("a")]
    runner.loop._turn()
    first = runner.slots[0]
    reap_all(runner)
    assert not runner.loop.claim_blocked, "a slot came free"
    runner.loop._turn()
    assert port.named("exchange")[-1] == (
        ["a"],
        [first.worker_id, runner.slots[1].worker_id],
        LEASE,
    )
    assert port.written[-1].outcome == "succeeded"


def test_a_job_that_cannot_be_spawned_is_written_in_the_same_turn(
    runner: Runner, port: FakePort
) -> None:
    port.ready = [make_job("a", ["/nonexistent/command"]), make_job("b", "sleep 30")]
    runner.loop._turn()
    calls = port.named("exchange")
    assert calls[0] == ([], ids(runner), LEASE)
    assert calls[1] == (["a"], [runner.slots[0].worker_id], LEASE), "its slot claims again"
    assert port.written[-1].outcome == "spawn_error"


# --- results the queue refuses -------------------------------------------------------
def test_a_refused_result_is_retried_apart_at_a_growing_pace_while_claims_go_on(
    runner: Runner, port: FakePort, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    results = runner.results
    port.refuse = {"poison"}
    results.add(ended("poison"))
    with pytest.raises(StorageError):
        runner.loop._turn()  # the run loop says "queue error" and pauses
    assert results.refused_since == {("poison", 1): clock.now}

    port.ready = [make_job("a", "sleep 30")]
    runner.loop._turn()
    assert port.named("exchange")[1:] == [
        ([], ids(runner), LEASE),  # the claims, without the refused result
        (["poison"], [], LEASE),  # the result alone, in a transaction of its own
    ]
    assert running(runner) == ["a"]
    pauses = [results.pause]
    for _ in range(6):
        clock.now = results.retry_at
        runner.loop._turn()
        pauses.append(results.pause)
    assert pauses == [0.25, 0.5, 1, 2, 4, 5, 5]
    assert "1 result(s) not written: refused by the test; retrying in 5s" in capsys.readouterr().err

    calls = len(port.named("exchange"))
    clock.now = results.retry_at - 0.01
    runner.loop._turn()
    assert len(port.named("exchange")) == calls, "not before its time"

    runner.loop.heartbeat()
    assert ("poison", 1, "w:1:1") in port.renewed[-1], "its lease is renewed while it waits"


def test_a_result_refused_for_a_whole_lease_is_given_up_and_its_lease_left_to_run_out(
    runner: Runner, port: FakePort, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    results = runner.results
    port.refuse = {"poison"}
    results.add(ended("poison"))
    with pytest.raises(StorageError):
        runner.loop._turn()
    first_failure = clock.now
    while clock.now - first_failure < LEASE:
        clock.now = results.retry_at
        runner.loop._turn()
    assert results.unrecorded == [] and results.given_up
    assert (
        "w:1:1 job poison attempt 1: succeeded, not recorded (refused by the test); given up"
        in (capsys.readouterr().err)
    )
    runner.loop.heartbeat()
    assert port.renewed[-1] == [], "no longer renewed: a rescue ends it"


def test_a_refused_result_the_queue_takes_later_is_written_and_said(
    runner: Runner, port: FakePort, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    results = runner.results
    port.refuse = {"poison"}
    results.add(ended("poison"))
    with pytest.raises(StorageError):
        runner.loop._turn()
    runner.loop._turn()
    port.refuse = set()
    clock.now = results.retry_at
    runner.loop._turn()
    assert results.unrecorded == [] and results.refused_since == {} and not results.given_up
    assert (results.pause, results.wake_at()) == (0.0, None)
    assert "w:1:1 job poison attempt 1: completed" in capsys.readouterr().err


def test_a_second_stop_signal_gives_refused_results_up_at_once(
    runner: Runner, port: FakePort, clock: Clock
) -> None:
    port.refuse = {"poison"}
    runner.results.add(ended("poison"))
    with pytest.raises(StorageError):
        runner.loop._turn()
    runner.loop._turn()
    runner.loop._on_stop(escalate=True)
    runner.loop._on_stop(escalate=True)
    runner.loop._turn()  # no wait for the pause, nor for the lease
    assert runner.results.given_up and runner.results.unrecorded == []


# --- stopping ------------------------------------------------------------------------
def signals(runner: Runner, *numbers: int) -> None:
    """Signals as the loop receives them: their numbers on its self-pipe."""
    os.write(runner.loop._signal_w, bytes(numbers))
    runner.loop._on_signals()


def running_job(runner: Runner, port: FakePort) -> Slot:
    """The slot of job ``a`` (``sleep 30``), claimed and started by a turn."""
    port.ready = [make_job("a", "sleep 30")]
    runner.loop._turn()
    return runner.slots[0]


def test_the_first_signal_stops_the_claims_the_second_interrupts_running_jobs(
    runner: Runner, port: FakePort, capsys: pytest.CaptureFixture[str]
) -> None:
    slot = running_job(runner, port)
    signals(runner, STOP_REQUEST, STOP_REQUEST)
    assert runner.loop.stopping and slot.stop_reason is None, "`worker stop` never escalates"
    port.ready = [make_job("b")]
    runner.loop._turn()
    assert running(runner) == ["a"], "no claim once stopping"

    signals(runner, signal.SIGTERM)
    assert slot.stop_reason is StopReason.INTERRUPT
    assert slot.outcome(wait_reaped(slot), 0.0) == Interrupted()
    err = capsys.readouterr().err
    assert "stopping: waiting for 1 running job(s); signal again to interrupt them" in err
    assert err.count("interrupting running jobs: they go back to pending") == 1


def test_a_stop_now_signal_interrupts_running_jobs_at_once(
    runner: Runner, port: FakePort, capsys: pytest.CaptureFixture[str]
) -> None:
    """`worker stop --now` on this host: one signal, no graceful stage first."""
    slot = running_job(runner, port)
    signals(runner, STOP_NOW, STOP_NOW)
    assert runner.loop.stopping and slot.stop_reason is StopReason.INTERRUPT
    assert slot.outcome(wait_reaped(slot), 0.0) == Interrupted()
    assert capsys.readouterr().err.count("interrupting running jobs") == 1


def test_a_stop_now_read_at_the_heartbeat_interrupts_running_jobs(
    runner: Runner, port: FakePort, capsys: pytest.CaptureFixture[str]
) -> None:
    """`worker stop --now` from another host reaches the worker through its rows."""
    slot = running_job(runner, port)
    port.stop_now = True
    runner.loop.heartbeat()
    assert runner.loop.stopping and slot.stop_reason is StopReason.INTERRUPT
    runner.loop.heartbeat()  # read again at every heartbeat until the worker is gone
    err = capsys.readouterr().err
    assert err.count("interrupting running jobs: they go back to pending") == 1
    assert "stop requested: finishing" not in err
    assert slot.outcome(wait_reaped(slot), 0.0) == Interrupted()


def test_an_attempt_that_ends_once_the_fence_share_has_passed_is_worker_lost(
    runner: Runner, port: FakePort, clock: Clock
) -> None:
    """The fence may have killed it: not the job's fault, the job retries as usual."""
    port.ready = [make_job("a")]
    runner.loop._turn()
    clock.now = runner.lease.renewed_at + LEASE * FENCE_SHARE
    reap_all(runner)
    assert [r.outcome for r in runner.results.unrecorded] == ["worker_lost"]


def test_a_lost_location_makes_the_loop_stop_and_drop_its_results(
    runner: Runner, port: FakePort
) -> None:
    runner.results.add(ended("done"))
    port.lost = "queue file replaced"
    runner.loop.heartbeat()
    assert runner.loop.stopping and port.named("heartbeat") == []
    runner.loop._turn()
    assert runner.results.unrecorded == [] and port.named("exchange") == []


def test_the_sleep_ends_at_the_next_due_job_or_timer(
    runner: Runner, port: FakePort, clock: Clock
) -> None:
    runner.loop.heartbeat()  # the next one in 5 s
    assert runner.loop._timeout() == pytest.approx(2.0), "poll-interval, the safety net"
    port.due = port.wall + 0.5
    assert runner.loop._timeout() == pytest.approx(0.5)
    port.due = port.wall - 60
    assert runner.loop._timeout() == 0.0, "a job is due already"


# --- schedules -----------------------------------------------------------------------
def test_a_heartbeat_fires_due_slots_and_the_sleep_ends_at_the_next_one(
    runner: Runner, port: FakePort
) -> None:
    port.slots = [port.wall - 1, port.wall + 0.75]
    runner.loop.heartbeat()
    runner.loop.fire()
    assert port.ready[-1].id == f"s@{port.wall - 1:g}" and not runner.loop.claim_blocked
    assert runner.loop._timeout() == pytest.approx(0.75), "busy or idle: the next slot"
    port.wall += 0.75
    assert runner.loop._schedules_due()
    runner.loop.fire()
    assert port.ready[-1].id == f"s@{port.wall:g}" and runner.loop.next_fire is None


def test_a_timer_makes_the_worker_look_at_the_schedules(runner: Runner, port: FakePort) -> None:
    """A schedule added since the last look is found at the next timer (or heartbeat)."""
    runner.loop.fire()
    assert not runner.loop._schedules_due()
    runner.loop._wait(0.0)  # no event before the timeout: a timer fired
    assert runner.loop._schedules_due()


def test_burst_and_stopping_workers_fire_nothing(runner: Runner, port: FakePort) -> None:
    port.slots = [port.wall - 1]
    runner.loop.burst = True
    runner.loop._wait(0.0)
    assert not runner.loop._schedules_due()
    runner.loop.burst, runner.loop.stopping = False, True
    assert not runner.loop._schedules_due()


def test_a_failed_look_waits_for_the_next_heartbeat_or_timer(
    runner: Runner, port: FakePort
) -> None:
    port.slots = [port.wall + 1]
    runner.loop.fire()
    port.down, port.wall = True, port.wall + 1
    runner.loop.fire()  # logged, not raised
    assert runner.loop.next_fire is None and not runner.loop._schedules_due()


# --- one whole run -------------------------------------------------------------------
@pytest.fixture
def signal_handlers() -> Iterator[None]:
    """A run takes the worker's signals; they are given back to the test process after."""
    taken = (*GRACEFUL, STOP_REQUEST, signal.SIGCHLD)
    saved = {sig: signal.getsignal(sig) for sig in taken}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def test_a_burst_run_serves_the_queue_until_it_is_drained_and_exits_0(
    tmp_path: Path, signal_handlers: None, capsys: pytest.CaptureFixture[str]
) -> None:
    port = FakePort(str(tmp_path / "logs"), poll_interval=0.05)
    port.ready = [make_job("a"), make_job("b", "exit 3", max_retries=1), make_job("c")]
    runner = Runner(port, 2, ["default"], burst=True)
    assert runner.run() == 0, "b failed, and no job ended dead"
    assert sorted((r.job.id, r.transition.state) for r in port.written) == [
        ("a", "completed"),
        ("b", "failed"),
        ("c", "completed"),
    ]
    err = capsys.readouterr().err
    assert err.rstrip().endswith(f"worker {runner.name} stopped")


def test_a_burst_run_waits_while_a_failed_job_waits_for_its_retry(
    runner: Runner, port: FakePort
) -> None:
    port.due = port.wall + 3600  # a job scheduled for later: not work left
    assert runner.loop._drained()
    port.retrying = True  # a failed job waiting out its backoff: work left
    assert not runner.loop._drained()


def test_a_burst_run_that_ran_a_job_that_ended_dead_exits_1(
    tmp_path: Path, signal_handlers: None, capsys: pytest.CaptureFixture[str]
) -> None:
    port = FakePort(str(tmp_path / "logs"), poll_interval=0.05)
    port.ready = [make_job("a"), make_job("b", "exit 3", max_retries=0), make_job("c")]
    runner = Runner(port, 2, ["default"], burst=True)
    assert runner.run() == 1
    names = [name for name, _ in port.calls]
    assert names[:2] == ["register_workers", "adopt_orphans"]
    assert names[-1] == "unregister_workers"
    assert sorted((r.job.id, r.outcome) for r in port.written) == [
        ("a", "succeeded"),
        ("b", "failed"),
        ("c", "succeeded"),
    ]
    err = capsys.readouterr().err
    assert f"worker {runner.name} started: 2 slot(s), queues: default" in err
    assert "job b attempt 1: dead — exit code 3" in err
    assert err.rstrip().endswith(f"worker {runner.name} stopped: 1 job(s) it ran ended dead")


def test_with_log_format_json_every_line_is_an_event_with_its_fields(
    tmp_path: Path, signal_handlers: None, capsys: pytest.CaptureFixture[str]
) -> None:
    port = FakePort(str(tmp_path / "logs"), poll_interval=0.05)
    port.ready = [make_job("a"), make_job("b", "exit 3", max_retries=0, runs=2, attempts=1)]
    runner = Runner(port, 1, None, burst=True, log_format="json")
    assert runner.run() == 1
    lines = capsys.readouterr().err.splitlines()
    events = [json.loads(line) for line in lines]
    assert all(TIME.fullmatch(e["time"]) for e in events), lines
    assert {e["host"] for e in events} == {runner.name.split(":")[0]}
    named = [(e["event"], e.get("job")) for e in events if e["event"] != "notice"]
    assert named == [
        ("started", None),
        ("claimed", "a"),
        ("ended", "a"),
        ("claimed", "b"),
        ("ended", "b"),
        ("stopped", None),
    ], lines
    started, _, ended_a, claimed_b, ended_b, stopped = (e for e in events if e["event"] != "notice")
    assert started["worker"] == runner.name and started["slots"] == 1
    assert claimed_b["worker"] == runner.slots[0].worker_id and claimed_b["attempt"] == 2
    assert (ended_a["outcome"], ended_a["exit_code"], ended_a["state"]) == (
        "succeeded", 0, "completed"
    )  # fmt: skip
    assert (ended_b["attempt"], ended_b["outcome"], ended_b["exit_code"], ended_b["state"]) == (
        2, "failed", 3, "dead"
    )  # fmt: skip
    assert (stopped["exit_code"], stopped["dead"]) == (1, 1)


def reap_all(runner: Runner) -> None:
    """The loop's reaping, until every attempt (all short here) has ended into a result."""

    def done() -> bool:
        runner.loop._reap()
        return not running(runner)

    poll(done)
