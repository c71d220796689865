"""One suite for every storage engine: each test runs once per backend in BACKENDS.

A backend joins by adding its name to BACKENDS (tests/support/backends.py) and a branch
to ``db`` (tests/conftest.py) that yields a fresh, empty queue (for PostgreSQL: a new
schema per test).
Tests use only the Backend protocol, never an engine's specifics.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

from queuectl.backends import open_backend

if TYPE_CHECKING:
    from queuectl.backends.base import Backend


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
