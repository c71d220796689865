"""The loop of one ``worker start`` process: wake, turn, sleep; N slots, no busy waiting.

Everything happens in one select() loop: a self-pipe for signals (SIGCHLD, SIGTERM,
SIGINT, SIGUSR1, SIGUSR2), the queue's wake-up source (inotify on the SQLite file, LISTEN on
PostgreSQL) and timers for heartbeats, job timeouts and the next scheduled job. One
process runs all N jobs, which keeps memory low and needs no locking between threads.

Each pass: reap what ended, enforce deadlines, heartbeat when due (``Lease``), fire the
schedules' due slots (at each heartbeat, at a timer, and at the next slot), then a turn:
the results of ended attempts and the claims for free slots in one exchange with the
queue (``Results`` keeps what could not be written), a retention pass when one is due
(``Housekeeping``), then sleep until something happens. The hooks of recorded results
(``Hooks``) are spawned, reaped and timed out in the same passes, never awaited.
"""

from __future__ import annotations

import os
import selectors
import signal
import time

from queuectl.errors import QueuectlError
from queuectl.worker import executor
from queuectl.worker.messages import event, say
from queuectl.worker.slot import StopReason

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from queuectl.backends.base import Watcher
    from queuectl.lifecycle import Outcome
    from queuectl.models import Job
    from queuectl.worker.hooks import Hooks
    from queuectl.worker.housekeeping import Housekeeping
    from queuectl.worker.lease import Lease
    from queuectl.worker.output import OutputCopier
    from queuectl.worker.port import QueuePort
    from queuectl.worker.results import Results
    from queuectl.worker.slot import Slot

GRACEFUL = (signal.SIGTERM, signal.SIGINT)
STOP_REQUEST = signal.SIGUSR1  # `worker stop`: graceful, and idempotent (never escalates)
STOP_NOW = signal.SIGUSR2  # `worker stop --now`: interrupt the running jobs at once
LOG_CHECK = 0.5  # seconds between looks at running jobs' log sizes (max-log-bytes)
FIRST_PAUSE, LAST_PAUSE = 0.25, 5.0  # seconds the queue is left alone after an error
# A slot still due after this worker's firing is being fired by another (PostgreSQL: its
# row is locked): looked at again this much later, not at once.
REFIRE = 0.1


