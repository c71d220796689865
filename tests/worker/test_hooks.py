"""The hooks role in-process, and how the loop drives it: which hooks a recorded result
starts, with what environment; a hook past its timeout killed on the worker's clock;
hooks never awaited by a turn, but by the worker's exit; a rescue's hooks run by the
rescuer. And the loop's stop-timeout: a graceful stop that runs out interrupts the jobs
still running. A fake queue and clock; hooks are real ``sh`` processes."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from queuectl.config import Settings
from queuectl.lifecycle import Failed, Finished, Policy, decide
from queuectl.worker.hooks import Hooks
from queuectl.worker.loop import GRACEFUL, STOP_REQUEST
from queuectl.worker.runner import Runner
from queuectl.worker.slot import StopReason
from tests.support.jobs import q
from tests.worker.fakes import WALL, Clock, FakePort, ended, lost, make_job, poll, wait_reaped


def configure(port: FakePort, **values: object) -> None:
    """Settings as ``config set`` leaves them, read by the worker at once."""
    port.stored.update({key: str(value) for key, value in values.items()})
    port.settings = Settings(port.stored)


def failed(job_id: str, runs: int = 1, max_retries: int = 3) -> Finished:
    """A result that failed its job's attempt with exit code 4."""
    job = make_job(job_id, runs=runs, attempts=runs - 1, max_retries=max_retries)
    return Finished(job, "w:1:1", decide(job, Failed(4), Policy(), WALL), "failed", "/l/x.log")


def written(path: Path) -> dict[str, str]:
    """The environment a hook wrote with ``env -0``."""
    pairs = (e.decode().partition("=") for e in path.read_bytes().split(b"\0") if e)
    return {key: value for key, _, value in pairs}


def all_reaped(hooks: Hooks) -> None:
    """Wait until every running hook has ended and been reaped."""

    def none_left() -> bool:
        hooks.reap()
        return not hooks.running

    poll(none_left)


def reaped(runner: Runner) -> bool:
    """Reap what ended (jobs and hooks): True once no slot runs a job."""
    runner.loop._reap()
    return all(slot.job is None for slot in runner.slots)


@pytest.fixture
def hooks(runner: Runner) -> Iterator[Hooks]:
    """The runner's hooks; any still running is killed and reaped after the test."""
    yield runner.hooks
    runner.hooks.kill_all()
    all_reaped(runner.hooks)


def test_each_new_state_starts_its_hooks_with_the_job_in_their_environment(
    runner: Runner, port: FakePort, hooks: Hooks, tmp_path: Path
) -> None:
    for hook in ("on_complete", "on_failure", "on_dead"):
        configure(port, **{hook: f'env -0 > {q(tmp_path)}/"$QUEUECTL_JOB_ID.$QUEUECTL_HOOK"'})
    hooks.fire(ended("ok"))
    hooks.fire(failed("again", runs=2))
    hooks.fire(failed("last", runs=4))  # out of retries: dead
    all_reaped(hooks)
    names = sorted(p.name for p in tmp_path.iterdir() if "." in p.name)
    assert names == [
        "again.on-failure",
        "last.on-dead",
        "last.on-failure",
        "ok.on-complete",
    ]
    env = written(tmp_path / "again.on-failure")
    # what the hook was given: not what it inherited as it is (QUEUECTL_TEST_PG …)
    shown = {k: v for k, v in env.items() if k.startswith("QUEUECTL_") and os.environ.get(k) != v}
    shown.pop("QUEUECTL_FENCE", None)  # the worker's fence token, when it has a fence
    assert shown == {
        "QUEUECTL_HOOK": "on-failure",
        "QUEUECTL_JOB_ID": "again",
        "QUEUECTL_QUEUE": "default",
        "QUEUECTL_STATE": "failed",
        "QUEUECTL_ATTEMPT": "2",
        "QUEUECTL_OUTCOME": "failed",
        "QUEUECTL_EXIT_CODE": "4",
        "QUEUECTL_LAST_ERROR": "exit code 4",
        "QUEUECTL_COMMAND": "true",
        "QUEUECTL_LOG": "/l/x.log",
    }
    assert written(tmp_path / "ok.on-complete")["QUEUECTL_EXIT_CODE"] == "0"


def test_no_hook_set_starts_nothing(runner: Runner, hooks: Hooks) -> None:
    hooks.fire(ended("ok"))
    hooks.fire(failed("f"))
    assert hooks.running == []


