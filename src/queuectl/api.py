"""``Queue``: the one API that the CLI, the dashboard and Python users call.

It validates input (jobspec, config), applies policy and talks to a Backend. It
holds no SQL and no lifecycle rules of its own.
"""

from __future__ import annotations

import json

from queuectl import config as settings_mod
from queuectl.errors import InvalidInput, NotFound
from queuectl.jobspec import check_id, check_job, check_tags, decode_json, with_flags
from queuectl.location import COMMAND, Location, Role, locate

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
    from datetime import datetime
    from types import TracebackType
    from typing import Any

    from queuectl.backends.base import Backend, SharedOutput, Watcher
    from queuectl.backends.results import Cancels, Changes, Imports
    from queuectl.jobspec import JobSpec
    from queuectl.models import Attempt, Job, WorkerInfo
    from queuectl.queues import QueueInfo
    from queuectl.schedules import Schedule


EXPORT_PAGE = 500  # jobs read (export) or written (import) at a time


class Queue:
    """A job queue stored in SQLite (a path) or PostgreSQL (a ``postgresql://`` URL).

    Opening one touches nothing: the storage is opened (created and migrated if need be)
    at the first call that needs it, so input is checked once, before anything exists.
    ``role`` says who opens it (location.Role: a command, a worker, the dashboard)."""

    def __init__(self, db: str | Location | None = None, *, role: Role = COMMAND) -> None:
        self.where = db if isinstance(db, Location) else locate(db)
        self.role = role
        self._backend: Backend | None = None
        # the settings last read, typed (settings): one Settings per change, not per call
        self._typed: tuple[dict[str, str], settings_mod.Settings] | None = None

    @property
    def location(self) -> str:
        """The SQLite path or PostgreSQL URL (which may hold a password: never print it)."""
        return self.where.target

    @property
    def logs_dir(self) -> str:
        return self.where.logs_dir

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            self.open()
        assert self._backend is not None
        return self._backend

    def open(self) -> Queue:
        """Open the storage now (a long-running process fails at its start, not later).
        The folders it uses must be private to this user (files.check_private)."""
        if self._backend is None:
            from queuectl.backends import open_backend
            from queuectl.files import check_private
            from queuectl.location import queue_home

            if self.where.is_postgres:
                check_private(queue_home(), "folder")
            check_private(self.where.logs_dir, "logs folder")
            self._backend = open_backend(self.where, self.role)
        return self

    def __enter__(self) -> Queue:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None

    @property
    def settings(self) -> settings_mod.Settings:
        stored = self.backend.settings()
        if self._typed is None or self._typed[0] != stored:
            self._typed = (stored, settings_mod.Settings(stored))
        return self._typed[1]

    def reload_settings(self) -> settings_mod.Settings:
        """Read the settings again: a long-running worker picks up `config set`."""
        return settings_mod.Settings(self.backend.reload_settings())

    # --- enqueue ----------------------------------------------------------------
    def enqueue(
        self,
        command: str | Sequence[str],
        *,
        id: str | None = None,
        priority: int = 0,
        max_retries: int | None = None,
        timeout: float | str | None = None,
        run_at: str | datetime | None = None,
        delay: float | str | None = None,
        queue: str = "default",
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        tags: Sequence[str] | None = None,
        unique_key: str | None = None,
        unique_within: float | str | None = None,
        on_duplicate: str | None = None,
        no_retry_on: Sequence[int] | None = None,
        after: Sequence[str] | None = None,
        after_mode: str | None = None,
        limits: Mapping[str, int | float | str] | str | None = None,
        clean_env: bool = False,
    ) -> str:
        """Enqueue one job; returns its id. A string runs under /bin/sh -c, a list as argv.
        A job whose ``unique_key`` is held: Conflict, or with ``on_duplicate="skip"`` the id
        of the job that holds it. ``after``: jobs that must end first (``after_mode``
        success, the default, or done). ``clean_env``: the job gets only PATH, HOME, LANG
        and TZ of the worker's environment, and ``env``."""
        raw: dict[str, object] = {
            # a list or tuple is argv; anything else (a mapping, a set) is left for
            # check_command to refuse rather than turned into a list of its keys
            "command": list(command) if isinstance(command, list | tuple) else command,
            "id": id,
            "priority": priority,
            "max_retries": max_retries,
            "timeout": timeout,
            "run_at": run_at if run_at is None or isinstance(run_at, str) else run_at.isoformat(),
            "delay": delay,
            "queue": queue,
            "cwd": cwd,
            "env": dict(env) if env is not None else None,
            "tags": list(tags) if isinstance(tags, list | tuple) else tags,
            "unique_key": unique_key,
            "unique_within": unique_within,
            "on_duplicate": on_duplicate,
            "no_retry_on": list(no_retry_on) if isinstance(no_retry_on, tuple) else no_retry_on,
            "after": list(after) if isinstance(after, list | tuple) else after,
            "after_mode": after_mode,
            "limits": dict(limits)
            if limits is not None and not isinstance(limits, str)
            else limits,
            "clean_env": clean_env,
        }
        return self.enqueue_many([raw])[0]

    def enqueue_many(self, jobs: Iterable[object]) -> list[str]:
        """Validate every job first, then insert them all in one transaction, or none."""
        import time

        now = time.time()
        return self.enqueue_checked([check_job(raw, now) for raw in jobs])

    def enqueue_checked(self, specs: Sequence[JobSpec]) -> list[str]:
        """Insert jobs already checked (jobspec.check_job, read_jobs): all, or none. A
        delay counts from the queue's clock (the server's, on PostgreSQL)."""
        backend = self.backend
        return backend.enqueue(specs, self.settings.max_retries, backend.now())

    def enqueue_lines(self, lines: Iterable[str], source: str = "-") -> list[str]:
        """JSON Lines (blank lines skipped) → all jobs enqueued, or none with the line named."""
        return self.enqueue_checked(read_jobs(lines, source))

    # --- export / import ----------------------------------------------------------
    def export(
        self,
        state: str | Sequence[str] | None = None,
        queue: str | None = None,
        *,
        history: bool = False,
        env_values: bool = False,
    ) -> Generator[dict[str, Any], None, None]:
        """Every job (in ``state``, in ``queue``), in enqueue order, as a line of JSON Lines
        (jobfile.line_of): its spec, which enqueue takes; with ``history`` also its state,
        counters, times and attempts, which ``import_lines`` restores. ``env_values``: the
        environment's values, else only its names (they may be secrets). The queue is read
        a page at a time, all pages from one snapshot: a consistent copy, in bounded
        memory, while workers go on."""
        from queuectl.jobspec import check_queue

        states = _states(state)
        if queue is not None:
            check_queue(queue)
        return self._export(states, queue, history, env_values)

    def _export(
        self, states: list[str] | None, queue: str | None, history: bool, env_values: bool
    ) -> Generator[dict[str, Any], None, None]:
        from queuectl.jobfile import line_of

        backend = self.backend
        with backend.snapshot():
            after = 0
            while True:
                jobs, after = backend.job_page(after, EXPORT_PAGE, states, queue)
                if not jobs:
                    return
                if not history:
                    for job in jobs:
                        yield line_of(job, None, env_values)
                    continue
                tried = backend.attempts_of_jobs([job.id for job in jobs])
                for job in self.with_blockers(jobs):
                    yield line_of(job, tried.get(job.id, []), env_values)

    def import_lines(
        self, lines: Iterable[str], source: str = "-", on_duplicate: str = "error"
    ) -> Imports:
        """JSON Lines as ``export`` writes them, into this queue: all in one transaction,
        or nothing. A line with its history is restored as it was (state, counters, times,
        attempts, dependencies); a line without is a new job, as enqueue makes it. Every
        line is checked before the queue is opened (bad input creates nothing), so
        ``lines`` is read twice: a list, or an object whose iteration starts over (an
        iterator is read into a list first). ``on_duplicate``: a job whose id is in the
        queue fails the import (``error``) or is left as it is (``skip``)."""
        import time

        from queuectl.jobfile import check_lines

        if on_duplicate not in ("error", "skip"):
            raise InvalidInput(f"--on-duplicate must be error or skip, not {on_duplicate!r}")
        if iter(lines) is lines:
            lines = list(lines)
        outside = check_lines(lines, source, time.time())
        backend = self.backend
        return backend.import_jobs(
            self._imported(lines, source), outside, skip_existing=on_duplicate == "skip"
        )

    def _imported(
        self, lines: Iterable[str], source: str
    ) -> Iterator[list[tuple[Job, list[Attempt]]]]:
        """The checked lines as jobs, EXPORT_PAGE at a time: a line without history made a
        new job by the queue's clock and settings (jobfile.new_job)."""
        from queuectl.jobfile import new_job, read_lines

        now, max_retries = self.backend.now(), self.settings.max_retries
        batch: list[tuple[Job, list[Attempt]]] = []
        for line in read_lines(lines, source, now):
            job = line.job or new_job(line.spec, now, max_retries)
            batch.append((job, line.attempts))
            if len(batch) == EXPORT_PAGE:
                yield batch
                batch = []
        if batch:
            yield batch

    # --- read -------------------------------------------------------------------
    def get(self, job_id: str) -> Job:
        job = self.backend.get(check_id(job_id))
        if job is None:
            raise NotFound(f"no job {job_id!r}")
        return self.with_blockers([job])[0]

    def with_blockers(self, jobs: list[Job]) -> list[Job]:
        """``jobs`` with ``blocked_by`` read for those that are blocked (one read)."""
        blocked = [job.id for job in jobs if job.state == "blocked"]
        if not blocked:
            return jobs
        from dataclasses import replace

        held = self.backend.blocking(blocked)
        return [
            replace(job, blocked_by=tuple(held[job.id])) if job.id in held else job for job in jobs
        ]

    def dependencies(self, job_id: str) -> list[tuple[str, str, str | None]]:
        """The job's edges for ``show``: (side, id, state), side "after" or "dependent"."""
        return self.backend.dependencies(check_id(job_id))

    def ready_ahead(self, job_id: str, queues: Sequence[str], most: int) -> int:
        """The ready jobs of the open queues of ``queues`` that a claim takes before this
        one (``explain``: the claim's own filter and order), counted up to ``most + 1``."""
        return self.backend.ready_ahead(check_id(job_id), list(queues), most)

    def jobs(
        self,
        state: str | Sequence[str] | None = None,
        queue: str | None = None,
        limit: int | None = None,
        *,
        tags: Sequence[str] | None = None,
        since: float | None = None,
        text: str | None = None,
        sort: str | None = None,
        reverse: bool = False,
        offset: int = 0,
        later: float | None = None,
    ) -> list[Job]:
        """Jobs that pass every filter given: in ``state`` (one or several), in ``queue``,
        carrying every one of ``tags``, created at or after ``since`` (epoch seconds),
        due after ``later`` (epoch seconds, by the queue's clock), with ``text`` in the id
        or the command (of one argv word, for a list command).

        Without ``sort``, in enqueue order (newest first with ``reverse``), and ``limit``
        keeps the newest jobs. With ``sort`` (created, updated, priority: the order
        workers claim in, run_at), ``offset`` jobs of that order are skipped and ``limit``
        keeps the first of the rest (the dashboard's pages)."""
        from queuectl.models import SORTS

        states = _states(state)
        if limit is not None and limit < 1:
            raise InvalidInput(f"--limit must be at least 1, got {limit} (leave it out for all)")
        if sort is not None and sort not in SORTS:
            raise InvalidInput(f"unknown order {sort!r}; orders: {', '.join(SORTS)}")
        found = self.backend.list_jobs(
            states,
            queue,
            limit,
            tags=check_tags(list(tags)) if tags else None,
            since=since,
            text=_stored_text(text),
            sort=sort or "created",
            reverse=reverse if sort else True,  # the newest first, then in enqueue order
            offset=offset if sort else 0,
            later=later,
        )
        found = self.with_blockers(found)
        return found if sort or reverse else found[::-1]

    def find_jobs(
        self,
        state: str | None = None,
        queue: str | None = None,
        text: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Job]:
        """A page of jobs, newest first. ``text`` matches part of the id or of the command
        (of one argv word, for a list command)."""
        if not 1 <= limit <= 10_000 or offset < 0:
            raise InvalidInput("limit must be 1 to 10000 and offset 0 or more")
        return self.backend.list_jobs(
            _states(state), queue, limit, text=_stored_text(text), reverse=True, offset=offset
        )

    def get_many(self, ids: Sequence[str]) -> dict[str, Job]:
        """The jobs of ``ids`` that exist, by id: one read, however many ids."""
        return {job.id: job for job in self.backend.get_many(_ids(ids) or [])}

    def changes(self) -> Watcher | None:
        """A readable descriptor that fires whenever the queue may have changed, for a
        reader waiting on jobs (``wait``, ``logs --follow``); None where the engine has
        none: PostgreSQL's notifications tell of new jobs, not of jobs that end."""
        return None if self.where.is_postgres else self.backend.watcher()

    def shared_output(self) -> SharedOutput | None:
        """Running attempts' output as stored in the queue for readers on any host:
        PostgreSQL's chunks; None on SQLite, whose readers read the log files."""
        if not self.where.is_postgres:
            return None
        from typing import cast

        return cast("SharedOutput", self.backend)

    def output_here(self, attempt: Attempt) -> bool:
        """Whether ``attempt``'s log files are on this host (always, on SQLite): its
        worker's host name (worker ids are host:pid:slot) is this host's."""
        if not self.where.is_postgres:
            return True
        from queuectl.identity import hostname

        return attempt.worker.split(":", 1)[0] == hostname()

    def counts(self) -> dict[str, int]:
        return self.backend.counts()

    def counts_by_queue(self) -> dict[str, dict[str, int]]:
        return self.backend.counts_by_queue()

    def attempts(self, job_id: str) -> list[Attempt]:
        self.get(job_id)
        return self.backend.attempts(job_id)

    def attempts_of_jobs(self, ids: Sequence[str]) -> dict[str, list[Attempt]]:
        """The attempts of each job of ``ids`` that has any, oldest first: one read."""
        return self.backend.attempts_of_jobs(_ids(ids) or [])

    def workers(self) -> list[WorkerInfo]:
        """Live workers: a row whose heartbeat is older than the lease, or whose local
        process is gone, belongs to a dead worker and is left out (and cleaned up later)."""
        from queuectl.identity import hostname, is_alive

        host, oldest = hostname(), self.backend.now() - self.settings.lease
        return [
            w
            for w in self.backend.workers()
            if w.heartbeat_at >= oldest and (w.host != host or is_alive(w.pid, w.pid_start))
        ]

    def dlq(self) -> list[Job]:
        return self.backend.list_jobs(["dead"])

    # --- statistics (stats, status --watch, the dashboard, /metrics) ------------------
    def now(self) -> float:
        """The queue's clock in epoch seconds (PostgreSQL's, shared by every host)."""
        return self.backend.now()

    def stats(self, since: float | None = None) -> dict[str, Any]:
        """Figures of the attempts that finished at or after ``since`` (epoch seconds;
        None = all time), overall and per queue.

        ``{"since": iso|None, "until": iso, "total": S, "queues": {name: S, ...}}`` where
        S = ``finished``, ``succeeded``, ``failed`` (every other outcome), ``success_rate``
        (0..1, None without attempts), ``throughput_per_min`` (finished attempts per
        minute over ``until - since``, or from the start of the earliest of them when
        ``since`` is None; None without a window), ``duration_p50``, ``duration_p95``,
        ``duration_max`` (seconds, None without attempts), ``cpu_p50``, ``cpu_p95``
        (CPU seconds, user and system), ``max_rss_kb_p50``, ``max_rss_kb_p95`` (peak
        memory), over the newest measured attempts still kept (``resources``).

        Purged attempts count (from the rollups). Percentiles are read from duration
        classes (stats.duration_class: at most 1 % high, never above the exact maximum),
        so they are the same before and after a purge; ``since`` reaching past the last
        minutes counts the rolled-up minutes it overlaps whole.
        """
        from queuectl.stats import RESOURCE_SAMPLE, aggregate, resources, with_resources

        attempts = self.backend.finished_attempts(since)
        figures = aggregate(attempts, since, self.backend.now())
        uses = self.backend.attempt_resources(since, RESOURCE_SAMPLE)
        return with_resources(figures, resources(uses))

    def resources(self, since: float | None = None) -> dict[str, dict[str, float | None]]:
        """p50/p95 of CPU seconds and peak memory (KiB) per queue, and over every queue as
        ``"(all)"``, of the newest attempts (stats.RESOURCE_SAMPLE) that finished at or
        after ``since`` and were measured; not rolled up: purged attempts do not count."""
        from queuectl.stats import RESOURCE_SAMPLE, resources

        return resources(self.backend.attempt_resources(since, RESOURCE_SAMPLE))

    def timeline(self, since: float, bucket: float) -> list[dict[str, Any]]:
        """Finished attempts per bucket of ``bucket`` seconds from ``since`` to now, oldest
        first, empty buckets included: ``[{"t": start, "succeeded": n, "failed": n}, ...]``.

        ``t`` is the bucket's start in epoch seconds. Buckets are aligned on multiples of
        ``bucket`` since the epoch, so the first starts at or before ``since`` and holds
        every attempt of its whole bucket; the last is still filling.
        """
        from queuectl.stats import MAX_BUCKETS, bucket_count, bucket_start, fill_timeline

        if not bucket > 0 or bucket == float("inf"):
            raise InvalidInput(f"the bucket must be a positive number of seconds, got {bucket!r}")
        start = bucket_start(since, bucket)
        slots = self.backend.attempt_timeline(start, bucket)
        count = bucket_count(start, bucket, self.backend.now())
        if count > MAX_BUCKETS:
            raise InvalidInput(f"{count} buckets are too many (at most {MAX_BUCKETS})")
        return fill_timeline(slots, start, bucket, count)

    def oldest_pending_age(self) -> float | None:
        """Seconds the longest-waiting ready job has waited: the oldest pending or failed
        job whose ``run_at`` has passed, measured from that ``run_at`` (its enqueue time,
        its schedule, or the end of its backoff). None when no job is waiting to run.
        Jobs scheduled for later are not waiting yet."""
        oldest = self.backend.oldest_ready()
        return None if oldest is None else max(self.backend.now() - oldest, 0.0)

    def oldest_ready_age_by_queue(self) -> dict[str, float]:
        """``oldest_pending_age`` of each queue with a job waiting to run, in one read."""
        oldest, now = self.backend.oldest_ready_by_queue(), self.backend.now()
        return {name: max(now - t, 0.0) for name, t in oldest.items()}

    def outcome_counts(self) -> dict[str, dict[str, int]]:
        """Every finished attempt, purged ones included, counted per queue and outcome."""
        found: dict[str, dict[str, int]] = {}
        for queue, outcome, n, _seconds in self.backend.attempt_outcomes():
            found.setdefault(queue, {})[outcome] = n
        return found

    def duration_histogram(self, bounds: Sequence[float]) -> dict[str, dict[str, Any]]:
        """A cumulative histogram of attempt durations per queue over every finished
        attempt (purged ones included: exact for bounds of three significant digits),
        read in one statement: ``{queue: {"buckets": [(bound, attempts
        that took at most bound), ...] ascending, "count": n, "sum": seconds}}``."""
        import itertools

        ordered = sorted(float(b) for b in bounds)
        found: dict[str, tuple[list[int], list[float]]] = {}
        for queue, slot, n, seconds in self.backend.attempt_durations(ordered):
            counts, total = found.setdefault(queue, ([0] * (len(ordered) + 1), [0.0]))
            counts[len(ordered) if slot is None else slot] += n
            total[0] += float(seconds or 0.0)
        histogram: dict[str, dict[str, Any]] = {}
        for queue, (counts, total) in sorted(found.items()):
            cumulative = list(itertools.accumulate(counts))
            histogram[queue] = {
                "buckets": list(zip(ordered, cumulative, strict=False)),
                "count": cumulative[-1],
                "sum": total[0],
            }
        return histogram

    # --- operator verbs ---------------------------------------------------------
    def dlq_retry(self, ids: Sequence[str] | None) -> list[str]:
        """Dead jobs → pending with attempts 0; their attempt history stays."""
        return self.backend.retry_dead(_ids(ids))

    def dlq_purge(self, ids: Sequence[str] | None) -> list[str]:
        """Delete dead jobs, their attempts and their log files (the figures keep their
        attempts: see ``purge``)."""
        gone = self.backend.purge(_ids(ids), "dead")
        self.remove_purged_logs()
        return gone

    def purge_jobs(self, ids: Sequence[str]) -> list[str]:
        """Delete the ended jobs named (completed, cancelled or dead), with their attempts
        and log files, as ``dlq_purge`` does the dead ones: each state's jobs all or none,
        and nothing at all when one named is missing or has not ended."""
        from queuectl.config import RETENTION
        from queuectl.errors import Conflict

        named = _named(ids)
        found = self.get_many(named)
        by_state: dict[str, list[str]] = {}
        for job_id in named:
            if job_id not in found:
                raise NotFound(f"no job {job_id!r}; nothing was purged")
            state = found[job_id].state.value
            if state not in RETENTION:
                raise Conflict(f"cannot purge job {job_id!r}: it is {state}; nothing was purged")
            by_state.setdefault(state, []).append(job_id)
        gone = [
            job_id
            for state, group in by_state.items()
            for job_id in self.backend.purge(group, state)
        ]
        self.remove_purged_logs()
        return gone

    # --- retention: purge, and what the retention-* settings do -------------------------
    def purgeable(
        self, states: Sequence[str], before: float, queue: str | None = None
    ) -> dict[str, int]:
        """Per state of ``states`` (completed, cancelled, dead), how many jobs ``purge``
        would delete: those that ended before ``before`` (epoch seconds, by this queue's
        clock), in ``queue`` (None: any)."""
        return self.backend.purgeable(check_final(states), before, _queue_name(queue))

    def purge(
        self, states: Sequence[str], before: float, queue: str | None = None
    ) -> dict[str, int]:
        """Delete final jobs that ended before ``before``, with their attempts and log
        files, a bounded batch per transaction → how many per state. Statistics, the
        dashboard's history and /metrics keep counting their attempts (rolled up first).
        Never deleted: a job that a job still to run depends on, or one whose attempt a
        live worker is still stopping."""
        from queuectl.backends.retention import PURGE_BATCH

        done = {}
        for state in check_final(states):
            done[state] = 0
            while True:
                gone = self.backend.purge_batch(state, before, _queue_name(queue), PURGE_BATCH)
                done[state] += len(gone)
                self.remove_purged_logs()
                if len(gone) < PURGE_BATCH:
                    break
        return done

    def remove_purged_logs(self) -> int:
        """Remove the log files of purged attempts that this host wrote → how many. Those
        of other hosts (PostgreSQL) are removed by their own workers."""
        from queuectl.identity import hostname
        from queuectl.logfiles import remove_attempt_logs

        removed = 0
        while True:
            taken = self.backend.take_log_removals(hostname(), LOG_REMOVALS_BATCH)
            removed += remove_attempt_logs(self.logs_dir, taken)
            if len(taken) < LOG_REMOVALS_BATCH:
                return removed

    def cancel(self, ids: Sequence[str]) -> Cancels:
        """Stop jobs from running: pending ones never start; a running one's worker kills it.
        Jobs that are missing or already final are left as they are and reported."""
        return self.backend.cancel(_named(ids))

    def rerun(self, ids: Sequence[str], with_dependents: bool = False) -> Changes:
        """Completed, dead or cancelled jobs → pending, due now, with a fresh retry budget;
        their attempts stay and the next one is numbered on. Each job is changed or refused
        (``Changes.refused``: not found, or not final) on its own. ``with_dependents``:
        the jobs that their ending cancelled (enqueue --after), transitively, are blocked
        on them again."""
        return self.backend.rerun(_named(ids), with_dependents)

    def run_now(self, ids: Sequence[str]) -> Changes:
        """Waiting jobs (pending, or failed and waiting out a backoff) become due now, by
        the queue's clock; each is changed or refused on its own."""
        return self.backend.run_now(_named(ids))

    def edit(
        self,
        job_id: str,
        *,
        command: str | Sequence[str] | None = None,
        priority: int | None = None,
        queue: str | None = None,
        run_at: str | datetime | None = None,
        delay: float | str | None = None,
        max_retries: int | None = None,
        timeout: float | str | None = None,
        limits: Mapping[str, int | float | str] | str | None = None,
        clean_env: bool | None = None,
    ) -> Job:
        """Change a job that has not started (pending or failed); None leaves a field as it
        is (``limits="none"``: the job's own limits are removed). Checked by enqueue's
        rules (InvalidInput, nothing written); a job that runs or has ended is refused
        (Conflict), also when a worker claims it first."""
        import time

        from queuectl.jobspec import check_changes, check_exec_size

        raw: dict[str, object] = {
            "command": list(command) if isinstance(command, list | tuple) else command,
            "priority": priority,
            "queue": queue,
            "run_at": run_at if run_at is None or isinstance(run_at, str) else run_at.isoformat(),
            "delay": delay,
            "max_retries": max_retries,
            "timeout": timeout,
            "limits": dict(limits)
            if limits is not None and not isinstance(limits, str)
            else limits,
            "clean_env": clean_env,
        }
        changes = check_changes(raw, time.time())
        checked = changes["command"]
        if isinstance(checked, str | list):
            job = self.get(job_id)  # exec takes the command with the job's cwd and env
            check_exec_size(checked, job.cwd, job.env)
        return self.backend.edit(check_id(job_id), changes)

    # --- settings ---------------------------------------------------------------
    def config_get(self, key: str) -> str:
        name = settings_mod.canonical_key(key)
        return self.settings.raw()[name]

    def config_set(self, key: str, value: str) -> str:
        """Store a setting. The rules between settings are checked against what is stored
        when it is written (not what this process read earlier): two concurrent writers
        cannot leave a pair that either would have refused."""
        name, text = settings_mod.validate(key, value)
        self.backend.config_set(name, text, settings_mod.check_consistent)
        return text

    def config_unset(self, key: str) -> str:
        name = settings_mod.canonical_key(key)
        self.backend.config_unset(name, settings_mod.check_consistent)
        return self.settings.raw()[name]

    def config_list(self) -> dict[str, str]:
        return self.settings.raw()

    # --- queues as objects: queue list/pause/resume/set ---------------------------------
    def queues(self) -> list[QueueInfo]:
        """Every known queue (with jobs or a row), its pause, limits, counts per state and
        live workers serving it."""
        from dataclasses import replace

        from queuectl.queues import QueueInfo, serves

        rows = {q.name: q for q in self.queue_rows()}
        counts = self.counts_by_queue()
        workers = self.workers()
        found = []
        for name in sorted(set(rows) | set(counts)):
            serving = sum(1 for w in workers if serves(w.queues, name))
            found.append(
                replace(rows.get(name) or QueueInfo(name), counts=counts.get(name, {}),
                        workers=serving)
            )  # fmt: skip
        return found

    def queue_rows(self) -> list[QueueInfo]:
        """Only the queues that are paused or limited (a cheap read: /metrics, status)."""
        return self.backend.queue_rows()

    def flow(self) -> list[QueueInfo]:
        """The paused or limited queues, with their counts (``status``: used/limit); no
        further read when there are none."""
        from dataclasses import replace

        rows = self.queue_rows()
        if not rows:
            return []
        counts = self.counts_by_queue()
        return [replace(row, counts=counts.get(row.name, {})) for row in rows]

    def pause(
        self,
        names: Sequence[str] | None,
        duration: float | None = None,
        reason: str | None = None,
        by: str | None = None,
    ) -> list[str]:
        """Pause the named queues (None: every queue known); ``duration``: the pause ends
        by itself that long from now, by the claim's clock."""
        from queuectl.queues import pausing

        return self.backend.queue_change(_queue_names(names), pausing(duration, reason, by))

    def resume(self, names: Sequence[str] | None) -> list[str]:
        """Resume the named queues (None: every paused one); idle workers wake at once."""
        from queuectl.queues import resumed

        if names is None:
            names = [q.name for q in self.backend.queue_rows() if q.paused]
        return self.backend.queue_change(_queue_names(names), resumed)

    def set_queue(self, name: str, changes: Mapping[str, Any]) -> None:
        """Change a queue's limits (queues.limiting)."""
        from queuectl.queues import limiting

        self.backend.queue_change(_queue_names([name]), limiting(changes))

    # --- schedules: schedule add/list/show/remove/pause/resume/run-now/preview ----------
    def add_schedule(
        self,
        name: str,
        job: Mapping[str, object],
        *,
        cron: str | None = None,
        tz: str | None = None,
        every: float | str | None = None,
        missed: str | None = None,
        overlap: str | None = None,
    ) -> Schedule:
        """A recurring job: ``job`` (the enqueue fields of schedules.TEMPLATE_KEYS) due at
        every slot of ``cron`` (5 fields, in zone ``tz``, UTC by default) or ``every``
        (whole seconds, multiples of it since the epoch), from now on. Live workers enqueue
        each slot once, as job ``NAME@<slot>``. ``missed``: latest (default), skip or all;
        ``overlap``: skip (default) or allow. Checked before anything is opened."""
        import time

        from queuectl.schedules import make

        now = time.time()
        schedule = make(name, job, cron=cron, tz=tz, every=every, missed=missed, overlap=overlap,
                        now=now)  # fmt: skip
        backend = self.backend
        schedule = schedule.starting(backend.now())
        backend.schedule_add(schedule)
        return schedule

    def schedules(self) -> list[Schedule]:
        return self.backend.schedules()

    def schedule(self, name: str) -> Schedule:
        from queuectl.schedules import check_name

        found = self.backend.schedules(check_name(name))
        if not found:
            raise _no_schedule(name)
        return found[0]

    def remove_schedule(self, name: str) -> None:
        """Delete the schedule; the jobs it enqueued stay."""
        self._on_schedule(self.backend.schedule_remove, name)

    def pause_schedule(self, name: str) -> None:
        self._on_schedule(self.backend.schedule_pause, name)

    def resume_schedule(self, name: str) -> None:
        """Fire again from now on; slots that fell in the pause are not run."""
        self._on_schedule(self.backend.schedule_resume, name)

    def _on_schedule(self, verb: Callable[[str], bool], name: str) -> None:
        from queuectl.schedules import check_name

        if not verb(check_name(name)):
            raise _no_schedule(name)

    def run_schedule_now(self, name: str) -> str:
        """Enqueue the schedule's job now (``NAME@now-<instant>``); its slots stay as they
        are. → the job's id."""
        from queuectl.schedules import check_name

        job_id = self.backend.schedule_run_now(check_name(name))
        if job_id is None:
            raise _no_schedule(name)
        return job_id


