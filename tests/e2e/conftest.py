"""Fixtures of the end-to-end tests: a queue per test, and nothing left running after it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Queuectl, fresh_queue
from tests.helpers import reset_pg_queue


@pytest.fixture(params=["sqlite", "postgres"])
def qc(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Queuectl]:
    """The CLI against a fresh queue of each backend; every process it started is
    ended (by process group or pid) when the test is over, pass or fail."""
    db = None
    if request.param == "postgres":
        db = request.getfixturevalue("pg_database")
        reset_pg_queue(db)
    with fresh_queue(tmp_path, db) as queue:
        yield queue


@pytest.fixture
def fast_retries(qc: Queuectl) -> Queuectl:
    """Short retry, lease and heartbeat timings, for tests that are not about the defaults."""
    qc.config("backoff-base", "1")
    qc.config("heartbeat", "1")
    qc.config("lease", "3")
    return qc
