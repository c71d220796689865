"""SIGKILL of a worker's whole process group: its running jobs die with it.

The jobs run in sessions of their own, so the kill itself does not reach them; the
worker's fence (a watchdog in yet another session) sees its pipe close and kills
every process that carries the worker's token, wherever it moved in the process tree.
Default settings: this must not wait for the lease (30 s).
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.support.harness import Queuectl
from tests.support.jobs import q, wait_for_pid
from tests.support.polling import wait_for
from tests.support.processes import running


@pytest.mark.timeout(60)
def test_sigkill_of_the_worker_group_kills_its_jobs_and_everything_they_started(
    qc: Queuectl, tmp_path: Path
) -> None:
    pids = tmp_path / "pids"
    pids.mkdir()
    jobs = []
    for name in ("a", "b"):
        folder = pids / name
        folder.mkdir()
        # the job's shell, a child in its process group, a grandchild in a new session
        # (out of the job's process group), and a foreground child it waits for
        command = (
            f"sleep 300 & echo $! > {q(folder / 'child')}; "
            f"setsid sh -c 'echo $$ > {q(folder / 'escaped')}; exec sleep 300' & "
            f"echo $$ > {q(folder / 'shell')}; sleep 300"
        )
        jobs.append(qc.enqueue(command, "--id", f"job-{name}"))
    worker = qc.start_worker("--count", "2")
    qc.wait_counts(15, processing=2)
    victims = {
        f"{name}/{what}": wait_for_pid(pids / name / what)
        for name in ("a", "b")
        for what in ("shell", "child", "escaped")
    }
    assert all(running(pid) for pid in victims.values())

    killed_at = time.monotonic()
    worker.kill_group()
    assert worker.proc.returncode == -signal.SIGKILL
    wait_for(
        lambda: not any(running(pid) for pid in victims.values()),
        5,
        interval=0.002,
        what=lambda: (
            "the jobs' processes to die: still running "
            + str({k: p for k, p in victims.items() if running(p)})
        ),
    )
    took = time.monotonic() - killed_at
    print(f"every job process gone {took * 1000:.0f} ms after the SIGKILL of the worker group")
    assert [qc.state(job) for job in jobs] == ["processing", "processing"]  # until the lease ends


@pytest.mark.timeout(60)
def test_a_job_whose_env_names_the_fence_variable_still_dies_with_its_worker(
    qc: Queuectl, tmp_path: Path
) -> None:
    """The job's own ``env`` cannot replace the worker's fence token: its processes would
    escape the fence, and run on beside the re-run of the job."""
    pidfile = tmp_path / "pid"
    job = qc.enqueue(f"echo $$ > {q(pidfile)}; sleep 300", "--env", "QUEUECTL_FENCE=mine")
    worker = qc.start_worker("--count", "1")
    shell = wait_for_pid(pidfile)
    assert running(shell)

    worker.kill_group()
    wait_for(
        lambda: not running(shell),
        5,
        interval=0.01,
        what=f"the job's shell {shell} to die with its worker (it carries no fence token)",
    )
    assert qc.state(job) == "processing"  # until the lease ends
