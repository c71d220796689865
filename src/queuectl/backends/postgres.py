"""PostgreSQL: one queue shared by workers on any number of hosts.

Imported only for ``postgresql://`` locations. psycopg 3 with its connection pool,
which reconnects in the background with backoff. Every instant that matters (leases,
``run_at``) is computed by the database's clock in SQL. Idle workers wait on
LISTEN/NOTIFY; claims use ``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

import functools
import json
import logging
import time

import psycopg
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

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

    P = ParamSpec("P")
    R = TypeVar("R")
    Conn = psycopg.Connection[DictRow]

CONNECT_TIMEOUT = 5.0  # seconds to reach the server before a command gives up
MIGRATION_LOCK = 0x71756575  # advisory lock id ("queu"): one migrating process at a time
JOBS_CHANNEL = "queuectl_jobs"
CONTROL_CHANNEL = "queuectl_control"
_Q = queries("postgres")

# The pool retries in the background and would log every failed attempt to stderr.
logging.getLogger("psycopg.pool").setLevel(logging.CRITICAL)


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    scheme, sep, rest = url.partition("://")
    if "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}{sep}{user}@{host}" if user else f"{scheme}{sep}{host}"


def _translated(method: Callable[P, R]) -> Callable[P, R]:
    """Driver errors become StorageError naming the server, with the original as __cause__."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except (psycopg.Error, PoolTimeout) as exc:
            self = args[0]
            assert isinstance(self, PostgresBackend)
            raise self.error(exc) from exc

    return wrapper


