"""A fresh queue of each engine for the /metrics tests (SQLite file, PostgreSQL schema)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from queuectl.api import Queue
from tests.helpers import reset_pg_queue


@pytest.fixture(params=["sqlite", "postgres"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "queue.db")
    url: str = request.getfixturevalue("pg_database")
    reset_pg_queue(url)
    return url


@pytest.fixture
def queue(location: str) -> Iterator[Queue]:
    opened = Queue(location)
    yield opened
    opened.close()
