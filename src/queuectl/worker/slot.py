"""A slot: one of a worker's N places to run a job, taking one attempt to its outcome.

A slot spawns the attempt (its environment, tag, live log and, for a job with limits,
its cgroup or rlimits: worker.confine), stops it when told to (SIGTERM now, SIGKILL
after the grace period), reaps it, measures what it used and names its outcome. Why the
worker stopped an attempt is a ``StopReason``; ``outcome_of`` is the one place reasons
and exit statuses become lifecycle outcomes.
"""

from __future__ import annotations

import enum
import os
import signal
import time

from queuectl.credentials import clean_environment
from queuectl.lifecycle import (
    Cancelled,
    Failed,
    Finished,
    Interrupted,
    Killed,
    Outcome,
    OutOfMemory,
    SpawnError,
    Succeeded,
    TimedOut,
    Usage,
    WorkerLost,
    decide,
    policy_of,
)
from queuectl.logfiles import LiveLog
from queuectl.worker import executor
from queuectl.worker.confine import Confinement
from queuectl.worker.fence import ENV as FENCE_ENV
from queuectl.worker.messages import say

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Collection
    from resource import struct_rusage

    from queuectl.config import Settings
    from queuectl.models import Job
    from queuectl.worker.confine import Group

KILLED_WAIT = 3600.0  # after a SIGKILL, which cannot be ignored: only the reap is awaited


class StopReason(enum.Enum):
    """Why the worker stopped an attempt (a slot whose attempt runs its course has none)."""

    TIMEOUT = "timeout"  # the job's timeout passed
    INTERRUPT = "interrupt"  # the worker was told to stop now (a second signal)
    REVOKED = "revoked"  # cancelled or taken over: nobody will accept its result
    FENCED = "fenced"  # its lease could not be renewed in time

    @property
    def forfeit(self) -> bool:
        """The attempt's result is no longer the job's to keep, whatever the command does:
        such a reason replaces any earlier one, and only such a reason replaces it."""
        return self is StopReason.REVOKED or self is StopReason.FENCED


def outcome_of(
    status: int, reason: StopReason | None, timeout: float, oom_limit: int | None = None
) -> Outcome:
    """What an attempt ended with, from its wait status and why (if) the worker stopped it;
    ``timeout`` is what a TIMEOUT reports; ``oom_limit``: the memory limit at which the
    kernel killed one of its processes (None: none was), which names an attempt that did
    not succeed."""
    if reason is StopReason.REVOKED:
        return Cancelled()
    if reason is StopReason.FENCED:
        return WorkerLost()
    if reason is StopReason.INTERRUPT:
        return Interrupted()
    if reason is StopReason.TIMEOUT:
        return TimedOut(timeout)
    code = os.waitstatus_to_exitcode(status)
    if code == 0:
        return Succeeded()
    if oom_limit is not None:
        return OutOfMemory(oom_limit)
    if code > 0:
        return Failed(code)
    return Killed(-code)


