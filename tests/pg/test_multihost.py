"""Workers of two hosts on one PostgreSQL queue, through the real CLI.

A "host" is a ``Queuectl`` with its own ``QUEUECTL_HOME`` (its own log files) and its
own ``QUEUECTL_HOSTNAME``: a worker of the other host can be reached only through
the database, never by a signal or a file.
"""

from __future__ import annotations

import collections
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.pg.conftest import Hosts
from tests.support.cli import Worker, collect_lines
from tests.support.harness import Queuectl
from tests.support.jobs import gate_wait, q, wait_for_pid
from tests.support.polling import wait_for
from tests.support.processes import environ_of, pids_with_env, running


def still_running(*workers: Worker) -> None:
    """Fail at once (with its log) if a worker has exited: waiting on would only time out."""
    for worker in workers:
        code = worker.proc.poll()
        assert code is None, f"worker {worker.args} exited {code}:\n{worker.log()}"


def host_of(worker_id: str | None) -> str:
    """A worker id is ``host:pid:slot``."""
    assert worker_id, "no worker"
    return worker_id.split(":")[0]


def pid_of(worker_id: str) -> int:
    return int(worker_id.split(":")[1])


def orphans_of(qc: Queuectl) -> dict[int, str]:
    """Live processes started by ``qc``'s workers (they carry its QUEUECTL_HOME) → job id."""
    marker = f"QUEUECTL_HOME={qc.home}"
    return {
        pid: environ_of(pid).get("QUEUECTL_JOB_ID", "?")
        for pid in pids_with_env(marker)
        if running(pid)
    }


def lifetime(pids: set[int], since: float, limit: float) -> float | None:
    """Seconds from ``since`` until none of ``pids`` runs, or None if some still run at
    ``since + limit``. Measured, not asserted: that a killed worker's jobs die with it is
    the fence's business (its own issue and tests); here it is reported."""
    while any(running(pid) for pid in pids):
        if time.monotonic() - since > limit:
            return None
        time.sleep(0.01)
    return time.monotonic() - since


def survival(orphans: dict[int, str], gone_in: float | None) -> str:
    if not orphans:
        return "no job process was left when looked for right after the kill"
    jobs = sorted(set(orphans.values()))
    head = f"{len(orphans)} job processes ({len(jobs)} jobs) alive right after the kill"
    return head + (f", all gone {gone_in:.2f}s later" if gone_in is not None else ", SURVIVING")


