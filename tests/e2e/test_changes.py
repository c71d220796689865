"""Changing what is queued, through the real CLI and real workers, on every engine:
``rerun``, ``edit``, ``run-now``, and workers that leave queues out (``--queue '!NAME'``)."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.support.harness import Queuectl
from tests.support.jobs import gate_wait, q


def lines(text: str) -> list[str]:
    return text.strip().splitlines()


def test_rerun_runs_final_jobs_again_with_their_history(qc: Queuectl) -> None:
    done = qc.enqueue("echo attempt $QUEUECTL_ATTEMPT")
    dead = qc.enqueue("echo attempt $QUEUECTL_ATTEMPT; exit 3", "--max-retries", "0")
    cancelled = qc.enqueue("echo attempt $QUEUECTL_ATTEMPT", "--delay", "1h")
    qc.run("cancel", cancelled)
    waiting = qc.enqueue("true", "--delay", "1h", "--queue", "later")
    qc.start_worker("--burst", "--queue", "default").wait(30)  # its exit code: a job died
    assert [qc.state(j) for j in (done, dead)] == ["completed", "dead"]

    rerun = qc.run("rerun", done, waiting, dead, "nope", cancelled, check=False)

    assert rerun.returncode == 1
    assert lines(rerun.stdout) == [done, dead, cancelled]
    assert lines(rerun.stderr) == [
        f"queuectl: error: cannot rerun job '{waiting}': it is pending",
        "queuectl: error: no job 'nope'",
        "reran 3 jobs",
    ]
    for job in (done, dead, cancelled):
        shown = qc.show(job)
        assert (shown["state"], shown["attempts"]) == ("pending", 0)
    qc.start_worker("--burst", "--queue", "default").wait(30)

    assert [a["outcome"] for a in qc.history(done)] == ["succeeded", "succeeded"]
    assert [a["outcome"] for a in qc.history(dead)] == ["failed", "failed"]
    assert [a["attempt"] for a in qc.history(cancelled)] == [1]
    for job, runs in ((done, 2), (dead, 2), (cancelled, 1)):
        for n in range(1, runs + 1):
            assert qc.run("logs", job, "--attempt", str(n)).stdout == f"attempt {n}\n"
    assert qc.state(dead) == "dead", "a fresh budget of max_retries 0: one more run"


def test_changes_wake_an_idle_worker_at_once(qc: Queuectl) -> None:
    """Heartbeats and polls a minute apart, and the next scheduled job an hour away: only
    a wake-up from the change itself gets these jobs run within seconds."""
    for key, value in (("lease", "200"), ("heartbeat", "60"), ("poll-interval", "60")):
        qc.config(key, value)
    worker = qc.start_worker()
    finished = qc.enqueue("true")
    qc.wait_state(finished, "completed")
    later = qc.enqueue("true", "--delay", "1h")
    scheduled = qc.enqueue("true", "--delay", "1h")

    assert lines(qc.run("rerun", finished).stdout) == [finished]
    assert len(qc.wait_state(finished, "completed", timeout=10)["history"]) == 2
    assert lines(qc.run("run-now", later).stdout) == [later]
    qc.wait_state(later, "completed", timeout=10)
    assert lines(qc.run("edit", scheduled, "--delay", "0s").stdout) == [scheduled]
    qc.wait_state(scheduled, "completed", timeout=10)

    worker.send(signal.SIGTERM)
    assert worker.wait(20) == 0


def test_edit_changes_a_job_before_it_starts(qc: Queuectl) -> None:
    job = qc.enqueue("echo old", "--delay", "1h")

    edited = qc.run(
        "edit", job,
        "--command", "echo new; echo on $QUEUECTL_JOB_ID >&2",
        "--priority", "5",
        "--queue", "io",
        "--max-retries", "7",
        "--timeout", "90s",
        "--run-at", "2001-01-01T00:00:00Z",
    )  # fmt: skip

    assert lines(edited.stdout) == [job]
    shown = qc.show(job)
    assert shown["command"] == "echo new; echo on $QUEUECTL_JOB_ID >&2"
    assert (shown["priority"], shown["queue"], shown["max_retries"]) == (5, "io", 7)
    assert (shown["timeout"], shown["state"]) == (90.0, "pending")
    assert shown["run_at"].startswith("2001-01-01T00:00:00.")
    assert qc.start_worker("--burst", "--queue", "io").wait(30) == 0
    assert qc.run("logs", job).stdout == f"new\non {job}\n"


def test_edit_refuses_a_running_or_finished_job(qc: Queuectl, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    running = qc.enqueue(gate_wait(gate))
    worker = qc.start_worker()
    qc.wait_state(running, "processing")

    refused = qc.run("edit", running, "--priority", "9", check=False)

    assert refused.returncode == 1
    assert refused.stdout == ""
    assert lines(refused.stderr) == [
        f"queuectl: error: cannot edit job '{running}': it is processing"
    ]
    gate.touch()
    qc.wait_state(running, "completed")
    refused = qc.run("edit", running, "--priority", "9", check=False)
    assert refused.returncode == 1
    assert "it is completed" in refused.stderr
    missing = qc.run("edit", "nope", "--priority", "9", check=False)
    assert (missing.returncode, lines(missing.stderr)) == (1, ["queuectl: error: no job 'nope'"])
    assert qc.show(running)["priority"] == 0
    worker.send(signal.SIGTERM)
    assert worker.wait(20) == 0


def test_run_now_starts_waiting_jobs_and_names_the_others(qc: Queuectl) -> None:
    later = qc.enqueue("true", "--delay", "1h")
    failing = qc.enqueue(f"test -e {q(qc.tmp / 'fixed')}", "--max-retries", "1")
    qc.config("backoff-base", "1000")  # the retry would wait 1000 s
    worker = qc.start_worker()
    qc.wait_state(failing, "failed")
    (qc.tmp / "fixed").touch()

    run_now = qc.run("run-now", later, "nope", failing, check=False)

    assert run_now.returncode == 1
    assert lines(run_now.stdout) == [later, failing]
    assert lines(run_now.stderr) == ["queuectl: error: no job 'nope'", "2 jobs due now"]
    qc.wait_state(later, "completed", timeout=10)
    qc.wait_state(failing, "completed", timeout=10)
    refused = qc.run("run-now", later, check=False)
    assert refused.returncode == 1
    assert f"cannot run-now job '{later}': it is completed" in refused.stderr
    worker.send(signal.SIGTERM)
    assert worker.wait(20) == 0


def test_a_worker_serves_every_queue_but_the_excluded_ones(qc: Queuectl) -> None:
    gpu = [qc.enqueue("true", "--queue", "gpu", "--priority", "9") for _ in range(3)]
    other = [qc.enqueue("true"), qc.enqueue("true", "--queue", "io")]

    assert qc.start_worker("--burst", "--queue", "!gpu").wait(30) == 0

    assert [qc.state(j) for j in other] == ["completed", "completed"]
    assert [qc.state(j) for j in gpu] == ["pending"] * 3
    mixed = qc.start_worker("--queue", "gpu", "--queue", "!io", name="mixed")
    assert mixed.wait(20) == 2
    assert "not both" in mixed.log()

    worker = qc.start_worker("--count", "2", "--queue", "!gpu", "--queue", "!io")
    worker.wait_for_log("queues: !gpu, !io")
    assert [w["queues"] for w in qc.json("worker", "list")] == [["!gpu", "!io"]] * 2
    table = qc.run("worker", "list").stdout
    assert lines(table)[0].split()[:4] == ["WORKER", "HOST", "PID", "QUEUES"]
    assert all(" !gpu,!io " in row for row in lines(table)[1:])
    assert "!gpu,!io" in qc.run("status").stdout
    assert [qc.state(j) for j in gpu] == ["pending"] * 3
    worker.send(signal.SIGTERM)
    assert worker.wait(20) == 0
