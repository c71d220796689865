"""One suite for every storage engine: each test runs once per backend in BACKENDS.

A backend joins by adding its name to BACKENDS and a branch to ``location`` that
yields a fresh, empty queue (for PostgreSQL: a new database or schema per test).
Tests use only the Backend protocol, never an engine's specifics.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from queuectl.backends import open_backend
from tests.helpers import reset_pg_queue

if TYPE_CHECKING:
    from queuectl.backends.base import Backend

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(params=BACKENDS)
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a fresh, empty queue of this backend lives (a path or a URL)."""
    if request.param == "sqlite":
        return str(tmp_path / "queue.db")
    if request.param == "postgres":
        url: str = request.getfixturevalue("pg_database")
        reset_pg_queue(url)
        return url
    raise AssertionError(f"no location for backend {request.param!r}")  # pragma: no cover


@pytest.fixture
def connect(location: str) -> Iterator[Callable[[], Backend]]:
    """Open more connections to the same queue (another process's view); closed at the end."""
    opened: list[Backend] = []

    def open_one() -> Backend:
        backend = open_backend(location)
        opened.append(backend)
        return backend

    yield open_one
    for backend in opened:
        backend.close()


@pytest.fixture
def backend(connect: Callable[[], Backend]) -> Backend:
    return connect()
