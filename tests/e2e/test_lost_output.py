"""The output of a job whose worker was SIGKILLed reaches ``logs``: the rescue (or the
next worker started on that host) attaches the slot's live file to the attempt, and no
live file of a dead worker is left behind."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.support.cli import Worker
from tests.support.harness import Queuectl
from tests.support.jobs import q, wait_for_pid

MARK = "printed-before-the-kill"


def _kill_mid_job(qc: Queuectl, tmp_path: Path) -> tuple[str, Worker]:
    """A job that prints MARK then runs on, its worker SIGKILLed → (job id, dead worker)."""
    pid_file = tmp_path / "job.pid"
    job = qc.enqueue(f"echo {MARK}; echo $$ > {q(pid_file)}; sleep 300", "--max-retries", "0")
    doomed = qc.start_worker("--count", "1", name="doomed")
    wait_for_pid(pid_file, timeout=20)
    os.killpg(doomed.pid, signal.SIGKILL)
    assert doomed.wait(10) == -signal.SIGKILL
    return job, doomed


def _live_files_of(qc: Queuectl, worker: Worker) -> list[str]:
    logs = qc.home / "logs"
    return [n for n in os.listdir(logs) if n.startswith(".live-") and f":{worker.pid}:" in n]


def _assert_output_kept(qc: Queuectl, job: str, dead: Worker) -> None:
    shown = qc.run("logs", job, "--attempt", "1")
    assert MARK in shown.stdout, f"logs --attempt 1 printed {shown.stdout!r} ({shown.stderr!r})"
    (attempt,) = qc.history(job)
    assert attempt["outcome"] == "worker_lost"
    assert attempt["log_path"] is not None
    assert not _live_files_of(qc, dead), "the dead worker's live log file was left behind"
    # the tail stored with the attempt is what a host without the file shows
    os.unlink(attempt["log_path"])
    assert MARK in qc.run("logs", job, "--attempt", "1").stdout


@pytest.mark.timeout(120)
def test_a_sigkilled_workers_output_is_attached_by_the_rescue(qc: Queuectl, tmp_path: Path) -> None:
    job, doomed = _kill_mid_job(qc, tmp_path)
    rescuer = qc.start_worker("--count", "1", name="rescuer")  # the same host
    qc.wait_state(job, "dead", timeout=60)
    _assert_output_kept(qc, job, doomed)
    rescuer.send(signal.SIGTERM)
    assert rescuer.wait(15) == 0


@pytest.mark.timeout(120)
def test_output_rescued_elsewhere_is_attached_by_the_next_worker_of_its_host(
    qc: Queuectl, tmp_path: Path
) -> None:
    qc.config("heartbeat", "1")
    qc.config("lease", "3")
    job, doomed = _kill_mid_job(qc, tmp_path)
    # a worker of another host rescues it: it cannot reach the file
    elsewhere = qc.start_worker(
        "--count", "1", env={"QUEUECTL_HOSTNAME": "elsewhere"}, name="elsewhere"
    )
    qc.wait_state(job, "dead", timeout=60)
    (attempt,) = qc.history(job)
    assert attempt["outcome"] == "worker_lost" and attempt["log_path"] is None
    assert _live_files_of(qc, doomed), "expected the output to wait on its host"
    elsewhere.send(signal.SIGTERM)
    assert elsewhere.wait(15) == 0

    # the next worker started on the dead worker's host attaches it at start-up
    local = qc.start_worker("--count", "1", "--burst", name="local")
    assert local.wait(30) == 0
    _assert_output_kept(qc, job, doomed)
