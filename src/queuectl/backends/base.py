"""What every storage engine implements, at the level of jobs: ``Backend``.

Two sides. ``Jobs``: every verb that changes jobs (enqueue, a worker's turns, rescues,
operator commands, settings, worker rows) and the reads of jobs themselves (``get``,
lists, attempts). ``Insights``: figures over the whole queue (counts, statistics,
timelines), read-only. A worker needs only ``Jobs``. Reads of jobs stay with ``Jobs``:
they return the records the verbs change, and must see them as they are now (``show``
right after ``cancel``), while a figure comes partly from rollups (backends.retention).

Not ``execute(sql)``: SQLite and PostgreSQL claim differently, so each engine owns
its SQL. Every write that ends an attempt is guarded by (job, worker, run).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from contextlib import AbstractContextManager
    from typing import Any

    from queuectl.backends.results import (
        Beat,
        Cancels,
        Changes,
        DurationBucket,
        Exchange,
        Firing,
        Imports,
        OutcomeCount,
        Page,
        Rescued,
        TimelineSlot,
    )
    from queuectl.jobspec import JobSpec
    from queuectl.lifecycle import Finished, Policy
    from queuectl.models import Attempt, Job, WorkerInfo
    from queuectl.queues import QueueInfo
    from queuectl.schedules import Schedule
    from queuectl.stats import FinishedAttempt, ResourceUse


class Watcher(Protocol):
    """A readable file descriptor that fires when the queue may have changed.
    ``jobs_only``: it tells of nothing but "jobs", so a worker with no claim to make
    may leave it unread (worker.loop, Loop._heed_watcher)."""

    jobs_only: bool

    def fileno(self) -> int: ...

    def drain(self) -> set[str]:
        """Consume what arrived: "jobs" (something may be claimable), "control" (stop or
        cancel requests: heartbeat now), "output" (an attempt's output was stored).
        Raises StorageError if the source broke."""

    def close(self) -> None: ...


class SharedOutput(Protocol):
    """PostgreSQL: running attempts' output stored in the queue in chunks, for readers on
    any host (backends/postgres.py; SQLite's readers read the log files)."""

    def write_output(
        self, job_id: str, run: int, pieces: Sequence[tuple[int, bytes]], bound: int
    ) -> None:
        """Store (offset, bytes) pieces of an attempt's output within ``bound`` bytes."""

    def output(self, job_id: str, run: int, after: int = 0) -> list[tuple[int, bytes]]:
        """(offset, bytes) chunks of an attempt's output that end after ``after``."""

    def output_watcher(self) -> Watcher:
        """Readable when some attempt's output was stored, on any host."""


class LocalHost(Protocol):
    """What a rescuer can tell of the host it runs on (worker/orphans.py: ThisHost)."""

    def gone(self, held: Sequence[tuple[str, int, str, str | None]]) -> set[str]:
        """Of these running attempts (job id, run, worker id, start time of the worker's
        process if known): the ids of the jobs whose worker is provably dead (a process
        of this host that no longer runs) and whose own processes have all ended."""

    def output(
        self, job_id: str, run: int, worker: str, pid_start: str | None
    ) -> tuple[str | None, str | None]:
        """(log path, stored tail) of what a dead worker of this host left of an attempt,
        moved to the attempt's own log file; (None, None) if there is nothing to take."""


class Jobs(Protocol):
    """Verbs that change jobs, and reads of the jobs themselves."""

    # --- settings ---------------------------------------------------------------
    def settings(self) -> dict[str, str]:
        """Stored settings (canonical key → canonical text); defaults are not filled."""

    def config_set(
        self, key: str, value: str, check: Callable[[dict[str, str]], None] | None = None
    ) -> None:
        """Store one setting. ``check`` is given every stored setting as they would be,
        read inside the writing transaction (config writers are serialized), and refuses
        the change by raising; then nothing is written."""

    def config_unset(self, key: str, check: Callable[[dict[str, str]], None] | None = None) -> bool:
        """Back to the default (``check`` as for config_set); False if it was not set."""

    def reload_settings(self) -> dict[str, str]:
        """Read the settings again (a long-running worker picks up `config set`)."""

    def now(self) -> float:
        """The clock leases and schedules are measured by (the database's, where shared)."""

    # --- enqueue / read jobs ----------------------------------------------------
    def enqueue(self, specs: Sequence[JobSpec], max_retries: int, now: float) -> list[str]:
        """Insert every job or none; a duplicate id raises InvalidInput."""

    def get(self, job_id: str) -> Job | None: ...

    def get_many(self, ids: Sequence[str]) -> list[Job]:
        """The jobs of ``ids`` that exist, in no particular order."""

    def list_jobs(
        self,
        states: Sequence[str] | None = None,
        queue: str | None = None,
        limit: int | None = None,
        *,
        tags: Sequence[str] | None = None,
        since: float | None = None,
        text: str | None = None,
        sort: str = "created",
        reverse: bool = False,
        offset: int = 0,
        later: float | None = None,
    ) -> list[Job]:
        """The jobs that pass every filter given, chosen and ordered by the engine's SQL:
        in one of ``states``, in ``queue``, carrying every one of ``tags``, created at or
        after ``since``, due after ``later``, with ``text`` in the id or the command (as
        stored: JSON text).
        Ordered by ``sort`` (``models.SORTS``: created = enqueue order, updated, priority = the
        claim's order, run_at; ties in enqueue order), or the reverse; then ``offset``
        jobs skipped and at most ``limit`` kept (None: all)."""

    def attempts(self, job_id: str) -> list[Attempt]: ...

    def dependencies(self, job_id: str) -> list[tuple[str, str, str | None]]:
        """(side, id, state) of every edge of the job: side "after" for the jobs it runs
        after (state None: since purged), "dependent" for the jobs that run after it."""

    def blocking(self, ids: Sequence[str]) -> dict[str, list[str]]:
        """For jobs of ``ids``: the dependencies whose ending is not yet applied to them."""

    # --- export / import --------------------------------------------------------
    def snapshot(self) -> AbstractContextManager[None]:
        """Reads made inside see one state of the queue, as of the first of them (an
        export is one consistent copy, however long it takes and whatever runs meanwhile).
        Nothing may be written inside."""

    def job_page(
        self,
        after: int,
        limit: int,
        states: Sequence[str] | None = None,
        queue: str | None = None,
    ) -> Page:
        """Up to ``limit`` jobs in enqueue order that come after position ``after`` (0: from
        the first), in one of ``states`` and in ``queue`` (None: any)."""

    def attempts_of_jobs(self, ids: Sequence[str]) -> dict[str, list[Attempt]]:
        """Every attempt of the jobs ``ids``, per job, oldest first (jobs without any are
        absent)."""

    def import_jobs(
        self,
        batches: Iterable[Sequence[tuple[Job, Sequence[Attempt]]]],
        outside: Sequence[str],
        skip_existing: bool,
    ) -> Imports:
        """Insert jobs as they are given (state, counters, times, attempts), all in one
        transaction or none. A job's ``after`` become its edges, those of ``blocked_by``
        still holding it; the endings of those that are final are applied (a dependency may
        have ended in this queue). ``outside``: dependencies that hold jobs of the batches
        and come from the queue, not from the batches (InvalidInput if one is missing). A
        job whose id is in the queue already is InvalidInput, or with ``skip_existing``
        left out (its attempts too). A job active with a unique key that an active job of
        the queue holds is Conflict."""

    # --- the worker's verbs -----------------------------------------------------
    def exchange(
        self,
        finished: Sequence[Finished],
        claimers: Sequence[str],
        queues: Sequence[str] | None,
        lease: float,
    ) -> Exchange:
        """One worker turn, one transaction: end attempts (guarded: ``held`` is True where
        this worker still held the run), then claim the best ready job for each claimer
        (in ``queues``; None: any; names written !NAME: any queue but those, never mixed
        with plain names, jobspec.check_queues) under a lease, its attempt opened. A
        failure anywhere applies none of it. A claimed job names its claimer in ``worker``
        (when jobs run short, any of the claimers may be the ones served)."""

    def heartbeat(
        self, workers: Sequence[str], running: Sequence[tuple[str, int, str]], lease: float
    ) -> Beat:
        """Renew the leases of the (job, run, worker) attempts the caller is running, and
        the worker rows' heartbeats."""

    def rescue_expired(
        self, policy: Policy, stale_after: float, host: LocalHost | None = None
    ) -> Rescued:
        """Fail attempts whose lease was lost ("worker lost"); drop worker rows silent
        too long; → the jobs rescued (results.Rescued: their ids, and each ending for the
        rescuer's hooks). A lease is lost when this rescuer has seen it unrenewed for the
        lease's length of its own monotonic time (lifecycle.LeaseWatch: one pass only
        watches), or, with ``host``, at once when ``host`` proves its holder dead and its
        processes ended. ``host`` also supplies the output a dead holder left, stored with
        the attempt."""

    def latest_attempt(self, worker: str) -> Attempt | None:
        """The attempt the worker slot ``worker`` started last (None: none stored)."""

    def attach_log(
        self, job_id: str, run: int, worker: str, log_path: str, log_tail: str | None
    ) -> bool:
        """Store the output of a finished attempt that has none; False if it has one."""

    def next_due(self, queues: Sequence[str] | None) -> float | None:
        """Earliest ``run_at`` of a pending or failed job in ``queues`` (as ``exchange``
        reads them; None: nothing waits)."""

    def work_left(self, queues: Sequence[str] | None) -> bool:
        """Whether a job (in ``queues``, or any) is ready to run now, or failed and waiting
        for its retry; a pending job scheduled for later is not work left."""

    def watcher(self) -> Watcher | None:
        """A wake-up source for idle workers, or None to rely on polling."""

    def location_lost(self) -> str | None:
        """Why the queue's location no longer names the queue this backend opened (a
        SQLite file removed, or replaced by another file), or None while it does."""

    # --- operator verbs ---------------------------------------------------------
    def retry_dead(self, ids: Sequence[str] | None) -> list[str]:
        """Dead → pending with attempts 0, all named or none; None = every dead job."""

    def purge(self, ids: Sequence[str] | None, state: str) -> list[str]:
        """Delete jobs in ``state`` as ``purge_batch`` does, all named or none (Conflict
        naming one that may not go yet); None = every one that may, a batch at a time."""

    # --- retention: the statistics stay ------------------------------------------------
    def roll_up(self, before: float, limit: int) -> int:
        """Sum up into the rollups up to ``limit`` finished attempts that ended since the
        last roll-up and before ``before`` (the oldest first) → how many; 0 when none is
        left, or another process wrote to the rollups meanwhile. Figures read them from
        the rollups from then on (Insights)."""

    def purgeable(
        self, states: Sequence[str], before: float, queue: str | None = None
    ) -> dict[str, int]:
        """Per state of ``states`` (final ones), the jobs ``purge_batch`` would delete."""

    def purge_batch(
        self, state: str, before: float, queue: str | None = None, limit: int = 200
    ) -> list[str]:
        """Delete, in one transaction, up to ``limit`` jobs in final ``state`` that ended
        before ``before`` (in ``queue``; None: any), the oldest first → their ids. Their
        attempts go too, summed up into the rollups first (the figures stay); their log
        files are noted for their host (``take_log_removals``). Never a job that a job
        still to run depends on, nor one whose attempt a live worker is still stopping."""

    def take_log_removals(self, host: str, limit: int) -> list[tuple[str, int]]:
        """Up to ``limit`` log files of purged attempts written on ``host``, as (job id,
        attempt), no longer listed: the caller removes them."""

    def cancel(self, ids: Sequence[str]) -> Cancels:
        """Pending, failed or processing → cancelled, in one transaction; every other job
        named (missing, or already final) is left as it is and reported."""

    def rerun(self, ids: Sequence[str], with_dependents: bool = False) -> Changes:
        """Each job in a final state (models.RERUNNABLE) → pending, due now, attempts 0;
        ``runs`` and the attempts stay, so the next attempt is numbered on. A cancelled job
        whose attempt a live worker is still stopping is refused until it has ended.
        ``with_dependents``: the jobs its ending cancelled, transitively, blocked again."""

    def edit(self, job_id: str, changes: Mapping[str, Any]) -> Job:
        """Change a job that has not started (models.EDITABLE): the keys of
        jobspec.CHANGEABLE, None = unchanged (``delay``: from now, by this clock). Raises
        NotFound, or Conflict when the job is in another state (a claim that came first
        wins). Idle workers are woken."""

    def run_now(self, ids: Sequence[str]) -> Changes:
        """Each waiting job (models.WAITING) becomes due now, by this clock (one already
        due keeps its ``run_at``, and so its place). Idle workers are woken."""

    # --- schedules --------------------------------------------------------------
    def schedule_add(self, schedule: Schedule) -> None:
        """Store a new schedule (schedules.make); a name taken already is a Conflict."""

    def schedules(self, name: str | None = None) -> list[Schedule]:
        """Every schedule, or the one named (none: []), with its latest jobs' states."""

    def schedule_remove(self, name: str) -> bool:
        """Delete a schedule (its jobs stay); False where there is none."""

    def schedule_pause(self, name: str) -> bool:
        """No slot of it fires from now until it is resumed; False where there is none."""

    def schedule_resume(self, name: str) -> bool:
        """Slots fire again from now on; the slots of the pause are not fired (not missed:
        unwanted). False where there is none."""

    def schedule_run_now(self, name: str) -> str | None:
        """Enqueue the schedule's job now (id ``NAME@now-<instant>``), its slots untouched;
        the job's id, or None where there is no such schedule."""

    def fire_schedules(self) -> Firing:
        """A live worker's look at the schedules: enqueue every due slot as job
        ``NAME@<slot>`` (a slot whose job exists already is left: that is what makes it
        fire once across workers and hosts), by ``--missed`` and ``--overlap``; and when
        the next slot falls due. Nothing is written while none is due."""

    # --- workers ----------------------------------------------------------------
    def queue_rows(self) -> list[QueueInfo]:
        """Every queue with a row: paused or limited (a queue without one is neither)."""
        ...

    def ready_ahead(self, job_id: str, queues: Sequence[str], most: int) -> int:
        """``explain``: the ready jobs of the open queues of ``queues`` that a claim takes
        before job ``job_id`` (the claim's own filter and order), counted up to ``most + 1``
        (the work is bounded by it, however many there are)."""
        ...

    def queue_change(
        self, names: Sequence[str] | None, change: Callable[[QueueInfo, float], QueueInfo]
    ) -> list[str]:
        """Apply ``change(row, now)`` to each named queue (None: every queue known), in
        one transaction no claim runs beside; wake idle workers."""
        ...

    def register_workers(
        self,
        ids: Sequence[str],
        host: str,
        pid: int,
        pid_start: str | None,
        queues: Sequence[str] | None,
    ) -> None: ...

    def unregister_workers(self, ids: Sequence[str]) -> None: ...

    def workers(self) -> list[WorkerInfo]: ...

    def request_stop(self, now: bool = False, ids: Sequence[str] | None = None) -> int:
        """Ask every registered worker to stop (``now``: interrupting its running jobs,
        which go back to pending), or only the rows ``ids``; returns how many rows were
        flagged."""


class Insights(Protocol):
    """Figures over the whole queue (status, stats, the dashboard, /metrics). Read-only,
    and never a job record: numbers and typed rows."""

    def counts(self) -> dict[str, int]:
        """Jobs per state, every state named."""

    def counts_by_queue(self) -> dict[str, dict[str, int]]:
        """Jobs per state for each queue that has jobs, every state named."""

    def finished_attempts(self, since: float | None) -> list[FinishedAttempt]:
        """Every attempt that finished at or after ``since`` (None: all time), with the
        queue of its job, in no particular order: one by one, or for attempts already
        rolled up, a row per queue, outcome and duration class (FinishedAttempt.attempts);
        with ``since``, the rolled-up minutes that overlap the window count whole."""

    def attempt_timeline(self, start: float, bucket: float) -> list[TimelineSlot]:
        """Attempts that finished at or after ``start``, per slot = floor((finished_at -
        start) / bucket) (a rolled-up minute: by its start); slots with no attempt are
        absent."""

    def oldest_ready(self) -> float | None:
        """The earliest ``run_at`` of a pending or failed job that is due now (None: none)."""

    def attempt_resources(self, since: float | None, limit: int) -> list[ResourceUse]:
        """What the newest ``limit`` attempts that finished at or after ``since`` (None:
        any) used, with their job's queue; attempts without a measure left out. Over the
        attempts still kept (not rolled up: a purge forgets them)."""

    def oldest_ready_by_queue(self) -> dict[str, float]:
        """``oldest_ready`` of each queue that has a job due now."""

    def attempt_outcomes(self) -> list[OutcomeCount]:
        """Attempts and the seconds they took per (queue, outcome), over every finished
        attempt, purged ones included (from the rollups)."""

    def attempt_durations(self, bounds: Sequence[float]) -> list[DurationBucket]:
        """A histogram over every finished attempt, purged ones included: per queue and
        slot, where ``bounds[slot]`` (ascending) is the first bound at least their
        duration (a rolled-up attempt's: its duration class, so a bound of three
        significant digits counts exactly); None above every bound. Pairs with no
        attempt are absent."""


class Backend(Jobs, Insights, Protocol):
    """A queue's storage: both sides, over one connection."""

    def close(self) -> None: ...
