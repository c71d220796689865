"""The claim loop of one ``worker start`` process: N slots, one loop, no busy waiting.

Everything happens in one select() loop: a self-pipe for signals (SIGCHLD, SIGTERM,
SIGINT, SIGUSR1), an inotify fd that fires on every commit to the queue, and
timers for heartbeats, job timeouts and the next scheduled job. One process runs
all N jobs, which keeps memory low and needs no locking between threads.
"""

from __future__ import annotations

import os
import selectors
import signal
import sys
import time

from queuectl import lifecycle
from queuectl.errors import QueuectlError
from queuectl.identity import hostname, process_start
from queuectl.logfiles import LiveLog
from queuectl.worker import executor
from queuectl.worker.fence import ENV as FENCE_ENV
from queuectl.worker.fence import Fence
from queuectl.worker.orphans import ThisHost, adopt_orphans

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from queuectl.api import Queue
    from queuectl.backends.base import Watcher
    from queuectl.config import Settings
    from queuectl.models import Job

GRACEFUL = (signal.SIGTERM, signal.SIGINT)
# Jobs are killed once this share of the lease has passed since the last renewal: the
# lease cannot have expired yet, so no rescuer can have started a second copy.
FENCE_SHARE = 0.75
STOP_REQUEST = signal.SIGUSR1  # `worker stop`: graceful, and idempotent (never escalates)
LOG_CHECK = 0.5  # seconds between looks at running jobs' log sizes (max-log-bytes)


class Slot:
    """One of the N places a job can run in; each is a worker with its own id."""

    __slots__ = (
        "deadline",
        "job",
        "kill_at",
        "log",
        "pid",
        "spawned",
        "stop_reason",
        "tag",
        "worker_id",
    )

    def __init__(self, worker_id: str, logs_dir: str) -> None:
        self.worker_id = worker_id
        self.log = LiveLog(logs_dir, worker_id)
        self.clear()

    def clear(self) -> None:
        self.job: Job | None = None
        self.pid = 0
        self.tag: tuple[bytes, ...] = ()  # what every process of the attempt carries
        self.spawned = 0.0  # monotonic instant just before the spawn
        self.deadline: float | None = None  # monotonic instant of the job's timeout
        self.kill_at: float | None = None  # monotonic instant to escalate to SIGKILL
        # why we are stopping it: timeout, interrupt (worker stopping now), revoked
        # (cancelled or rescued: nobody will accept its result) or fenced (lease not renewable)
        self.stop_reason: str | None = None


