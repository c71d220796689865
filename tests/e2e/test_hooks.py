"""Hooks through the real CLI and workers, on both engines: ``on-dead``, ``on-failure``
and ``on-complete`` run with the job in their environment (never in their text), after
the result is recorded; a hook that hangs is killed at ``hook-timeout`` while the
worker goes on; a failing hook changes nothing; the rescuer of a lost job runs them."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from tests.support.harness import Queuectl
from tests.support.jobs import gate_wait, q, wait_for_pid
from tests.support.polling import wait_for
from tests.support.processes import environ_of, pids_with_env, running

# A hook that writes its whole environment, NUL-separated, to OUT/<job>.<hook>.<attempt>.
DUMP = 'env -0 > {out}/"$QUEUECTL_JOB_ID.$QUEUECTL_HOOK.$QUEUECTL_ATTEMPT"'


def dumped(out: Path, name: str, timeout: float = 20) -> dict[str, str]:
    """What a DUMP hook wrote as ``name``, once it is whole."""

    def read() -> dict[str, str] | None:
        try:
            data = (out / name).read_bytes()
        except FileNotFoundError:
            return None
        entries = [e.decode().partition("=") for e in data.split(b"\0") if e]
        found = {key: value for key, _, value in entries}
        return found if "QUEUECTL_HOOK" in found else None

    return wait_for(read, timeout, what=f"hook output {name}")


def hook_pids(qc: Queuectl) -> list[int]:
    """Running processes of this test's hooks."""
    mine = pids_with_env(f"QUEUECTL_HOME={qc.home}")
    return [pid for pid in mine if "QUEUECTL_HOOK" in environ_of(pid) and running(pid)]


def test_on_dead_gets_the_job_in_its_environment_never_in_its_text(
    qc: Queuectl, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    marker = tmp_path / "pasted"
    # run as a shell's text, this command would touch the marker; as the job, it cannot
    command = (
        f'echo "it\'s \\"quoted\\", \\$HOME and $(echo run)"; '
        f'test -n "$QUEUECTL_HOOK" && touch {q(marker)}; exit 3'
    )
    qc.config("on-dead", DUMP.format(out=q(out)))
    qc.run("enqueue", "--id", "doomed", "--max-retries", "0", "--queue", "io",
           "--command", command)  # fmt: skip
    qc.run("enqueue", "--id", "argv", "--max-retries", "0", "--", "sh", "-c", "exit 5", "it's $1")
    assert qc.start_worker("--burst").wait(60) == 1, qc.worker_logs()
    env = dumped(out, "doomed.on-dead.1")
    assert env["QUEUECTL_COMMAND"] == command
    assert env["QUEUECTL_JOB_ID"] == "doomed" and env["QUEUECTL_QUEUE"] == "io"
    assert (env["QUEUECTL_STATE"], env["QUEUECTL_ATTEMPT"], env["QUEUECTL_EXIT_CODE"]) == (
        "dead", "1", "3"
    )  # fmt: skip
    assert env["QUEUECTL_LAST_ERROR"] == "exit code 3" and env["QUEUECTL_OUTCOME"] == "failed"
    assert env["QUEUECTL_LOG"].endswith("doomed.1.log")
    assert not marker.exists(), "the command was run by the hook's shell"
    assert dumped(out, "argv.on-dead.1")["QUEUECTL_COMMAND"] == "sh -c 'exit 5' 'it'\"'\"'s $1'"
    assert qc.state("doomed") == "dead"


def test_on_failure_follows_every_failed_attempt_and_on_complete_success(
    qc: Queuectl, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    flag = tmp_path / "flag"
    qc.config("backoff-base", "1")
    for hook in ("on-failure", "on-complete", "on-dead"):
        qc.config(hook, DUMP.format(out=q(out)))
    qc.enqueue(f"test -e {q(flag)} || {{ touch {q(flag)}; exit 4; }}", "--id", "flaky")
    assert qc.start_worker("--burst").wait(60) == 0, qc.worker_logs()
    failed = dumped(out, "flaky.on-failure.1")
    assert (failed["QUEUECTL_STATE"], failed["QUEUECTL_EXIT_CODE"]) == ("failed", "4")
    done = dumped(out, "flaky.on-complete.2")
    assert (done["QUEUECTL_STATE"], done["QUEUECTL_EXIT_CODE"], done["QUEUECTL_LAST_ERROR"]) == (
        "completed", "0", ""
    )  # fmt: skip
    assert sorted(p.name for p in out.iterdir()) == ["flaky.on-complete.2", "flaky.on-failure.1"]


def test_a_hook_that_fails_changes_nothing_and_is_logged(qc: Queuectl) -> None:
    qc.config("on-complete", "echo cannot reach the pager >&2; exit 7")
    qc.enqueue("true", "--id", "fine")
    worker = qc.start_worker("--burst")
    assert worker.wait(60) == 0, qc.worker_logs()
    assert qc.state("fine") == "completed" and len(qc.history("fine")) == 1
    said = "hook on-complete of job fine attempt 1 failed: exit code 7 — cannot reach the pager"
    assert said in worker.log()


def test_a_hook_that_hangs_is_killed_at_its_timeout_and_the_worker_goes_on(
    qc: Queuectl, tmp_path: Path
) -> None:
    pid_file, child_file = tmp_path / "hook.pid", tmp_path / "child.pid"
    qc.config("hook-timeout", "5")
    qc.config(
        "on-complete",
        f'[ "$QUEUECTL_JOB_ID" = slow-hook ] || exit 0; echo $$ > {q(pid_file)}; '
        f"sleep 300 & echo $! > {q(child_file)}; wait",
    )
    worker = qc.start_worker("--log-format", "json")
    qc.enqueue("true", "--id", "slow-hook")
    hook = wait_for_pid(pid_file)
    child = wait_for_pid(child_file)
    qc.enqueue("true", "--id", "next")
    qc.wait_state("next", "completed")
    assert running(hook) and running(child), "the next job ran while the hook hung"
    wait_for(lambda: not running(hook) and not running(child), 20, what="the hook killed")
    worker.wait_for_log('"event": "hook"')
    assert "killed after 5s (hook-timeout)" in worker.log()
    assert hook_pids(qc) == []
    qc.enqueue("true", "--id", "after")
    qc.wait_state("after", "completed")
    worker.send(signal.SIGTERM)
    assert worker.wait(30) == 0


def test_the_rescuer_of_a_lost_job_runs_its_hooks(qc: Queuectl, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    qc.fast_leases()
    qc.config("on-dead", DUMP.format(out=q(out)))
    gate = tmp_path / "gate"
    doomed = qc.start_worker(name="doomed")
    qc.enqueue(gate_wait(gate), "--id", "lost", "--max-retries", "0")
    qc.wait_state("lost", "processing")
    os.killpg(doomed.pid, signal.SIGKILL)
    assert doomed.wait(10) == -signal.SIGKILL
    rescuer = qc.start_worker(name="rescuer")
    env = dumped(out, "lost.on-dead.1", timeout=30)
    assert (env["QUEUECTL_STATE"], env["QUEUECTL_OUTCOME"], env["QUEUECTL_EXIT_CODE"]) == (
        "dead", "worker_lost", ""
    )  # fmt: skip
    assert env["QUEUECTL_LAST_ERROR"] == "worker lost"
    rescuer.wait_for_log("rescued job lost")
    rescuer.send(signal.SIGTERM)
    assert rescuer.wait(30) == 0
