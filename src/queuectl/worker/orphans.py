"""What dead workers of this host left behind: jobs a rescuer may take at once, and output.

A worker killed with SIGKILL (or crashed) ends nothing itself: its running attempts stay
``processing`` until rescued, and each slot's running job wrote into the slot's live log
file (``logs/.live-<host>:<pid>:<slot>.log``), which nobody moves to the attempt's own
file. Another worker of the same host can prove such a worker dead (its pid no longer
runs, or belongs to a process that started at another time) and see that the attempt's
processes have ended (none carries its QUEUECTL_JOB_ID and QUEUECTL_ATTEMPT); then its
attempts need not wait out a lease, and their output can be attached to them.
"""

from __future__ import annotations

import os

from queuectl.identity import hostname, is_alive
from queuectl.logfiles import adopt_output, live_path, remove_if_empty
from queuectl.worker.executor import environ_of

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from queuectl.backends.base import Backend

LIVE_PREFIX, LIVE_SUFFIX = ".live-", ".log"  # logs.live_path


class ThisHost:
    """backends.base.LocalHost: what a worker can prove about workers of its own host."""

    __slots__ = ("host", "logs_dir", "pid", "tail_bytes")

    def __init__(
        self, logs_dir: str, tail_bytes: int, host: str | None = None, pid: int | None = None
    ) -> None:
        self.logs_dir = logs_dir
        self.tail_bytes = tail_bytes
        self.host = hostname() if host is None else host
        self.pid = os.getpid() if pid is None else pid

    def dead(self, worker: str, pid_start: str | None) -> bool:
        """True if ``worker`` (``host:pid:slot``) was a process of this host that no longer
        runs: its pid is gone, or belongs to a process started at another time. Without
        the start time (its worker row is gone), a pid that runs proves nothing."""
        host, _, rest = worker.partition(":")  # a host name has no ":" (identity.hostname)
        pid, _, slot = rest.partition(":")
        if host != self.host or not pid.isdigit() or not slot or int(pid) == self.pid:
            return False
        return not is_alive(int(pid), pid_start)

    def gone(self, held: Sequence[tuple[str, int, str, str | None]]) -> set[str]:
        dead = [(job_id, run) for job_id, run, worker, start in held if self.dead(worker, start)]
        if not dead:
            return set()
        running = running_attempts()
        return {job_id for job_id, run in dead if (job_id, str(run)) not in running}

    def output(
        self, job_id: str, run: int, worker: str, pid_start: str | None
    ) -> tuple[str | None, str | None]:
        if not self.dead(worker, pid_start):
            return None, None  # a live worker's slot file holds its current job's output
        return adopt_output(self.logs_dir, worker, job_id, run, self.tail_bytes)


def running_attempts() -> set[tuple[str, str]]:
    """(job id, attempt) of every process of this host that carries both in its environment
    (a job, and whatever it started), among the processes this user may read."""
    found = set()
    for name in os.listdir("/proc"):
        environ = environ_of(int(name)) if name.isdigit() else None
        if environ is None or b"\0QUEUECTL_JOB_ID=" not in environ:
            continue
        job = attempt = None
        for entry in environ.split(b"\0"):
            if entry.startswith(b"QUEUECTL_JOB_ID="):
                job = entry[len(b"QUEUECTL_JOB_ID=") :].decode(errors="replace")
            elif entry.startswith(b"QUEUECTL_ATTEMPT="):
                attempt = entry[len(b"QUEUECTL_ATTEMPT=") :].decode(errors="replace")
        if job is not None and attempt is not None:
            found.add((job, attempt))
    return found


def adopt_orphans(
    backend: Backend, here: ThisHost, own: Sequence[str], stale_after: float | None = None
) -> int:
    """At a worker's start, before it runs a job: the live log files of dead workers of
    this host (and of this worker's own slot ids: a previous process with the same pid,
    as in a restarted container) are attached to their attempts or removed. → how many
    attempts got their output.

    An attempt still running is left to the rescue, which adopts its file when it ends
    it (rescue_expired with a ThisHost); one that a worker of another host ended, or
    that ended before this host knew, gets its output here. A file of an attempt this
    queue does not know (a queue sharing the logs folder, or its job purged) is kept
    unless it is empty, or (``stale_after``: a retention pass) unchanged for that many
    seconds: a queue that shares the folder has had its chance to adopt it by then."""
    try:
        names = os.listdir(here.logs_dir)
    except OSError:
        return 0
    starts: dict[str, str | None] | None = None
    adopted = 0
    for name in names:
        if not (name.startswith(LIVE_PREFIX) and name.endswith(LIVE_SUFFIX)):
            continue
        worker = name[len(LIVE_PREFIX) : -len(LIVE_SUFFIX)]
        mine = worker in own
        if not mine:
            if starts is None:
                starts = {w.id: w.pid_start for w in backend.workers()}
            if not here.dead(worker, starts.get(worker)):
                continue
        attempt = backend.latest_attempt(worker)
        if attempt is None or attempt.log_path is not None:
            left = live_path(here.logs_dir, worker)
            if stale_after is not None and not mine and _unchanged_for(left, stale_after):
                _unlink(left)
            else:
                remove_if_empty(left)
            continue
        if attempt.finished_at is None and not mine:
            continue  # the rescue ends it, and adopts its output then
        path, tail = adopt_output(
            here.logs_dir, worker, attempt.job_id, attempt.run, here.tail_bytes
        )
        if path is not None and attempt.finished_at is not None:
            adopted += backend.attach_log(attempt.job_id, attempt.run, worker, path, tail)
    return adopted


def _unchanged_for(path: str, seconds: float) -> bool:
    import time

    try:
        return time.time() - os.stat(path, follow_symlinks=False).st_mtime > seconds
    except OSError:
        return False


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
