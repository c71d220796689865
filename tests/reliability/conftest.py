"""Fixtures of the reliability tests: a queue of each backend per test, and nothing
left running after it (workers by process group, their jobs found in /proc)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Queuectl, fresh_queue
from tests.helpers import reset_pg_queue

# Short leases so that losing a worker costs seconds: heartbeat at most half the lease.
FAST = (("heartbeat", "1"), ("lease", "3"), ("backoff-base", "1"))


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest) -> str | None:
    """None for SQLite (the default file in the test's QUEUECTL_HOME), or the URL of a
    PostgreSQL database with a fresh queue schema."""
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("pg_database")
    reset_pg_queue(url)
    return url


@pytest.fixture
def qc(db: str | None, tmp_path: Path) -> Iterator[Queuectl]:
    """The CLI against a fresh queue of each backend; everything it started is ended."""
    with fresh_queue(tmp_path, db) as queue:
        yield queue


@pytest.fixture
def fast(qc: Queuectl) -> Queuectl:
    """heartbeat 1 s, lease 3 s, backoff-base 1."""
    for key, value in FAST:
        qc.config(key, value)
    return qc


@pytest.fixture
def pg_qc(pg_database: str, tmp_path: Path) -> Iterator[Queuectl]:
    """The CLI against a fresh PostgreSQL queue (for tests that only make sense there)."""
    reset_pg_queue(pg_database)
    queue = Queuectl(tmp_path, pg_database)
    try:
        for key, value in FAST:
            queue.config(key, value)
        yield queue
    finally:
        queue.cleanup()
