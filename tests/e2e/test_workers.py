"""Operating workers: signals, ``worker stop``, ``worker list``/``status``, ``--detach``,
``cancel`` of a running job, ``logs --follow``, and the wake-up of an idle worker."""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

import pytest

from tests.support.cli import collect_lines
from tests.support.harness import Queuectl
from tests.support.jobs import gate_wait, q, wait_for_pid
from tests.support.output import ts
from tests.support.polling import wait_for
from tests.support.processes import running, start_time


def test_sigterm_lets_the_running_job_finish_and_claims_nothing_more(
    qc: Queuectl, tmp_path: Path
) -> None:
    out, gate = tmp_path / "out", tmp_path / "gate"
    # `sleep 2` after a gate: the job is surely running when the signal comes
    job = qc.enqueue(f"{gate_wait(gate)}; sleep 2; echo $QUEUECTL_JOB_ID >> {q(out)}")
    worker = qc.start_worker("--count", "1")
    qc.wait_state(job, "processing")
    queued_later = qc.enqueue("true")

    worker.send(signal.SIGTERM)
    worker.wait_for_log("stopping")
    gate.touch()

    assert worker.wait(15) == 0
    listed = qc.job(job)
    assert listed["state"] == "completed"
    assert listed["attempts"] == 1
    assert out.read_text() == f"{job}\n"
    assert qc.state(queued_later) == "pending", "a stopping worker claims nothing new"


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT", "worker stop --now"])
def test_second_signal_or_stop_now_interrupts_the_job_back_to_pending_without_using_an_attempt(
    qc: Queuectl, tmp_path: Path, how: str
) -> None:
    pidfile = tmp_path / "job.pid"
    job = qc.enqueue(f"echo $$ > {q(pidfile)}; {gate_wait(tmp_path / 'never')}")
    worker = qc.start_worker("--count", "1")
    qc.wait_state(job, "processing")
    job_pid = wait_for_pid(pidfile)
    born = start_time(job_pid)

    if how == "worker stop --now":  # from another terminal, one command
        stopped = qc.run("worker", "stop", "--now", "--timeout", "20", check=False)
        assert stopped.returncode == 0, stopped.stderr
        assert "all workers stopped" in stopped.stderr
    else:
        sig = getattr(signal, how)
        worker.send(sig)
        worker.wait_for_log("stopping")  # two signals sent at once could merge into one
        worker.send(sig)

    assert worker.wait(15) == 0
    assert not running(job_pid, born)
    listed = qc.job(job)
    assert listed["state"] == "pending"
    assert listed["attempts"] == 0
    assert [a["outcome"] for a in qc.history(job)] == ["interrupted"]


