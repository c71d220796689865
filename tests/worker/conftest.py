"""A worker's roles in this process: a fake queue, a fake clock, real job processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from queuectl.worker.runner import Runner
from tests.worker.fakes import Clock, FakePort, end


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def port(tmp_path: Path) -> FakePort:
    return FakePort(str(tmp_path / "logs"), lease=30, heartbeat=5, kill_grace=5)


@pytest.fixture
def runner(port: FakePort, clock: Clock) -> Iterator[Runner]:
    """A worker of two slots on the fake queue and clock, not started: a test calls its
    roles. Its jobs are killed and reaped, its fence closed, after the test."""
    runner = Runner(port, 2, None, burst=False, clock=clock)
    yield runner
    for slot in runner.slots:
        end(slot)
    runner.lease.close_fence()
    runner.loop.close()
