"""Fixtures of the end-to-end tests (``qc``, a queue of each backend per test with
nothing left running after it, is in tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.support.harness import Queuectl


@pytest.fixture
def fast_retries(qc: Queuectl) -> Queuectl:
    """Short retry, lease and heartbeat timings, for tests that are not about the defaults."""
    return qc.fast_leases()
