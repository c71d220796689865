"""Contention: 8 processes enqueue 1,000 jobs each, one ``Queue.enqueue`` call (one
transaction) per job, while 4 worker processes (``--count 1``) run them.

Every job is accounted for (8,000 completed, 8,000 distinct ids), and no process
ever sees "database is locked" or any other error: enqueuers raise nothing and print
nothing, workers log only their start, one line per claimed and per completed job and
their stop.
"""

from __future__ import annotations

import multiprocessing
import re
import signal
import time
from pathlib import Path

import pytest

from tests.reliability.enqueuers import enqueue_one_by_one
from tests.support.harness import Queuectl

PROCESSES = 8
PER_PROCESS = 1000
TOTAL = PROCESSES * PER_PROCESS
WORKER_LINE = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ("
    r"serving .+"
    r"|worker \S+ started: 1 slot\(s\), queues: all"
    r"|\S+ job \S+ attempt 1: (claimed|completed)"
    r"|stopping(: waiting for \d+ running job\(s\); signal again to interrupt them)?"
    r"|worker \S+ stopped"
    r")"
)


@pytest.mark.timeout(240)
def test_8_enqueuers_and_4_workers_every_job_once_and_no_lock_errors(
    qc: Queuectl, tmp_path: Path
) -> None:
    location = qc.env.get("QUEUECTL_DB") or str(qc.home / "queuectl.db")
    qc.run("config", "unset", "max-retries")  # create the queue (a write) before anyone races to
    workers = [qc.start_worker("--count", "1") for _ in range(4)]
    for worker in workers:
        worker.wait_for_log("started")

    spawn = multiprocessing.get_context("spawn")
    go = spawn.Event()
    reports = [str(tmp_path / f"enqueuer-{n}") for n in range(PROCESSES)]
    enqueuers = [
        spawn.Process(target=enqueue_one_by_one, args=(location, PER_PROCESS, report, go))
        for report in reports
    ]
    try:
        for process in enqueuers:
            process.start()
        began = time.monotonic()
        go.set()
        for process in enqueuers:
            process.join(180)
        enqueued_in = time.monotonic() - began
        exits = [process.exitcode for process in enqueuers]
    finally:
        for process in enqueuers:
            if process.is_alive():
                process.kill()
                process.join(10)
    outputs = {report: Path(report + ".log").read_text() for report in reports}
    assert exits == [0] * PROCESSES, outputs
    assert set(outputs.values()) == {""}, outputs

    counts = qc.wait_counts(180, interval=0.5, completed=TOTAL)
    drained_in = time.monotonic() - began
    for worker in workers:
        worker.send(signal.SIGTERM)
    assert [worker.wait(30) for worker in workers] == [0] * 4, qc.worker_logs()

    ids = [line for report in reports for line in Path(report + ".ids").read_text().split()]
    per_process = [float(Path(report + ".time").read_text()) for report in reports]
    jobs = qc.jobs()
    assert counts == {**dict.fromkeys(counts, 0), "completed": TOTAL}
    assert len(ids) == TOTAL
    assert len(set(ids)) == TOTAL, "an id was handed out twice"
    assert sorted(job["id"] for job in jobs) == sorted(ids)
    assert {job["attempts"] for job in jobs} == {1}
    unexpected = [
        line
        for worker in workers
        for line in worker.log().splitlines()
        if not WORKER_LINE.fullmatch(line)
    ]
    assert not unexpected, "\n".join(unexpected[:50])
    ran = {worker.pid: 0 for worker in workers}
    for job in jobs:
        ran[int(job["worker"].split(":")[-2])] += 1
    print(
        f"{TOTAL} enqueues by {PROCESSES} processes in {enqueued_in:.1f}s "
        f"(each process {min(per_process):.1f}-{max(per_process):.1f}s, "
        f"{TOTAL / enqueued_in:.0f}/s overall); all completed {drained_in:.1f}s after the "
        f"start; jobs per worker: {sorted(ran.values())}"
    )
