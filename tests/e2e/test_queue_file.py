"""The SQLite queue file removed or replaced under a running worker (an `rm` by mistake,
a backup restored): the worker notices within a heartbeat, says so in one line, stops
its jobs and exits 1, instead of serving a file nobody else can see."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.harness import Queuectl
from tests.support.jobs import q, wait_for_pid
from tests.support.processes import running


@pytest.fixture
def sqlite_qc(tmp_path: Path) -> Iterator[Queuectl]:
    """A fresh SQLite queue (the default file in the test's home), heartbeat 1 s."""
    with Queuectl(tmp_path) as queue:
        queue.config("heartbeat", "1")
        queue.config("lease", "3")
        yield queue


def _said_once(log: str, text: str) -> None:
    lines = [line for line in log.splitlines() if text in line]
    assert len(lines) == 1, log


def test_a_worker_whose_queue_file_is_removed_stops_its_job_and_exits_1(
    sqlite_qc: Queuectl, tmp_path: Path
) -> None:
    qc = sqlite_qc
    pidfile = tmp_path / "job.pid"
    qc.enqueue(f"echo $$ > {q(pidfile)}; exec sleep 300")
    worker = qc.start_worker()
    job = wait_for_pid(pidfile)

    (qc.home / "queuectl.db").unlink()

    assert worker.wait(15) == 1, worker.log()
    _said_once(worker.log(), "queuectl.db was removed")
    assert not running(job), "the job ran on after its worker stopped"
    left = sorted(path.name for path in qc.home.glob("queuectl.db*"))
    assert left == [], f"the old queue's files are still there: {left}"
    # a queue made afresh at the same path starts empty, not with the old one's pages
    qc.enqueue("true", "--id", "new")
    assert [job["id"] for job in qc.jobs()] == ["new"]


def test_a_worker_whose_queue_file_is_replaced_exits_1_and_the_next_serves_the_new_file(
    sqlite_qc: Queuectl, tmp_path: Path
) -> None:
    """A backup restored by renaming a copy over the queue: the old worker leaves it
    alone; the worker started next (as a supervisor would) runs what the copy holds."""
    qc = sqlite_qc
    db = qc.home / "queuectl.db"
    qc.enqueue("true", "--id", "in-backup", "--queue", "later")
    worker = qc.start_worker("--queue", "main")
    worker.wait_for_log("started")
    copy = tmp_path / "backup.db"
    with sqlite3.connect(db) as live, sqlite3.connect(copy) as backup:
        live.backup(backup)
    live.close()
    backup.close()
    qc.run("cancel", "in-backup")  # the live queue moves on; the backup does not

    os.replace(copy, db)

    assert worker.wait(15) == 1, worker.log()
    _said_once(worker.log(), "queuectl.db was replaced by another file")
    assert qc.start_worker("--burst", name="after").wait(30) == 0
    assert qc.state("in-backup") == "completed"
