"""Leases under a wall clock that steps (NTP, a VM's clock corrected), on every backend.

The queue's clock is stepped in-process, as a test can without root: SQLite's clock is
this process's ``time.time``; PostgreSQL's is the server's ``queuectl.now_s()``, which
the test redefines with an offset (every connection sees the step at once, as with a
real step of the server's clock).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from queuectl.location import is_postgres
from queuectl.models import JobState
from tests.contract.support import POLICY, add, claim
from tests.support.polling import wait_for

if TYPE_CHECKING:
    from queuectl.backends.base import Backend

    Connect = Callable[[], Backend]

LEASE = 2.0
HOUR = 3600.0


def step_clock(location: str, seconds: float, monkeypatch: pytest.MonkeyPatch) -> None:
    """Step the queue's wall clock by ``seconds`` from now on (monotonic time is untouched)."""
    if is_postgres(location):
        import psycopg

        with psycopg.connect(location, autocommit=True) as conn:
            conn.execute(
                "CREATE OR REPLACE FUNCTION queuectl.now_s() RETURNS double precision "
                "LANGUAGE sql STABLE AS $$ SELECT extract(epoch FROM statement_timestamp())"
                f"::double precision + {float(seconds)!r} $$"
            )
    else:
        real = time.time
        monkeypatch.setattr(time, "time", lambda: real() + seconds)


def test_a_clock_step_forward_never_makes_a_renewed_lease_look_expired(
    connect: Connect, location: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    victim, rescuer = connect(), connect()
    add(victim, "a")
    job = claim(victim, "w1", lease=LEASE)
    assert rescuer.rescue_expired(POLICY, HOUR) == []
    step_clock(location, HOUR, monkeypatch)  # far more than a lease
    rescued: list[str] = []
    renew_at = time.monotonic() + LEASE / 4  # the claim was the holder's last renewal
    until = time.monotonic() + 3 * LEASE
    while time.monotonic() < until:
        if time.monotonic() >= renew_at:  # the holder renews every quarter lease, as a worker
            held = victim.heartbeat(["w1"], [("a", job.runs, "w1")], LEASE).held
            assert ("a", job.runs) in held, f"the live holder lost its job (rescued: {rescued})"
            renew_at = time.monotonic() + LEASE / 4
        rescued += rescuer.rescue_expired(POLICY, HOUR)
        time.sleep(0.02)  # pacing: a rescue pass 50 times a second
    assert rescued == [], "a rescuer took the job of a holder that renewed its lease all along"
    after = victim.get("a")
    assert after is not None and after.state is JobState.PROCESSING and after.worker == "w1"


@pytest.mark.parametrize("step", [HOUR, -HOUR], ids=["forward", "backward"])
def test_a_silent_holder_is_rescued_one_lease_after_the_rescuer_saw_it_stop(
    connect: Connect, location: str, monkeypatch: pytest.MonkeyPatch, step: float
) -> None:
    victim, rescuer = connect(), connect()
    add(victim, "a", max_retries=2)
    claim(victim, "w1", lease=LEASE)  # and never renewed: the holder is gone
    first_look = time.monotonic()  # before the pass that first sees the lease
    assert rescuer.rescue_expired(POLICY, HOUR) == []
    step_clock(location, step, monkeypatch)
    assert wait_for(
        lambda: rescuer.rescue_expired(POLICY, HOUR), timeout=LEASE + 10, interval=0.02
    ) == ["a"]
    waited = time.monotonic() - first_look
    assert waited >= LEASE, f"rescued {waited:.2f}s after the rescuer first saw the lease"
    lost = rescuer.get("a")
    assert lost is not None and lost.state is JobState.FAILED
    assert lost.last_error == "worker lost"
    (attempt,) = rescuer.attempts("a")
    assert attempt.outcome == "worker_lost"