class PostgresBackend:
    def __init__(self, url: str) -> None:
        self.url = url
        self._offset = 0.0  # database clock minus local clock, refreshed by now_from_server()
        self.pool: ConnectionPool[Conn] = ConnectionPool(
            url,
            connection_class=psycopg.Connection[DictRow],
            min_size=1,
            max_size=4,
            open=False,
            timeout=CONNECT_TIMEOUT,
            kwargs={"row_factory": dict_row, "connect_timeout": int(CONNECT_TIMEOUT)},
            check=ConnectionPool.check_connection,
            reconnect_timeout=0,  # never give up: a worker outlives a database restart
            name="queuectl",
        )
        try:
            self.pool.open(wait=True, timeout=CONNECT_TIMEOUT)
            self._migrate()
            self._settings = {r["key"]: r["value"] for r in self._rows("config_all")}
            self.now_from_server()
        except (psycopg.Error, PoolTimeout) as exc:
            self.pool.close()
            raise self.error(exc) from exc
        except BaseException:
            self.pool.close()
            raise

    def error(self, exc: BaseException) -> StorageError:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if isinstance(exc, PoolTimeout):
            reason = "cannot reach the server (is it running, and is the URL right?)"
        return StorageError(f"PostgreSQL at {redact(self.url)}: {reason}")

    # --- plumbing ---------------------------------------------------------------
    def _migrate(self) -> None:
        steps = migrations("postgres")
        latest = steps[-1][0]
        if self._version() == latest:
            return
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            conn.execute("CREATE SCHEMA IF NOT EXISTS queuectl")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS queuectl.schema_version (version integer NOT NULL)"
            )
            row = conn.execute("SELECT max(version) AS v FROM queuectl.schema_version").fetchone()
            current = int(row["v"] or 0) if row else 0
            if current > latest:
                raise StorageError(
                    f"{redact(self.url)} has queue schema {current}; this queuectl knows {latest}"
                )
            for number, script in steps:
                if number > current:
                    conn.execute(script.encode())  # no parameters: several statements at once
                    conn.execute("INSERT INTO queuectl.schema_version VALUES (%s)", (number,))

    def _version(self) -> int:
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT to_regclass('queuectl.schema_version') IS NOT NULL AS present"
            ).fetchone()
            if not row or not row["present"]:
                return 0
            row = conn.execute("SELECT max(version) AS v FROM queuectl.schema_version").fetchone()
            return int(row["v"] or 0) if row else 0

    def _rows(self, name: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        with self.pool.connection() as conn:
            return conn.execute(_Q[name], params or {}).fetchall()

    def _write(self, work: Callable[[Conn], R]) -> R:
        """Run ``work`` in one transaction on a pooled connection."""
        with self.pool.connection() as conn, conn.transaction():
            return work(conn)

    def _change(self, name: str, params: dict[str, Any] | None = None) -> int:
        return self._write(lambda conn: conn.execute(_Q[name], params or {}).rowcount)

    # --- settings and clock -----------------------------------------------------
    def settings(self) -> dict[str, str]:
        return dict(self._settings)

    @_translated
    def reload_settings(self) -> dict[str, str]:
        self._settings = {r["key"]: r["value"] for r in self._rows("config_all")}
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

    def now(self) -> float:
        """The database's clock, estimated locally from the last measured offset."""
        return time.time() + self._offset

    @_translated
    def now_from_server(self) -> float:
        before = time.time()
        server = float(self._rows("now")[0]["now"])
        self._offset = server - (before + time.time()) / 2
        return server

    # --- enqueue / read ---------------------------------------------------------
    @_translated
    def enqueue(self, specs: Sequence[JobSpec], max_retries: int, now: float) -> list[str]:
        rows = job_rows(specs, max_retries, now)
        try:
            self._write(lambda conn: conn.cursor().executemany(_Q["insert_job"], rows))
        except psycopg.errors.UniqueViolation:
            raise duplicate_error(self._existing([row["id"] for row in rows])) from None
        return [row["id"] for row in rows]

    def _existing(self, ids: list[str]) -> list[str]:
        return [r["id"] for r in self._rows("existing_ids", {"ids": ids})]

    @_translated
    def get(self, job_id: str) -> Job | None:
        from queuectl.models import Job

        rows = self._rows("get_job", {"id": job_id})
        return Job.from_row(rows[0]) if rows else None

    @_translated
    def list_jobs(self, state: str | None, queue: str | None, limit: int | None) -> list[Job]:
        from queuectl.models import Job

        params = {"state": state, "queue": queue, "limit": limit}
        return [Job.from_row(r) for r in self._rows("list_jobs", params)]

    @_translated
    def counts(self) -> dict[str, int]:
        from queuectl.models import STATES

        found = dict.fromkeys(STATES, 0)
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

        params: dict[str, Any] = {"worker": worker, "lease": lease}
        name = "claim_any"
        if queues:
            params["queues"] = list(queues)
            name = "claim_in"
        rows = self._write(lambda conn: conn.execute(_Q[name], params).fetchall())
        return Job.from_row(rows[0]) if rows else None

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
        params = end_params(job, worker, transition, outcome, log_path, log_tail)

        def end(conn: Conn) -> bool:
            ended = conn.execute(_Q["end_job"], params).rowcount
            conn.execute(_Q["end_attempt"], params)
            return ended == 1

        return self._write(end)

    @_translated
    def heartbeat(
        self, workers: Sequence[str], running: Sequence[tuple[str, int, str]], lease: float
    ) -> tuple[set[tuple[str, int]], bool, bool]:
        held_params = {
            "lease": lease,
            "ids": [r[0] for r in running],
            "runs": [r[1] for r in running],
            "workers": [r[2] for r in running],
        }

        def beat(conn: Conn) -> tuple[set[tuple[str, int]], bool, bool]:
            renewed = conn.execute(_Q["renew_leases"], held_params).fetchall()
            rows = conn.execute(_Q["worker_heartbeat"], {"workers": list(workers)}).fetchall()
            held = {(r["id"], r["runs"]) for r in renewed}
            return held, any(r["stop_requested"] for r in rows), len(rows) == len(workers)

        result = self._write(beat)
        self.now_from_server()
        return result

    @_translated
    def rescue_expired(self, policy: Policy, stale_after: float) -> list[str]:
        from queuectl.lifecycle import WorkerLost, decide
        from queuectl.models import Job

        def rescue(conn: Conn) -> list[str]:
            rescued = []
            for row in conn.execute(_Q["expired"]).fetchall():
                job = Job.from_row(row)
                step = decide(job, WorkerLost(), policy, self.now())
                params = end_params(job, job.worker, step, WorkerLost.name)
                if conn.execute(_Q["rescue_job"], params).rowcount:
                    conn.execute(_Q["end_attempt"], params)
                    rescued.append(job.id)
            conn.execute(_Q["delete_stale_workers"], {"stale_after": stale_after})
            return rescued

        if not self._rows("any_expired")[0]["found"]:
            self._change("delete_stale_workers", {"stale_after": stale_after})
            return []
        return self._write(rescue)

    @_translated
    def next_due(self, queues: Sequence[str] | None) -> float | None:
        if queues:
            rows = self._rows("next_due_in", {"queues": list(queues)})
        else:
            rows = self._rows("next_due_any")
        value = rows[0]["t"]
        return None if value is None else float(value)

    def watcher(self) -> Listener:
        return Listener(self.url)

    # --- operator verbs ---------------------------------------------------------
    def _check_states(
        self, conn: Conn, ids: Sequence[str], allowed: tuple[str, ...], verb: str
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
        def retry(conn: Conn) -> list[str]:
            if ids is None:
                return [r["id"] for r in conn.execute(_Q["retry_all_dead"]).fetchall()]
            self._check_states(conn, ids, ("dead",), "retry")
            for job_id in ids:
                conn.execute(_Q["retry_dead"], {"id": job_id})
            return list(ids)

        return self._write(retry)

    @_translated
    def purge(self, ids: Sequence[str] | None, state: str) -> list[str]:
        def purge(conn: Conn) -> list[str]:
            if ids is None:
                gone = [
                    r["id"]
                    for r in conn.execute(_Q["delete_all_in_state"], {"state": state}).fetchall()
                ]
            else:
                self._check_states(conn, ids, (state,), "purge")
                for job_id in ids:
                    conn.execute(_Q["delete_job"], {"id": job_id, "state": state})
                gone = list(ids)
            conn.cursor().executemany(_Q["delete_attempts"], [{"job_id": i} for i in gone])
            return gone

        return self._write(purge)

    @_translated
    def cancel(self, ids: Sequence[str]) -> list[str]:
        def cancel(conn: Conn) -> list[str]:
            self._check_states(conn, ids, ("pending", "failed", "processing"), "cancel")
            for job_id in ids:
                conn.execute(_Q["cancel_job"], {"id": job_id})
            conn.execute(_Q["notify_control"], {"what": "cancel"})
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
        rows = [
            {
                "id": worker,
                "host": host,
                "pid": pid,
                "pid_start": pid_start,
                "queues": json.dumps(list(queues)) if queues else None,
            }
            for worker in ids
        ]
        self._write(lambda conn: conn.cursor().executemany(_Q["register_worker"], rows))

    @_translated
    def unregister_workers(self, ids: Sequence[str]) -> None:
        self._change("delete_workers", {"ids": list(ids)})

    @_translated
    def workers(self) -> list[WorkerInfo]:
        from queuectl.models import WorkerInfo

        return [WorkerInfo.from_row(r) for r in self._rows("list_workers")]

    @_translated
    def request_stop(self) -> int:
        def stop(conn: Conn) -> int:
            flagged = conn.execute(_Q["request_stop"]).rowcount
            conn.execute(_Q["notify_control"], {"what": "stop"})
            return flagged

        return self._write(stop)

    def close(self) -> None:
        self.pool.close()


class Listener:
    """LISTEN on a dedicated connection: a readable fd when a job or a control message
    arrives from any host. Broken connections raise StorageError from drain(); the
    worker then polls and makes a new Listener."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self.conn = psycopg.connect(url, autocommit=True, connect_timeout=int(CONNECT_TIMEOUT))
            self.conn.execute(f"LISTEN {JOBS_CHANNEL}")
            self.conn.execute(f"LISTEN {CONTROL_CHANNEL}")
        except psycopg.Error as exc:
            raise StorageError(f"PostgreSQL at {redact(url)}: cannot LISTEN: {exc}") from exc

    def fileno(self) -> int:
        return self.conn.fileno()

    def drain(self) -> set[str]:
        """What arrived: "jobs" (something may be claimable) and/or "control"."""
        try:
            return {
                "jobs" if n.channel == JOBS_CHANNEL else "control"
                for n in self.conn.notifies(timeout=0)
            }
        except psycopg.Error as exc:
            raise StorageError(f"PostgreSQL at {redact(self.url)}: lost LISTEN: {exc}") from exc

    def close(self) -> None:
        self.conn.close()
