"""The dashboard's actions are operator commands: they commit durably, as the CLI's do,
not in the worker's relaxed mode."""

from __future__ import annotations

from starlette.testclient import TestClient

from queuectl.api import Queue
from queuectl.backends.postgres import PostgresBackend
from queuectl.backends.sqlite import SQLiteBackend
from queuectl.location import WORKER
from tests.contract.support import make_dead, state_of
from tests.web.support import csrf_of


def commit_mode(queue: Queue) -> str:
    """How the queue's own connection commits: SQLite's ``synchronous`` (2 = FULL), or
    PostgreSQL's ``synchronous_commit`` of its session."""
    backend = queue.backend
    if isinstance(backend, SQLiteBackend):
        return {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}[
            backend.conn.execute("PRAGMA synchronous").fetchone()[0]
        ]
    assert isinstance(backend, PostgresBackend)
    with backend.link.connection() as conn:
        row = conn.execute("SHOW synchronous_commit").fetchone()
    assert row is not None
    return str(row["synchronous_commit"])


def test_the_dashboards_actions_wait_for_the_disk(client: TestClient, queue: Queue) -> None:
    make_dead(queue.backend, "dead-1")
    done = client.post("/dlq/retry", data={"id": "dead-1", "csrf": csrf_of(client)})
    assert done.status_code == 303
    assert state_of(queue.backend, "dead-1") == "pending"
    used = client.app.state.db.queue  # type: ignore[attr-defined]
    assert commit_mode(used) == commit_mode(queue)  # the CLI's mode
    assert commit_mode(used) in ("FULL", "on")


def test_a_worker_still_commits_its_own_state_without_waiting(location: str) -> None:
    with Queue(location, role=WORKER) as worker:
        assert commit_mode(worker) in ("NORMAL", "off")
