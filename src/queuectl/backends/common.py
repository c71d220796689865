"""The Jobs verbs (backends.base.Jobs), written once over an engine's named queries;
the Insights verbs are insights.SqlInsights, and the retention verbs (roll-ups, purges)
retention.SqlRetention, both inherited.

An engine (sqlite.py, postgres.py) supplies its SQL files and a few hooks: how to
read, how to run a transaction, how a list is passed as a parameter, its clock, and
its claim. Every verb runs the engine's own statement of the same name. Parameters
always include ``now`` (the engine's clock): SQLite's statements use it, and
PostgreSQL's use the server's clock instead and ignore it.
"""

from __future__ import annotations

import json

from queuectl.backends.insights import SqlInsights
from queuectl.backends.retention import SqlRetention
from queuectl.errors import Conflict, InvalidInput, NotFound, QueuectlError, StorageError
from queuectl.limits import to_json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from contextlib import AbstractContextManager
    from typing import Any, TypeVar

    from queuectl.backends.base import LocalHost
    from queuectl.backends.results import (
        Beat,
        Cancels,
        Changes,
        Exchange,
        Firing,
        Imports,
        Page,
        Rescued,
    )
    from queuectl.jobspec import JobSpec
    from queuectl.lifecycle import Finished, LeaseWatch, Policy, Transition, Usage
    from queuectl.models import Attempt, Job, WorkerInfo
    from queuectl.queues import QueueInfo
    from queuectl.schedules import Schedule

    R = TypeVar("R")


def refusal(
    job_id: str, state: str | None, verb: str, after: str = "", allowed: tuple[str, ...] = ()
) -> QueuectlError:
    """Why a job was not changed: there is no such job, or its state (``after`` ends the
    line). A job in a state of ``allowed`` that a guarded write still refused is a
    cancelled job whose attempt its worker is still stopping (query ``rerun_job``)."""
    if state is None:
        return NotFound(f"no job {job_id!r}{after}")
    if state in allowed:
        return Conflict(
            f"cannot {verb} job {job_id!r} yet: it is {state}, and its worker is still "
            f"stopping its last attempt; try again in a few seconds{after}"
        )
    return Conflict(f"cannot {verb} job {job_id!r}: it is {state}{after}")


class DuplicateKey(StorageError):
    """An insert hit a unique key (raised by an engine's _write, turned into InvalidInput)."""


def duplicate(key: str, within: float | None, holder: str, batch: bool) -> Conflict:
    """Why a job with unique key ``key`` was refused: job ``holder`` holds the key."""
    from queuectl.timefmt import format_duration

    how = "is active"
    if within is not None:
        how += f" or was created in the last {format_duration(within)}"
    rest = "; nothing was enqueued" if batch else ""
    return Conflict(f"unique key {key!r} is taken: job {holder!r} {how}{rest}")


def key_taken(verb: str, work: Callable[[], R]) -> R:
    """``work()``, a change that makes jobs active again (rerun, dlq retry): where another
    active job holds a unique key of theirs, the database's unique index refuses it, and
    the whole command with it."""
    try:
        return work()
    except DuplicateKey:
        raise Conflict(
            f"cannot {verb}: another active job holds the unique key of a job named; "
            "nothing was changed"
        ) from None


def storable(text: str | None) -> str | None:
    """Text a job produced (its output's tail, an error naming what it ran), made storable
    on every engine: PostgreSQL text cannot hold NUL, and no engine can encode a lone
    surrogate. Both become U+FFFD, the mark an invalid UTF-8 byte of the output already
    gets; the exact bytes stay in the attempt's log file."""
    if text is None:
        return None
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text)
    return text


NO_USAGE = (None, None, None)


def end_params(
    job: Job,
    worker: str | None,
    step: Transition,
    outcome: str,
    now: float,
    log_path: str | None = None,
    log_tail: str | None = None,
    usage: Usage | None = None,
) -> dict[str, Any]:
    """Parameters of the guarded writes that end run ``job.runs`` (job row and attempt row);
    ``usage``: what its processes used, if measured."""
    cpu_user_s, cpu_sys_s, max_rss_kb = NO_USAGE if usage is None else usage
    return {
        "state": step.state.value,
        "attempts": step.attempts,
        "snoozes": step.snoozes,
        "run_at": step.run_at,
        "exit_code": step.exit_code,
        "error": storable(step.error),
        "job_id": job.id,
        "worker": worker,
        "run": job.runs,
        "outcome": outcome,
        "log_path": log_path,
        "log_tail": storable(log_tail),
        "now": now,
        "cpu_user_s": cpu_user_s,
        "cpu_sys_s": cpu_sys_s,
        "max_rss_kb": max_rss_kb,
    }


# The columns of a new job, in the order of job_row (and of each engine's insert_job).
JOB_COLUMNS = (
    "id",
    "command",
    "max_retries",
    "priority",
    "queue",
    "run_at",
    "timeout",
    "cwd",
    "env",
    "tags",
    "unique_key",
    "no_retry_on",
    "limits",
    "clean_env",
    "created_at",
    "updated_at",
)


# A plain job (most jobs): none of timeout … clean_env, so its row holds its first PLAIN
# values, then PLAIN_REST, then the batch's now twice; each engine's insert_plain_job
# binds only those first values (and now once).
PLAIN = JOB_COLUMNS.index("timeout")
PLAIN_REST = (None,) * (JOB_COLUMNS.index("clean_env") - PLAIN) + (0,)


def plain_batch(rows: Sequence[tuple[Any, ...]]) -> bool:
    """Whether every row of a batch is a plain job's, inserted at the same instant."""
    now = rows[0][-1]
    plain = (*PLAIN_REST, now, now)
    return all(row[PLAIN:] == plain for row in rows)


# json.dumps of a str, without its dispatch (a batch encodes a command per job)
_json_text = json.encoder.encode_basestring_ascii


def job_row(spec: JobSpec, max_retries: int, now: float) -> tuple[Any, ...]:
    """The values of a new job's columns (JOB_COLUMNS), inserted at ``now``: a job without
    ``max_retries`` gets the queue's, one without ``run_at`` is due ``delay`` from now."""
    return (
        spec["id"],
        _json_text(command) if type(command := spec["command"]) is str else json.dumps(command),
        max_retries if spec["max_retries"] is None else spec["max_retries"],
        spec["priority"],
        spec["queue"],
        now + spec["delay"] if spec["run_at"] is None else spec["run_at"],
        spec["timeout"],
        spec["cwd"],
        json.dumps(spec["env"]) if spec["env"] else None,
        json.dumps(spec["tags"]) if spec["tags"] else None,
        spec["unique_key"],
        json.dumps(spec["no_retry_on"]) if spec["no_retry_on"] else None,
        to_json(spec["limits"]),
        1 if spec["clean_env"] else 0,  # an int: sqlite3 binds a bool by a slow adaptation
        now,
        now,
    )


