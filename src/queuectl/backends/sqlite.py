"""SQLite: the zero-set-up engine for one machine.

WAL lets readers run beside the one writer; every write transaction starts with
``BEGIN IMMEDIATE`` so it holds the write lock from its first statement (no
read-to-write upgrade that could fail half-way). Commits are durable by default
(``synchronous=FULL``). See DECISIONS.md for why a claim is atomic.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import time

from queuectl.backends.common import duplicate_error, end_params, job_rows
from queuectl.errors import Conflict, NotFound, StorageError
from queuectl.sqlfiles import migrations, queries

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any, ParamSpec, TypeVar

    from queuectl.jobspec import JobSpec
    from queuectl.lifecycle import Policy, Transition
    from queuectl.models import Attempt, Job, WorkerInfo
    from queuectl.worker.wakeup import DbWatcher

    P = ParamSpec("P")
    R = TypeVar("R")

BUSY_TIMEOUT = 5.0  # SQLite's own wait for the write lock, per attempt
BUSY_DEADLINE = 60.0  # then we retry whole transactions up to this long
_BUSY_CODES = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
_SYNC = {"full": "FULL", "normal": "NORMAL", "off": "OFF"}
_Q = queries("sqlite")


def _storage_error(path: str, exc: sqlite3.Error) -> StorageError:
    code = getattr(exc, "sqlite_errorcode", None)
    if code == sqlite3.SQLITE_NOTADB:
        return StorageError(f"{path} is not a queuectl database (file is not a database)")
    if code == sqlite3.SQLITE_FULL:
        return StorageError(f"{path}: the disk is full; nothing was written")
    if code in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM):
        return StorageError(f"{path}: cannot write the queue here ({exc}); check permissions")
    return StorageError(f"{path}: {exc}")


def _translated(method: Callable[P, R]) -> Callable[P, R]:
    """Driver errors become StorageError naming the file, with the original as __cause__."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except sqlite3.Error as exc:
            self = args[0]
            assert isinstance(self, SQLiteBackend)
            raise _storage_error(self.path, exc) from exc

    return wrapper


def _prepare_location(path: str) -> None:
    """Create the folder (0700) and the file (0600) ourselves: SQLite would use the umask."""
    folder = os.path.dirname(path)
    try:
        if not os.path.isdir(folder):
            os.makedirs(folder, mode=0o700, exist_ok=True)
            os.chmod(folder, 0o700)
        if not os.path.exists(path):
            os.close(os.open(path, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600))
    except OSError as exc:
        raise StorageError(f"cannot create the queue at {path}: {exc.strerror}") from exc
    if os.path.isdir(path):
        raise StorageError(f"{path} is a folder, not a queue database")


def _statements(script: str) -> list[str]:
    """Split a migration script into complete statements (triggers included)."""
    found, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip():
                found.append(current)
            current = ""
    return found