class Slot:
    """One of the N places a job can run in; each is a worker with its own id.

    ``clock`` is the worker's monotonic clock, for timeouts and the kill's grace (a
    test's fake one). ``spawned`` stays on ``time.monotonic``: the executor compares it
    with that clock to know whether the attempt is recent."""

    __slots__ = (
        "clock",
        "confinement",
        "deadline",
        "group",
        "job",
        "kill_at",
        "log",
        "oom",
        "orphans",
        "pid",
        "spawned",
        "stop_reason",
        "tag",
        "usage",
        "worker_id",
    )

    def __init__(
        self,
        worker_id: str,
        logs_dir: str,
        clock: Callable[[], float] = time.monotonic,
        confinement: Confinement | None = None,
    ) -> None:
        self.worker_id = worker_id
        self.log = LiveLog(logs_dir, worker_id)
        self.clock = clock
        self.confinement = Confinement(None) if confinement is None else confinement
        self.clear()

    def clear(self) -> None:
        self.job: Job | None = None
        self.pid = 0
        self.tag: tuple[bytes, ...] = ()  # what every process of the attempt carries
        self.spawned = 0.0  # time.monotonic() just before the spawn
        self.deadline: float | None = None  # instant (clock) of the job's timeout
        self.kill_at: float | None = None  # instant (clock) to escalate to SIGKILL
        self.stop_reason: StopReason | None = None
        self.group: Group | None = None  # the attempt's cgroup (a job with limits)
        self.usage: Usage | None = None  # what the ended attempt used
        self.orphans: Usage | None = None  # what its orphans reaped meanwhile used
        self.oom = False  # the kernel killed one of its processes at its memory limit

    @property
    def forfeit(self) -> bool:
        """Stopped for a reason that decides its outcome whatever the command does."""
        return self.stop_reason is not None and self.stop_reason.forfeit

    def timeout(self, settings: Settings) -> float:
        """The attempt's timeout in seconds (0: none): the job's own, else the queue's."""
        assert self.job is not None
        return self.job.timeout or settings.job_timeout or 0.0

    # --- one attempt, from spawn to outcome -----------------------------------------
    def start(
        self,
        job: Job,
        base_env: dict[str, str],
        token: str | None,
        settings: Settings,
        devnull: int,
    ) -> SpawnError | None:
        """Spawn ``job``'s attempt: ``base_env`` (left as it is; of a job enqueued with
        --clean-env, only credentials.clean_environment of it) with the job's own entries,
        the fence's ``token`` (which those cannot replace) and the attempt's tag; output
        into the slot's live log, or ``devnull`` if that cannot be opened. → the outcome
        of a spawn that failed (written into the log too), else None."""
        self.job = job
        try:
            log_fd = self.log.fileno()
        except OSError as exc:
            say(f"job {job.id}: cannot write its log ({exc.strerror}); output is discarded")
            log_fd = devnull
        env = clean_environment(base_env, (FENCE_ENV,)) if job.clean_env else base_env.copy()
        if job.env:
            env.update(job.env)
            if token is not None:  # the job's env must not replace the fence's token
                env[FENCE_ENV] = token
        env["QUEUECTL_JOB_ID"] = job.id
        env["QUEUECTL_ATTEMPT"] = str(job.runs)
        self.tag = executor.tag_of(env)
        try:
            prelude = self._confine(job)
            self.spawned = time.monotonic()
            self.pid = executor.spawn(executor.argv_of(job.command, job.cwd, prelude), env, log_fd)
        except executor.SpawnFailed as failure:
            self.confinement.done(self.group)
            self.group = None
            try:
                os.write(log_fd, (failure.outcome.message + "\n").encode())
            except OSError:
                pass
            return failure.outcome
        timeout = self.timeout(settings)
        self.deadline = self.clock() + timeout if timeout else None
        return None

    def _confine(self, job: Job) -> str:
        """The prelude that holds the attempt to its limits ("" for none); its cgroup, if
        one is made, in ``group``. A group that cannot be made fails the spawn: a job
        with limits never runs without them."""
        if not job.limits:
            return ""
        try:
            prelude, self.group = self.confinement.prepare(job.limits)
        except OSError as exc:
            why = f"cannot confine the job to its limits ({self.confinement.mode}): {exc}"
            raise executor.SpawnFailed(SpawnError(why, 126)) from None
        return prelude

    def reap(self, known: Collection[int] = ()) -> int | None:
        """The attempt's wait status once its process has ended (what it left behind is
        killed first: executor.reap, and what is left in its cgroup), else None. What it
        used is then in ``usage``: its cgroup's totals where it had one, else the
        kernel's accounting of the job, its waited-for descendants, its leftovers and the
        orphans reaped meanwhile. ``known``: the worker's other children."""
        ended = executor.reap(self.pid, self.tag, self.spawned, known)
        if ended is None:
            return None
        status, usage = ended
        if self.orphans is not None:
            usage = executor.add_usage(usage, self.orphans)
        group = self.group
        if group is not None:
            group.kill()
            measured, self.oom = group.usage()
            if measured is not None:
                peak = measured.max_rss_kb or usage.max_rss_kb
                usage = measured._replace(max_rss_kb=peak)
            self.confinement.done(group)
            self.group = None
        self.usage = usage
        return status

    def adopt(self, used: struct_rusage) -> None:
        """An orphan of this attempt was reaped: what it used counts for the attempt."""
        self.orphans = executor.add_usage(self.orphans or Usage(0.0, 0.0, None), used)

    def outcome(self, status: int, timeout: float) -> Outcome:
        limit = None
        if self.oom and self.job is not None and self.job.limits:
            limit = int(self.job.limits.get("mem", 0)) or None
        return outcome_of(status, self.stop_reason, timeout, limit)

    def finish(self, outcome: Outcome, settings: Settings, now: Callable[[], float]) -> Finished:
        """The ended attempt, decided and ready to be written; its output kept (moved to
        the attempt's own file). ``now``: the queue's clock, read after the output is
        moved. The slot is free again."""
        job = self.job
        assert job is not None
        log_path, tail = self.log.keep(
            job.id, job.runs, settings.log_tail_bytes, settings.max_log_bytes
        )
        policy = policy_of(settings)
        step = decide(job, outcome, policy, now())
        usage = self.usage
        self.clear()
        return Finished(job, self.worker_id, step, outcome.name, log_path, tail, usage)

    # --- stopping it ----------------------------------------------------------------
    def stop(self, reason: StopReason, now: float, grace: float) -> None:
        """SIGTERM to the attempt's processes now, SIGKILL ``grace`` seconds later (see
        ``enforce``). A forfeit reason replaces an earlier one; another only names a stop
        that had no reason yet."""
        if self.stop_reason is None or reason.forfeit:
            self.stop_reason = reason
        if self.kill_at is None:
            self.signal(signal.SIGTERM)
            self.kill_at = now + grace

    def enforce(self, now: float, settings: Settings) -> None:
        """Escalate a stop whose grace ran out; stop an attempt whose timeout passed."""
        if self.kill_at is not None and now >= self.kill_at:
            self.signal(signal.SIGKILL)
            self.kill_at = now + KILLED_WAIT
        elif self.kill_at is None and self.deadline is not None and now >= self.deadline:
            self.stop(StopReason.TIMEOUT, now, settings.kill_grace)

    def kill(self, reason: StopReason) -> None:
        """SIGKILL the attempt now, named ``reason`` unless its stop is forfeit already
        (its fence was closed under it: what carries the token dies anyway)."""
        if not self.forfeit:
            self.stop_reason = reason
        if self.pid:
            self.signal(signal.SIGKILL)

    def signal(self, sig: int) -> None:
        """``sig`` to every process of the attempt: its process group, and what left it
        (setsid, a daemon) found by the attempt's tag."""
        done = executor.signal_attempt(self.pid, self.tag, self.spawned, sig)
        if self.group is not None:
            self.group.signal(sig, besides=done, leader=self.pid)

    def wake_at(self) -> float | None:
        """The next instant (clock) ``enforce`` has something to do, if any."""
        return self.kill_at if self.kill_at is not None else self.deadline