def test_a_hook_past_its_timeout_is_killed_with_what_it_started(
    runner: Runner, port: FakePort, hooks: Hooks, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(port, on_complete="sleep 300 & sleep 300", hook_timeout=2)
    hooks.fire(ended("ok"))
    (hook,) = hooks.running
    assert hooks.wake_at() == clock.now + 2
    clock.now += 1.9
    hooks.enforce(clock.now)
    hooks.reap()
    assert hooks.running == [hook], "within its time, a hook runs on"
    clock.now += 0.1
    hooks.enforce(clock.now)
    assert hooks.wake_at() is None
    all_reaped(hooks)
    err = capsys.readouterr().err
    assert "hook on-complete of job ok attempt 1 failed: killed after 2s (hook-timeout)" in err


def test_a_turn_does_not_wait_for_a_hook_but_the_worker_exits_only_after_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = FakePort(str(tmp_path / "logs"), poll_interval=0.05)
    gate = tmp_path / "gate"
    configure(port, on_complete=f"while [ ! -e {q(gate)} ]; do sleep 0.02; done; echo hi >&2")
    port.ready = [make_job("a"), make_job("b")]
    runner = Runner(port, 1, None, burst=True)
    saved = {sig: signal.getsignal(sig) for sig in (*GRACEFUL, STOP_REQUEST, signal.SIGCHLD)}
    try:
        runner.loop.listen()
        runner.lease.start_fence()
        for _ in range(4):
            runner.loop._turn()
            poll(lambda: reaped(runner))
        assert [r.job.id for r in port.written] == ["a", "b"], "both ran while a's hook waited"
        assert len(runner.hooks.running) == 2
        gate.touch()
        runner.loop.run()  # drained: returns once the hooks have ended
        assert runner.hooks.running == []
    finally:
        runner.lease.close_fence()
        runner.loop.close()
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def test_stopping_now_kills_the_hooks(
    runner: Runner, port: FakePort, hooks: Hooks, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(port, on_complete="sleep 300")
    hooks.fire(ended("ok"))
    runner.loop.interrupt()
    all_reaped(hooks)
    assert "killed after" in capsys.readouterr().err


def test_the_rescuer_runs_the_hooks_of_what_it_rescued(
    runner: Runner, port: FakePort, hooks: Hooks, tmp_path: Path
) -> None:
    configure(port, on_dead=f'env -0 > {q(tmp_path)}/"$QUEUECTL_JOB_ID"')
    port.rescuable = [lost("gone", max_retries=0)]
    runner.loop.heartbeat()
    all_reaped(hooks)
    env = written(tmp_path / "gone")
    assert (env["QUEUECTL_OUTCOME"], env["QUEUECTL_STATE"], env["QUEUECTL_EXIT_CODE"]) == (
        "worker_lost",
        "dead",
        "",
    )


def test_a_hook_that_cannot_be_started_is_said(
    runner: Runner, port: FakePort, hooks: Hooks, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(port, on_complete="exit 3")
    hooks.fire(ended("ok"))
    all_reaped(hooks)
    assert "hook on-complete of job ok attempt 1 failed: exit code 3" in capsys.readouterr().err


# --- stop-timeout ----------------------------------------------------------------------
def test_a_graceful_stop_interrupts_what_still_runs_at_stop_timeout(
    runner: Runner, port: FakePort, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(port, stop_timeout=60)
    port.ready = [make_job("a", "sleep 30")]
    runner.loop._turn()
    slot = runner.slots[0]
    runner.loop._on_stop(escalate=True)
    assert runner.loop.stop_deadline == clock.now + 60
    assert runner.loop._timeout_local() <= 60
    clock.now += 59
    runner.loop._enforce_deadlines(clock.now)
    assert slot.stop_reason is None, "the job may finish within stop-timeout"
    clock.now += 1
    runner.loop._enforce_deadlines(clock.now)
    assert slot.stop_reason is StopReason.INTERRUPT
    wait_reaped(slot)
    assert "stop-timeout (60s) is over: interrupting the jobs still running" in (
        capsys.readouterr().err
    )


def test_without_stop_timeout_a_graceful_stop_waits_for_ever(
    runner: Runner, port: FakePort
) -> None:
    port.ready = [make_job("a", "sleep 30")]
    runner.loop._turn()
    runner.loop._on_stop(escalate=False)
    assert runner.loop.stopping and runner.loop.stop_deadline is None
    assert runner.slots[0].stop_reason is None