def test_worker_stop_stops_a_foreground_worker_gracefully(qc: Queuectl, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    job = qc.enqueue(gate_wait(gate))
    worker = qc.start_worker("--count", "1")
    qc.wait_state(job, "processing")

    stop = qc.popen("worker", "stop", "--timeout", "20")
    # SIGUSR1 ("stopping") or, if a heartbeat reads the flag first, "stop requested"
    worker.wait_for_log("stopping", "stop requested")
    assert stop.poll() is None, "worker stop waits for the running job"
    assert qc.state(job) == "processing", "the running job is not interrupted"
    gate.touch()

    _, err = stop.communicate(timeout=20)
    assert stop.returncode == 0, err
    assert worker.wait(5) == 0
    assert qc.state(job) == "completed"
    assert qc.json("worker", "list") == []


def test_worker_stop_twice_never_interrupts_the_running_job(qc: Queuectl, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    job = qc.enqueue(gate_wait(gate))
    worker = qc.start_worker("--count", "1")
    qc.wait_state(job, "processing")

    for _ in range(2):
        impatient = qc.run("worker", "stop", "--timeout", "0.2", check=False)
        assert impatient.returncode == 1, "the worker is still finishing its job"
        assert "still running" in impatient.stderr

    assert qc.state(job) == "processing"
    assert worker.proc.poll() is None
    gate.touch()
    assert worker.wait(10) == 0
    assert qc.state(job) == "completed"


def test_worker_stop_without_workers_exits_0(qc: Queuectl) -> None:
    done = qc.run("worker", "stop")
    assert done.returncode == 0
    assert done.stdout == ""
    assert "no worker" in done.stderr


def test_worker_list_and_status_show_every_slot_of_a_count_3_worker(
    qc: Queuectl, tmp_path: Path
) -> None:
    jobs = {qc.enqueue(gate_wait(tmp_path / "gate")) for _ in range(3)}
    worker = qc.start_worker("--count", "3")
    qc.wait_counts(10, processing=3)

    listed = qc.json("worker", "list")
    status = qc.json("status")

    assert len(listed) == 3
    assert len({w["id"] for w in listed}) == 3
    assert {w["host"] for w in listed} == {socket.gethostname()}
    assert {w["current_job"] for w in listed} == jobs
    assert [w["id"] for w in status["workers"]] == [w["id"] for w in listed]
    assert status["jobs"]["processing"] == 3
    (tmp_path / "gate").touch()
    qc.wait_counts(10, completed=3)
    assert {w["current_job"] for w in qc.json("worker", "list")} == {None}
    worker.send(signal.SIGTERM)
    assert worker.wait(10) == 0
    assert qc.json("worker", "list") == []
    assert qc.json("status")["workers"] == []


def test_sigkilled_worker_is_no_longer_listed(qc: Queuectl) -> None:
    worker = qc.start_worker("--count", "2")
    wait_for(lambda: qc.json("worker", "list"), 10, what="workers to register")

    worker.kill_group()

    assert qc.json("worker", "list") == []
    assert qc.json("status")["workers"] == []


def test_detached_worker_runs_jobs_and_worker_stop_ends_it(qc: Queuectl, tmp_path: Path) -> None:
    out = tmp_path / "out"
    started = qc.run("worker", "start", "--detach", "--count", "2")

    lines = dict(line.split(" ", 1) for line in started.stdout.splitlines())
    pid, log = int(lines["pid"]), Path(lines["log"])
    qc.track_detached(pid)
    born = start_time(pid)
    assert running(pid, born)
    job = qc.enqueue(f"echo $QUEUECTL_JOB_ID >> {q(out)}")
    qc.wait_state(job, "completed", timeout=15)
    assert out.read_text() == f"{job}\n"
    assert {w["id"].split(":")[-2] for w in qc.json("worker", "list")} == {str(pid)}

    stopped = qc.run("worker", "stop", "--timeout", "15")

    assert stopped.returncode == 0
    wait_for(lambda: not running(pid, born), 10, what=f"detached worker {pid} to exit")
    assert qc.json("worker", "list") == []
    text = log.read_text()
    assert "started" in text
    assert "stopped" in text


def test_cancel_stops_a_running_job_within_the_heartbeat(
    fast_retries: Queuectl, tmp_path: Path
) -> None:
    qc = fast_retries  # heartbeat 1 s, lease 3 s
    shell_pid, child_pid = tmp_path / "sh.pid", tmp_path / "child.pid"
    job = qc.enqueue(f"sleep 300 & echo $! > {q(child_pid)}; echo $$ > {q(shell_pid)}; wait")
    worker = qc.start_worker("--count", "1")
    qc.wait_state(job, "processing")
    pids = [wait_for_pid(path) for path in (shell_pid, child_pid)]
    starts = [start_time(pid) for pid in pids]

    done = qc.run("cancel", job)
    cancelled_at = time.monotonic()

    assert done.stdout.split() == [job]
    assert qc.state(job) == "cancelled"
    wait_for(
        lambda: not any(running(p, s) for p, s in zip(pids, starts, strict=True)),
        5,
        interval=0.01,
        what="the cancelled job's processes to end",
    )
    gone_after = time.monotonic() - cancelled_at
    assert gone_after < 1.0 + 1.0, f"the job ran on {gone_after:.2f}s after cancel"
    attempts = wait_for(
        lambda: [a for a in qc.history(job) if a["finished_at"]], 5, what="attempt end"
    )
    assert [a["outcome"] for a in attempts] == ["cancelled"]
    assert qc.state(job) == "cancelled"

    after = qc.enqueue("true")
    qc.wait_state(after, "completed")
    worker.send(signal.SIGTERM)
    assert worker.wait(10) == 0


def test_logs_follow_streams_a_running_job_and_ends_with_it(qc: Queuectl, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    job = qc.enqueue(f"echo first; {gate_wait(gate)}; echo second >&2; echo third")
    follow = qc.popen("logs", job, "--follow")  # before any worker: it waits for the attempt
    assert follow.stdout is not None
    lines = collect_lines(follow.stdout)
    qc.start_worker()

    wait_for(lambda: lines, 10, what="the first line of the running job")
    assert lines == ["first\n"]
    assert qc.state(job) == "processing"
    assert follow.poll() is None, "--follow keeps streaming while the job runs"
    gate.touch()

    assert follow.wait(10) == 0
    wait_for(lambda: len(lines) == 3, 5, what="the rest of the output")
    assert lines == ["first\n", "second\n", "third\n"]
    assert qc.state(job) == "completed"


def test_idle_worker_picks_up_a_new_job_at_once(qc: Queuectl) -> None:
    qc.start_worker("--count", "1")
    wait_for(lambda: qc.json("worker", "list"), 10, what="the worker to register")
    # poll-interval is 2 s by default: only a wake-up on enqueue meets the bound every time
    for _ in range(3):
        time.sleep(0.3)  # let the worker go idle: this is the situation under test
        job = qc.enqueue("true")
        shown = qc.wait_state(job, "completed", timeout=10)
        delay = ts(shown["history"][0]["started_at"]) - ts(shown["created_at"])
        assert 0 <= delay < 1.0, f"the job started {delay:.3f}s after enqueue"


def test_cancel_of_pending_job_never_runs_it(qc: Queuectl, tmp_path: Path) -> None:
    out = tmp_path / "out"
    job = qc.enqueue(f"echo ran >> {q(out)}")
    assert qc.run("cancel", job).stdout.split() == [job]

    assert qc.start_worker("--burst").wait(20) == 0

    assert qc.state(job) == "cancelled"
    assert not out.exists()
    assert qc.history(job) == []


def test_worker_list_and_status_json_name_each_workers_pid(qc: Queuectl) -> None:
    """The table of `worker list` shows each worker's pid; the JSON must too (a script
    needs it to signal or watch a worker)."""
    worker = qc.start_worker("--count", "2")
    listed = wait_for(lambda: qc.json("worker", "list"), 10, what="workers to register")

    assert [w.get("pid") for w in listed] == [worker.pid, worker.pid]
    assert [w.get("pid") for w in qc.json("status")["workers"]] == [worker.pid, worker.pid]


def test_a_graceful_stop_interrupts_what_still_runs_when_stop_timeout_is_over(
    qc: Queuectl, tmp_path: Path
) -> None:
    """What systemd's TimeoutStopSec counts on (worker unit): a stop has an end."""
    qc.config("stop-timeout", "1s")
    qc.config("kill-grace", "1s")
    job = qc.enqueue("sleep 300")
    worker = qc.start_worker()
    qc.wait_state(job, "processing")
    began = time.monotonic()
    worker.send(signal.SIGTERM)
    assert worker.wait(30) == 0
    assert time.monotonic() - began < 15
    assert "stop-timeout (1s) is over: interrupting the jobs still running" in worker.log()
    shown = qc.show(job)
    assert (shown["state"], shown["attempts"]) == ("pending", 0)
    assert shown["history"][-1]["outcome"] == "interrupted"
