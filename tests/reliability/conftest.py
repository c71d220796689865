"""Fixtures of the reliability tests (``qc``, a queue of each backend per test with
nothing left running after it, is in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.backends import reset_pg_queue
from tests.support.harness import Queuectl


@pytest.fixture
def fast(qc: Queuectl) -> Queuectl:
    """heartbeat 1 s, lease 3 s, backoff-base 1."""
    return qc.fast_leases()


@pytest.fixture
def pg_qc(pg_database: str, tmp_path: Path) -> Iterator[Queuectl]:
    """The CLI against a fresh PostgreSQL queue (for tests that only make sense there)."""
    reset_pg_queue(pg_database)
    with Queuectl(tmp_path, pg_database) as queue:
        yield queue.fast_leases()