def no_queue(shown: str) -> NotFound:
    """What a role that only reads (location.READER) is told where no queue is."""
    return NotFound(f"no queue at {shown} (a command that writes, such as enqueue, creates one)")


def check_readable(version: int, latest: int, shown: str) -> None:
    """A queue opened by a role that only reads (location.READER), at schema ``version``:
    there (version 0 is no queue), and neither older than this queuectl (reading would
    need a migration, a write) nor newer."""
    if version == 0:
        raise no_queue(shown)
    if version < latest:
        raise StorageError(
            f"the queue at {shown} was made by an older queuectl (schema {version} of "
            f"{latest}); a command that writes, such as worker start, upgrades it"
        )
    if version > latest:
        raise StorageError(
            f"the queue at {shown} has schema {version}; this queuectl knows up to {latest}"
        )


class Claims:
    """The rows a turn's claims took, read once its transaction has committed: an engine
    whose turn travels in one round trip (PostgreSQL's pipeline) has them only then.
    ``returned`` holds what each claim statement returned (rows, or a cursor to read
    them from). One per turn, whatever the number of claimers. ``with_flow``: each claim
    returned one row, its ``flow`` column saying whether a queue had a row and its job's
    columns NULL when it took nothing; ``flow`` is read with the jobs."""

    __slots__ = ("flow", "returned", "with_flow")

    def __init__(self, returned: Sequence[Iterable[Any]] = (), with_flow: bool = False) -> None:
        self.returned = returned
        self.with_flow = with_flow
        self.flow: bool | None = None

    def jobs(self) -> list[Job]:
        """The claimed jobs; one without its own timeout carries its queue's (queue set
        --timeout), which then comes before the global job-timeout, and the queue's
        no-retry-on codes join the job's own (queue set --no-retry-on)."""
        from queuectl.models import Job

        jobs = []
        for rows in self.returned:
            for row in rows:
                if self.with_flow:
                    self.flow = bool(row["flow"])
                    if row["id"] is None:
                        continue
                job = Job.from_row(row)
                if (
                    row["queue_timeout"] is not None
                    or row["queue_no_retry_on"] is not None
                    or row["queue_limits"] is not None
                ):
                    job = _with_queue_settings(job, row)
                jobs.append(job)
        return jobs


NO_CLAIMS = Claims()


def _import_row(job: Job) -> dict[str, Any]:
    """The columns of statement ``import_job``: the job as it is, its lists as JSON text
    (as enqueue stores them), and as many blockers as dependencies still hold it."""
    return {
        "id": job.id,
        "command": json.dumps(job.command),
        "state": job.state.value,
        "attempts": job.attempts,
        "max_retries": job.max_retries,
        "priority": job.priority,
        "queue": job.queue,
        "run_at": job.run_at,
        "timeout": job.timeout,
        "cwd": job.cwd,
        "env": json.dumps(job.env) if job.env else None,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "exit_code": job.exit_code,
        "last_error": storable(job.last_error),
        "worker": job.worker,
        "runs": job.runs,
        "lease_until": job.lease_until,
        "tags": json.dumps(list(job.tags)) if job.tags else None,
        "unique_key": job.unique_key,
        "no_retry_on": json.dumps(sorted(job.no_retry_on)) if job.no_retry_on else None,
        "clean_env": job.clean_env,
        "snoozes": job.snoozes,
        "after_ids": json.dumps(list(job.after)) if job.after else None,
        "after_mode": job.after_mode,
        "limits": to_json(job.limits),
        "blockers": len(job.blocked_by) if job.state.value == "blocked" else 0,
    }


def _attempt_row(attempt: Attempt) -> dict[str, Any]:
    return {
        "job_id": attempt.job_id,
        "run": attempt.run,
        "worker": attempt.worker,
        "started_at": attempt.started_at,
        "finished_at": attempt.finished_at,
        "outcome": attempt.outcome,
        "exit_code": attempt.exit_code,
        "error": storable(attempt.error),
        "log_path": attempt.log_path,
        "log_tail": storable(attempt.log_tail),
        "cpu_user_s": attempt.cpu_user_s,
        "cpu_sys_s": attempt.cpu_sys_s,
        "max_rss_kb": attempt.max_rss_kb,
    }


def _with_queue_settings(job: Job, row: Any) -> Job:
    """``job`` as its queue's settings make it: the queue's timeout if it has none of its
    own, the queue's no-retry-on codes added to its own, and its limits combined with the
    queue's (queuectl.limits.combine)."""
    from dataclasses import replace

    from queuectl.limits import combine

    if job.timeout is None and row["queue_timeout"] is not None:
        job = replace(job, timeout=row["queue_timeout"])
    if row["queue_no_retry_on"] is not None:
        codes = job.no_retry_on | frozenset(json.loads(row["queue_no_retry_on"]))
        job = replace(job, no_retry_on=codes)
    if row["queue_limits"] is not None:
        job = replace(job, limits=combine(job.limits, json.loads(row["queue_limits"])))
    return job