def test_5000_jobs_on_8_worker_processes_of_two_hosts_run_each_exactly_once(
    hosts: Hosts, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    # Every job waits for the gate, opened once both hosts have been seen: on a busy
    # machine the burst workers could otherwise drain the queue and exit first.
    gate = tmp_path / "gate"
    ids = [f"job-{n:04d}" for n in range(5000)]
    began = time.monotonic()
    command = f"{gate_wait(gate)}; echo $QUEUECTL_JOB_ID >> {q(out)}"
    hosts.a.enqueue_file({"id": i, "command": command} for i in ids)
    enqueued_in = time.monotonic() - began

    began = time.monotonic()
    # 8 processes: host-a runs 4 with one slot each, host-b 4 with two slots each
    workers = [hosts.a.start_worker("--burst", "--count", "1") for _ in range(4)]
    workers += [hosts.b.start_worker("--burst", "--count", "2") for _ in range(4)]
    pids = {w.pid for w in workers}

    def logs() -> str:
        return hosts.a.worker_logs() + hosts.b.worker_logs()

    seen: dict[str, Any] = {}

    def both_hosts_listed() -> bool:
        if all(w.proc.poll() is not None for w in workers):
            raise AssertionError("every worker exited before both hosts were seen" + logs())
        listed = hosts.a.json("worker", "list")
        status = hosts.b.json("status")
        seen.update(listed=listed, status=status)
        by_list = {(w["host"], w["pid"]) for w in listed}
        by_status = {(w["host"], w["pid"]) for w in status["workers"]}
        return {h for h, _ in by_list} == {h for h, _ in by_status} == {"host-a", "host-b"}

    wait_for(both_hosts_listed, 30, interval=0.1, what=lambda: f"both hosts listed: {seen}")
    gate.touch()
    # seen while the queue was still being drained
    assert seen["status"]["jobs"]["completed"] < 5000
    listed_processes = {(w["host"], w["pid"]) for w in seen["listed"]}
    assert {pid for _, pid in listed_processes} <= pids
    for w in seen["listed"]:
        assert w["id"].startswith(f"{w['host']}:{w['pid']}:")

    codes = [w.wait(240) for w in workers]
    drained_in = time.monotonic() - began
    assert codes == [0] * 8, logs()

    lines = out.read_text().splitlines()
    repeated = {i: n for i, n in collections.Counter(lines).items() if n != 1}
    assert not repeated, f"jobs whose side effect did not happen exactly once: {repeated}"
    assert len(lines) == 5000
    assert set(lines) == set(ids)
    counts = hosts.b.counts()
    assert counts["completed"] == 5000
    assert sum(counts.values()) == 5000
    jobs = hosts.a.jobs()
    assert {j["state"] for j in jobs} == {"completed"}
    assert {j["attempts"] for j in jobs} == {1}
    per_host = collections.Counter(host_of(j["worker"]) for j in jobs)
    per_pid = collections.Counter(pid_of(j["worker"]) for j in jobs)
    assert set(per_host) == {"host-a", "host-b"}
    assert set(per_pid) == pids, f"jobs ran on {per_pid}"
    assert hosts.a.json("worker", "list") == []
    print(
        f"5000 jobs: enqueued in {enqueued_in:.2f}s; drained by 8 processes (12 slots) in "
        f"{drained_in:.1f}s = {5000 / drained_in:.0f} jobs/s; per host {dict(per_host)}; "
        f"per process {sorted(per_pid.values())}; {len(listed_processes)} processes listed "
        f"at {seen['status']['jobs']['completed']} completed"
    )


def test_when_every_worker_of_one_host_is_sigkilled_the_other_host_finishes_everything(
    hosts: Hosts, tmp_path: Path
) -> None:
    a, b = hosts.a, hosts.b
    a.fast_leases()
    out = tmp_path / "out"
    ids = [f"job-{n:03d}" for n in range(80)]
    a.enqueue_file(
        {"id": i, "command": f"sleep 0.5; echo $QUEUECTL_JOB_ID >> {q(out)}"} for i in ids
    )
    a_workers = [a.start_worker("--count", "2") for _ in range(2)]
    b_workers = [b.start_worker("--count", "2") for _ in range(2)]

    def host_b_busy() -> bool:
        still_running(*a_workers, *b_workers)
        jobs = a.jobs()
        done = sum(1 for j in jobs if j["state"] == "completed")
        on_b = sum(
            1 for j in jobs if j["state"] == "processing" and host_of(j["worker"]) == "host-b"
        )
        return done >= 8 and on_b >= 3

    wait_for(host_b_busy, 30, interval=0.05, what="host-b to be running jobs mid-run")
    for worker in b_workers:
        os.killpg(worker.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    assert [w.wait(10) for w in b_workers] == [-signal.SIGKILL] * 2
    orphans = orphans_of(b)  # (once the workers are reaped: only their jobs are left)
    snapshot = a.jobs()
    running_on_b = {
        j["id"] for j in snapshot if j["state"] == "processing" and host_of(j["worker"]) == "host-b"
    }
    completed_at_kill = sum(1 for j in snapshot if j["state"] == "completed")
    # (the jobs are `sleep 0.5`: they end by themselves; what counts is their side effect)
    gone_in = lifetime(set(orphans), killed_at, 5)

    counts = a.wait_counts(60, interval=0.2, completed=80)
    finished_in = time.monotonic() - killed_at
    assert counts["processing"] == counts["pending"] == counts["failed"] == 0
    assert sum(counts.values()) == 80
    jobs = {j["id"]: j for j in a.jobs()}
    lost = {job_id for job_id, job in jobs.items() if job["attempts"] > 1}
    assert lost, "no job of host-b was running when it was killed"
    assert running_on_b <= lost, "a job running on host-b at the kill was not rescued"
    assert completed_at_kill < 80
    for job_id in sorted(lost):
        history = a.history(job_id)
        assert history[0]["outcome"] == "worker_lost", history
        assert "worker lost" in history[0]["error"], history
        assert host_of(history[0]["worker"]) == "host-b", history
        assert history[-1]["outcome"] == "succeeded", history
        assert host_of(history[-1]["worker"]) == "host-a", history
        assert host_of(jobs[job_id]["worker"]) == "host-a"
    lines = out.read_text().splitlines()
    assert set(lines) == set(ids), "every job's side effect happened"
    twice = {i for i, n in collections.Counter(lines).items() if n > 1}
    assert twice <= lost, f"jobs run twice that were never lost: {twice - lost}"
    # host-b's rows stop being listed once their heartbeat is older than the lease
    wait_for(
        lambda: {w["host"] for w in a.json("worker", "list")} == {"host-a"},
        10,
        what="only host-a's workers to be listed",
    )
    stopped = a.run("worker", "stop", "--timeout", "20")
    assert stopped.returncode == 0, stopped.stderr
    assert [w.wait(10) for w in a_workers] == [0, 0]
    print(
        f"killed host-b with {completed_at_kill}/80 completed and {len(lost)} jobs running on it; "
        f"host-a completed everything {finished_in:.1f}s later; {survival(orphans, gone_in)}; "
        f"side effects of lost jobs that happened twice: {sorted(twice)}"
    )


@pytest.mark.parametrize(
    "heartbeat",
    ["default", "30s"],
    ids=["default-heartbeat", "heartbeat-30s"],
)
def test_worker_stop_on_one_host_stops_a_worker_of_another_host(
    hosts: Hosts, heartbeat: str
) -> None:
    a, b = hosts.a, hosts.b
    if heartbeat != "default":
        # a heartbeat this slow leaves NOTIFY as the only way to hear the stop in time
        a.config("lease", "90")
        a.config("heartbeat", heartbeat)
    worker = b.start_worker("--count", "2")
    worker.wait_for_log("started")
    wait_for(
        lambda: {w["host"] for w in a.json("worker", "list")} == {"host-b"},
        10,
        what="host-b's worker to be listed",
    )

    began = time.monotonic()
    stop = a.popen("worker", "stop", "--timeout", "20")
    code = worker.wait(10)
    exited_in = time.monotonic() - began
    _, stderr = stop.communicate(timeout=30)
    answered_in = time.monotonic() - began

    assert code == 0, worker.log()
    assert stop.returncode == 0, stderr
    assert exited_in < 5, f"the worker took {exited_in:.1f}s to stop"
    assert "stop requested" in worker.log()  # heard through the database, not a signal
    assert b"all workers stopped" in stderr
    assert a.json("worker", "list") == []
    print(
        f"host-b's worker exited {exited_in:.2f}s after `worker stop` on host-a began; "
        f"`worker stop` returned after {answered_in:.2f}s"
    )


def test_logs_of_a_job_run_on_another_host_show_its_output_then_the_tail_stored_with_it(
    hosts: Hosts,
) -> None:
    """Another host reads the output the worker copied into the database (DECISIONS §26)
    until a heartbeat drops that copy (two seconds after the attempt's tail is stored);
    from then on only the stored tail."""
    a, b = hosts.a, hosts.b
    a.config("log-tail-bytes", "64")
    a.config("heartbeat", "1")
    job = a.enqueue("for n in $(seq 1 40); do echo line $n; done; echo ran on $QUEUECTL_HOSTNAME")
    assert b.start_worker("--burst").wait(30) == 0
    assert a.state(job) == "completed"

    local = b.run("logs", job)  # host-b has the whole log file
    copied = a.run("logs", job)  # host-a: the output copied into the database
    assert local.stdout.endswith("line 40\nran on host-b\n")
    assert local.stdout.startswith("line 1\nline 2\n")
    assert "stored" not in local.stderr
    assert (copied.stdout, copied.stderr) == (local.stdout, "")

    b.start_worker()  # its heartbeats drop the copy of the ended attempt
    wait_for(lambda: "stored" in a.run("logs", job).stderr, 20, what="the copy to be dropped")
    remote = a.run("logs", job)  # host-a has only what the database keeps
    assert remote.stdout == local.stdout[-64:]
    assert "stored" in remote.stderr  # e.g. "it ran on another host: the tail stored with
    assert "64 bytes" in remote.stderr  # the attempt (its last 64 bytes)"
    assert not (a.home / "logs").exists() or not list((a.home / "logs").iterdir())


def test_logs_follow_of_a_job_running_on_another_host_streams_it_as_it_runs(
    hosts: Hosts, tmp_path: Path
) -> None:
    """`logs --follow` has no file of another host to read: it reads the output that host's
    worker copies into the database, while the attempt runs."""
    a, b = hosts.a, hosts.b
    gate = tmp_path / "gate"
    job = a.enqueue(f"echo started on $QUEUECTL_HOSTNAME; {gate_wait(gate)}; echo finished")
    worker = b.start_worker("--count", "1")
    a.wait_state(job, "processing")
    follow = a.popen("logs", job, "--follow")
    assert follow.stdout is not None
    lines = collect_lines(follow.stdout)
    wait_for(lambda: lines == ["started on host-b\n"], 15, what=lambda: f"the first line: {lines}")
    assert follow.poll() is None, "logs --follow ended while the job was still running"
    gate.touch()
    assert follow.wait(20) == 0
    wait_for(lambda: len(lines) == 2, 5, what=lambda: f"the last line: {lines}")

    assert lines == ["started on host-b\n", "finished\n"]
    assert follow.stderr is not None and follow.stderr.read() == b""
    worker.send(signal.SIGTERM)
    assert worker.wait(10) == 0


def test_a_job_of_a_sigkilled_host_b_worker_is_rescued_and_completed_by_host_a(
    hosts: Hosts, tmp_path: Path
) -> None:
    a, b = hosts.a, hosts.b
    a.fast_leases()
    pids, out = tmp_path / "pids", tmp_path / "out"
    pids.mkdir()
    # the first attempt blocks until killed; the second runs through
    job = a.enqueue(
        f"echo $$ > {q(pids)}/$QUEUECTL_ATTEMPT; "
        f'if [ "$QUEUECTL_ATTEMPT" = 1 ]; then {gate_wait(tmp_path / "never")}; fi; '
        f"echo $QUEUECTL_HOSTNAME $QUEUECTL_ATTEMPT >> {q(out)}"
    )
    doomed = b.start_worker("--count", "1")
    claimed = a.wait_state(job, "processing")
    assert host_of(claimed["worker"]) == "host-b"
    first_pid = wait_for_pid(pids / "1")
    rescuer = a.start_worker("--count", "1")
    rescuer.wait_for_log("started")

    doomed.kill_group()
    killed_at = time.monotonic()
    orphans = orphans_of(b)
    gone_in = lifetime({first_pid, *orphans}, killed_at, 3)  # by then the lease has expired
    done = a.wait_state(job, "completed", timeout=30)
    rescued_in = time.monotonic() - killed_at

    history = a.history(job)
    assert [h["outcome"] for h in history] == ["worker_lost", "succeeded"], history
    assert "worker lost" in history[0]["error"]
    assert [host_of(h["worker"]) for h in history] == ["host-b", "host-a"]
    assert host_of(done["worker"]) == "host-a"
    assert done["attempts"] == 2
    assert out.read_text() == "host-a 2\n"
    assert f"rescued job {job}" in rescuer.log()
    rescuer.send(signal.SIGTERM)
    assert rescuer.wait(10) == 0
    print(
        f"rescued and completed on host-a {rescued_in:.1f}s after host-b's worker was killed "
        f"(lease 3s); first attempt (blocks forever): {survival(orphans, gone_in)}"
    )