class Loop:
    """The select() loop over one worker's slots. ``env`` is the jobs' base environment
    (the lease writes the fence's token into it); ``clock`` the worker's monotonic clock
    (a test's fake one); ``housekeeping``: its retention passes, run after a turn when
    due (None: none); ``hooks``: what runs the hooks of recorded results (None: none);
    ``output``: what copies running jobs' output into the queue (None: none)."""

    def __init__(
        self,
        port: QueuePort,
        slots: Sequence[Slot],
        lease: Lease,
        results: Results,
        queues: list[str] | None,
        burst: bool,
        env: dict[str, str],
        clock: Callable[[], float] = time.monotonic,
        housekeeping: Housekeeping | None = None,
        hooks: Hooks | None = None,
        output: OutputCopier | None = None,
    ) -> None:
        self.port = port
        self.output = output
        self.housekeeping = housekeeping
        self.slots = slots
        self.lease = lease
        self.results = results
        self.queues = queues
        self.burst = burst
        self.env = env
        self.clock = clock
        self.hooks = hooks
        self.stopping = False
        self.stop_deadline: float | None = None  # a graceful stop's end (config stop-timeout)
        self.interrupted = False  # told to stop now: running jobs were interrupted
        self.claim_blocked = False  # the last claim found nothing: wait for a change
        self.resume_at = 0.0  # after a queue error, the queue is left alone until then
        self.error_pause = 0.0
        self.next_log_check = 0.0
        # The schedules (Jobs.fire_schedules): when their next slot falls due, by the
        # queue's clock (None: none known), and whether to look at them at the next pass.
        self.next_fire: float | None = None
        self.look_at_schedules = False
        self._devnull = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
        self._selector = selectors.DefaultSelector()
        self._signal_r, self._signal_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._watcher: Watcher | None = None
        self._watcher_fd = -1
        self._heeding = False  # the watcher's fd is in the selector
        self._listening = False

    # --- set-up and tear-down -------------------------------------------------
    def listen(self) -> None:
        """Take the signals (their numbers arrive on the self-pipe) and open the queue's
        wake-up source."""
        signal.set_wakeup_fd(self._signal_w, warn_on_full_buffer=False)
        for sig in (*GRACEFUL, STOP_REQUEST, STOP_NOW, signal.SIGCHLD):
            signal.signal(sig, _ignore)  # the byte on the wake-up pipe is what we act on
        self._listening = True
        self._selector.register(self._signal_r, selectors.EVENT_READ)
        self._watch()

    def close(self) -> None:
        """Release the loop's descriptors. Signals no longer reach the pipe; their handlers
        stay the ones that do nothing (an exiting worker ignores them, as it did before)."""
        if self._listening:
            signal.set_wakeup_fd(-1)
        if self._watcher is not None:
            self._watcher.close()
            self._watcher = None
        self._selector.close()
        for fd in (self._signal_r, self._signal_w, self._devnull):
            os.close(fd)

    # --- wake-ups from the queue ------------------------------------------------
    def _watch(self) -> None:
        """(Re)open the queue's wake-up source; without one, poll_interval is the pace."""
        if self._watcher is not None:
            return
        try:
            self._watcher = self.port.watcher()
        except QueuectlError as exc:
            say(f"no wake-ups from the queue for now ({exc}); polling")
            return
        if self._watcher is not None:
            self._watcher_fd = self._watcher.fileno()  # a lost connection cannot tell it later
            self._heed_watcher(not self._watcher.jobs_only)

    def _heed_watcher(self, heed: bool) -> None:
        """Put the watcher's fd into the selector, or take it out."""
        if heed != self._heeding:
            if heed:
                self._selector.register(self._watcher_fd, selectors.EVENT_READ)
            else:
                self._selector.unregister(self._watcher_fd)
            self._heeding = heed

    def _claims_wait(self) -> bool:
        """Whether a wake-up that tells of jobs could start one: a slot is free and the
        last claim found nothing (otherwise the next pass claims anyway, or nothing
        can start until a job ends, which its SIGCHLD tells)."""
        return (
            self.claim_blocked
            and not self.stopping
            and any(slot.job is None for slot in self.slots)
        )

    def _on_watcher(self) -> None:
        assert self._watcher is not None
        try:
            kinds = self._watcher.drain()
        except QueuectlError as exc:
            say(f"{exc}; polling until it is back")
            self._heed_watcher(False)
            self._watcher.close()
            self._watcher = None
            self.claim_blocked = False
            return
        if "jobs" in kinds:
            self.claim_blocked = False
        if "control" in kinds:
            self.lease.next_heartbeat = 0.0  # a stop or cancel request: look now

    # --- the loop -------------------------------------------------------------
    def run(self) -> None:
        """Until stopped with nothing left to write and no hook running (or, in burst mode,
        drained)."""
        while True:
            self._reap()
            now = self.clock()
            self._enforce_deadlines(now)
            if now >= self.next_log_check:
                self._limit_logs(now)
            if self.output is not None and now >= self.output.next_at:
                self.output.flush(self._running())
            if now >= self.lease.next_heartbeat:
                self.heartbeat()
            if self._schedules_due():
                self.fire()
            if self.clock() < self.resume_at:
                # after a queue error: keep watching running jobs, try the queue again later
                self._wait(min(self._timeout_local(), self.resume_at - self.clock()))
                continue
            try:
                self._turn()
                self._housekeeping()
                running = self._running()
                if (
                    not running
                    and not self.results.unrecorded
                    and not (self.hooks and self.hooks.running)
                    and (self.stopping or (self.burst and self._drained()))
                ):
                    return
                timeout = self._timeout()
                self.error_pause = 0.0
            except QueuectlError as exc:
                # The queue is unreachable or full for now. Wake-ups from it may keep firing
                # (our own failed writes touch its files), so wait out a growing pause.
                self.error_pause = min(max(self.error_pause * 2, FIRST_PAUSE), LAST_PAUSE)
                say(f"queue error: {exc}; retrying in {self.error_pause:g}s")
                self.resume_at = self.clock() + self.error_pause
                self.claim_blocked = False
                continue
            self._wait(timeout)

    def _housekeeping(self) -> None:
        """A retention pass when one is due: after the turn, so a job that ended has its
        result written and its slot a new job first; never while stopping."""
        keeping = self.housekeeping
        if keeping is not None and not self.stopping and self.clock() >= keeping.next_at:
            keeping.run()

    def _wait(self, timeout: float) -> None:
        """Sleep until a signal, a wake-up from the queue or ``timeout``. A watcher that
        tells only of jobs (SQLite's inotify) is heeded only while a claim waits for one:
        each of the worker's own commits fires it, and a busy worker would otherwise pass
        through the loop once more for every job it ends. Its events wait in the fd while
        it is not heeded, so none is lost: the first wait that heeds it wakes at once.

        epoll counts whole milliseconds, rounded up: a timer (a scheduled job's run_at)
        would fire up to 1 ms late, half a millisecond on average. The select waits the
        whole milliseconds, and a sleep the rest."""
        watcher = self._watcher
        if watcher is not None and watcher.jobs_only:
            self._heed_watcher(self._claims_wait())
        began = time.monotonic()
        events = self._selector.select(max(0.0, int(timeout * 1000) - 0.5) / 1000)
        if not events:
            left = timeout - (time.monotonic() - began)
            if left > 0:
                time.sleep(left)
                events = self._selector.select(0)
        if not events:
            # a timer fired: a scheduled job or a schedule's slot may be due (and this is
            # the polling safety net: a schedule added since is seen here)
            self.claim_blocked = False
            self.look_at_schedules = True
        for key, _ in events:
            if key.fd == self._signal_r:
                self._on_signals()
            elif key.fd == self._watcher_fd and self._watcher is not None:
                self._on_watcher()

    def _timeout_local(self) -> float:
        """Seconds until the next timer that needs no queue: heartbeat, a job's deadline."""
        now = self.clock()
        running = self._running()
        settings = self.port.settings
        wake = [self.lease.next_heartbeat, now + settings.poll_interval]
        wake += [at for at in (s.wake_at() for s in running) if at is not None]
        if self.housekeeping is not None and not self.stopping:
            wake.append(self.housekeeping.next_at)
        if self.hooks is not None and (hook_at := self.hooks.wake_at()) is not None:
            wake.append(hook_at)
        if self.stop_deadline is not None and running:
            wake.append(self.stop_deadline)
        if running and settings.max_log_bytes:
            wake.append(self.next_log_check)
        if running and self.output is not None:
            wake.append(self.output.next_at)
        if self.next_fire is not None and self._fires():
            wake.append(now + max(0.0, self.next_fire - self.port.now()))  # busy or idle
        return max(0.0, min(wake) - now)

    def _timeout(self) -> float:
        now = self.clock()
        wake = [now + self._timeout_local()]
        retry_at = self.results.wake_at()
        if retry_at is not None:
            wake.append(retry_at)  # see Results.write_apart
        if not self.stopping and any(s.job is None for s in self.slots):
            due = self.port.next_due(self.queues)
            if due is not None:
                wake.append(now + max(0.0, due - self.port.now()))
        return max(0.0, min(wake) - self.clock())

    def _running(self) -> list[Slot]:
        return [slot for slot in self.slots if slot.job is not None]

    def _drained(self) -> bool:
        """Nothing runnable, and no failed job waiting for its retry: a job scheduled for
        later does not hold a burst run."""
        return not self.port.work_left(self.queues)

    # --- the heartbeat --------------------------------------------------------
    def heartbeat(self) -> None:
        """Renew what we hold (Lease.renew), unless the queue's location is lost."""
        now = self.clock()
        self.lease.schedule(now)  # if the settings cannot be read
        if self.lease.location_lost(now):
            self.stopping = True
            return
        self._watch()
        renewal = self.lease.renew(now, self.results.unrecorded, self.stopping)
        if renewal.stop_now:
            self.interrupt()
        elif renewal.stop:
            self._begin_stop()
        if renewal.rescued:
            self.claim_blocked = False
            if self.hooks is not None:
                for ended in renewal.rescued:
                    self.hooks.fire(ended)
        self.look_at_schedules = True

    # --- schedules --------------------------------------------------------------
    def _fires(self) -> bool:
        """Whether this worker fires schedules: not in a burst run (it drains what is
        there; firing would keep it running), nor once stopping."""
        return not self.burst and not self.stopping and not self.lease.lost

    def _schedules_due(self) -> bool:
        if not self._fires():
            return False
        if self.look_at_schedules:
            return True
        return self.next_fire is not None and self.port.now() >= self.next_fire

    def fire(self) -> None:
        """Enqueue the schedules' due slots (Jobs.fire_schedules: a read while none is
        due) and note when the next one falls due. After an error, the next look is at the
        next heartbeat or timer."""
        self.look_at_schedules = False
        try:
            firing = self.port.fire_schedules()
        except QueuectlError as exc:
            say(f"could not fire schedules: {exc}")
            self.next_fire = None
            return
        self.next_fire = firing.next_at
        if self.next_fire is not None:
            self.next_fire = max(self.next_fire, self.port.now() + REFIRE)
        if firing.fired:
            self.claim_blocked = False
            message = f"fired {len(firing.fired)} scheduled job(s): {', '.join(firing.fired)}"
            event("fired", message, worker=self.lease.name, jobs=firing.fired)

    # --- claiming and starting jobs ---------------------------------------------
    def _turn(self) -> None:
        """Write what ended and claim for the free slots, in one transaction. Repeats
        while a claimed job could not even be spawned (its result is ready at once).
        A queue error leaves the results unrecorded; their leases stay renewed meanwhile
        (Lease.renew), so nobody re-runs a job whose result is only waiting to be
        written. Those results are retried apart (Results.write_apart): one the queue
        keeps refusing must hold back neither the claims nor the results after it."""
        results = self.results
        if self.lease.lost:
            results.drop()  # there is nowhere to record them (see Lease.location_lost)
            return
        while True:
            free = [] if self.stopping or self.claim_blocked else [
                slot for slot in self.slots if slot.job is None
            ]  # fmt: skip
            fresh = results.fresh()
            if not fresh and not free:
                break
            try:
                held, jobs = self.port.exchange(
                    fresh, [slot.worker_id for slot in free], self.queues, self.port.settings.lease
                )
            except QueuectlError:
                results.refused(fresh)
                raise
            results.written(fresh, held)
            if len(jobs) < len(free):
                self.claim_blocked = True
            slot_of = {slot.worker_id: slot for slot in free}
            for job in jobs:
                self._start(slot_of[job.worker or ""], job)
            if not results.any_fresh():
                break
        results.write_apart()

    def _start(self, slot: Slot, job: Job) -> None:
        self.lease.before_start()  # no job starts without a live fence
        message = f"{slot.worker_id} job {job.id} attempt {job.runs}: claimed"
        event("claimed", message, worker=slot.worker_id, job=job.id, attempt=job.runs)
        spawn_error = slot.start(job, self.env, self.lease.token, self.port.settings, self._devnull)
        if spawn_error is not None:
            self._finish(slot, spawn_error)

    # --- watching running jobs --------------------------------------------------
    def _reap(self) -> None:
        if self.hooks is not None:
            self.hooks.reap()
        if not executor.child_ended():
            return  # one look for every slot (and stranger) instead of one per slot
        known = self._children()
        for slot in self._running():
            status = slot.reap(known)
            if status is not None:
                if slot.stop_reason is None and self.lease.fenced(self.clock()):
                    # the fence killed it: not the job's fault
                    slot.stop_reason = StopReason.FENCED
                self._finish(slot, slot.outcome(status, slot.timeout(self.port.settings)))
        self._reap_strangers(known)

    def _children(self) -> set[int]:
        """The worker's own children: its jobs' leaders, its hooks and its fence."""
        known = {slot.pid for slot in self.slots if slot.pid}
        if self.hooks is not None:
            known.update(hook.pid for hook in self.hooks.running)
        fence = self.lease.fence
        if fence is not None:
            known.add(fence.pid)
        return known

    def _reap_strangers(self, known: set[int]) -> None:
        """Reap the orphans jobs left to the worker (their subreaper: no zombies), each
        counted for the running attempt whose session it was in (executor.reap_strangers);
        never one of its own children (``known``)."""
        for _pid, session, used in executor.reap_strangers(known):
            for slot in self.slots:
                if slot.pid and slot.pid == session:
                    slot.adopt(used)

    def _enforce_deadlines(self, now: float) -> None:
        """Jobs' timeouts and kills, hooks' timeouts, and the end of a graceful stop."""
        settings = self.port.settings
        for slot in self._running():
            slot.enforce(now, settings)
        if self.hooks is not None:
            self.hooks.enforce(now)
        if self.stop_deadline is not None and now >= self.stop_deadline:
            self._stop_timed_out()

    def _limit_logs(self, now: float) -> None:
        """Keep running jobs' output within max-log-bytes on disk (see LiveLog.limit)."""
        self.next_log_check = now + LOG_CHECK
        for slot in self._running():
            slot.log.limit(self.port.settings.max_log_bytes)

    def _finish(self, slot: Slot, outcome: Outcome) -> None:
        if self.output is not None:
            self.output.final(slot)  # before its result: a reader then finds it whole
        self.results.add(slot.finish(outcome, self.port.settings, self.port.now))
        self.claim_blocked = False

    # --- signals --------------------------------------------------------------
    def _on_signals(self) -> None:
        try:
            received = os.read(self._signal_r, 512)
        except BlockingIOError:
            return
        for sig in received:
            if sig == STOP_NOW:
                self.interrupt()
            elif sig in GRACEFUL or sig == STOP_REQUEST:
                self._on_stop(escalate=sig in GRACEFUL)

    def _begin_stop(self) -> None:
        """Stop claiming; running jobs may finish, for at most config stop-timeout."""
        if self.stopping:
            return
        self.stopping = True
        limit = self.port.settings.stop_timeout
        if limit is not None:
            self.stop_deadline = self.clock() + limit

    def _stop_timed_out(self) -> None:
        """A graceful stop outlasted stop-timeout: what still runs is interrupted."""
        self.stop_deadline = None
        if self._running() and not self.interrupted:
            limit = self.port.settings.stop_timeout or 0.0
            say(f"stop-timeout ({limit:g}s) is over: interrupting the jobs still running")
            self.interrupt()

    def _on_stop(self, escalate: bool) -> None:
        if not self.stopping:
            self._begin_stop()
            running = len(self._running())
            event(
                "stopping",
                f"stopping: waiting for {running} running job(s); signal again to interrupt them"
                if running
                else "stopping",
                worker=self.lease.name,
                running=running,
                now=False,
            )
            return
        if escalate:
            self.interrupt()

    def interrupt(self) -> None:
        """Stop now (a second signal, or `worker stop --now`): claim nothing more, and the
        running jobs go back to pending without using up an attempt (SIGTERM, SIGKILL
        after kill-grace); results the queue refuses are no longer waited for. Once."""
        if self.interrupted:
            return
        first, self.stopping, self.interrupted = not self.stopping, True, True
        self.stop_deadline = None
        self.results.stop_waiting()
        if self.hooks is not None:
            self.hooks.kill_all()
        now = self.clock()
        grace = self.port.settings.kill_grace
        running = self._running()
        for slot in running:
            if slot.stop_reason is None:
                slot.stop(StopReason.INTERRUPT, now, grace)
        if running or first:
            event(
                "stopping",
                "interrupting running jobs: they go back to pending" if running else "stopping",
                worker=self.lease.name,
                running=len(running),
                now=True,
            )


def _ignore(signum: int, frame: object) -> None:
    """Signals are read from the wake-up pipe; the Python-level handler does nothing."""
