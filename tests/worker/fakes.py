"""A queue and a clock for the worker's roles, in memory: what a unit test drives."""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from queuectl.backends.base import LocalHost, Watcher
from queuectl.backends.results import Beat, Exchange, Firing, Rescued
from queuectl.config import Settings
from queuectl.errors import StorageError
from queuectl.lifecycle import Finished, Policy, Succeeded, WorkerLost, decide
from queuectl.models import Job, JobState
from queuectl.worker.orphans import ThisHost
from queuectl.worker.slot import Slot

T = TypeVar("T")
WALL = 1_700_000_000.0  # the queue's clock (FakePort.now): fixed unless a test moves it


class Clock:
    """A monotonic clock that moves only when a test says so."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_job(
    job_id: str, command: str | list[str] = "true", *, runs: int = 1, **fields: Any
) -> Job:
    """A job as a claim returns it: processing, in its run ``runs``."""
    job = Job(
        id=job_id,
        command=command,
        state=JobState.PROCESSING,
        attempts=runs - 1,
        max_retries=3,
        priority=0,
        queue="default",
        run_at=WALL,
        timeout=None,
        cwd=None,
        env=None,
        created_at=WALL,
        updated_at=WALL,
        started_at=WALL,
        finished_at=None,
        exit_code=None,
        last_error=None,
        worker=None,
        runs=runs,
        lease_until=None,
    )
    return dataclasses.replace(job, **fields)


def ended(job_id: str, worker: str = "w:1:1", runs: int = 1) -> Finished:
    """A result ready to be written: the job's attempt succeeded."""
    job = make_job(job_id, runs=runs, worker=worker)
    step = decide(job, Succeeded(), Policy(), WALL)
    return Finished(job, worker, step, "succeeded")


def lost(job_id: str, worker: str = "other:9:1", runs: int = 1, **fields: Any) -> Finished:
    """A rescue of another worker's attempt, as a rescue pass returns it."""
    job = make_job(job_id, runs=runs, worker=worker, **fields)
    return Finished(job, worker, decide(job, WorkerLost(), Policy(), WALL), WorkerLost.name)


