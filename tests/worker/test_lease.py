"""The lease role in-process: heartbeat pacing, renewals, revocation, rescue, and the
fence rule: no job starts without a live fence, and jobs whose leases cannot be renewed
are stopped before anyone may re-run them. A fake queue, a fake clock, real fences
(bash) where the rule is about the fence itself."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from queuectl.lifecycle import Cancelled, WorkerLost
from queuectl.worker.fence import ENV as FENCE_ENV
from queuectl.worker.lease import FENCE_SHARE, Identity, Lease
from queuectl.worker.orphans import ThisHost
from queuectl.worker.runner import Runner
from queuectl.worker.slot import Slot, StopReason
from tests.worker.fakes import Clock, FakePort, ended, lost, make_job, wait_reaped

LEASE = 30.0
SHARE = LEASE * FENCE_SHARE  # 22.5 s: the fence's time without a renewal


def start(runner: Runner, slot: Slot, command: str = "sleep 30", job_id: str = "j") -> None:
    """Start a job in ``slot`` as a turn does (Loop._start: the fence rule, then the spawn)."""
    runner.loop._start(slot, make_job(job_id, command, worker=slot.worker_id))
    assert slot.pid, "spawned"


def alive(pid: int) -> bool:
    """Whether ``pid`` is still a process (a zombie counts: the fence's own child)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# --- pacing --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("heartbeat", "lease", "interval"), [(5, 30, 5.0), (14, 10, 5.0), (1, 3, 1.0), (2, 3, 1.5)]
)
def test_heartbeats_come_every_heartbeat_seconds_but_never_more_than_half_a_lease(
    tmp_path: Path, clock: Clock, heartbeat: float, lease: float, interval: float
) -> None:
    port = FakePort(str(tmp_path), heartbeat=heartbeat, lease=lease)
    lease_role = Lease(port, [], Identity("host", 1, None, None), {}, clock)
    assert lease_role.interval() == interval
    lease_role.schedule(clock())
    assert lease_role.next_heartbeat == clock.now + interval


def test_a_heartbeat_reloads_the_settings_before_it_schedules_the_next_one(
    runner: Runner, port: FakePort, clock: Clock
) -> None:
    """`config set heartbeat 1` then `lease 3`: the next renewal comes at the new pace,
    before the fence's new 2.25 s can run out."""
    runner.lease.schedule(clock())
    assert runner.lease.next_heartbeat == clock.now + 5
    port.stored.update(heartbeat="1", lease="3")
    runner.lease.renew(clock(), [], stopping=False)
    assert runner.lease.next_heartbeat == clock.now + 1
    assert port.named("heartbeat")[-1][1] == 3.0, "renewed for the new lease"


# --- renewals ------------------------------------------------------------------------
def test_a_heartbeat_renews_running_jobs_and_results_still_to_be_written(
    runner: Runner, port: FakePort, clock: Clock
) -> None:
    first = runner.slots[0]
    start(runner, first)
    runner.lease.renew(clock(), [ended("waiting", worker="w:1:2")], stopping=False)
    ((running, lease),) = port.named("heartbeat")
    assert running == [("j", 1, first.worker_id), ("waiting", 1, "w:1:2")]
    assert lease == LEASE
    assert runner.lease.renewed_at == clock.now


