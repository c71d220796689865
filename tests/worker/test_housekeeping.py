"""The housekeeping role on a fake queue and clock: when its retention passes come, what
each one asks of the queue, and that a failing one never stops the worker."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from queuectl.backends.retention import PURGE_BATCH
from queuectl.stats import ROLL_UP_AFTER
from queuectl.worker import housekeeping
from queuectl.worker.housekeeping import Housekeeping
from queuectl.worker.runner import Runner
from tests.worker.fakes import Clock, FakePort, make_job


@pytest.fixture
def keeping(runner: Runner) -> Housekeeping:
    return runner.housekeeping


def test_a_pass_rolls_up_and_purges_each_state_past_its_retention(
    keeping: Housekeeping, port: FakePort
) -> None:
    port.stored.update(retention_completed="3600", retention_dead="86400")
    port.reload_settings()
    keeping.run()
    assert port.named("roll_up") == [(port.wall - ROLL_UP_AFTER, housekeeping.ROLL_UP_LIMIT)]
    assert port.named("purge_batch") == [
        ("completed", port.wall - 3600, PURGE_BATCH),
        ("cancelled", port.wall - 7 * 86400, PURGE_BATCH),  # the default: 7 days
        ("dead", port.wall - 86400, PURGE_BATCH),
    ]


def test_dead_jobs_are_kept_by_default(keeping: Housekeeping, port: FakePort) -> None:
    keeping.run()
    assert [state for state, _, _ in port.named("purge_batch")] == ["completed", "cancelled"]


def test_a_pass_without_a_backlog_comes_back_in_about_a_minute(
    keeping: Housekeeping, port: FakePort, clock: Clock
) -> None:
    port.ended = {"completed": ["a", "b"]}
    port.unrolled = 10
    keeping.run()
    assert port.ended == {"completed": [], "cancelled": []}
    wait = keeping.next_at - clock.now
    assert housekeeping.EVERY <= wait <= housekeeping.EVERY * 1.1


def test_a_backlog_is_worked_off_a_bounded_batch_at_a_time(
    keeping: Housekeeping, port: FakePort, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    port.ended = {"completed": [f"j{n}" for n in range(PURGE_BATCH * housekeeping.PURGES + 1)]}
    port.unrolled = housekeeping.ROLL_UP_LIMIT * housekeeping.ROLL_UPS + 1
    keeping.run()
    assert len(port.named("roll_up")) == housekeeping.ROLL_UPS
    assert [s for s, _, _ in port.named("purge_batch")].count("completed") == housekeeping.PURGES
    assert port.ended["completed"] == [f"j{PURGE_BATCH * housekeeping.PURGES}"]
    assert keeping.next_at - clock.now == housekeeping.SOON, "more soon, not in a minute"
    purged = PURGE_BATCH * housekeeping.PURGES
    assert f"retention: purged {purged} completed job(s)" in capsys.readouterr().err
    clock.now = keeping.next_at
    keeping.run()
    assert port.ended["completed"] == [] and port.unrolled == 0
    assert keeping.next_at - clock.now >= housekeeping.EVERY


def test_a_failing_pass_is_told_and_tried_again_later(
    keeping: Housekeeping, port: FakePort, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    port.down = True
    keeping.run()  # no exception: the worker goes on
    assert "retention pass failed (tried again later)" in capsys.readouterr().err
    assert keeping.next_at - clock.now >= housekeeping.EVERY


def test_the_log_files_of_purged_attempts_of_this_host_are_removed(
    keeping: Housekeeping, port: FakePort, runner: Runner
) -> None:
    logs = Path(port.logs_dir)
    logs.mkdir()
    for name in ("a.1.log", "a.2.log", "b.1.log"):
        (logs / name).write_text("output\n")
    host = runner.lease.here().host
    port.removals = {host: [("a", 1), ("a", 2), ("gone", 1)], "elsewhere": [("b", 1)]}
    keeping.run()
    assert sorted(os.listdir(logs)) == ["b.1.log"], "another host's file is its own to remove"


def test_leftover_live_files_are_looked_for_hourly(
    keeping: Housekeeping, port: FakePort, clock: Clock
) -> None:
    keeping.run()
    assert port.named("adopt_orphans") == [], "the start adopted them already"
    clock.now += housekeeping.ORPHANS_EVERY
    keeping.run()
    assert port.named("adopt_orphans") == [([],)]


def test_the_loop_runs_a_due_pass_after_its_turn_and_none_while_stopping(
    runner: Runner, port: FakePort, clock: Clock
) -> None:
    port.ready = [make_job("a", "sleep 30")]
    clock.now = runner.housekeeping.next_at
    runner.loop._turn()
    runner.loop._housekeeping()
    names = [name for name, _ in port.calls]
    assert names.index("exchange") < names.index("roll_up")
    assert runner.loop._timeout_local() <= runner.housekeeping.next_at - clock.now
    runner.loop.stopping = True
    clock.now = runner.housekeeping.next_at
    runner.loop._housekeeping()
    assert len(port.named("roll_up")) == 1
