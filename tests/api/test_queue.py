"""The Python API: ``from queuectl import Queue`` does what the CLI does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from queuectl import Queue, QueuectlError
from queuectl.errors import Conflict, InvalidInput, NotFound


@pytest.fixture
def queue(tmp_path: Path) -> Queue:
    return Queue(str(tmp_path / "q.db"))


def test_enqueue_a_shell_string_and_an_argv_list(queue: Queue) -> None:
    first = queue.enqueue("echo hi", id="a", priority=3, max_retries=1, timeout="30s")
    second = queue.enqueue(["printf", "%s", "x y"], queue="io", env={"K": "v"})
    assert first == "a"
    a, b = queue.get("a"), queue.get(second)
    assert (a.command, a.priority, a.max_retries, a.timeout) == ("echo hi", 3, 1, 30.0)
    assert (b.command, b.queue, b.env) == (["printf", "%s", "x y"], "io", {"K": "v"})
    assert b.max_retries == 3  # the queue's setting, fixed at enqueue


def test_a_command_that_is_neither_text_nor_a_list_is_refused(queue: Queue) -> None:
    for wrong in ({"command": "true"}, {"true"}, 42):
        with pytest.raises(InvalidInput, match="command must be"):
            queue.enqueue(wrong)  # type: ignore[arg-type]
    assert queue.jobs() == []


def test_run_at_takes_a_datetime_and_delay_a_duration(queue: Queue) -> None:
    when = datetime.now(UTC) + timedelta(hours=1)
    queue.enqueue("true", id="later", run_at=when)
    queue.enqueue("true", id="soon", delay="90s")
    assert queue.get("later").run_at == pytest.approx(when.timestamp(), abs=1e-3)
    assert queue.get("soon").run_at - queue.get("soon").created_at == pytest.approx(90, abs=1)


def test_enqueue_many_is_all_or_nothing(queue: Queue) -> None:
    queue.enqueue("true", id="taken")
    with pytest.raises(InvalidInput, match="already exists"):
        queue.enqueue_many([{"id": "new", "command": "true"}, {"id": "taken", "command": "x"}])
    with pytest.raises(InvalidInput, match="command"):
        queue.enqueue_many([{"id": "new", "command": "true"}, {"id": "bad"}])
    assert [job.id for job in queue.jobs()] == ["taken"]


def test_errors_share_one_base_class(queue: Queue) -> None:
    with pytest.raises(NotFound):
        queue.get("missing")
    with pytest.raises(QueuectlError):
        queue.enqueue("true", id="../x")
    with pytest.raises(InvalidInput):
        queue.jobs(state="sleeping")


def test_operator_verbs(queue: Queue) -> None:
    queue.enqueue("true", id="a")
    queue.enqueue("true", id="b")
    assert queue.cancel(["a", "missing"]) == (["a"], {"missing": None})
    assert queue.get("a").state == "cancelled"
    with pytest.raises(Conflict):
        queue.dlq_retry(["b"])  # not dead
    assert queue.dlq_retry(None) == []
    assert queue.counts()["pending"] == 1
    assert queue.counts_by_queue() == {
        "default": {
            "pending": 1,
            "processing": 0,
            "completed": 0,
            "failed": 0,
            "dead": 0,
            "cancelled": 1,
            "blocked": 0,
        }
    }


def test_settings_round_trip_and_survive_reopening(tmp_path: Path) -> None:
    path = str(tmp_path / "q.db")
    with Queue(path) as queue:
        assert queue.config_set("max-retries", "5") == "5"
        assert queue.config_get("max_retries") == "5"
        with pytest.raises(InvalidInput):
            queue.config_set("heartbeat", "60")  # more than half the 30 s lease
    with Queue(path) as queue:
        assert queue.settings.max_retries == 5
        assert queue.config_unset("max-retries") == "3"
        assert queue.config_list()["max_retries"] == "3"


def test_a_queue_of_an_older_schema_is_migrated_with_its_counts(tmp_path: Path) -> None:
    """SQLite counts jobs per state apart from the rows since migration 2; a queue made
    before it starts from a count of its rows."""
    import sqlite3

    from queuectl.sqlfiles import migrations

    path = str(tmp_path / "old.db")
    first = migrations("sqlite")[0]
    conn = sqlite3.connect(path)
    conn.executescript(first[1] + f"PRAGMA user_version = {first[0]};")
    for n, state in enumerate(["pending", "pending", "dead", "completed", "processing"]):
        conn.execute(
            "INSERT INTO jobs (id, command, state, max_retries, run_at, created_at, updated_at)"
            " VALUES (?, '\"true\"', ?, 3, 0, 0, 0)",
            (f"j{n}", state),
        )
    conn.commit()
    conn.close()
    with Queue(path) as queue:
        assert queue.counts() == {
            "pending": 2, "processing": 1, "completed": 1, "failed": 0, "dead": 1, "cancelled": 0,
            "blocked": 0,
        }  # fmt: skip
        assert queue.dlq_purge(None) == ["j2"]
        assert queue.counts()["dead"] == 0


def test_a_queue_touches_nothing_until_it_is_used(tmp_path: Path) -> None:
    where = tmp_path / "not-yet" / "q.db"
    queue = Queue(str(where))
    assert queue.location == str(where) and queue.logs_dir == str(where.parent / "logs")
    with pytest.raises(InvalidInput):
        queue.enqueue_many([{"command": "true", "priority": "high"}])  # checked first
    queue.close()
    assert not where.parent.exists()  # nothing created: not the folder, not the file
    with Queue(str(where)) as used:
        used.enqueue("true", id="first")
    assert where.exists()


def test_a_delay_counts_from_the_queue_clock_at_insert(queue: Queue) -> None:
    job = queue.get(queue.enqueue("true", delay="1h"))
    assert job.run_at is not None
    assert abs(job.run_at - job.created_at - 3600) < 1e-6  # the same `now` for both
