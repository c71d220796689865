"""Schedules in the queue, on every engine: stored, changed, and fired by ``fire_schedules``
(the worker's look at them): each due slot enqueued once as ``NAME@<slot>``, whoever fires,
and the queue stopped for a while applies ``--missed``. A queue "stopped for ten hours" is
a schedule settled ten hours ago (``Schedule.starting``): what a restarted cluster finds."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

from queuectl.backends import open_backend
from queuectl.errors import Conflict
from queuectl.schedules import MAX_CATCH_UP, Schedule, make, slot_id
from tests.contract.support import claim, end, in_processes, wait_past

if TYPE_CHECKING:
    from multiprocessing.queues import Queue
    from multiprocessing.synchronize import Barrier

    from queuectl.backends.base import Backend

HOUR = 3600.0
LEASE = 30.0  # the default lease: a slot found later than this was missed


def add(
    backend: Backend,
    name: str = "tick",
    every: str = "1h",
    down: float = 0.0,
    **fields: str,
) -> Schedule:
    """A schedule whose last firing was ``down`` seconds ago (0: added now)."""
    now = backend.now()
    schedule = make(name, {"command": "true"}, every=every, now=now, **fields)
    schedule = schedule.starting(now - down)
    backend.schedule_add(schedule)
    return schedule


def slots(every: float, after: float, until: float) -> list[float]:
    first = (after // every + 1) * every
    return [first + every * n for n in range(int((until - first) // every) + 1) if first <= until]


def test_a_schedule_is_stored_listed_paused_resumed_and_removed(backend: Backend) -> None:
    added = add(backend, "nightly", every="1d")
    add(backend, "backup")
    assert [s.name for s in backend.schedules()] == ["backup", "nightly"]
    (found,) = backend.schedules("nightly")
    assert found.timing == added.timing and found.job == added.job
    assert found.next_at == added.next_at and not found.paused
    assert found.last_job is None and found.last_state is None
    with pytest.raises(Conflict, match="exists already"):
        add(backend, "nightly")
    assert backend.schedule_pause("nightly")
    assert backend.schedules("nightly")[0].paused
    assert backend.schedule_resume("nightly")
    assert not backend.schedules("nightly")[0].paused
    assert backend.schedule_remove("nightly")
    assert backend.schedules("nightly") == []
    for verb in (backend.schedule_pause, backend.schedule_resume, backend.schedule_remove):
        assert not verb("nightly")


def test_due_slots_are_enqueued_once_with_the_schedule_in_their_environment(
    backend: Backend, connect: object
) -> None:
    schedule = add(backend, "tick", every="1s", down=3.5)
    firing = backend.fire_schedules()
    now = backend.now()
    due = slots(1.0, schedule.settled_to, now)
    assert firing.fired == [slot_id("tick", slot) for slot in due]
    assert len(firing.fired) in (3, 4)
    assert now < firing.next_at <= now + 1  # type: ignore[operator]
    job = backend.get(firing.fired[-1])
    assert job is not None and job.state == "pending" and job.run_at == due[-1]
    assert job.env == {
        "QUEUECTL_SCHEDULE": "tick",
        "QUEUECTL_SCHEDULED_FOR": firing.fired[-1].split("@")[1],
    }
    (found,) = backend.schedules("tick")
    assert found.last_slot == due[-1] and found.last_job == firing.fired[-1]
    assert found.last_state == "pending"
    other = connect()  # type: ignore[operator]
    assert other.fire_schedules().fired == []  # another worker finds nothing due


def test_a_fired_job_counts_as_pending_and_runs_like_any_other(backend: Backend) -> None:
    add(backend, "tick", every="1s", down=1.5, overlap="allow")
    fired = backend.fire_schedules().fired
    job = claim(backend)
    assert job.id == fired[0]
    from queuectl.lifecycle import Succeeded

    assert end(backend, job, Succeeded())
    assert backend.counts()["pending"] == len(fired) - 1


def test_nothing_is_written_while_no_slot_is_due(backend: Backend) -> None:
    schedule = add(backend, "hourly")
    firing = backend.fire_schedules()
    assert firing.fired == [] and firing.next_at == schedule.next_at


@pytest.mark.parametrize("missed", ["latest", "skip", "all"])
def test_a_cluster_stopped_for_ten_hours_applies_missed(backend: Backend, missed: str) -> None:
    """No worker ran for ten hours: ``latest`` enqueues one catch-up run, for the latest
    slot; ``skip`` none (unless the latest slot is still on time); ``all`` every one."""
    # An hour that begins during the firing makes the expected slots unsayable: then try
    # once more with a second schedule (two hour boundaries cannot fall milliseconds apart).
    for name in ("hourly", "hourly-again"):
        before = backend.now()
        schedule = add(backend, name, down=10 * HOUR, missed=missed)
        fired = backend.fire_schedules().fired
        after = backend.now()
        if not slots(HOUR, before, after):
            break
    due = slots(HOUR, schedule.settled_to, before)
    assert len(due) == 10
    latest = due[-1]
    expected = {
        "latest": [latest],
        "skip": [latest] if before - latest < LEASE else [],
        "all": due,
    }[missed]
    assert fired == [slot_id(name, slot) for slot in expected]
    (found,) = backend.schedules(name)
    assert found.settled_to >= before and found.next_at == latest + HOUR


def test_missed_all_is_bounded(backend: Backend) -> None:
    add(backend, "minutely", every="1m", down=1000 * 60, missed="all")
    fired = backend.fire_schedules().fired
    assert len(fired) in (MAX_CATCH_UP, MAX_CATCH_UP + 1)  # + a slot still on time


def test_overlap_skip_passes_over_slots_while_the_last_job_is_active(backend: Backend) -> None:
    add(backend, "skipper", every="1s", down=1.5)
    add(backend, "allower", every="1s", down=1.5, overlap="allow")
    first = backend.fire_schedules().fired
    assert {job_id.split("@")[0] for job_id in first} == {"skipper", "allower"}
    wait_past(backend, max(s.next_at or 0 for s in backend.schedules()))
    again = backend.fire_schedules().fired  # their earlier jobs are still pending
    assert again and all(job_id.startswith("allower@") for job_id in again)
    (skipper,) = backend.schedules("skipper")
    assert skipper.settled_to > skipper.last_slot + 1  # type: ignore[operator]


def test_run_now_enqueues_a_job_apart_from_the_slots(backend: Backend) -> None:
    schedule = add(backend, "nightly", every="1d")
    job_id = backend.schedule_run_now("nightly")
    assert job_id is not None and job_id.startswith("nightly@now-")
    job = backend.get(job_id)
    assert job is not None and job.env is not None
    assert job.env["QUEUECTL_SCHEDULE"] == "nightly"
    (found,) = backend.schedules("nightly")
    assert found.next_at == schedule.next_at and found.last_job is None
    assert found.now_job == job_id and found.now_state == "pending"
    assert backend.schedule_run_now("nope") is None


def test_a_paused_schedule_fires_nothing_and_its_resume_does_not_catch_up(
    backend: Backend,
) -> None:
    add(backend, "tick", every="1s", down=5)
    backend.schedule_pause("tick")
    assert backend.fire_schedules() == ([], None)
    resumed_at = backend.now()
    backend.schedule_resume("tick")
    (found,) = backend.schedules("tick")
    assert found.settled_to >= resumed_at and found.next_at == int(found.settled_to) + 1
    fired = backend.fire_schedules().fired
    assert all(job_id > slot_id("tick", resumed_at) for job_id in fired)


def _fire_for_a_while(location: str, name: str, start: Barrier, out: Queue[object]) -> None:
    """Child process: a worker's look at the schedules, again and again for 3 seconds."""
    try:
        backend = open_backend(location)
        start.wait(timeout=60)
        fired: list[str] = []
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            fired += backend.fire_schedules().fired
            time.sleep(0.001)
        backend.close()
        out.put((name, fired))
    except BaseException as exc:  # reported to the test
        out.put((name, repr(exc)))


def test_processes_firing_at_once_enqueue_each_slot_once(backend: Backend, location: str) -> None:
    """Four processes look at the schedules as fast as they can for three seconds: 60
    missed slots (--missed all) and every second's slot after them, each enqueued by one."""
    schedule = add(backend, "tick", every="1s", down=60, missed="all", overlap="allow")
    fired = in_processes(_fire_for_a_while, location, ["a", "b", "c", "d"])
    every = sorted(job_id for ids in fired.values() for job_id in ids)
    assert len(every) == len(set(every)), "a slot was enqueued twice"
    last = backend.schedules("tick")[0].last_slot
    assert last is not None
    expected = [slot_id("tick", slot) for slot in slots(1.0, schedule.settled_to, last)]
    assert every == expected  # none missed: the seconds follow each other
    assert len(every) >= 62