class Runner:
    def __init__(self, queue: Queue, count: int, queues: Sequence[str] | None, burst: bool):
        self.queue = queue
        self.backend = queue.backend
        self.queues = list(queues) if queues else None
        self.burst = burst
        self.host = hostname()
        self.pid = os.getpid()
        self.slots = [
            Slot(f"{self.host}:{self.pid}:{n}", queue.logs_dir) for n in range(1, count + 1)
        ]
        self.settings: Settings = queue.settings
        self.stopping = False
        self.claim_blocked = False  # the last claim found nothing: wait for a change
        self.resume_at = 0.0  # after a queue error, the queue is left alone until then
        self.error_pause = 0.0
        # results that could not be written yet (queue unreachable): retried every turn
        self.unrecorded: list[lifecycle.Finished] = []
        # those whose write failed, (job, run) → when it first did: retried one by one,
        # apart from claims and new results, at a growing pace (see _write_apart)
        self.refused_since: dict[tuple[str, int], float] = {}
        self.results_pause = 0.0
        self.results_retry_at = 0.0
        self.give_up_results = False  # a second stop signal: do not wait for the queue
        self.status = 0  # the exit status: 1 once a result or the queue had to be given up
        self.lost = False  # the queue's location names another queue now: write nothing
        self.next_heartbeat = 0.0
        self.next_log_check = 0.0
        self.renewed_at = time.monotonic()
        self._fence: Fence | None = None
        from queuectl.credentials import job_environment

        self._env = job_environment(os.environ)  # the jobs' base, copied once: no queue secrets
        self._devnull = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
        self._selector = selectors.DefaultSelector()
        self._signal_r, self._signal_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._watcher: Watcher | None = None
        self._watcher_fd = -1

    # --- set-up and tear-down -------------------------------------------------
    def run(self) -> int:
        self._install_signals()
        self._selector.register(self._signal_r, selectors.EVENT_READ)
        self._watch()
        self._start_fence()
        ids = [slot.worker_id for slot in self.slots]
        self.backend.register_workers(
            ids, self.host, self.pid, process_start(self.pid), self.queues
        )
        _say(
            f"worker {self.host}:{self.pid} started: {len(ids)} slot(s), "
            f"queues: {', '.join(self.queues) if self.queues else 'all'}"
        )
        try:
            try:
                adopt_orphans(self.backend, self._here(), ids)  # output of dead workers
            except QueuectlError as exc:
                _say(f"could not attach the output of dead workers: {exc}")
            self._heartbeat()
            self._loop()
        finally:
            for slot in self.slots:
                slot.log.remove()
            if self._fence is not None:
                self._fence.close()
            try:
                if not self.lost:
                    self.backend.unregister_workers(ids)
            except QueuectlError as exc:
                _say(f"could not remove worker rows: {exc}")
            _say(f"worker {self.host}:{self.pid} stopped")
        return self.status

    def _install_signals(self) -> None:
        signal.set_wakeup_fd(self._signal_w, warn_on_full_buffer=False)
        for sig in (*GRACEFUL, STOP_REQUEST, signal.SIGCHLD):
            signal.signal(sig, _ignore)  # the byte on the wake-up pipe is what we act on

    # --- wake-ups from the queue ------------------------------------------------
    def _watch(self) -> None:
        """(Re)open the queue's wake-up source; without one, poll_interval is the pace."""
        if self._watcher is not None:
            return
        try:
            self._watcher = self.backend.watcher()
        except QueuectlError as exc:
            _say(f"no wake-ups from the queue for now ({exc}); polling")
            return
        if self._watcher is not None:
            self._watcher_fd = self._watcher.fileno()  # a lost connection cannot tell it later
            self._selector.register(self._watcher_fd, selectors.EVENT_READ)

    def _on_watcher(self) -> None:
        assert self._watcher is not None
        try:
            kinds = self._watcher.drain()
        except QueuectlError as exc:
            _say(f"{exc}; polling until it is back")
            self._selector.unregister(self._watcher_fd)
            self._watcher.close()
            self._watcher = None
            self.claim_blocked = False
            return
        if "jobs" in kinds:
            self.claim_blocked = False
        if "control" in kinds:
            self.next_heartbeat = 0.0  # a stop or cancel request: look now

    # --- the loop -------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            self._reap()
            now = time.monotonic()
            self._enforce_deadlines(now)
            if now >= self.next_log_check:
                self._limit_logs(now)
            if now >= self.next_heartbeat:
                self._heartbeat()
            if time.monotonic() < self.resume_at:
                # after a queue error: keep watching running jobs, try the queue again later
                self._wait(min(self._timeout_local(), self.resume_at - time.monotonic()))
                continue
            try:
                self._turn()
                running = self._running()
                if (
                    not running
                    and not self.unrecorded
                    and (self.stopping or (self.burst and self._drained()))
                ):
                    return
                timeout = self._timeout()
                self.error_pause = 0.0
            except QueuectlError as exc:
                # The queue is unreachable or full for now. Wake-ups from it may keep firing
                # (our own failed writes touch its files), so wait out a growing pause.
                self.error_pause = min(max(self.error_pause * 2, 0.25), 5.0)
                _say(f"queue error: {exc}; retrying in {self.error_pause:g}s")
                self.resume_at = time.monotonic() + self.error_pause
                self.claim_blocked = False
                continue
            self._wait(timeout)

    def _wait(self, timeout: float) -> None:
        events = self._selector.select(timeout)
        if not events:
            # a timer fired: a scheduled job may be due (and this is the polling safety net)
            self.claim_blocked = False
        for key, _ in events:
            if key.fd == self._signal_r:
                self._on_signals()
            elif key.fd == self._watcher_fd and self._watcher is not None:
                self._on_watcher()

    def _timeout_local(self) -> float:
        """Seconds until the next timer that needs no queue: heartbeat, a job's deadline."""
        now = time.monotonic()
        running = self._running()
        wake = [self.next_heartbeat, now + self.settings.poll_interval]
        wake += [s.deadline for s in running if s.deadline is not None and s.kill_at is None]
        wake += [s.kill_at for s in running if s.kill_at is not None]
        if running and self.settings.max_log_bytes:
            wake.append(self.next_log_check)
        return max(0.0, min(wake) - now)

    def _timeout(self) -> float:
        now = time.monotonic()
        wake = [now + self._timeout_local()]
        if self.refused_since:
            wake.append(self.results_retry_at)  # see _write_apart
        if not self.stopping and any(s.job is None for s in self.slots):
            due = self.backend.next_due(self.queues)
            if due is not None:
                wake.append(now + max(0.0, due - self.backend.now()))
        return max(0.0, min(wake) - time.monotonic())

    def _running(self) -> list[Slot]:
        return [slot for slot in self.slots if slot.job is not None]

    def _drained(self) -> bool:
        return self.backend.next_due(self.queues) is None

    # --- claiming and starting jobs ---------------------------------------------
    def _turn(self) -> None:
        """Write what ended and claim for the free slots, in one transaction. Repeats
        while a claimed job could not even be spawned (its result is ready at once).
        A queue error leaves the results in ``unrecorded``; their leases stay renewed
        meanwhile (see _heartbeat), so nobody re-runs a job whose result is only waiting
        to be written. Those results are retried apart (_write_apart): one the queue keeps
        refusing must hold back neither the claims nor the results that come after it."""
        if self.lost:
            self.unrecorded = []  # there is nowhere to record them (see _lost)
            self.refused_since.clear()
            return
        while True:
            free = [] if self.stopping or self.claim_blocked else [
                slot for slot in self.slots if slot.job is None
            ]  # fmt: skip
            fresh = [r for r in self.unrecorded if _key(r) not in self.refused_since]
            if not fresh and not free:
                break
            try:
                held, jobs = self.backend.exchange(
                    fresh, [slot.worker_id for slot in free], self.queues, self.settings.lease
                )
            except QueuectlError:
                now = time.monotonic()
                self.refused_since.update((_key(r), now) for r in fresh)
                raise
            for ended, ours in zip(fresh, held, strict=True):
                self._report(ended, ours)
            self.unrecorded = [r for r in self.unrecorded if _key(r) in self.refused_since]
            if len(jobs) < len(free):
                self.claim_blocked = True
            slot_of = {slot.worker_id: slot for slot in free}
            for job in jobs:
                self._start(slot_of[job.worker or ""], job)
            if len(self.unrecorded) == len(self.refused_since):
                break
        if self.refused_since:
            self._write_apart()

    def _write_apart(self) -> None:
        """Retry results whose write failed, each in a transaction of its own, at a
        growing pace; a round stops at a failure (that result then goes last, so one the
        queue refuses does not hold back the others). A result still refused a lease
        after its first failure, or at a second stop signal, is given up: no longer
        renewed, its job is rescued ("worker lost") once its lease runs out and runs
        again as its retries allow. A worker never waits for ever on a result."""
        now = time.monotonic()
        if now < self.results_retry_at:
            return
        for ended in [r for r in self.unrecorded if _key(r) in self.refused_since]:
            try:
                (ours,), _ = self.backend.exchange([ended], [], None, self.settings.lease)
            except QueuectlError as exc:
                if not self.give_up_results and (
                    now - self.refused_since[_key(ended)] < self.settings.lease
                ):
                    self.unrecorded.remove(ended)
                    self.unrecorded.append(ended)
                    self.results_pause = min(max(self.results_pause * 2, 0.25), 5.0)
                    self.results_retry_at = now + self.results_pause
                    _say(
                        f"{len(self.refused_since)} result(s) not written: {exc}; "
                        f"retrying in {self.results_pause:g}s"
                    )
                    return
                _say(
                    f"{ended.worker} job {ended.job.id} attempt {ended.job.runs}: "
                    f"{ended.outcome}, not recorded ({exc}); given up: the job is rescued "
                    "when its lease runs out"
                )
                self.status = 1
            else:
                self._report(ended, ours)
            self.unrecorded.remove(ended)
            del self.refused_since[_key(ended)]
        self.results_pause = self.results_retry_at = 0.0

    def _start(self, slot: Slot, job: Job) -> None:
        if self._fence is not None and not self._fence.live():
            # its time ran out: it fired or is firing. No job may carry its token.
            self._replace_fence()
        slot.job = job
        try:
            log_fd = slot.log.fileno()
        except OSError as exc:
            _say(f"job {job.id}: cannot write its log ({exc.strerror}); output is discarded")
            log_fd = self._devnull
        env = self._env.copy()
        if job.env:
            env.update(job.env)
            if self._fence is not None:  # the job's env must not replace the fence's token
                env[FENCE_ENV] = self._fence.token
        env["QUEUECTL_JOB_ID"] = job.id
        env["QUEUECTL_ATTEMPT"] = str(job.runs)
        slot.tag = executor.tag_of(env)
        slot.spawned = time.monotonic()
        try:
            slot.pid = executor.spawn(executor.argv_of(job.command, job.cwd), env, log_fd)
        except executor.SpawnFailed as failure:
            try:
                os.write(log_fd, (failure.outcome.message + "\n").encode())
            except OSError:
                pass
            self._finish(slot, failure.outcome)
            return
        timeout = self._timeout_of(slot)
        slot.deadline = time.monotonic() + timeout if timeout else None

    # --- watching running jobs --------------------------------------------------
    def _reap(self) -> None:
        for slot in self._running():
            status = executor.reap(slot.pid, slot.tag, slot.spawned)
            if status is not None:
                if slot.stop_reason is None and self._fenced(time.monotonic()):
                    slot.stop_reason = "fenced"  # the fence killed it: not the job's fault
                self._finish(
                    slot, executor.outcome_of(status, slot.stop_reason, self._timeout_of(slot))
                )

    def _enforce_deadlines(self, now: float) -> None:
        for slot in self._running():
            if slot.kill_at is not None and now >= slot.kill_at:
                self._signal(slot, signal.SIGKILL)
                slot.kill_at = now + 3600  # SIGKILL cannot be ignored; wait for the reap
            elif slot.kill_at is None and slot.deadline is not None and now >= slot.deadline:
                self._terminate(slot, now, "timeout")

    def _limit_logs(self, now: float) -> None:
        """Keep running jobs' output within max-log-bytes on disk (see LiveLog.limit)."""
        self.next_log_check = now + LOG_CHECK
        for slot in self._running():
            slot.log.limit(self.settings.max_log_bytes)

    def _timeout_of(self, slot: Slot) -> float:
        assert slot.job is not None
        return slot.job.timeout or self.settings.job_timeout or 0.0

    def _terminate(self, slot: Slot, now: float, reason: str) -> None:
        """SIGTERM to the job's processes now, SIGKILL after the grace period."""
        if slot.stop_reason is None or reason in ("revoked", "fenced"):
            slot.stop_reason = reason
        if slot.kill_at is None:
            self._signal(slot, signal.SIGTERM)
            slot.kill_at = now + self.settings.kill_grace

    def _signal(self, slot: Slot, sig: int) -> None:
        """``sig`` to every process of the slot's attempt: its process group, and what
        left it (setsid, a daemon) found by the attempt's tag."""
        executor.signal_attempt(slot.pid, slot.tag, slot.spawned, sig)

    def _finish(self, slot: Slot, outcome: lifecycle.Outcome) -> None:
        job = slot.job
        assert job is not None
        log_path, tail = slot.log.keep(
            job.id, job.runs, self.settings.log_tail_bytes, self.settings.max_log_bytes
        )
        policy = lifecycle.Policy(self.settings.backoff_base, self.settings.max_backoff)
        step = lifecycle.decide(job, outcome, policy, self.backend.now())
        self.unrecorded.append(
            lifecycle.Finished(job, slot.worker_id, step, outcome.name, log_path, tail)
        )
        slot.clear()
        self.claim_blocked = False

    def _report(self, ended: lifecycle.Finished, ours: bool) -> None:
        head = f"{ended.worker} job {ended.job.id} attempt {ended.job.runs}: "
        if not ours:
            _say(head + f"{ended.outcome}, not recorded: the job is no longer ours")
            return
        step = ended.transition
        note = step.state.value
        if step.state.value == "failed" and step.run_at is not None:
            note += f", retry in {step.run_at - self.backend.now():.1f}s"
        _say(head + note + (f" — {step.error}" if step.error else ""))

    # --- heartbeats, rescue, fencing ------------------------------------------
    def _heartbeat(self) -> None:
        now = time.monotonic()
        self.next_heartbeat = now + self._interval()  # if the settings cannot be read
        if self._lost(now):
            return
        self._watch()
        try:
            self.settings = self.queue.reload_settings()
            # The next renewal at the new pace: the fence is told 0.75 x the new lease
            # below, which must not run out before it.
            self.next_heartbeat = now + self._interval()
            ids = [slot.worker_id for slot in self.slots]
            running = [(s.job.id, s.job.runs, s.worker_id) for s in self.slots if s.job]
            running += [(r.job.id, r.job.runs, r.worker or "") for r in self.unrecorded]
            held, stop, present = self.backend.heartbeat(ids, running, self.settings.lease)
            self.renewed_at = now
            left = self.settings.lease * FENCE_SHARE - (time.monotonic() - now)
            if self._fence is not None and not self._fence.renewed(left):
                self._replace_fence()
            if not present:
                self.backend.register_workers(
                    ids, self.host, self.pid, process_start(self.pid), self.queues
                )
            if stop and not self.stopping:
                _say("stop requested: finishing running jobs, claiming no more")
                self.stopping = True
            for slot in self._running():
                assert slot.job is not None
                if (slot.job.id, slot.job.runs) not in held and slot.stop_reason != "revoked":
                    _say(f"job {slot.job.id} was cancelled or taken over: stopping it")
                    self._terminate(slot, now, "revoked")
            policy = lifecycle.Policy(self.settings.backoff_base, self.settings.max_backoff)
            for job_id in self.backend.rescue_expired(
                policy, self.settings.lease * 3, self._here()
            ):
                _say(f"rescued job {job_id}: its worker was lost")
                self.claim_blocked = False
        except QueuectlError as exc:
            _say(f"heartbeat failed: {exc}")
            self._stop_unfenced(now)

    def _lost(self, now: float) -> bool:
        """Whether the queue's location names another queue than the one opened (SQLite:
        the file was removed or replaced). Then nothing more is written to the old one:
        stop claiming, stop the running jobs (their results can be recorded nowhere, and
        a restored queue may run them again already) and exit 1, so that a supervisor
        starts a worker on whatever the location names now."""
        if self.lost:
            return True
        why = self.backend.location_lost()
        if why is None:
            return False
        self.lost = self.stopping = True
        self.status = 1
        running = self._running()
        _say(
            f"{why}: stopping its {len(running)} running job(s) and exiting, writing nothing "
            "more to it (start a worker again to serve what is there now)"
        )
        for slot in running:
            self._terminate(slot, now, "revoked")
        return True

    def _here(self) -> ThisHost:
        """What this worker can prove about dead workers of its host (for the rescue)."""
        return ThisHost(self.queue.logs_dir, self.settings.log_tail_bytes, self.host, self.pid)

    def _interval(self) -> float:
        """Seconds to the next heartbeat: ``heartbeat``, never more than half the lease
        (``config set`` refuses more; this holds whatever the stored settings say), so
        the next renewal comes before the fence's 0.75 x lease can run out."""
        return min(self.settings.heartbeat, self.settings.lease / 2)

    def _start_fence(self) -> None:
        try:
            self._fence = Fence(self.settings.lease * FENCE_SHARE)
            self._env[FENCE_ENV] = self._fence.token
        except OSError as exc:
            self._fence = None
            _say(f"running without a fence ({exc}): jobs may outlive a killed worker")

    def _replace_fence(self) -> None:
        """The fence's time ran out (or its process is gone). Closing it kills what carries
        its token, as its firing does: the running jobs, which count as fenced."""
        assert self._fence is not None
        why = (
            "the fence's time ran out (leases went unrenewed too long)"
            if self._fence.alive()
            else "the fence process is gone"
        )
        _say(f"{why}: stopping its jobs, starting a new fence")
        self._fence.close()
        for slot in self._running():  # also if the fence was killed before it could fire
            if slot.stop_reason not in ("revoked", "fenced"):
                slot.stop_reason = "fenced"
            if slot.pid:
                self._signal(slot, signal.SIGKILL)
        self._start_fence()

    def _fenced(self, now: float) -> bool:
        return now - self.renewed_at >= self.settings.lease * FENCE_SHARE

    def _stop_unfenced(self, now: float) -> None:
        """Cannot renew leases: stop our jobs before the leases expire and others re-run
        them (the fence process does it too, at FENCE_SHARE, even if we are frozen)."""
        if now - self.renewed_at < self.settings.lease * FENCE_SHARE * 0.9:
            return
        for slot in self._running():
            if slot.stop_reason not in ("revoked", "fenced"):
                _say(
                    f"job {slot.job.id if slot.job else '?'}: lease cannot be renewed; stopping it"
                )
                self._terminate(slot, now, "fenced")

    # --- signals --------------------------------------------------------------
    def _on_signals(self) -> None:
        try:
            received = os.read(self._signal_r, 512)
        except BlockingIOError:
            return
        for sig in received:
            if sig in GRACEFUL or sig == STOP_REQUEST:
                self._on_stop(escalate=sig in GRACEFUL)

    def _on_stop(self, escalate: bool) -> None:
        if not self.stopping:
            self.stopping = True
            running = len(self._running())
            _say(
                f"stopping: waiting for {running} running job(s); signal again to interrupt them"
                if running
                else "stopping"
            )
            return
        if escalate:
            self.give_up_results = True  # results the queue refuses: no more waiting
            self.results_retry_at = 0.0
            now = time.monotonic()
            for slot in self._running():
                if slot.stop_reason is None:
                    self._terminate(slot, now, "interrupt")
            if self._running():
                _say("interrupting running jobs: they go back to pending")


def _key(ended: lifecycle.Finished) -> tuple[str, int]:
    return ended.job.id, ended.job.runs


def _ignore(signum: int, frame: object) -> None:
    """Signals are read from the wake-up pipe; the Python-level handler does nothing."""


def _say(message: str) -> None:
    sys.stderr.write(f"{time.strftime('%H:%M:%S')} {message}\n")
    sys.stderr.flush()
