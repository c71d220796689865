"""``worker stop``: ask every worker of this queue to stop, from any terminal: gracefully,
or with ``--now`` interrupting their running jobs (back to pending, no attempt used up).

Two channels: a stop flag on every worker row (seen by every worker, on any host, at
its next heartbeat; on PostgreSQL a notification makes it look at once) and, for
workers on this host, a signal to the registered pid once its start time proves it is
the same process (so it acts at once): SIGUSR1 to stop gracefully, SIGUSR2 to stop now.
"""

from __future__ import annotations

import os
import sys
import time

from queuectl.identity import hostname, is_alive

TYPE_CHECKING = False
if TYPE_CHECKING:
    from queuectl.api import Queue
    from queuectl.models import WorkerInfo


def _live_workers(queue: Queue, host: str) -> list[WorkerInfo]:
    """Live workers; rows of this host's workers whose process is gone are deleted."""
    dead = [
        w.id for w in queue.backend.workers() if w.host == host and not is_alive(w.pid, w.pid_start)
    ]
    if dead:
        queue.backend.unregister_workers(dead)
    return queue.workers()


def _signal(pids: list[int], now: bool) -> None:
    """The signal channel: local worker processes act at once."""
    from queuectl.worker.loop import STOP_NOW, STOP_REQUEST

    for pid in pids:
        try:
            os.kill(pid, STOP_NOW if now else STOP_REQUEST)
        except ProcessLookupError:
            pass


def stop_worker(queue: Queue, worker_id: str) -> list[WorkerInfo]:
    """Ask the one worker process that runs slot ``worker_id`` to stop gracefully, by the
    same two channels as ``stop_workers`` (its rows' stop flag, and a signal when it runs
    on this host); returns the slots it serves. Raises NotFound when no live worker has
    that slot. Does not wait: the process stops when its running jobs end."""
    from queuectl.errors import NotFound

    host = hostname()
    workers = _live_workers(queue, host)
    chosen = next((w for w in workers if w.id == worker_id), None)
    if chosen is None:
        raise NotFound(f"no live worker {worker_id!r}")
    slots = [w for w in workers if (w.host, w.pid) == (chosen.host, chosen.pid)]
    queue.backend.request_stop(ids=[w.id for w in slots])
    if chosen.host == host:
        _signal([chosen.pid], now=False)
    return slots


def stop_workers(queue: Queue, timeout: float, now: bool = False) -> int:
    """``now``: the running jobs are interrupted (worker.loop.STOP_NOW) instead of awaited."""
    host = hostname()
    workers = _live_workers(queue, host)
    if not workers:
        sys.stderr.write("no workers running\n")
        return 0
    queue.backend.request_stop(now)
    _signal(sorted({w.pid for w in workers if w.host == host}), now)
    processes = len({(w.host, w.pid) for w in workers})
    how = "to stop now, interrupting their jobs" if now else "to stop"
    sys.stderr.write(f"asked {processes} worker process(es) {how}; waiting up to {timeout:g}s\n")
    deadline = time.monotonic() + timeout
    while True:
        remaining = _live_workers(queue, host)
        if not remaining:
            sys.stderr.write("all workers stopped\n")
            return 0
        if time.monotonic() >= deadline:
            busy = sum(1 for w in remaining if w.current_job)
            sys.stderr.write(
                f"{len(remaining)} worker(s) still running ({busy} finishing a job); "
                "they will stop when their jobs end\n"
            )
            return 1
        time.sleep(0.1)
