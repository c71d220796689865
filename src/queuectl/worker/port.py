"""What a worker asks of its queue, and nothing more: ``QueuePort``.

The worker's roles (loop, lease, results) talk to the queue only through this
interface, so each can be tested with a fake queue in-process; ``QueueAdapter`` is the
real one, over an ``api.Queue`` and its backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from queuectl.worker.orphans import adopt_orphans

if TYPE_CHECKING:
    from collections.abc import Sequence

    from queuectl.api import Queue
    from queuectl.backends.base import LocalHost, Watcher
    from queuectl.backends.results import Beat, Exchange, Firing, Rescued
    from queuectl.config import Settings
    from queuectl.lifecycle import Finished, Policy
    from queuectl.worker.orphans import ThisHost


class QueuePort(Protocol):
    """The queue as a worker sees it (see backends/base.Jobs for each verb's contract)."""

    @property
    def settings(self) -> Settings:
        """The settings as last read (at start, then at each ``reload_settings``)."""

    @property
    def logs_dir(self) -> str: ...

    @property
    def live_output(self) -> bool:
        """Whether running attempts' output is stored in the queue (PostgreSQL: readers
        on other hosts have no log files)."""

    def write_output(
        self, job_id: str, run: int, pieces: Sequence[tuple[int, bytes]], bound: int
    ) -> None:
        """Store (offset, bytes) pieces of a running attempt's output within ``bound``."""

    def reload_settings(self) -> Settings:
        """Read the settings again (``config set`` reaches running workers); → them."""

    def now(self) -> float:
        """The clock leases and schedules are measured by (the database's, where shared)."""

    def exchange(
        self,
        finished: Sequence[Finished],
        claimers: Sequence[str],
        queues: Sequence[str] | None,
        lease: float,
    ) -> Exchange:
        """Write ended attempts, then claim a job for each claimer: one transaction."""

    def heartbeat(
        self, workers: Sequence[str], running: Sequence[tuple[str, int, str]], lease: float
    ) -> Beat:
        """Renew the leases of the (job, run, worker) attempts the worker is running."""

    def rescue_expired(
        self, policy: Policy, stale_after: float, host: LocalHost | None = None
    ) -> Rescued:
        """End attempts whose lease was lost → their job ids (and each ending)."""

    def register_workers(
        self,
        ids: Sequence[str],
        host: str,
        pid: int,
        pid_start: str | None,
        queues: Sequence[str] | None,
    ) -> None: ...

    def unregister_workers(self, ids: Sequence[str]) -> None: ...

    def next_due(self, queues: Sequence[str] | None) -> float | None:
        """Earliest ``run_at`` of a job waiting in ``queues`` (None: nothing waits)."""

    def fire_schedules(self) -> Firing:
        """Enqueue the schedules' due slots; → the jobs enqueued and when the next slot is
        due (the queue's clock)."""

    def work_left(self, queues: Sequence[str] | None) -> bool:
        """Whether a job of ``queues`` is ready to run, or failed and waiting for its retry
        (what holds a burst run; a job scheduled for later does not)."""

    def watcher(self) -> Watcher | None:
        """A wake-up source for an idle worker, or None to rely on polling."""

    def location_lost(self) -> str | None:
        """Why the location no longer names the queue opened, or None while it does."""

    def adopt_orphans(
        self, here: ThisHost, own: Sequence[str], stale_after: float | None = None
    ) -> int:
        """Attach the output dead workers of this host left to their attempts (at start);
        ``stale_after``: also remove such files unchanged that long (orphans.adopt_orphans)."""

    def roll_up(self, before: float, limit: int) -> int:
        """Sum up finished attempts that ended before ``before`` into the rollups."""

    def purge_batch(
        self, state: str, before: float, queue: str | None = None, limit: int = 200
    ) -> list[str]:
        """Delete one batch of jobs in final ``state`` that ended before ``before``."""

    def take_log_removals(self, host: str, limit: int) -> list[tuple[str, int]]:
        """Log files of purged attempts written on ``host``, to remove."""


class QueueAdapter:
    """The QueuePort of an ``api.Queue``: its settings, its logs folder, its backend's verbs."""

    def __init__(self, queue: Queue) -> None:
        self._queue = queue
        self._backend = queue.backend
        self.settings: Settings = queue.settings
        self.logs_dir: str = queue.logs_dir
        self._output = queue.shared_output()
        self.live_output = self._output is not None

    def reload_settings(self) -> Settings:
        self.settings = self._queue.reload_settings()
        return self.settings

    def now(self) -> float:
        return self._backend.now()

    def write_output(
        self, job_id: str, run: int, pieces: Sequence[tuple[int, bytes]], bound: int
    ) -> None:
        assert self._output is not None
        self._output.write_output(job_id, run, pieces, bound)

    def exchange(
        self,
        finished: Sequence[Finished],
        claimers: Sequence[str],
        queues: Sequence[str] | None,
        lease: float,
    ) -> Exchange:
        return self._backend.exchange(finished, claimers, queues, lease)

    def heartbeat(
        self, workers: Sequence[str], running: Sequence[tuple[str, int, str]], lease: float
    ) -> Beat:
        return self._backend.heartbeat(workers, running, lease)

    def rescue_expired(
        self, policy: Policy, stale_after: float, host: LocalHost | None = None
    ) -> Rescued:
        return self._backend.rescue_expired(policy, stale_after, host)

    def register_workers(
        self,
        ids: Sequence[str],
        host: str,
        pid: int,
        pid_start: str | None,
        queues: Sequence[str] | None,
    ) -> None:
        self._backend.register_workers(ids, host, pid, pid_start, queues)

    def unregister_workers(self, ids: Sequence[str]) -> None:
        self._backend.unregister_workers(ids)

    def next_due(self, queues: Sequence[str] | None) -> float | None:
        return self._backend.next_due(queues)

    def fire_schedules(self) -> Firing:
        return self._backend.fire_schedules()

    def work_left(self, queues: Sequence[str] | None) -> bool:
        return self._backend.work_left(queues)

    def watcher(self) -> Watcher | None:
        return self._backend.watcher()

    def location_lost(self) -> str | None:
        return self._backend.location_lost()

    def adopt_orphans(
        self, here: ThisHost, own: Sequence[str], stale_after: float | None = None
    ) -> int:
        return adopt_orphans(self._backend, here, own, stale_after)

    def roll_up(self, before: float, limit: int) -> int:
        return self._backend.roll_up(before, limit)

    def purge_batch(
        self, state: str, before: float, queue: str | None = None, limit: int = 200
    ) -> list[str]:
        return self._backend.purge_batch(state, before, queue, limit)

    def take_log_removals(self, host: str, limit: int) -> list[tuple[str, int]]:
        return self._backend.take_log_removals(host, limit)
