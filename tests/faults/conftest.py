"""Fixtures of the fault, hostile-input and security tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.support import Mounts


@pytest.fixture
def mounts() -> Iterator[Mounts]:
    """tmpfs mounts for this test, unmounted afterwards whatever happened."""
    made = Mounts()
    try:
        yield made
    finally:
        made.cleanup()