def _no_schedule(name: str) -> NotFound:
    return NotFound(f"no schedule {name!r}")


LOG_REMOVALS_BATCH = 1000  # log files of purged attempts taken per transaction


def check_final(states: Sequence[str]) -> list[str]:
    """The states a purge takes: final ones, named at least once (each kept once)."""
    from queuectl.config import RETENTION

    if not states:
        raise InvalidInput("name at least one state to purge: completed, cancelled, dead")
    for state in states:
        if state not in RETENTION:
            raise InvalidInput(
                f"cannot purge {state!r} jobs: only ended ones (completed, cancelled, dead)"
            )
    return list(dict.fromkeys(states))


def _queue_name(name: str | None) -> str | None:
    from queuectl.jobspec import check_queue

    return None if name is None else check_queue(name)


def check_state(state: str) -> str:
    from queuectl.models import STATES

    if state not in STATES:
        raise InvalidInput(f"unknown state {state!r}; states: {', '.join(STATES)}")
    return state


def _states(state: str | Sequence[str] | None) -> list[str] | None:
    """One state or several → the list a backend filters by (None: every state)."""
    if state is None:
        return None
    return [check_state(state)] if isinstance(state, str) else [check_state(s) for s in state]


def _stored_text(text: str | None) -> str | None:
    """Text to find in a command as the queue stores it (JSON text); None for none."""
    return json.dumps(text)[1:-1] if text else None


def read_jobs(
    lines: Iterable[str], source: str = "-", flags: dict[str, object] | None = None
) -> list[JobSpec]:
    """Decode and check JSON Lines without touching a queue: a bad line is reported
    (with its number) before anything is opened or written. ``flags``: fields added to
    every line (jobspec.with_flags: a line that has one too is refused)."""
    import time

    now = time.time()
    jobs: list[JobSpec] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            jobs.append(check_job(with_flags(decode_json(line), flags), now))
        except InvalidInput as exc:
            raise InvalidInput(f"{source}, line {number}: {exc}") from None
    if not jobs:
        raise InvalidInput(f"{source}: no jobs found")
    return jobs


def _ids(ids: Sequence[str] | None) -> list[str] | None:
    return None if ids is None else [check_id(job_id) for job_id in dict.fromkeys(ids)]


def _named(ids: Sequence[str]) -> list[str]:
    checked = _ids(ids)
    if not checked:
        raise InvalidInput("name at least one job id")
    return checked


def _queue_names(names: Sequence[str] | None) -> list[str] | None:
    from queuectl.jobspec import check_queue

    return None if names is None else [check_queue(n) for n in names]
