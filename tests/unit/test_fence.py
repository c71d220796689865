"""The fence's rule, in the worker's own clock: a fence is live only while its process
runs and its time has not run out, so no job is given the token of a fence that fired
or is firing. Real fence processes (bash), a fake clock where the rule is about time."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from queuectl.worker.fence import ENV, Fence
from tests.support.polling import wait_for
from tests.support.processes import running


class Clock:
    """A monotonic clock that moves only when a test says so."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(1000.0)


@pytest.fixture
def fences() -> Iterator[list[Fence]]:
    """Fences a test starts; each is closed (its process ended and reaped) after it."""
    started: list[Fence] = []
    yield started
    for fence in started:
        fence.close()


def test_a_fence_is_live_until_its_limit_less_a_margin_even_while_its_process_runs(
    clock: Clock, fences: list[Fence]
) -> None:
    fence = Fence(10.0, clock=clock)
    fences.append(fence)
    clock.now += 8.99  # 10 s less a margin of 10 % (at most 1 s)
    assert fence.live()
    clock.now += 0.01
    assert fence.alive(), "its process still runs (a busy machine, or it is firing)"
    assert not fence.live(), "past its deadline a fence may have fired: not live"


def test_a_fence_past_its_deadline_is_not_renewed(clock: Clock, fences: list[Fence]) -> None:
    fence = Fence(10.0, clock=clock)
    fences.append(fence)
    clock.now += 9.5
    assert not fence.renewed(10.0), "a late renewal must replace the fence, not revive it"
    assert not fence.live()


def test_a_renewal_moves_the_deadline_from_the_instant_it_was_sent(
    clock: Clock, fences: list[Fence]
) -> None:
    fence = Fence(2.25, clock=clock)
    fences.append(fence)
    clock.now += 1.0
    assert fence.renewed(2.25)
    clock.now += 2.0  # 2.25 s less 10 %: live until 2.025 s after the renewal
    assert fence.live()
    clock.now += 0.03
    assert not fence.live()
    assert fence.deadline == pytest.approx(1000.0 + 1.0 + 2.025)


def test_a_renewal_with_no_time_left_leaves_a_fence_that_is_not_live(
    clock: Clock, fences: list[Fence]
) -> None:
    """The lease renewal took longer than the fence's share of the lease."""
    fence = Fence(2.25, clock=clock)
    fences.append(fence)
    assert fence.renewed(-0.5)  # bash is told 0.1 s, its least
    clock.now += 0.09
    assert not fence.live()


def test_a_fence_whose_process_is_gone_is_not_live(clock: Clock, fences: list[Fence]) -> None:
    fence = Fence(30.0, clock=clock)
    fences.append(fence)
    os.kill(fence.pid, signal.SIGKILL)
    wait_for(lambda: not fence.live(), 5, interval=0.01, what="the killed fence to count as gone")
    assert not fence.renewed(30.0)


def test_the_fence_process_never_fires_while_the_worker_counts_it_live(
    fences: list[Fence],
) -> None:
    """The worker's deadline is conservative: bash's own timer starts later and runs
    longer, so a marked process lives at least as long as the fence is live, and dies
    once the fence has fired (real clock)."""
    fence = Fence(0.5)
    fences.append(fence)
    marked = subprocess.Popen(
        ["sleep", "30"], env={**os.environ, ENV: fence.token}, start_new_session=True
    )
    try:
        while fence.live():
            assert marked.poll() is None, "the fence fired while the worker counted it live"
            time.sleep(0.002)
        marked.wait(10)  # it fires 0.5 s after its start (or later on a busy machine)
        assert marked.returncode == -signal.SIGKILL
        wait_for(lambda: not running(fence.pid), 10, what="the fence to exit after firing")
    finally:
        if marked.poll() is None:
            marked.kill()
            marked.wait()