class SqlBackend(SqlInsights, SqlRetention):
    """Every verb of backends.base.Backend; subclasses provide the hooks below."""

    q: dict[str, str]  # the engine's statements by name
    _settings: dict[str, str]
    _leases: LeaseWatch | None = None  # what this process has seen of leases (rescue_expired)
    # Whether some queue had a row (paused or limited) when a claim last looked: the turn
    # then claims with the full statement, else with the plain one (exchange).
    _flow = True

    # --- hooks --------------------------------------------------------------------
    def _rows(self, name: str, params: dict[str, Any] | None = None) -> list[Any]:
        """Run a read; rows are mappings by column name. Driver errors → StorageError."""
        raise NotImplementedError

    def _write(self, work: Callable[[Any], R], batched: bool = False) -> R:
        """Run ``work(conn)`` in one write transaction; driver errors → StorageError
        (DuplicateKey for a unique violation), nothing half-done. ``batched``: work
        reads no result (its cursors are read after the commit), so its statements
        may travel together."""
        raise NotImplementedError

    def _run_many(self, conn: Any, name: str, rows: Sequence[dict[str, Any]]) -> None:
        raise NotImplementedError

    def _insert_jobs(self, conn: Any, rows: list[tuple[Any, ...]]) -> None:
        """Insert new jobs in the caller's transaction. A row holds the values of the
        columns of JOB_COLUMNS (the last two, created_at and updated_at: the batch's
        ``now``)."""
        raise NotImplementedError

    def _list(self, values: Sequence[object]) -> object:
        """How a list travels as one parameter (PostgreSQL: an array; SQLite: JSON text)."""
        raise NotImplementedError

    def _claim(
        self, conn: Any, name: str, claimers: Sequence[str], params: dict[str, Any]
    ) -> Claims:
        """For each claimer in turn, take the best ready job with statement ``name`` and
        open its attempt, inside the caller's transaction (``params``: the statement's, but
        ``worker``). No row is read before the commit unless the engine has it at once."""
        raise NotImplementedError

    def now(self) -> float:
        raise NotImplementedError

    def snapshot(self) -> AbstractContextManager[None]:
        raise NotImplementedError

    def _list_access(
        self, states: Sequence[str], queue: str | None, sort: str, limit: int | None, offset: int
    ) -> str:
        """How ``list_jobs`` reaches the jobs of ``states`` (its fragments states_WAY and
        access_WAY): "seek" (the jobs of the states, then sorted) when few match: their
        number squared at most the rows a walk would read for the page, about (offset +
        limit) * all jobs / matching; else "walk" (the order's index until the page is
        full). The counts say how many match (SQLite keeps no statistics, and
        PostgreSQL's are missing until a new table is analyzed)."""
        if limit is None:
            return "seek"
        counts = self.counts_by_queue()
        every = sum(sum(c.values()) for c in counts.values())
        shown = [counts.get(queue, {})] if queue is not None else list(counts.values())
        matching = sum(c.get(state, 0) for c in shown for state in states)
        return "seek" if matching * matching <= (offset + limit) * every else "walk"

    def _counted(self, conn: Any, added: Mapping[tuple[str, str], int]) -> None:
        """Jobs inserted, so many per (queue, state): an engine whose counts no trigger
        on INSERT keeps (SQLite's queue_counts) adds them in the inserting transaction."""

    # --- helpers ------------------------------------------------------------------
    def _run(self, conn: Any, name: str, params: dict[str, Any] | None = None) -> Any:
        return conn.execute(self.q[name], params or {})

    def _change(self, name: str, params: dict[str, Any] | None = None) -> int:
        """One statement in its own write transaction → rows changed."""
        return int(self._write(lambda conn: self._run(conn, name, params).rowcount))

    def _by_queue(self, name: str, queues: Sequence[str] | None) -> tuple[str, dict[str, Any]]:
        """The variant of statement ``name`` for a worker's queues, and its parameter:
        ``name_any`` (None: every queue), ``name_in`` (only these), ``name_out`` (written
        !NAME: every queue but these)."""
        if not queues:
            return f"{name}_any", {}
        if queues[0].startswith("!"):
            return f"{name}_out", {"excluded": self._list([q[1:] for q in queues])}
        return f"{name}_in", {"queues": self._list(queues)}

    # --- settings -----------------------------------------------------------------
    def settings(self) -> dict[str, str]:
        return dict(self._settings)

    def reload_settings(self) -> dict[str, str]:
        self._settings = {r["key"]: r["value"] for r in self._rows("config_all")}
        return dict(self._settings)

    def config_set(
        self, key: str, value: str, check: Callable[[dict[str, str]], None] | None = None
    ) -> None:
        def set_one(conn: Any) -> dict[str, str]:
            return self._config_change(conn, self._stored_settings(conn), key, value, check)

        self._settings = self._write(set_one)

    def config_unset(self, key: str, check: Callable[[dict[str, str]], None] | None = None) -> bool:
        def unset(conn: Any) -> tuple[bool, dict[str, str]]:
            stored = self._stored_settings(conn)
            return key in stored, self._config_change(conn, stored, key, None, check)

        was_set, self._settings = self._write(unset)
        return was_set

    # --- queues (queue list/pause/resume/set) ------------------------------------------
    def queue_rows(self) -> list[QueueInfo]:
        """Every queue with a row: paused or limited."""
        from queuectl.queues import QueueInfo

        return [QueueInfo.from_row(r) for r in self._rows("queue_rows", {"now": self.now()})]

    def ready_ahead(self, job_id: str, queues: Sequence[str], most: int) -> int:
        params = {"id": job_id, "now": self.now(), "queues": self._list(queues), "most": most}
        return int(self._rows("ready_ahead", params)[0]["n"])

    def queue_change(
        self, names: Sequence[str] | None, change: Callable[[QueueInfo, float], QueueInfo]
    ) -> list[str]:
        """``change`` each named queue (None: every queue known) as of now, in one
        transaction that no claim runs beside (queue_lock); a queue left neither paused nor
        limited loses its row. Idle workers wake: a queue may have opened."""
        from queuectl.queues import QueueInfo

        def work(conn: Any) -> list[str]:
            self._run(conn, "queue_lock")
            now = self.now()
            rows = {
                r["name"]: QueueInfo.from_row(r)
                for r in self._run(conn, "queue_rows", {"now": now}).fetchall()
            }
            if names is None:
                chosen = sorted(r["name"] for r in self._run(conn, "queue_names").fetchall())
            else:
                chosen = list(names)
            for name in chosen:
                new = change(rows.get(name) or QueueInfo(name), now)
                self._run(conn, "queue_add", {"name": name})
                self._run(conn, "queue_write", new.columns())
                self._run(conn, "queue_drop_empty", {"name": name})
            self._run(conn, "notify_jobs")
            return chosen

        return self._write(work)

    def _stored_settings(self, conn: Any) -> dict[str, str]:
        """The settings as stored, read after taking the config writers' lock: no other
        writer can change them before this transaction ends."""
        self._run(conn, "config_lock")
        return {r["key"]: r["value"] for r in self._run(conn, "config_all").fetchall()}

    def _config_change(
        self,
        conn: Any,
        stored: dict[str, str],
        key: str,
        value: str | None,
        check: Callable[[dict[str, str]], None] | None,
    ) -> dict[str, str]:
        """Set (or, with None, unset) one key of ``stored``; ``check`` judges the result
        and refuses by raising, before anything is written."""
        after = {k: v for k, v in stored.items() if k != key}
        if value is not None:
            after[key] = value
        if check is not None:
            check(after)
        if value is None:
            self._run(conn, "config_unset", {"key": key})
        else:
            self._run(conn, "config_set", {"key": key, "value": value})
        return after

    # --- enqueue / read -------------------------------------------------------------
    def enqueue(self, specs: Sequence[JobSpec], max_retries: int, now: float) -> list[str]:
        """Insert every job or none; a duplicate id raises InvalidInput naming it. A job
        whose unique key is held (query ``unique_holder``) is refused (Conflict, nothing
        enqueued) or, with on_duplicate ``skip``, not inserted: its place in the result is
        the id of the job that holds the key."""
        if not specs:
            return []
        ids = [spec["id"] for spec in specs]
        if len(set(ids)) != len(ids):
            seen: set[str] = set()
            twice = next(i for i in ids if i in seen or seen.add(i))  # type: ignore[func-returns-value]
            raise InvalidInput(f"job id {twice!r} appears more than once; nothing was enqueued")
        rows = [job_row(spec, max_retries, now) for spec in specs]
        keyed = any(row[10] is not None for row in rows)
        waiting = [spec for spec in specs if spec["after"]]
        try:
            if keyed or waiting:  # reads inside: keys held, dependencies present
                return self._write(lambda conn: self._insert_guarded(conn, specs, rows, now))
            self._write(lambda conn: self._insert_jobs(conn, rows), batched=True)
        except DuplicateKey:
            taken = self._existing(ids)
            if not taken and keyed:  # the index refused what a rerun took meanwhile
                raise Conflict("a unique key was taken meanwhile; nothing was enqueued") from None
            name = taken[0] if taken else "?"
            raise InvalidInput(f"job id {name!r} already exists; nothing was enqueued") from None
        return ids

    def _insert_unique(
        self, conn: Any, specs: Sequence[JobSpec], rows: list[tuple[Any, ...]], now: float
    ) -> list[str]:
        """Insert a batch that holds jobs with a unique key, in order, in the caller's
        transaction: each keyed job after its key is locked (query ``unique_lock``) and found
        free (``unique_holder``); the jobs without a key between them in bulk."""
        ids: list[str] = []
        plain: list[tuple[Any, ...]] = []
        for spec, row in zip(specs, rows, strict=True):
            key = spec["unique_key"]
            if key is None:
                plain.append(row)
                ids.append(spec["id"])
                continue
            if plain:
                self._insert_jobs(conn, plain)
                plain = []
            self._run(conn, "unique_lock", {"key": key})
            params = {"key": key, "within": spec["unique_within"], "now": now}
            holder = self._run(conn, "unique_holder", params).fetchone()
            if holder is None:
                self._insert_jobs(conn, [row])
                ids.append(spec["id"])
            elif spec["on_duplicate"] == "skip":
                ids.append(holder["id"])
            else:
                raise duplicate(key, spec["unique_within"], holder["id"], len(specs) > 1)
        if plain:
            self._insert_jobs(conn, plain)
        return ids

    def _insert_guarded(
        self, conn: Any, specs: Sequence[JobSpec], rows: list[tuple[Any, ...]], now: float
    ) -> list[str]:
        """Insert a batch that holds jobs with a unique key or with dependencies, in the
        caller's transaction; → the ids, a skipped duplicate's being its key's holder."""
        waiting = [spec for spec in specs if spec["after"]]
        if waiting:
            self._check_after(conn, rows, waiting)
        if any(spec["unique_key"] is not None for spec in specs):
            ids = self._insert_unique(conn, specs, rows, now)
        else:
            self._insert_jobs(conn, rows)
            ids = [spec["id"] for spec in specs]
        inserted = set(ids)  # a skipped duplicate is not: its id is not among them
        linked = [spec for spec in waiting if spec["id"] in inserted]
        if linked:
            self._link_after(conn, linked)
        return ids

    def _check_after(self, conn: Any, rows: list[tuple[Any, ...]], waiting: list[JobSpec]) -> None:
        """Every dependency of the jobs ``waiting`` must exist already or come earlier in
        the batch (so no cycle can ever be made), else nothing is written."""
        order = {row[0]: n for n, row in enumerate(rows)}
        outside = sorted(
            {dep for spec in waiting for dep in spec["after"] or () if dep not in order}
        )
        found = {
            r["id"] for r in self._run(conn, "dependencies_present", {"ids": self._list(outside)})
        }
        for spec in waiting:
            for dep in spec["after"] or ():
                if order.get(dep, -1) < order[spec["id"]] if dep in order else dep in found:
                    continue
                raise InvalidInput(
                    f"job {spec['id']!r} runs after {dep!r}, which is not in the queue nor "
                    "earlier in the same batch; nothing was enqueued"
                )

    def _link_after(self, conn: Any, waiting: list[JobSpec]) -> None:
        """Each job of ``waiting``, just inserted, is blocked on its dependencies, then the
        dependencies that have already ended are applied to it (``_settle``): it may be
        pending, or cancelled, before the commit."""
        for spec in waiting:
            for dep in spec["after"] or ():
                self._run(conn, "insert_dependency", {"job_id": spec["id"], "depends_on": dep})
            params = {
                "id": spec["id"],
                "after": json.dumps(spec["after"]),
                "mode": spec["after_mode"],
            }
            self._run(conn, "block_job", params)
        self._settle(conn, sorted({dep for spec in waiting for dep in spec["after"] or ()}))

    def _settle(self, conn: Any, ids: Sequence[str]) -> None:
        """Apply the endings of the jobs ``ids`` (those that are final) to their
        dependents, in the caller's transaction: each edge once (``settled``). A blocked
        dependent in mode success whose dependency ended dead or cancelled is cancelled,
        naming it, and its own dependents settled in turn; any other ending takes one
        blocker off it, and pending it is at none. PostgreSQL does the same in one
        statement (function queuectl.settle, migration 0006), since a worker's turn reads
        nothing before its commit."""
        frontier = list(ids)
        while frontier:
            now = self.now()
            cancelled = []
            edges = self._run(conn, "unsettled_edges", {"ids": self._list(frontier)}).fetchall()
            for edge in edges:
                params = {**edge, "now": now}
                self._run(conn, "settle_edge", params)
                if self._run(conn, "cancel_dependent", params).rowcount:
                    cancelled.append(edge["job_id"])
                else:
                    self._run(conn, "release_dependent", params)
            frontier = cancelled

    def _existing(self, ids: Sequence[str]) -> list[str]:
        return [r["id"] for r in self._rows_of_ids("existing_ids", ids)]

    def _rows_of_ids(self, name: str, ids: Sequence[str]) -> list[Any]:
        """The rows of read ``name`` for every id of ``ids`` (parameter ``ids``), read 500
        ids at a time: SQLite binds the list as one JSON text, PostgreSQL as an array."""
        found: list[Any] = []
        for start in range(0, len(ids), 500):
            found += self._rows(name, {"ids": self._list(ids[start : start + 500])})
        return found

    def get(self, job_id: str) -> Job | None:
        from queuectl.models import Job

        rows = self._rows("get_job", {"id": job_id})
        return Job.from_row(rows[0]) if rows else None

    def get_many(self, ids: Sequence[str]) -> list[Job]:
        from queuectl.models import Job

        return [Job.from_row(r) for r in self._rows_of_ids("get_jobs", ids)]

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
        """Statement ``list_jobs`` with its ORDER_BY taken from the fragment of the order
        (``order_<sort>`` or ``order_<sort>_reverse``), so that enqueue order reads the
        primary key's index; the filters are the statement's, so nothing is read only to
        be dropped in Python."""
        from queuectl.models import Job

        order = f"order_{sort}{'_reverse' if reverse else ''}"
        if order not in self.q:
            raise InvalidInput(f"unknown order {sort!r}")
        way = "any" if states is None else self._list_access(states, queue, sort, limit, offset)
        name = f"list_jobs_{order}_{way}"
        if name not in self.q:  # composed at first use, kept with the engine's statements
            self.q[name] = (
                self.q["list_jobs"]
                .replace("ORDER_BY", self.q[order])
                .replace("STATES", self.q[f"states_{way}"])
                .replace("ACCESS", self.q.get(f"access_{way}", ""))  # SQLite: an index
            )
        params = {
            "states": None if states is None else self._list(states),
            "queue": queue,
            "tags": json.dumps(list(tags)) if tags else None,
            "since": since,
            "later": later,
            "text": text,
            "limit": -1 if limit is None else limit,
            "offset": offset,
        }
        return [Job.from_row(r) for r in self._rows(name, params)]

    def attempts(self, job_id: str) -> list[Attempt]:
        from queuectl.models import Attempt

        return [Attempt.from_row(r) for r in self._rows("attempts_of", {"job_id": job_id})]

    def dependencies(self, job_id: str) -> list[tuple[str, str, str | None]]:
        return [
            (r["side"], r["id"], r["state"]) for r in self._rows("dependencies_of", {"id": job_id})
        ]

    def blocking(self, ids: Sequence[str]) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for row in self._rows_of_ids("blocking_edges", ids):
            found.setdefault(row["job_id"], []).append(row["depends_on"])
        return found

    # --- export / import ------------------------------------------------------------
    def job_page(
        self,
        after: int,
        limit: int,
        states: Sequence[str] | None = None,
        queue: str | None = None,
    ) -> Page:
        """By ``seq``, the primary key: each page is one walk of its index from where the
        last one stopped, however far into a million jobs."""
        from queuectl.backends.results import Page
        from queuectl.models import Job

        params = {
            "after": after,
            "limit": limit,
            "states": None if states is None else self._list(states),
            "queue": queue,
        }
        rows = self._rows("job_page", params)
        return Page([Job.from_row(r) for r in rows], int(rows[-1]["seq"]) if rows else after)

    def attempts_of_jobs(self, ids: Sequence[str]) -> dict[str, list[Attempt]]:
        from queuectl.models import Attempt

        found: dict[str, list[Attempt]] = {}
        for row in self._rows_of_ids("attempts_of_jobs", ids):
            found.setdefault(row["job_id"], []).append(Attempt.from_row(row))
        return found

    def import_jobs(
        self,
        batches: Iterable[Sequence[tuple[Job, Sequence[Attempt]]]],
        outside: Sequence[str],
        skip_existing: bool,
    ) -> Imports:
        """One transaction: the dependencies from the queue are found (and on PostgreSQL
        locked, as an enqueue's are: one that ends meanwhile waits, then settles the new
        edges), each batch's jobs and attempts inserted as they are, then every edge (so a
        dependency's ``dependents`` flag is set whatever the order), and the endings of
        final dependencies applied to the jobs they still hold (``_settle``)."""
        from queuectl.backends.results import Imports

        def work(conn: Any) -> Imports:
            found = self._run(conn, "dependencies_present", {"ids": self._list(list(outside))})
            missing = sorted(set(outside) - {r["id"] for r in found.fetchall()})
            if missing:
                raise InvalidInput(
                    f"a job waits for {missing[0]!r}, which is neither in the queue nor earlier "
                    "in the file; nothing was imported"
                )
            counts: dict[tuple[str, str], int] = {}
            edges: list[dict[str, Any]] = []
            keys: dict[str, str] = {}  # unique key → the active job of the file holding it
            attempts = skipped = 0
            for batch in batches:
                ids = [job.id for job, _ in batch]
                there = {r["id"] for r in self._run(conn, "existing_ids", {"ids": self._list(ids)})}
                if there and not skip_existing:
                    first = next(i for i in ids if i in there)
                    raise InvalidInput(
                        f"job id {first!r} is in the queue already; nothing was imported "
                        "(--on-duplicate skip imports the others)"
                    )
                kept = [(job, tried) for job, tried in batch if job.id not in there]
                skipped += len(batch) - len(kept)
                for job, _ in kept:
                    self._hold_key(conn, job, keys)
                self._run_many(conn, "import_job", [_import_row(job) for job, _ in kept])
                rows = [_attempt_row(a) for _, tried in kept for a in tried]
                self._run_many(conn, "import_attempt", rows)
                attempts += len(rows)
                for job, _ in kept:
                    key = (job.queue, job.state.value)
                    counts[key] = counts.get(key, 0) + 1
                    holding = set(job.blocked_by)
                    edges += [
                        {"job_id": job.id, "depends_on": dep, "settled": dep not in holding}
                        for dep in job.after
                    ]
            self._run_many(conn, "import_dependency", edges)
            self._counted(conn, counts)
            self._settle(conn, sorted({e["depends_on"] for e in edges if not e["settled"]}))
            self._run(conn, "notify_jobs")
            return Imports(sum(counts.values()), attempts, skipped)

        try:
            return self._write(work)
        except DuplicateKey:
            raise Conflict(
                "a job id or unique key of the file was taken meanwhile; nothing was imported"
            ) from None

    def _hold_key(self, conn: Any, job: Job, keys: dict[str, str]) -> None:
        """An active job with a unique key: refused (Conflict) where an active job of the
        queue, or one earlier in the import, holds the key already (the unique index would
        refuse it, naming neither)."""
        from queuectl.models import ACTIVE

        key = job.unique_key
        if key is None or job.state.value not in ACTIVE:
            return
        holder = keys.get(key)
        if holder is None:
            self._run(conn, "unique_lock", {"key": key})
            params = {"key": key, "within": None, "now": self.now()}
            row = self._run(conn, "unique_holder", params).fetchone()
            holder = None if row is None else row["id"]
        if holder is not None:
            raise Conflict(
                f"job {job.id!r} is {job.state.value} with unique key {key!r}, which active "
                f"job {holder!r} holds; nothing was imported"
            )
        keys[key] = job.id

    # --- the worker's verbs ---------------------------------------------------------
    def exchange(
        self,
        finished: Sequence[Finished],
        claimers: Sequence[str],
        queues: Sequence[str] | None,
        lease: float,
    ) -> Exchange:
        """End attempts, then claim a job for each claimer, all in one transaction: a busy
        worker commits once a turn. Claimed jobs name their claimer in ``worker``."""
        from queuectl.backends.results import Exchange

        def turn(conn: Any) -> tuple[Callable[[], list[bool]], Claims]:
            # No result is read before the commit: PostgreSQL sends the whole transaction
            # in one round trip (see _write's ``batched``), and a failure anywhere in it
            # applies none of it.
            now = self.now()
            held = self._end_jobs(conn, self._end_rows(finished, now))
            if not claimers:
                return held, NO_CLAIMS
            claim, params = self._claim_statement(queues, lease, now)
            return held, self._claim(conn, claim, claimers, params)

        held, claims = self._write(turn, batched=True)
        return Exchange(held(), self._claimed(claims, claimers, queues, lease))

    def _end_rows(self, finished: Sequence[Finished], now: float) -> list[dict[str, Any]]:
        """The parameters of the statements that end ``finished`` (end_params)."""
        return [
            end_params(
                end.job, end.worker, end.transition, end.outcome, now, end.log_path,
                end.log_tail, end.usage,
            )
            for end in finished
        ]  # fmt: skip

    def _claim_statement(
        self, queues: Sequence[str] | None, lease: float, now: float
    ) -> tuple[str, dict[str, Any]]:
        """The claim for a worker's queues and its parameters but the claimer: the full
        claim while some queue has a row (paused or limited) as last seen; else the plain
        one, which takes nothing once one has (queries.sql)."""
        claim, params = self._by_queue("claim" if self._flow else "claim_plain", queues)
        params.update(now=now, lease=lease, lease_until=now + lease)
        return claim, params

    def _claimed(
        self, claims: Claims, claimers: Sequence[str], queues: Sequence[str] | None, lease: float
    ) -> list[Job]:
        """The jobs a turn's committed claims took; those the plain claim passed over, as
        a queue gained a row, are claimed again with the full claim."""
        jobs = claims.jobs()
        if claims.flow is not None:  # read after the commit (PostgreSQL)
            passed_over = claims.flow and not self._flow and len(jobs) < len(claimers)
            self._flow = claims.flow
            if passed_over:  # a queue gained a row: the plain claim passed every job over
                took = {job.worker for job in jobs}
                rest = [worker for worker in claimers if worker not in took]
                jobs += self.exchange([], rest, queues, lease).claimed
        return jobs

    def _end_jobs(self, conn: Any, ends: Sequence[dict[str, Any]]) -> Callable[[], list[bool]]:
        """End each job (guarded: only the worker holding that run may end it) and its
        attempt, in the caller's transaction, and apply the endings to the jobs'
        dependents; → what tells, once committed, which of them the worker still held."""
        raise NotImplementedError

    def heartbeat(
        self, workers: Sequence[str], running: Sequence[tuple[str, int, str]], lease: float
    ) -> Beat:
        from queuectl.backends.results import Beat

        def beat(conn: Any) -> Beat:
            now = self.now()
            renewed = self._run(
                conn,
                "renew_leases",
                {
                    "now": now,
                    "lease": lease,
                    "lease_until": now + lease,
                    "ids": self._list([r[0] for r in running]),
                    "runs": self._list([r[1] for r in running]),
                    "workers": self._list([r[2] for r in running]),
                },
            ).fetchall()
            rows = self._run(
                conn, "worker_heartbeat", {"now": now, "workers": self._list(workers)}
            ).fetchall()
            self._run(conn, "fold_counts")
            held = {(r["id"], r["runs"]) for r in renewed}
            stop = any(r["stop_requested"] for r in rows)
            stop_now = any(r["stop_now"] for r in rows)
            return Beat(held, stop, len(rows) == len(workers), stop_now)

        return self._write(beat)

    def rescue_expired(
        self, policy: Policy, stale_after: float, host: LocalHost | None = None
    ) -> Rescued:
        """Fail every attempt whose lease was lost ("worker lost"); drop silent worker rows.

        Lost means: this rescuer has seen the lease unrenewed for its length, by its own
        monotonic clock (lifecycle.LeaseWatch), or ``host`` proves the holder dead and
        its processes ended. The rescue is guarded by the lease value seen, so a renewal
        committed in between wins."""
        import time

        from queuectl.backends.results import Rescued
        from queuectl.config import Settings
        from queuectl.lifecycle import LeaseWatch

        if self._leases is None:
            self._leases = LeaseWatch()
        rows = self._rows("processing_leases")
        default = Settings(self._settings).lease  # jobs claimed before leases had a length
        seen = {r["id"]: r for r in rows}
        lost = set(
            self._leases.lost(
                ((r["id"], (r["worker"], r["runs"], r["lease_until"]), r["lease"] or default)
                 for r in rows),
                time.monotonic(),
            )
        )  # fmt: skip
        if host is not None:
            rest = [
                (r["id"], r["runs"], r["worker"], r["pid_start"])
                for r in rows
                if r["id"] not in lost and r["worker"]
            ]
            if rest:
                lost |= host.gone(rest)
        if not lost:
            # the common case reads only, then drops silent worker rows
            self._change("delete_stale_workers", {"now": self.now(), "stale_after": stale_after})
            return Rescued()
        ended = self._write(lambda conn: self._rescue(conn, policy, stale_after, host, lost, seen))
        return Rescued(ended)

    def _rescue(
        self,
        conn: Any,
        policy: Policy,
        stale_after: float,
        host: LocalHost | None,
        lost: set[str],
        seen: dict[str, Any],
    ) -> list[Finished]:
        from queuectl.lifecycle import Finished, WorkerLost, decide
        from queuectl.models import Job

        now = self.now()
        rescued: list[Finished] = []
        rows = self._run(conn, "rescue_candidates", {"ids": self._list(sorted(lost))}).fetchall()
        for row in rows:
            job = Job.from_row(row)
            before = seen[job.id]
            if (job.worker, job.runs, job.lease_until) != (
                before["worker"], before["runs"], before["lease_until"]
            ):  # fmt: skip
                continue  # renewed, or another run, since it was judged lost
            step = decide(job, WorkerLost(), policy, now)
            params = end_params(job, job.worker, step, WorkerLost.name, now)
            params["lease_until"] = job.lease_until
            if self._run(conn, "rescue_job", params).rowcount:
                if host is not None and job.worker:
                    params["log_path"], params["log_tail"] = host.output(
                        job.id, job.runs, job.worker, before["pid_start"]
                    )
                self._run(conn, "end_attempt", params)
                rescued.append(
                    Finished(
                        job, job.worker, step, WorkerLost.name, params["log_path"],
                        params["log_tail"],
                    )
                )  # fmt: skip
        self._settle(conn, [end.job.id for end in rescued])
        self._run(conn, "delete_stale_workers", {"now": now, "stale_after": stale_after})
        return rescued

    def latest_attempt(self, worker: str) -> Attempt | None:
        from queuectl.models import Attempt

        rows = self._rows("latest_attempt_of", {"worker": worker})
        return Attempt.from_row(rows[0]) if rows else None

    def attach_log(
        self, job_id: str, run: int, worker: str, log_path: str, log_tail: str | None
    ) -> bool:
        params = {
            "job_id": job_id,
            "run": run,
            "worker": worker,
            "log_path": log_path,
            "log_tail": storable(log_tail),
        }
        return self._change("attach_log", params) == 1

    def location_lost(self) -> str | None:
        return None  # a server's database cannot be swapped under an open connection

    def next_due(self, queues: Sequence[str] | None) -> float | None:
        name, params = self._by_queue("next_due", queues)
        params["now"] = self.now()
        value = self._rows(name, params)[0]["t"]
        return None if value is None else float(value)

    def work_left(self, queues: Sequence[str] | None) -> bool:
        name, params = self._by_queue("work_left", queues)
        params["now"] = self.now()
        return bool(self._rows(name, params)[0]["found"])

    # --- operator verbs ---------------------------------------------------------------
    def _state(self, conn: Any, job_id: str) -> str | None:
        row = self._run(conn, "job_state", {"id": job_id}).fetchone()
        return None if row is None else str(row["state"])

    def _check_states(
        self, conn: Any, ids: Sequence[str], allowed: tuple[str, ...], verb: str
    ) -> None:
        for job_id in ids:
            state = self._state(conn, job_id)
            if state not in allowed:
                raise refusal(job_id, state, verb, "; nothing was changed")

    def _one_by_one(
        self,
        ids: Sequence[str],
        allowed: tuple[str, ...],
        verb: str,
        *names: str,
        reblock: bool = False,
    ) -> Changes:
        """Each job in turn, in one transaction: the guarded statement ``names[0]`` (its
        WHERE names the states it leaves: ``allowed``), then the other statements where it
        changed the job; a refusal leaves the others to go on. Idle workers are woken.
        ``reblock``: the dependents the changed jobs' endings cancelled are blocked again."""
        from queuectl.backends.results import Changes

        def change(conn: Any) -> Changes:
            params = {"states": self._list(allowed), "now": self.now()}
            done: list[str] = []
            refused: dict[str, QueuectlError] = {}
            for job_id in ids:
                params["id"] = job_id
                if self._run(conn, names[0], params).rowcount:
                    for name in names[1:]:
                        self._run(conn, name, params)
                    done.append(job_id)
                else:
                    state = self._state(conn, job_id)
                    refused[job_id] = refusal(job_id, state, verb, allowed=allowed)
            if reblock and done:
                self._reblock(conn, done)
            if done:
                self._run(conn, "notify_jobs")
            return Changes(done, refused)

        return self._write(change)

    def retry_dead(self, ids: Sequence[str] | None) -> list[str]:
        def retry(conn: Any) -> list[str]:
            now = self.now()
            if ids is None:
                return [r["id"] for r in self._run(conn, "retry_all_dead", {"now": now})]
            self._check_states(conn, ids, ("dead",), "retry")
            params = {"states": self._list(["dead"]), "now": now}
            for job_id in ids:
                self._run(conn, "rerun_job", {**params, "id": job_id})
            return list(ids)

        return key_taken("retry", lambda: self._write(retry))

    def rerun(self, ids: Sequence[str], with_dependents: bool = False) -> Changes:
        from queuectl.models import RERUNNABLE

        names = ("rerun_job", "close_left_attempt")
        return key_taken(
            "rerun",
            lambda: self._one_by_one(ids, RERUNNABLE, "rerun", *names, reblock=with_dependents),
        )

    def _reblock(self, conn: Any, ids: Sequence[str]) -> None:
        """The dependents that the ending of jobs ``ids`` cancelled (their last_error names
        a dependency), and theirs, transitively: blocked again on every dependency, then the
        endings of those that are final applied anew (``_settle``)."""
        now = self.now()
        again: list[str] = []
        frontier = list(ids)
        while frontier:
            rows = self._run(conn, "cancelled_dependents", {"ids": self._list(frontier)})
            frontier = [r["job_id"] for r in rows.fetchall() if r["job_id"] not in again]
            for job_id in frontier:
                self._run(conn, "unsettle_edges", {"id": job_id})
                self._run(conn, "reblock_job", {"id": job_id, "now": now})
            again += frontier
        if again:
            edges = self._run(conn, "edges_of", {"ids": self._list(again)}).fetchall()
            self._settle(conn, sorted({r["depends_on"] for r in edges}))

    def run_now(self, ids: Sequence[str]) -> Changes:
        from queuectl.models import WAITING

        return self._one_by_one(ids, WAITING, "run-now", "run_now")

    def edit(self, job_id: str, changes: Mapping[str, Any]) -> Job:
        from queuectl.models import EDITABLE, Job

        params = {**changes, "id": job_id, "states": self._list(EDITABLE)}
        if params["command"] is not None:
            params["command"] = json.dumps(params["command"])
        limits = params.get("limits")  # None: unchanged; {}: removed ('' to the statement)
        params["limits"] = None if limits is None else (to_json(limits) or "")

        def edit(conn: Any) -> Any:
            params["now"] = self.now()
            row = self._run(conn, "edit_job", params).fetchone()
            if row is None:
                raise refusal(job_id, self._state(conn, job_id), "edit")
            self._run(conn, "notify_jobs")
            return row

        return Job.from_row(self._write(edit))

    def cancel(self, ids: Sequence[str]) -> Cancels:
        from queuectl.backends.results import Cancels
        from queuectl.models import CANCELLABLE

        def cancel(conn: Any) -> Cancels:
            done: list[str] = []
            left: dict[str, str | None] = {}
            now = self.now()
            for job_id in ids:
                row = self._run(conn, "job_state", {"id": job_id}).fetchone()
                if row is not None and row["state"] in CANCELLABLE:
                    self._run(conn, "cancel_job", {"id": job_id, "now": now})
                    done.append(job_id)
                else:
                    left[job_id] = None if row is None else row["state"]
            if done:
                self._settle(conn, done)
                self._run(conn, "notify_control", {"what": "cancel"})
            return Cancels(done, left)

        return self._write(cancel)

    # --- schedules (schedule add/list/…; fired by live workers) ------------------------
    def schedule_add(self, schedule: Schedule) -> None:
        """Store a new schedule; one of the same name is a Conflict (nothing stored). Workers
        are told (PostgreSQL: they look at once; SQLite's look at their next timer)."""

        def add(conn: Any) -> None:
            self._run(conn, "schedule_insert", schedule.columns())
            self._run(conn, "notify_control", {"what": "schedule"})

        try:
            self._write(add)
        except DuplicateKey:
            raise Conflict(
                f"schedule {schedule.name!r} exists already (remove it first); nothing was added"
            ) from None

    def schedules(self, name: str | None = None) -> list[Schedule]:
        from queuectl.schedules import Schedule

        return [Schedule.from_row(r) for r in self._rows("schedule_rows", {"name": name})]

    def schedule_remove(self, name: str) -> bool:
        return self._change("schedule_delete", {"name": name}) == 1

    def schedule_pause(self, name: str) -> bool:
        return self._change("schedule_pause", {"name": name}) == 1

    def schedule_resume(self, name: str) -> bool:
        """Not paused any more, from now on: the slots of the pause are settled unfired."""
        from queuectl.schedules import Schedule

        def resume(conn: Any) -> bool:
            row = self._run(conn, "schedule_lock", {"name": name}).fetchone()
            if row is None:
                return False
            schedule = Schedule.from_row(row)
            if schedule.paused:
                settled_to, next_at = schedule.resumed(self.now())
                self._settled(conn, schedule, settled_to, next_at)
                self._run(conn, "notify_control", {"what": "schedule"})
            return True

        return self._write(resume)

    def _settled(
        self,
        conn: Any,
        schedule: Schedule,
        settled_to: float,
        next_at: float | None,
        last: tuple[float, str] | tuple[None, None] = (None, None),
    ) -> None:
        """Write how far ``schedule`` is settled (a firing, a resume: not paused)."""
        params = {"name": schedule.name, "settled_to": settled_to, "next_at": next_at}
        params.update(paused=False, last_slot=last[0], last_job=last[1])
        self._run(conn, "schedule_fired", params)

    def schedule_run_now(self, name: str) -> str | None:
        """Enqueue the schedule's job now, as job ``NAME@now-<instant>``, its slots left as
        they are; None where there is no such schedule."""
        from queuectl.config import Settings
        from queuectl.schedules import Schedule, run_now_id

        def run(conn: Any) -> str | None:
            row = self._run(conn, "schedule_lock", {"name": name}).fetchone()
            if row is None:
                return None
            schedule, now = Schedule.from_row(row), self.now()
            job_id = run_now_id(name, now)
            spec = schedule.job_spec(job_id, now, Settings(self._settings).max_retries)
            params = dict(zip(JOB_COLUMNS, job_row(spec, 0, now), strict=True))
            if not self._run(conn, "insert_slot_job", params).rowcount:
                raise Conflict(f"job {job_id!r} exists already; try again")
            self._counted(conn, {(spec["queue"], "pending"): 1})
            self._run(conn, "schedule_ran_now", {"name": name, "job": job_id})
            return job_id

        return self._write(run)

    def fire_schedules(self) -> Firing:
        """Enqueue the due slots of every schedule that is not paused (Schedule.plan), in
        one transaction; while none is due, one read and no write. On PostgreSQL the
        server's clock says what is due, and a schedule another worker is firing is passed
        over (its row is locked)."""
        from queuectl.backends.results import Firing

        head = self._rows("schedules_next", {"now": self.now()})[0]
        if head["t"] is None or head["t"] > head["now"]:
            return Firing([], head["t"])
        return self._write(self._fire)

    def _fire(self, conn: Any) -> Firing:
        from queuectl.backends.results import Firing
        from queuectl.config import Settings
        from queuectl.schedules import Schedule, slot_id

        settings = Settings(self._settings)
        fired: list[str] = []
        for row in self._run(conn, "schedules_due", {"now": self.now()}).fetchall():
            schedule, now = Schedule.from_row(row), float(row["now"])
            plan = schedule.plan(now, settings.lease)  # on time: within a lease of its slot
            last: tuple[float, str] | tuple[None, None] = (None, None)
            for slot in plan.slots:
                job_id = slot_id(schedule.name, slot)
                spec = schedule.job_spec(job_id, slot, settings.max_retries)
                params = dict(zip(JOB_COLUMNS, job_row(spec, 0, now), strict=True))
                if self._run(conn, "insert_slot_job", params).rowcount:
                    self._counted(conn, {(spec["queue"], "pending"): 1})
                    fired.append(job_id)
                last = (slot, job_id)
            self._settled(conn, schedule, plan.settled_to, plan.next_at, last)
        head = self._run(conn, "schedules_next", {"now": self.now()}).fetchone()
        return Firing(fired, head["t"])

    # --- workers --------------------------------------------------------------------
    def register_workers(
        self,
        ids: Sequence[str],
        host: str,
        pid: int,
        pid_start: str | None,
        queues: Sequence[str] | None,
    ) -> None:
        now = self.now()
        rows = [
            {
                "id": worker,
                "host": host,
                "pid": pid,
                "pid_start": pid_start,
                "now": now,
                "queues": json.dumps(list(queues)) if queues else None,
            }
            for worker in ids
        ]
        self._write(lambda conn: self._run_many(conn, "register_worker", rows))

    def unregister_workers(self, ids: Sequence[str]) -> None:
        self._change("delete_workers", {"ids": self._list(ids)})

    def workers(self) -> list[WorkerInfo]:
        from queuectl.models import WorkerInfo

        return [WorkerInfo.from_row(r) for r in self._rows("list_workers")]

    def request_stop(self, now: bool = False, ids: Sequence[str] | None = None) -> int:
        def stop(conn: Any) -> int:
            if ids is None:
                flagged = int(self._run(conn, "request_stop", {"now_too": now}).rowcount)
            else:
                params = {"now_too": now, "ids": self._list(ids)}
                flagged = int(self._run(conn, "request_stop_of", params).rowcount)
            self._run(conn, "notify_control", {"what": "stop"})
            return flagged

        return self._write(stop)