def test_a_job_the_queue_no_longer_holds_is_stopped_as_revoked_and_said_once(
    runner: Runner, port: FakePort, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    """Cancelled, or rescued by another worker: nobody will accept its result."""
    slot = runner.slots[0]
    start(runner, slot)
    port.revoked.add(("j", 1))
    runner.lease.renew(clock(), [], stopping=False)
    assert slot.stop_reason is StopReason.REVOKED
    assert slot.kill_at == clock.now + 5, "SIGTERM now, SIGKILL after the grace"
    runner.lease.renew(clock(), [], stopping=False)
    assert capsys.readouterr().err.count("job j was cancelled or taken over: stopping it") == 1
    assert slot.outcome(wait_reaped(slot), 0.0) == Cancelled()


def test_a_stop_request_reaches_the_loop_and_is_said_only_if_it_is_news(
    runner: Runner, port: FakePort, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    assert not runner.lease.renew(clock(), [], stopping=False).stop
    port.stop = True
    assert runner.lease.renew(clock(), [], stopping=False).stop
    assert runner.lease.renew(clock(), [], stopping=True).stop
    assert capsys.readouterr().err.count("stop requested: finishing running jobs") == 1


def test_rescued_jobs_are_said_and_make_a_claim_worth_trying(
    runner: Runner, port: FakePort, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    assert not runner.lease.renew(clock(), [], stopping=False).rescued
    port.rescuable = [lost("a"), lost("b")]
    assert runner.lease.renew(clock(), [], stopping=False).rescued
    stale_after, host = port.named("rescue_expired")[-1]
    assert stale_after == 3 * LEASE, "worker rows silent for 3 leases are deleted"
    assert isinstance(host, ThisHost) and host.pid == os.getpid()
    err = capsys.readouterr().err
    assert "rescued job a: its worker was lost" in err and "rescued job b" in err


def test_worker_rows_found_missing_are_registered_again(
    runner: Runner, port: FakePort, clock: Clock
) -> None:
    runner.lease.renew(clock(), [], stopping=False)
    assert port.named("register_workers") == []
    port.present = False
    runner.lease.renew(clock(), [], stopping=False)
    assert port.named("register_workers") == [([s.worker_id for s in runner.slots], None)]


# --- the fence rule ------------------------------------------------------------------
def test_no_job_starts_under_a_fence_whose_time_ran_out_it_is_replaced_first(
    runner: Runner, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    lease = runner.lease
    lease.start_fence()
    assert lease.fence is not None
    old, old_token = lease.fence, lease.fence.token
    assert lease.env[FENCE_ENV] == old_token
    clock.now += SHARE - 1.0 - 0.01  # less the fence's margin (1 s): still live
    lease.before_start()
    assert lease.fence is old, "a live fence is kept"

    clock.now += 0.01
    assert old.alive(), "its process still runs: only the clock says it may be firing"
    slot = runner.slots[0]
    start(runner, slot)
    assert lease.fence is not old and not alive(old.pid), "replaced, the old one closed"
    assert lease.token != old_token and lease.env[FENCE_ENV] == lease.token
    assert f"QUEUECTL_FENCE={lease.token}".encode() in slot.tag
    assert "the fence's time ran out" in capsys.readouterr().err


def test_replacing_the_fence_kills_the_running_jobs_as_fenced(runner: Runner, clock: Clock) -> None:
    lease = runner.lease
    lease.start_fence()
    first, second = runner.slots
    start(runner, first, job_id="a")
    start(runner, second, job_id="b")
    second.stop(StopReason.REVOKED, clock(), 5.0)
    clock.now += SHARE
    lease.before_start()
    assert first.stop_reason is StopReason.FENCED
    assert second.stop_reason is StopReason.REVOKED, "already forfeit: keeps its reason"
    status = wait_reaped(first)
    assert os.waitstatus_to_exitcode(status) == -signal.SIGKILL
    assert first.outcome(status, 0.0) == WorkerLost()


def test_a_late_renewal_replaces_the_fence_instead_of_reviving_it(
    runner: Runner, port: FakePort, clock: Clock
) -> None:
    lease = runner.lease
    lease.start_fence()
    old = lease.fence
    clock.now += SHARE  # the renewal went through, but the fence may have fired already
    lease.renew(clock(), [], stopping=False)
    assert lease.fence is not old and lease.fence is not None and lease.fence.live()
    assert port.named("heartbeat"), "the leases were renewed all the same"


def test_a_renewal_that_keeps_failing_stops_the_jobs_at_nine_tenths_of_the_fence_share(
    runner: Runner, port: FakePort, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before the fence fires (0.75 x lease) and long before the lease can expire."""
    first, second = runner.slots
    start(runner, first, job_id="a")
    start(runner, second, job_id="b")
    second.stop(StopReason.REVOKED, clock(), 5.0)
    port.down = True
    clock.now += SHARE * 0.9 - 0.01
    runner.lease.renew(clock(), [], stopping=False)
    assert first.stop_reason is None, "there is time left for a renewal"
    assert "heartbeat failed: database is locked" in capsys.readouterr().err

    clock.now += 0.01
    runner.lease.renew(clock(), [], stopping=False)
    assert first.stop_reason is StopReason.FENCED
    assert second.stop_reason is StopReason.REVOKED
    err = capsys.readouterr().err
    assert "job a: lease cannot be renewed; stopping it" in err and "job b:" not in err
    assert first.outcome(wait_reaped(first), 0.0) == WorkerLost()


def test_an_attempt_that_ends_past_the_fence_share_counts_as_fenced(
    runner: Runner, clock: Clock
) -> None:
    lease = runner.lease
    assert not lease.fenced(lease.renewed_at + SHARE - 0.01)
    assert lease.fenced(lease.renewed_at + SHARE)


# --- a location that names another queue ---------------------------------------------
def test_a_lost_location_stops_the_running_jobs_once_and_keeps_its_worker_rows(
    runner: Runner, port: FakePort, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    slot = runner.slots[0]
    start(runner, slot)
    port.lost = "queue file removed"
    assert runner.lease.location_lost(clock()) and runner.lease.lost
    assert slot.stop_reason is StopReason.REVOKED
    assert runner.lease.location_lost(clock())
    err = capsys.readouterr().err
    assert err.count("queue file removed: stopping its 1 running job(s) and exiting") == 1
    runner.lease.unregister()
    assert port.named("unregister_workers") == [], "nothing more is written to it"