class SQLiteBackend:
    def __init__(self, path: str) -> None:
        self.path = path
        _prepare_location(path)
        try:
            self.conn = sqlite3.connect(
                path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
            )
            self.conn.row_factory = sqlite3.Row
            self._migrate()
            self._settings = {r["key"]: r["value"] for r in self.conn.execute(_Q["config_all"])}
            sync = _SYNC.get(self._settings.get("durability", "full"), "FULL")
            self.conn.execute(f"PRAGMA synchronous = {sync}")
        except sqlite3.Error as exc:
            raise _storage_error(path, exc) from exc

    # --- plumbing ---------------------------------------------------------------
    def _migrate(self) -> None:
        steps = migrations("sqlite")
        latest = steps[-1][0]
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version == latest:
            return
        if version > latest:
            raise StorageError(
                f"{self.path} has schema version {version}; this queuectl knows up to {latest}"
            )
        self.conn.execute("PRAGMA journal_mode = WAL")

        def apply(conn: sqlite3.Connection) -> None:
            current = conn.execute("PRAGMA user_version").fetchone()[0]
            if current == 0 and conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                raise StorageError(f"{self.path} is a SQLite database, but not a queuectl queue")
            for number, script in steps:
                if number > current:
                    for statement in _statements(script):
                        conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {latest}")

        self._write(apply)

    def _write(self, work: Callable[[sqlite3.Connection], R]) -> R:
        """Run ``work`` in one BEGIN IMMEDIATE transaction, retrying it while the lock is busy."""
        deadline = time.monotonic() + BUSY_DEADLINE
        pause = 0.002
        while True:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                try:
                    result = work(self.conn)
                    self.conn.execute("COMMIT")
                    return result
                except BaseException:
                    if self.conn.in_transaction:
                        self.conn.execute("ROLLBACK")
                    raise
            except sqlite3.OperationalError as exc:
                busy = getattr(exc, "sqlite_errorcode", None) in _BUSY_CODES
                if not busy or time.monotonic() > deadline:
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 0.1)

    def _rows(self, name: str, params: dict[str, Any] | None = None) -> list[sqlite3.Row]:
        return self.conn.execute(_Q[name], params or {}).fetchall()

    def _change(self, name: str, params: dict[str, Any] | None = None) -> int:
        """One statement in its own write transaction → rows changed."""
        return self._write(lambda conn: conn.execute(_Q[name], params or {}).rowcount)

    def _change_many(self, name: str, rows: Sequence[dict[str, Any]]) -> None:
        self._write(lambda conn: conn.executemany(_Q[name], rows).rowcount)

    # --- settings ---------------------------------------------------------------
    def settings(self) -> dict[str, str]:
        return dict(self._settings)

    @_translated
    def config_set(self, key: str, value: str) -> None:
        self._change("config_set", {"key": key, "value": value})
        self._settings[key] = value

    @_translated
    def config_unset(self, key: str) -> bool:
        removed = self._change("config_unset", {"key": key})
        self._settings.pop(key, None)
        return bool(removed)

    @_translated
    def reload_settings(self) -> dict[str, str]:
        self._settings = {r["key"]: r["value"] for r in self._rows("config_all")}
        return dict(self._settings)

    def now(self) -> float:
        return time.time()

    # --- enqueue / read ---------------------------------------------------------
    @_translated
    def enqueue(self, specs: Sequence[JobSpec], max_retries: int, now: float) -> list[str]:
        rows = job_rows(specs, max_retries, now)
        try:
            self._change_many("insert_job", rows)
        except sqlite3.IntegrityError:
            raise duplicate_error(self._existing([row["id"] for row in rows])) from None
        return [row["id"] for row in rows]

    def _existing(self, ids: Sequence[str]) -> list[str]:
        found: list[str] = []
        for start in range(0, len(ids), 500):
            chunk = json.dumps(list(ids[start : start + 500]))
            found += [r["id"] for r in self._rows("existing_ids", {"ids": chunk})]
        return found

    @_translated
    def get(self, job_id: str) -> Job | None:
        from queuectl.models import Job

        rows = self._rows("get_job", {"id": job_id})
        return Job.from_row(rows[0]) if rows else None

    @_translated
    def list_jobs(self, state: str | None, queue: str | None, limit: int | None) -> list[Job]:
        from queuectl.models import Job

        params = {"state": state, "queue": queue, "limit": -1 if limit is None else limit}
        return [Job.from_row(r) for r in self._rows("list_jobs", params)]

    @_translated
    def counts(self) -> dict[str, int]:
        from queuectl.models import STATES

        found = {state: 0 for state in STATES}
        for row in self._rows("count_states"):
            found[row["state"]] = row["n"]
        return found

    @_translated
    def counts_by_queue(self) -> dict[str, dict[str, int]]:
        from queuectl.models import STATES

        found: dict[str, dict[str, int]] = {}
        for row in self._rows("count_states_by_queue"):
            found.setdefault(row["queue"], dict.fromkeys(STATES, 0))[row["state"]] = row["n"]
        return found

    @_translated
    def attempts(self, job_id: str) -> list[Attempt]:
        from queuectl.models import Attempt

        return [Attempt.from_row(r) for r in self._rows("attempts_of", {"job_id": job_id})]

    # --- the worker's verbs -----------------------------------------------------
    @_translated
    def claim(self, worker: str, queues: Sequence[str] | None, lease: float) -> Job | None:
        from queuectl.models import Job

        def take(conn: sqlite3.Connection) -> Job | None:
            now = time.time()
            params: dict[str, Any] = {"worker": worker, "now": now, "lease_until": now + lease}
            if queues:
                params["queues"] = json.dumps(list(queues))
                rows = conn.execute(_Q["claim_in"], params).fetchall()
            else:
                rows = conn.execute(_Q["claim_any"], params).fetchall()
            if not rows:
                return None
            job = Job.from_row(rows[0])
            conn.execute(
                _Q["insert_attempt"],
                {"job_id": job.id, "run": job.runs, "worker": worker, "now": now},
            )
            return job

        return self._write(take)

    @_translated
    def finish(
        self,
        job: Job,
        worker: str,
        transition: Transition,
        outcome: str,
        log_path: str | None,
        log_tail: str | None,
    ) -> bool:
        def end(conn: sqlite3.Connection) -> bool:
            params = end_params(job, worker, transition, outcome, log_path, log_tail)
            params["now"] = time.time()
            ended = conn.execute(_Q["end_job"], params).rowcount
            conn.execute(_Q["end_attempt"], params)
            return ended == 1

        return self._write(end)

    @_translated
    def heartbeat(
        self, workers: Sequence[str], running: Sequence[tuple[str, int, str]], lease: float
    ) -> tuple[set[tuple[str, int]], bool, bool]:
        """(held (job, run) pairs, stop requested, our worker rows still exist)."""

        def beat(conn: sqlite3.Connection) -> tuple[set[tuple[str, int]], bool, bool]:
            now = time.time()
            names = json.dumps(list(workers))
            renewed = conn.execute(
                _Q["renew_leases"],
                {"lease_until": now + lease, "held": json.dumps([list(r) for r in running])},
            ).fetchall()
            rows = conn.execute(_Q["worker_heartbeat"], {"now": now, "workers": names}).fetchall()
            held = {(r["id"], r["runs"]) for r in renewed}
            return held, any(r["stop_requested"] for r in rows), len(rows) == len(workers)

        return self._write(beat)

    @_translated
    def rescue_expired(self, policy: Policy, stale_after: float) -> list[str]:
        """Fail every attempt whose lease expired ("worker lost"); drop silent worker rows."""
        from queuectl.lifecycle import WorkerLost, decide
        from queuectl.models import Job

        def rescue(conn: sqlite3.Connection) -> list[str]:
            now = time.time()
            rescued = []
            for row in conn.execute(_Q["expired"], {"now": now}).fetchall():
                job = Job.from_row(row)
                step = decide(job, WorkerLost(), policy, now)
                params = end_params(job, job.worker, step, WorkerLost.name)
                params["now"] = now
                if conn.execute(_Q["rescue_job"], params).rowcount:
                    conn.execute(_Q["end_attempt"], params)
                    rescued.append(job.id)
            conn.execute(_Q["delete_stale_workers"], {"before": now - stale_after})
            return rescued

        if not self._rows("expired", {"now": time.time()}):  # read first: no write lock when idle
            self._change("delete_stale_workers", {"before": time.time() - stale_after})
            return []
        return self._write(rescue)

    @_translated
    def next_due(self, queues: Sequence[str] | None) -> float | None:
        if queues:
            rows = self._rows("next_due_in", {"queues": json.dumps(list(queues))})
        else:
            rows = self._rows("next_due_any")
        value = rows[0]["t"]
        return None if value is None else float(value)

    def watcher(self) -> DbWatcher | None:
        try:
            from queuectl.worker.wakeup import DbWatcher

            return DbWatcher(self.path)
        except (OSError, AttributeError):  # no inotify here: workers poll
            return None

    # --- operator verbs ---------------------------------------------------------
    def _check_states(
        self, conn: sqlite3.Connection, ids: Sequence[str], allowed: tuple[str, ...], verb: str
    ) -> None:
        for job_id in ids:
            row = conn.execute(_Q["job_state"], {"id": job_id}).fetchone()
            if row is None:
                raise NotFound(f"no job {job_id!r}; nothing was changed")
            if row["state"] not in allowed:
                raise Conflict(
                    f"cannot {verb} job {job_id!r}: it is {row['state']}; nothing was changed"
                )

    @_translated
    def retry_dead(self, ids: Sequence[str] | None) -> list[str]:
        def retry(conn: sqlite3.Connection) -> list[str]:
            now = time.time()
            if ids is None:
                return [r["id"] for r in conn.execute(_Q["retry_all_dead"], {"now": now})]
            self._check_states(conn, ids, ("dead",), "retry")
            for job_id in ids:
                conn.execute(_Q["retry_dead"], {"id": job_id, "now": now})
            return list(ids)

        return self._write(retry)

    @_translated
    def purge(self, ids: Sequence[str] | None, state: str) -> list[str]:
        def purge(conn: sqlite3.Connection) -> list[str]:
            if ids is None:
                gone = [r["id"] for r in conn.execute(_Q["delete_all_in_state"], {"state": state})]
            else:
                self._check_states(conn, ids, (state,), "purge")
                for job_id in ids:
                    conn.execute(_Q["delete_job"], {"id": job_id, "state": state})
                gone = list(ids)
            conn.executemany(_Q["delete_attempts"], [{"job_id": i} for i in gone])
            return gone

        return self._write(purge)

    @_translated
    def cancel(self, ids: Sequence[str]) -> list[str]:
        def cancel(conn: sqlite3.Connection) -> list[str]:
            self._check_states(conn, ids, ("pending", "failed", "processing"), "cancel")
            now = time.time()
            for job_id in ids:
                conn.execute(_Q["cancel_job"], {"id": job_id, "now": now})
            return list(ids)

        return self._write(cancel)

    # --- workers ----------------------------------------------------------------
    @_translated
    def register_workers(
        self,
        ids: Sequence[str],
        host: str,
        pid: int,
        pid_start: str | None,
        queues: Sequence[str] | None,
    ) -> None:
        now = time.time()
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
        self._change_many("register_worker", rows)

    @_translated
    def unregister_workers(self, ids: Sequence[str]) -> None:
        self._change("delete_workers", {"ids": json.dumps(list(ids))})

    @_translated
    def workers(self) -> list[WorkerInfo]:
        from queuectl.models import WorkerInfo

        return [WorkerInfo.from_row(r) for r in self._rows("list_workers")]

    @_translated
    def request_stop(self) -> int:
        return self._change("request_stop")

    def close(self) -> None:
        self.conn.close()
