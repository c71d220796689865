"""A queue made by the previous release opens with this one's migrations, its rows kept."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from queuectl import Queue
from queuectl.sqlfiles import migrations

# the migration that added `worker stop --now`'s column, per engine
STOP_NOW = {"sqlite": 4, "postgres": 3}
WORKER = (
    "INSERT INTO {}workers (id, host, pid, started_at, heartbeat_at) VALUES ('w1', 'h', 1, 0, 0)"
)


def make_old_queue(location: str, before: dict[str, int]) -> None:
    """A queue whose schema stops before the migration ``before`` names for its engine,
    holding one registered worker, ``w1``."""
    if location.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(location, autocommit=True) as conn, conn.transaction():
            conn.execute("CREATE SCHEMA queuectl")
            conn.execute("CREATE TABLE queuectl.schema_version (version integer NOT NULL)")
            for number, script in migrations("postgres"):
                if number >= before["postgres"]:
                    break
                conn.execute(script.encode())
                conn.execute("INSERT INTO queuectl.schema_version VALUES (%s)", (number,))
            conn.execute(WORKER.format("queuectl."))
        return
    os.makedirs(os.path.dirname(location), mode=0o700, exist_ok=True)
    lite = sqlite3.connect(location)
    for number, script in migrations("sqlite"):
        if number >= before["sqlite"]:
            break
        lite.executescript(script + f"PRAGMA user_version = {number};")
    lite.execute(WORKER.format(""))
    lite.commit()
    lite.close()


def test_workers_of_a_queue_made_before_stop_now_can_be_stopped_now(location: str) -> None:
    make_old_queue(location, STOP_NOW)
    with Queue(location) as queue:
        beat = queue.backend.heartbeat(["w1"], [], 60)
        assert (beat.stop_requested, beat.stop_now, beat.registered) == (False, False, True)
        assert queue.backend.request_stop(now=True) == 1
        beat = queue.backend.heartbeat(["w1"], [], 60)
        assert (beat.stop_requested, beat.stop_now) == (True, True)


# the migration that added what an attempt used and the limits, per engine
RESOURCES = {"sqlite": 15, "postgres": 14}


def test_a_queue_made_before_resources_opens_and_keeps_limits(location: str) -> None:
    """Migrated on open: a job's and a queue's limits are stored from then on, and a job
    without any reads as none."""
    make_old_queue(location, RESOURCES)
    with Queue(location) as queue:
        plain = queue.enqueue("true")
        limited = queue.enqueue("true", limits={"mem": "64M"})
        assert queue.get(plain).limits is None
        assert queue.get(limited).limits == {"mem": 64 << 20}
        queue.set_queue("io", {"limits": {"pids": 8}})
        assert [q.limits for q in queue.queue_rows() if q.name == "io"] == [{"pids": 8}]


# the migration that keeps counts per queue and state, per engine
QUEUE_COUNTS = {"sqlite": 17, "postgres": 16}
JOB = (
    "INSERT INTO {}jobs (id, command, state, max_retries, queue, run_at, created_at, "
    "updated_at) VALUES ('{}', '\"true\"', '{}', 3, '{}', 0, 0, 0)"
)


def test_a_queue_made_before_the_counts_per_queue_counts_its_jobs(location: str) -> None:
    make_old_queue(location, QUEUE_COUNTS)
    rows = [("a", "pending", "default"), ("b", "dead", "default"), ("c", "pending", "io")]
    if location.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(location, autocommit=True) as conn:
            for row in rows:
                conn.execute(JOB.format("queuectl.", *row).encode())
    else:
        with sqlite3.connect(location) as lite:
            for row in rows:
                lite.execute(JOB.format("", *row))
        lite.close()
    with Queue(location) as queue:
        counts = queue.counts_by_queue()
        assert {name: {s: n for s, n in c.items() if n} for name, c in counts.items()} == {
            "default": {"pending": 1, "dead": 1},
            "io": {"pending": 1},
        }
        queue.enqueue("true", queue="io")
        assert queue.counts()["pending"] == 3


# the SQLite migration that writes the state CHECK and jobs_ended's predicate with OR
NO_LIST_CHECKS = {"sqlite": 18}


def test_a_queue_made_before_the_or_predicates_keeps_its_check_and_purges_by_its_index(
    tmp_path: Path,
) -> None:
    location = str(tmp_path / "home" / "queue.db")
    make_old_queue(location, NO_LIST_CHECKS)
    with sqlite3.connect(location) as lite:
        for job_id, state in [
            ("a", "completed"),
            ("b", "dead"),
            ("c", "cancelled"),
            ("d", "pending"),
        ]:
            lite.execute(
                "INSERT INTO jobs (id, command, state, max_retries, run_at, created_at, "
                "updated_at, finished_at) VALUES (?, '\"true\"', ?, 3, 0, 0, 0, ?)",
                (job_id, state, None if state == "pending" else 10.0),
            )
    lite.close()
    with Queue(location) as queue:
        ended = ["completed", "dead", "cancelled"]
        assert queue.purgeable(ended, before=100.0) == {state: 1 for state in ended}
        assert queue.purge(ended, before=100.0) == {state: 1 for state in ended}
        assert [job.id for job in queue.jobs()] == ["d"]
    with sqlite3.connect(location) as lite:
        with pytest.raises(sqlite3.IntegrityError):
            lite.execute("UPDATE jobs SET state = 'done' WHERE id = 'd'")
        with pytest.raises(sqlite3.IntegrityError):
            lite.execute("UPDATE jobs SET state = NULL WHERE id = 'd'")
    lite.close()
