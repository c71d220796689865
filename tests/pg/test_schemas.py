"""One PostgreSQL database, several queues: one per schema (``?schema=NAME`` in the URL,
or ``$QUEUECTL_SCHEMA``), each with its own jobs, workers, notification channels and
server clock, through the real CLI."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.support.backends import pg_with_password
from tests.support.harness import Queuectl
from tests.support.polling import wait_for


@pytest.fixture
def two(pg_database: str) -> Iterator[tuple[str, str]]:
    """Two schema names of this test's own, dropped afterwards."""
    names = tuple(f"team_{uuid.uuid4().hex[:8]}" for _ in range(2))
    yield names[0], names[1]
    with psycopg.connect(pg_database, autocommit=True) as conn:
        for name in names:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def team(tmp_path: Path, name: str, db: str, env: dict[str, str] | None = None) -> Queuectl:
    folder = tmp_path / name
    folder.mkdir()
    return Queuectl(folder, db, env=env)


def test_two_schemas_of_one_database_are_two_queues(
    tmp_path: Path, pg_database: str, two: tuple[str, str]
) -> None:
    a_name, b_name = two
    # one queue named in the URL (with a password, which no message may show), the
    # other by $QUEUECTL_SCHEMA
    a_url = pg_with_password(pg_database, "s3cret") + f"?schema={a_name}"
    with (
        team(tmp_path, "a", a_url) as a,
        team(tmp_path, "b", pg_database, {"QUEUECTL_SCHEMA": b_name}) as b,
    ):
        a.enqueue("echo a", "--id", "a1")
        b.enqueue("echo b", "--id", "b1")
        assert [job["id"] for job in a.jobs()] == ["a1"]
        assert [job["id"] for job in b.jobs()] == ["b1"]

        # each schema notifies on channels of its own
        with psycopg.connect(pg_database, autocommit=True) as listener:
            for channel in ("queuectl_jobs", f"{a_name}_jobs", f"{b_name}_jobs"):
                listener.execute(f'LISTEN "{channel}"')
            b.enqueue("echo b", "--id", "b2")
            a.enqueue("echo a", "--id", "a2")
            heard: list[str] = []
            for note in listener.notifies(timeout=10):
                heard.append(note.channel)
                if note.channel != f"{b_name}_jobs":
                    break
        assert heard == [f"{b_name}_jobs", f"{a_name}_jobs"]

        # A's worker is woken only through notifications: it would poll every 5 minutes
        for key, value in (("lease", "600"), ("heartbeat", "300"), ("poll-interval", "300")):
            a.config(key, value)
        worker = a.start_worker()
        worker.wait_for_log("started")
        first = worker.log().splitlines()[0]
        assert f"serving {pg_database} (schema {a_name}), limits: " in first, first
        assert "s3cret" not in worker.log()
        for job_id in ("a1", "a2"):
            a.wait_state(job_id, "completed", timeout=30)
        (shown,) = a.json("worker", "list")
        beat = shown["last_heartbeat"]
        assert a.run("worker", "list").stderr == f"workers of {pg_database} (schema {a_name})\n"

        # B's jobs and B's control messages (a cancel) do not reach A's worker...
        b.enqueue("echo b", "--id", "b3")
        b.enqueue("true", "--id", "b-later", "--delay", "1h")
        b.run("cancel", "b-later")
        a.enqueue("echo a", "--id", "a3")  # ... while A's own wake it at once
        a.wait_state("a3", "completed", timeout=30)
        assert [w["last_heartbeat"] for w in a.json("worker", "list")] == [beat]
        assert {job["id"]: job["state"] for job in b.jobs()} == {
            "b1": "pending",
            "b2": "pending",
            "b3": "pending",
            "b-later": "cancelled",
        }
        # A's own cancel makes its worker look at the queue at once (a heartbeat)
        a.enqueue("true", "--id", "a-later", "--delay", "1h")
        a.run("cancel", "a-later")
        wait_for(
            lambda: a.json("worker", "list")[0]["last_heartbeat"] != beat,
            30,
            what="A's worker to heartbeat on A's cancel",
        )

        # B's worker runs B's jobs, and only them
        b.run("worker", "start", "--burst", timeout=90)
        assert {job["state"] for job in b.jobs() if job["id"] != "b-later"} == {"completed"}
        assert {job["id"] for job in a.jobs()} == {"a1", "a2", "a3", "a-later"}

    # every table, the clock function and the triggers live in their queue's schema
    with psycopg.connect(pg_database) as conn:
        objects = conn.execute(
            "SELECT n.nspname, p.proname FROM pg_proc p JOIN pg_namespace n"
            " ON n.oid = p.pronamespace WHERE p.proname IN ('now_s', 'notify_jobs')"
            " AND n.nspname = ANY(%s)",
            [[a_name, b_name]],
        ).fetchall()
    assert sorted(objects) == sorted(
        (schema, name) for schema in (a_name, b_name) for name in ("notify_jobs", "now_s")
    )