class FakePort:
    """A QueuePort in memory that records each call the worker makes, by name.

    What the queue answers is set by the test: ``ready`` (jobs the next claims take, in
    order), ``refuse`` (job ids whose results make an exchange fail), ``down`` (every
    call fails), ``revoked`` (runs a heartbeat no longer holds), ``stop``, ``stop_now``,
    ``present``, ``rescuable`` (the rescues the next pass returns, ``lost``), ``due``,
    ``retrying`` (failed jobs wait for their retry: work is left besides ``ready``),
    ``lost``, ``slots`` (the schedules' next slots, by the queue's clock: a firing
    enqueues those that are due, as jobs named ``s@<slot>``); for retention, ``unrolled``
    (attempts a roll-up finds), ``ended`` (job ids per final state that a purge takes)
    and ``removals`` (log files of purged attempts, by host)."""

    live_output = False  # like SQLite: output stays in the log files

    def __init__(self, logs_dir: str, **settings: object) -> None:
        self.logs_dir = logs_dir
        self.stored = {key: str(value) for key, value in settings.items()}
        self.settings = Settings(self.stored)
        self.wall = WALL
        self.calls: list[tuple[str, tuple[object, ...]]] = []
        self.ready: list[Job] = []
        self.refuse: set[str] = set()
        self.down = False
        self.revoked: set[tuple[str, int]] = set()
        self.stop = False
        self.stop_now = False
        self.present = True
        self.rescuable: list[Finished] = []
        self.due: float | None = None
        self.retrying = False
        self.lost: str | None = None
        self.slots: list[float] = []
        self.written: list[Finished] = []
        self.unrolled = 0
        self.ended: dict[str, list[str]] = {}
        self.removals: dict[str, list[tuple[str, int]]] = {}
        self.renewed: list[list[tuple[str, int, str]]] = []  # what each heartbeat renewed

    def named(self, name: str) -> list[tuple[object, ...]]:
        """The arguments of every call of ``name``, in order."""
        return [args for called, args in self.calls if called == name]

    def _call(self, name: str, *args: object) -> None:
        self.calls.append((name, args))
        if self.down:
            raise StorageError("database is locked (a test's fake outage)")

    def reload_settings(self) -> Settings:
        self._call("reload_settings")
        self.settings = Settings(self.stored)
        return self.settings

    def now(self) -> float:
        return self.wall

    def write_output(
        self, job_id: str, run: int, pieces: Sequence[tuple[int, bytes]], bound: int
    ) -> None:
        self._call("write_output", job_id, run, pieces, bound)

    def exchange(
        self,
        finished: Sequence[Finished],
        claimers: Sequence[str],
        queues: Sequence[str] | None,
        lease: float,
    ) -> Exchange:
        self._call("exchange", [r.job.id for r in finished], list(claimers), lease)
        if any(r.job.id in self.refuse for r in finished):
            raise StorageError("refused by the test")
        self.written += finished
        held = [(r.job.id, r.job.runs) not in self.revoked for r in finished]
        jobs = []
        for claimer in claimers:
            if not self.ready:
                break
            jobs.append(dataclasses.replace(self.ready.pop(0), worker=claimer))
        return Exchange(held, jobs)

    def heartbeat(
        self, workers: Sequence[str], running: Sequence[tuple[str, int, str]], lease: float
    ) -> Beat:
        self._call("heartbeat", list(running), lease)
        self.renewed.append(list(running))
        held = {(job_id, run) for job_id, run, _ in running} - self.revoked
        return Beat(held, self.stop or self.stop_now, self.present, self.stop_now)

    def rescue_expired(
        self, policy: Policy, stale_after: float, host: LocalHost | None = None
    ) -> Rescued:
        self._call("rescue_expired", stale_after, host)
        rescued, self.rescuable = self.rescuable, []
        return Rescued(rescued)

    def register_workers(
        self,
        ids: Sequence[str],
        host: str,
        pid: int,
        pid_start: str | None,
        queues: Sequence[str] | None,
    ) -> None:
        self._call("register_workers", list(ids), queues)

    def unregister_workers(self, ids: Sequence[str]) -> None:
        self._call("unregister_workers", list(ids))

    def next_due(self, queues: Sequence[str] | None) -> float | None:
        return self.due

    def fire_schedules(self) -> Firing:
        self._call("fire_schedules")
        due = [slot for slot in self.slots if slot <= self.wall]
        self.slots = [slot for slot in self.slots if slot > self.wall]
        self.ready += [make_job(f"s@{slot:g}") for slot in due]
        return Firing([f"s@{slot:g}" for slot in due], min(self.slots, default=None))

    def work_left(self, queues: Sequence[str] | None) -> bool:
        return bool(self.ready) or self.retrying

    def watcher(self) -> Watcher | None:
        return None

    def location_lost(self) -> str | None:
        return self.lost

    def adopt_orphans(
        self, here: ThisHost, own: Sequence[str], stale_after: float | None = None
    ) -> int:
        self._call("adopt_orphans", list(own))
        return 0

    def roll_up(self, before: float, limit: int) -> int:
        self._call("roll_up", before, limit)
        taken = min(limit, self.unrolled)
        self.unrolled -= taken
        return taken

    def purge_batch(
        self, state: str, before: float, queue: str | None = None, limit: int = 200
    ) -> list[str]:
        self._call("purge_batch", state, before, limit)
        found = self.ended.get(state, [])
        gone, self.ended[state] = found[:limit], found[limit:]
        return gone

    def take_log_removals(self, host: str, limit: int) -> list[tuple[str, int]]:
        self._call("take_log_removals", host, limit)
        found = self.removals.get(host, [])
        taken, self.removals[host] = found[:limit], found[limit:]
        return taken


def poll(predicate: Callable[[], T | None], timeout: float = 5.0) -> T:
    """``predicate``'s first truthy value, asked every few milliseconds until ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {predicate}")
        time.sleep(0.002)


def wait_reaped(slot: Slot, timeout: float = 5.0) -> int:
    """The wait status of the slot's attempt once it has ended (a status may be 0)."""

    def status() -> tuple[int] | None:
        found = slot.reap()
        return None if found is None else (found,)

    return poll(status, timeout)[0]


def end(slot: Slot) -> None:
    """Kill and reap the slot's attempt if it has not been reaped yet (a test's clean-up)."""
    if slot.job is None or not slot.pid:
        return
    slot.signal(signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):  # a test reaped it already
        wait_reaped(slot)
