"""The lease role: what a worker holds, and the rule that nothing runs on without it.

A heartbeat renews the leases of the runs the worker knows it runs (its slots' jobs and
the results it could not write yet), tells the fence how long those may run without the
next renewal, re-registers lost worker rows, revokes what the queue says is no longer
ours and rescues what other workers lost. The fence rule lives here: no job starts
without a live fence (``before_start``), and jobs whose leases cannot be renewed are
stopped before anyone else may re-run them (``stop_unfenced``, and the fence process
itself even if the worker is frozen). See DECISIONS.md, sections 2 and 6.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, NamedTuple

from queuectl.errors import QueuectlError
from queuectl.lifecycle import policy_of
from queuectl.worker.fence import ENV as FENCE_ENV
from queuectl.worker.fence import Fence
from queuectl.worker.messages import event, say
from queuectl.worker.orphans import ThisHost
from queuectl.worker.slot import StopReason

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from queuectl.lifecycle import Finished
    from queuectl.worker.port import QueuePort
    from queuectl.worker.slot import Slot

# Jobs are killed once this share of the lease has passed since the last renewal: the
# lease cannot have expired yet, so no rescuer can have started a second copy.
FENCE_SHARE = 0.75
# The worker itself stops jobs whose leases it cannot renew at this share of FENCE_SHARE,
# a little before its fence would.
UNFENCED_SHARE = 0.9
STALE_LEASES = 3  # worker rows silent for this many leases are deleted by a rescue pass


class Renewal(NamedTuple):
    """What a heartbeat tells the loop."""

    stop: bool = False  # `worker stop` asked this worker to stop
    rescued: Sequence[Finished] = ()  # jobs it rescued: something may be claimable now
    stop_now: bool = False  # `worker stop --now`: interrupt the running jobs too


class Identity(NamedTuple):
    """The worker process as its rows in the queue name it."""

    host: str
    pid: int
    pid_start: str | None  # the process's start time (identity.process_start)
    queues: list[str] | None


class Lease:
    """Renewals, the fence and the rescue, for the slots of one worker process.

    ``env`` is the jobs' base environment: the fence's token is written into it.
    ``clock`` is the worker's monotonic clock (a test's fake one); the fence keeps its
    deadline in the same clock."""

    def __init__(
        self,
        port: QueuePort,
        slots: Sequence[Slot],
        identity: Identity,
        env: dict[str, str],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.port = port
        self.slots = slots
        self.identity = identity
        self.env = env
        self.clock = clock
        self.fence: Fence | None = None
        self.next_heartbeat = 0.0  # instant (clock) of the next renewal
        self.renewed_at = clock()  # instant (clock) of the last renewal that went through
        self.lost = False  # the queue's location names another queue now: write nothing

    # --- pacing -----------------------------------------------------------------
    def interval(self) -> float:
        """Seconds to the next heartbeat: ``heartbeat``, never more than half the lease
        (``config set`` refuses more; this holds whatever the stored settings say), so
        the next renewal comes before the fence's 0.75 x lease can run out."""
        settings = self.port.settings
        return min(settings.heartbeat, settings.lease / 2)

    def schedule(self, now: float) -> None:
        """The next heartbeat, at the pace of the settings as last read."""
        self.next_heartbeat = now + self.interval()

    # --- the heartbeat ----------------------------------------------------------
    def renew(self, now: float, unrecorded: Sequence[Finished], stopping: bool) -> Renewal:
        """One heartbeat (``now``: when it began): reload the settings, renew the leases
        of the running jobs and of the ``unrecorded`` results (a result waiting to be
        written must not be re-run meanwhile), feed the fence, stop revoked jobs,
        rescue. A queue error ends it early; the jobs are stopped if the last renewal
        is too old (``stop_unfenced``)."""
        stop = False
        try:
            settings = self.port.reload_settings()
            # The next renewal at the new pace: the fence is told 0.75 x the new lease
            # below, which must not run out before it.
            self.schedule(now)
            ids = [slot.worker_id for slot in self.slots]
            running = [(s.job.id, s.job.runs, s.worker_id) for s in self.slots if s.job]
            running += [(r.job.id, r.job.runs, r.worker or "") for r in unrecorded]
            beat = self.port.heartbeat(ids, running, settings.lease)
            self.renewed_at = now
            left = settings.lease * FENCE_SHARE - (self.clock() - now)
            if self.fence is not None and not self.fence.renewed(left):
                self.replace_fence()
            if not beat.registered:
                self.register()
            if beat.stop_requested and not beat.stop_now and not stopping:
                message = "stop requested: finishing running jobs, claiming no more"
                event("stopping", message, worker=self.name, requested=True, now=False)
            stop = beat.stop_requested
            for slot in self.slots:
                if slot.job is None:
                    continue
                if (slot.job.id, slot.job.runs) not in beat.held and (
                    slot.stop_reason is not StopReason.REVOKED
                ):
                    say(f"job {slot.job.id} was cancelled or taken over: stopping it")
                    slot.stop(StopReason.REVOKED, now, settings.kill_grace)
            policy = policy_of(settings)
            rescued = self.port.rescue_expired(policy, settings.lease * STALE_LEASES, self.here())
            for job_id in rescued:
                event("rescued", f"rescued job {job_id}: its worker was lost", job=job_id)
            return Renewal(stop, rescued.ended, beat.stop_now)
        except QueuectlError as exc:
            say(f"heartbeat failed: {exc}")
            self.stop_unfenced(now)
            return Renewal(stop)

    def register(self) -> None:
        """Write the worker's rows (one per slot): at start, and when a heartbeat finds
        some gone (deleted as stale while the worker was cut off)."""
        me = self.identity
        ids = [slot.worker_id for slot in self.slots]
        self.port.register_workers(ids, me.host, me.pid, me.pid_start, me.queues)

    def unregister(self) -> None:
        """Remove the worker's rows as it exits; not in a queue that is no longer there."""
        if not self.lost:
            self.port.unregister_workers([slot.worker_id for slot in self.slots])

    @property
    def name(self) -> str:
        """The worker process as its messages name it: ``host:pid``."""
        return f"{self.identity.host}:{self.identity.pid}"

    def here(self) -> ThisHost:
        """What this worker can prove about dead workers of its host (for the rescue)."""
        me = self.identity
        return ThisHost(self.port.logs_dir, self.port.settings.log_tail_bytes, me.host, me.pid)

    def location_lost(self, now: float) -> bool:
        """Whether the queue's location names another queue than the one opened (SQLite:
        the file was removed or replaced). Then nothing more is written to the old one:
        stop claiming, stop the running jobs (their results can be recorded nowhere, and
        a restored queue may run them again already) and exit 1, so that a supervisor
        starts a worker on whatever the location names now."""
        if self.lost:
            return True
        why = self.port.location_lost()
        if why is None:
            return False
        self.lost = True
        running = [slot for slot in self.slots if slot.job is not None]
        say(
            f"{why}: stopping its {len(running)} running job(s) and exiting, writing nothing "
            "more to it (start a worker again to serve what is there now)"
        )
        for slot in running:
            slot.stop(StopReason.REVOKED, now, self.port.settings.kill_grace)
        return True

    # --- the fence --------------------------------------------------------------
    @property
    def token(self) -> str | None:
        """The token every job must carry (None: running without a fence)."""
        return None if self.fence is None else self.fence.token

    def start_fence(self) -> None:
        try:
            self.fence = Fence(self.port.settings.lease * FENCE_SHARE, clock=self.clock)
            self.env[FENCE_ENV] = self.fence.token
        except OSError as exc:
            self.fence = None
            say(f"running without a fence ({exc}): jobs may outlive a killed worker")

    def before_start(self) -> None:
        """The fence rule, right before a job is spawned: no job starts without a live
        fence. One whose time ran out has fired or is firing; it is replaced first, so
        the new job carries a token nobody is killing yet."""
        if self.fence is not None and not self.fence.live():
            self.replace_fence()

    def replace_fence(self) -> None:
        """The fence's time ran out (or its process is gone). Closing it kills what carries
        its token, as its firing does: the running jobs, which count as fenced."""
        assert self.fence is not None
        why = (
            "the fence's time ran out (leases went unrenewed too long)"
            if self.fence.alive()
            else "the fence process is gone"
        )
        jobs = [slot.job.id for slot in self.slots if slot.job is not None]
        message = f"{why}: stopping its jobs, starting a new fence"
        event("fenced", message, worker=self.name, jobs=jobs)
        self.fence.close()
        for slot in self.slots:  # also if the fence was killed before it could fire
            if slot.job is not None:
                slot.kill(StopReason.FENCED)
        self.start_fence()

    def close_fence(self) -> None:
        """As the worker exits: the fence sees end of file, kills leftovers and exits."""
        if self.fence is not None:
            self.fence.close()

    def fenced(self, now: float) -> bool:
        """Whether the fence's share of the lease has passed since the last renewal: an
        attempt that ends now may have been killed by the fence, not by its own fault."""
        return now - self.renewed_at >= self.port.settings.lease * FENCE_SHARE

    def stop_unfenced(self, now: float) -> None:
        """Cannot renew leases: stop our jobs before the leases expire and others re-run
        them (the fence process does it too, at FENCE_SHARE, even if we are frozen)."""
        settings = self.port.settings
        if now - self.renewed_at < settings.lease * FENCE_SHARE * UNFENCED_SHARE:
            return
        for slot in self.slots:
            if slot.job is not None and not slot.forfeit:
                event(
                    "fenced",
                    f"job {slot.job.id}: lease cannot be renewed; stopping it",
                    worker=slot.worker_id,
                    job=slot.job.id,
                    attempt=slot.job.runs,
                )
                slot.stop(StopReason.FENCED, now, settings.kill_grace)
