"""Waiting for jobs to end, through every retry: ``queuectl wait`` and ``logs --follow``.

A job is final once it is completed, dead or cancelled (``models.FINAL``); until then it
may run again any number of times. The queue is read again when it may have changed:
on SQLite when its files are written (the inotify wake-up idle workers use,
``Queue.changes``), at most every ``MIN_GAP`` however busy it is, and every ``LAST_GAP``
in any case; on PostgreSQL, whose notifications say nothing of jobs that end, at a poll
pace that slows from ``FIRST_GAP`` to ``LAST_GAP`` while nothing changes.
"""

from __future__ import annotations

import select
import time
from typing import TYPE_CHECKING

from queuectl.errors import NotFound, TimedOut
from queuectl.models import FINAL, JobState

if TYPE_CHECKING:
    from collections.abc import Generator, Sequence
    from types import TracebackType

    from queuectl.api import Queue
    from queuectl.models import Job

FIRST_GAP, LAST_GAP = 0.1, 1.0  # seconds between reads of a queue that cannot say it changed
MIN_GAP = 0.05  # seconds between two reads, however often the queue's files are written


class Pace:
    """When to read the queue again, until ``timeout`` seconds (None: no limit) have
    passed since it was made; a context manager (it may hold a descriptor)."""

    def __init__(self, queue: Queue, timeout: float | None) -> None:
        self.timeout = timeout
        self.last = time.monotonic()
        self.deadline = None if timeout is None else self.last + timeout
        self.gap = FIRST_GAP
        self.watcher = queue.changes()

    def __enter__(self) -> Pace:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.watcher is not None:
            self.watcher.close()
            self.watcher = None

    def check(self) -> None:
        """TimedOut once the deadline has passed."""
        if self.deadline is not None and time.monotonic() >= self.deadline:
            assert self.timeout is not None
            raise TimedOut(f"timed out after {self.timeout:g}s")

    def changed(self) -> None:
        """Something was seen to change: the next polls come soon again."""
        self.gap = FIRST_GAP

    def wait(self) -> None:
        """Sleep until the queue may have changed; TimedOut at the deadline."""
        self.check()
        now = time.monotonic()
        until = now + (LAST_GAP if self.watcher is not None else self.gap)
        if self.deadline is not None:
            until = min(until, self.deadline)
        if self.watcher is None:
            time.sleep(until - now)
            self.gap = min(self.gap * 1.5, LAST_GAP)
        else:
            fd = self.watcher.fileno()
            if select.select([fd], [], [], max(0.0, until - now))[0]:
                self.watcher.drain()
                time.sleep(max(0.0, self.last + MIN_GAP - time.monotonic()))
        self.last = time.monotonic()
        self.check()

    def sleep(self, seconds: float) -> None:
        """A short pause of a reader that polls a file; TimedOut at the deadline."""
        self.check()
        if self.deadline is not None:
            seconds = max(0.0, min(seconds, self.deadline - time.monotonic()))
        time.sleep(seconds)
        self.check()


def ends(queue: Queue, ids: Sequence[str], pace: Pace) -> Generator[Job, None, None]:
    """Each job of ``ids`` once it is final, in the order they ended: those a read finds
    final together by the time each became final (``updated_at``; ties in the order
    named), so a reader that starts late, or reads seldom, prints the same order. A job
    that does not exist: NotFound, before any wait. ``pace`` decides when the queue is
    read again, and raises TimedOut at its deadline."""
    waiting = list(dict.fromkeys(ids))
    first = True
    while waiting:
        found = queue.get_many(waiting)
        for job_id in waiting:
            if job_id not in found:
                raise NotFound(f"no job {job_id!r}" + ("" if first else " (it was deleted)"))
        first = False
        done = [found[job_id] for job_id in waiting if found[job_id].state in FINAL]
        done.sort(key=lambda job: job.updated_at)  # stable: ties keep the order named
        if done:
            pace.changed()
            yield from done
            waiting = [job_id for job_id in waiting if found[job_id].state not in FINAL]
        if waiting:
            pace.wait()


def exit_code(jobs: Sequence[Job]) -> int:
    """0 when every job ended completed, 1 when any ended otherwise."""
    return 0 if all(job.state is JobState.COMPLETED for job in jobs) else 1
