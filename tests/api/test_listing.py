"""``Queue.jobs``: what a listing keeps and in which order; tags through the API; a queue
made before tags existed, upgraded (on every engine)."""

from __future__ import annotations

import os
import sqlite3

import pytest

from queuectl.api import Queue
from queuectl.errors import InvalidInput
from queuectl.sqlfiles import migrations


def ids(queue: Queue, **filters: object) -> list[str]:
    return [job.id for job in queue.jobs(**filters)]  # type: ignore[arg-type]


def test_a_limit_keeps_the_newest_jobs_in_enqueue_order(queue: Queue) -> None:
    for n in range(5):
        queue.enqueue("true", id=f"j{n}")
    assert ids(queue) == ["j0", "j1", "j2", "j3", "j4"]
    assert ids(queue, limit=2) == ["j3", "j4"]
    assert ids(queue, limit=2, reverse=True) == ["j4", "j3"]
    assert ids(queue, reverse=True) == ["j4", "j3", "j2", "j1", "j0"]
    assert ids(queue, limit=2, sort="created") == ["j0", "j1"]  # with an order: its first
    assert ids(queue, limit=2, sort="created", reverse=True) == ["j4", "j3"]


@pytest.mark.parametrize(
    "filters",
    [{"limit": 0}, {"limit": -1}, {"sort": "size"}, {"state": "sleeping"}, {"tags": ["a b"]}],
    ids=str,
)
def test_bad_filters_are_refused(queue: Queue, filters: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        queue.jobs(**filters)  # type: ignore[arg-type]


def test_one_state_or_several(queue: Queue) -> None:
    queue.enqueue("true", id="a")
    queue.enqueue("true", id="b")
    queue.cancel(["a"])
    assert ids(queue, state="pending") == ["b"]
    assert ids(queue, state=["cancelled", "pending"]) == ["a", "b"]


def test_text_is_found_as_it_was_typed(queue: Queue) -> None:
    """The queue stores commands as JSON text: quotes, backslashes and other scripts are
    looked for as they are stored."""
    queue.enqueue('echo "hi" \\ there', id="quoted")
    queue.enqueue(["printf", "café"], id="accent")
    assert ids(queue, text='"hi" \\') == ["quoted"]
    assert ids(queue, text="café") == ["accent"]
    assert [job.id for job in queue.find_jobs(text="café")] == ["accent"]


def test_find_jobs_pages_newest_first(queue: Queue) -> None:
    for n in range(5):
        queue.enqueue("true", id=f"j{n}")
    assert [j.id for j in queue.find_jobs(limit=2)] == ["j4", "j3"]
    assert [j.id for j in queue.find_jobs(limit=2, offset=2)] == ["j2", "j1"]
    assert [j.id for j in queue.find_jobs(state="pending", text="j0")] == ["j0"]


def test_tags_through_the_api(queue: Queue) -> None:
    queue.enqueue("true", id="t", tags=["nightly", "team=a", "nightly"])
    queue.enqueue("true", id="plain")
    assert queue.get("t").tags == ("nightly", "team=a")  # each once, in their order
    assert queue.get("t").to_dict()["tags"] == ["nightly", "team=a"]
    assert queue.get("plain").to_dict()["tags"] == []
    assert ids(queue, tags=["team=a"]) == ["t"]
    for wrong in (["a b"], [""], ["-x"], "nightly", [1]):
        with pytest.raises(InvalidInput, match="tag"):
            queue.enqueue("true", tags=wrong)  # type: ignore[arg-type]
    assert ids(queue) == ["t", "plain"]


# --- a queue of the release before tags -----------------------------------------------------
def _before_tags(engine: str) -> list[tuple[int, str]]:
    steps = migrations(engine)
    tags = next(n for n, script in steps if "ADD COLUMN tags" in script)
    return [(n, script) for n, script in steps if n < tags]


def _old_sqlite_queue(path: str) -> None:
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    conn = sqlite3.connect(path)
    steps = _before_tags("sqlite")
    conn.executescript(
        "".join(script for _, script in steps) + f"PRAGMA user_version = {steps[-1][0]};"
    )
    conn.execute(
        "INSERT INTO jobs (id, command, state, max_retries, run_at, created_at, updated_at)"
        " VALUES ('old', '\"true\"', 'pending', 3, 0, 0, 0)"
    )
    conn.commit()
    conn.close()


def _old_postgres_queue(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA queuectl")
        conn.execute("CREATE TABLE queuectl.schema_version (version integer NOT NULL)")
        for number, script in _before_tags("postgres"):
            conn.execute(script.encode())
            conn.execute("INSERT INTO queuectl.schema_version VALUES (%s)", (number,))
        conn.execute(
            "INSERT INTO queuectl.jobs (id, command, state, max_retries, run_at, created_at,"
            " updated_at) VALUES ('old', '\"true\"', 'pending', 3, 0, 0, 0)"
        )


def test_a_queue_made_before_tags_is_upgraded(location: str) -> None:
    if location.startswith("postgresql://"):
        _old_postgres_queue(location)
    else:
        _old_sqlite_queue(location)
    with Queue(location) as queue:
        assert queue.get("old").tags == ()
        queue.enqueue("true", id="new", tags=["fresh"])
        assert ids(queue) == ["old", "new"]
        assert ids(queue, tags=["fresh"]) == ["new"]
