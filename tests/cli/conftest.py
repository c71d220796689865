"""Fixtures for CLI tests: the default queue of a test's QUEUECTL_HOME, opened in-process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from queuectl.backends import open_backend

if TYPE_CHECKING:
    from queuectl.backends.base import Backend


@pytest.fixture
def made(home: Path) -> None:
    """The default queue of the test's home, created empty, as a first write would: a
    command that only reads creates none."""
    open_backend(str(home / "queuectl.db")).close()


@pytest.fixture
def store(home: Path) -> Iterator[Backend]:
    """The queue the CLI uses by default, for setting up states no CLI verb reaches yet."""
    backend = open_backend(str(home / "queuectl.db"))
    yield backend
    backend.close()
