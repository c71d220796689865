"""PostgreSQL: one queue shared by workers on any number of hosts.

Imported only for ``postgresql://`` locations. psycopg 3, one connection per process,
opened again on the next use after it broke. Every instant that matters (leases,
``run_at``) is computed by the database's clock in SQL. Idle workers wait on
LISTEN/NOTIFY; claims use ``FOR UPDATE SKIP LOCKED``. A queue lives in a schema of its
own (``Location.schema``); its SQL and channels follow it (``sqlfiles.in_schema``).
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import TYPE_CHECKING

import psycopg
from psycopg.conninfo import make_conninfo
from psycopg.pq import TransactionStatus
from psycopg.rows import DictRow, dict_row

from queuectl.backends.common import PLAIN, Claims, DuplicateKey, plain_batch
from queuectl.backends.pgread import LINK_OPTIONS, PostgresReads, queries_in
from queuectl.errors import StorageError
from queuectl.location import COMMAND
from queuectl.logfiles import cap_shape
from queuectl.sqlfiles import WRITTEN_FOR, channel, migrations

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from typing import Any, TypeVar

    from queuectl.backends.results import Beat, Exchange
    from queuectl.lifecycle import Finished
    from queuectl.location import Location, Role

    R = TypeVar("R")
    Conn = psycopg.Connection[DictRow]

# Between the commands of a batch sent as one text (insert_plain_job): a stored command is
# JSON made by json.dumps, which writes every control character as an escape.
SEPARATOR = "\x1f"
MIGRATION_LOCK = 0x71756575  # advisory lock id ("queu"): one migrating process at a time
# psycopg logs a warning when ending a pipeline fails after the block already raised (the
# error we report): without a handler of the application's, Python would print it raw.
logging.getLogger("psycopg").addHandler(logging.NullHandler())

# A worker's own state changes (claims, results, leases) do not wait for the server's
# WAL flush, as on SQLite (DECISIONS.md §7): a claim or result lost in a server crash
# re-runs a job, which at-least-once allows. Enqueues and operator commands (the CLI's
# and the dashboard's: only the worker role's commits are not durable) still wait.
WORKER_OPTIONS = "-c synchronous_commit=off"
# Reads planned anew at every call, never from the generic plan PostgreSQL may settle on
# for a statement psycopg has prepared (after a few calls): their best plan depends on a
# parameter's value (``floor``, the rollups' mark: a few recent attempts by an index, where
# a generic plan guesses a third of all attempts and scans the table).
# Chunks of an attempt whose stored tail is written are dropped this many seconds later
# (at a heartbeat): a reader that saw the attempt end reads the rest first.
OUTPUT_GRACE = 2.0
# The parameters of the end a plain claim also writes (query claim_plain_for_worker), for
# a claim without one: it then ends nothing.
NO_END = dict.fromkeys(
    ("state", "attempts", "snoozes", "run_at", "exit_code", "error", "job_id", "worker", "run",
     "outcome", "log_path", "log_tail", "cpu_user_s", "cpu_sys_s", "max_rss_kb")
)  # fmt: skip
CUSTOM_PLANS = frozenset(
    {"attempts_finished_since", "attempt_timeline", "attempt_outcomes", "attempt_durations"}
)


class _Connection:
    """The process's one connection. A command runs a few statements and exits; a
    worker is single-threaded and uses it turn by turn, so it needs no pool. After a
    failure (a server restart, a cut link) the next use connects again, and a refused
    connection is reported at once with its reason."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self.conn = self._connect()

    def _connect(self) -> Conn:
        return psycopg.Connection[DictRow].connect(
            self.conninfo, row_factory=dict_row, autocommit=True
        )

    @contextmanager
    def connection(self) -> Iterator[Conn]:
        if self.conn.broken or self.conn.closed:
            self.conn.close()
            self.conn = self._connect()
        yield self.conn

    def abandon(self) -> None:
        """After a transaction failed part-way: roll back what the server holds of it, or
        drop the connection (its end makes the server roll back) if that fails too."""
        try:
            if self.conn.info.transaction_status != TransactionStatus.IDLE:
                self.conn.rollback()
        except psycopg.Error:
            self.conn.close()

    def close(self) -> None:
        self.conn.close()


class PostgresBackend(PostgresReads):
    def __init__(self, where: Location, role: Role = COMMAND) -> None:
        """A role whose commits need not be durable (a worker): state changes that skip
        the WAL flush wait, see WORKER_OPTIONS. The connection outlives a database restart
        whatever the role, so whether it runs for hours changes nothing else here. A role
        that does not create (location.READER) finds the queue's schema or fails."""
        self.where = where
        url = where.target
        self.schema = where.schema or WRITTEN_FOR
        self.q = queries_in(self.schema)
        options = dict(LINK_OPTIONS)
        if not role.durable:
            options["options"] = f"{options['options']} {WORKER_OPTIONS}"
        try:
            conninfo = make_conninfo(url, **options)
        except psycopg.Error:
            raise StorageError(f"{where.shown}: not a valid PostgreSQL URL") from None
        try:
            self.link = _Connection(conninfo)
        except psycopg.Error as exc:
            raise self.error(exc) from exc
        try:
            self._migrate() if role.creates else self._check_version()
            self.reload_settings()
            self.now_from_server()
        except BaseException:
            self.link.close()
            raise

    # --- hooks of SqlBackend ------------------------------------------------------
    def _rows(self, name: str, params: dict[str, Any] | None = None) -> list[Any]:
        prepare = False if name in CUSTOM_PLANS else None
        try:
            conn: Conn = self._read_on()
            return conn.execute(self.q[name], params or {}, prepare=prepare).fetchall()
        except psycopg.Error as exc:
            raise self.error(exc) from exc

    driver_error = psycopg.Error

    def _open(self) -> Conn:
        with self.link.connection() as conn:
            return conn

    def _abandon(self, conn: Conn) -> None:
        self.link.abandon()

    def _write(self, work: Callable[[Any], R], batched: bool = False) -> R:
        """Run ``work`` in one transaction. ``batched``: its statements go in pipeline mode,
        one round trip instead of one per statement.

        A batch is wrapped in an explicit BEGIN … COMMIT, both in the same round trip: psycopg
        ends a pipeline with a Sync even when ``work`` raised half-way (a value the driver
        cannot send, any error in Python between statements), and a Sync would commit an
        implicit transaction holding the statements already sent. Within BEGIN the Sync
        commits nothing; the failed transaction is rolled back here (abandon)."""
        try:
            with self.link.connection() as conn:
                if not batched:
                    with conn.transaction():
                        return work(conn)
                try:
                    with conn.pipeline():
                        self._run(conn, "begin")
                        result = work(conn)
                        self._run(conn, "commit")
                except BaseException:
                    self.link.abandon()
                    raise
                return result
        except psycopg.errors.UniqueViolation as exc:
            raise DuplicateKey(str(exc)) from exc
        except psycopg.Error as exc:
            raise self.error(exc) from exc

    def _run_many(self, conn: Any, name: str, rows: Sequence[dict[str, Any]]) -> None:
        conn.cursor().executemany(self.q[name], rows)

    def _insert_jobs(self, conn: Any, rows: list[tuple[Any, ...]]) -> None:
        """One statement for the whole batch, its columns as arrays: far fewer round trips
        than a row each, and the statement-level NOTIFY trigger fires once. A batch of
        plain jobs (common.plain_batch) sends six columns (insert_plain_job), its ids,
        commands and queues each as one text that the server splits: psycopg's dump of a
        list of strings costs more than the join."""
        if plain_batch(rows):
            ids, commands, retries, priorities, queues, run_at = zip(
                *(row[:PLAIN] for row in rows), strict=True
            )
            now = rows[0][-1]
            conn.execute(
                self.q["insert_plain_job"],
                [
                    now,
                    now,
                    ",".join(ids),
                    SEPARATOR.join(commands),
                    list(retries),
                    list(priorities),
                    ",".join(queues),
                    list(run_at),
                ],
            )
            return
        *columns, created, _ = zip(*rows, strict=True)
        conn.execute(self.q["insert_job"], [created[0], created[0], *map(list, columns)])

    def _settle(self, conn: Any, ids: Sequence[str]) -> None:
        """One statement, function queuectl.settle (migration 0006): the worker's turn
        reads nothing before its commit."""
        if ids:
            self._run(conn, "settle", {"ids": list(ids)})

    def _end_jobs(self, conn: Any, ends: Sequence[dict[str, Any]]) -> Callable[[], list[bool]]:
        """One statement a job (query end_job: the attempt and the job); the trigger
        jobs_state_changed (migration 0017) applies endings to dependents, as no result is
        read before the commit."""
        cursors = [self._run(conn, "end_job", params) for params in ends]
        return lambda: [cursor.fetchone()["held"] == 1 for cursor in cursors]

    def _claim(
        self, conn: Any, name: str, claimers: Sequence[str], params: dict[str, Any]
    ) -> Claims:
        """Every claimer's statement goes out in the turn's pipeline (each opens its own
        attempt, query ``claim_any``/``claim_in``/``claim_out``); their cursors are read
        after the commit. A claimer that finds nothing costs no extra round trip."""
        cursors = [
            self._run(conn, name, {**NO_END, **params, "claimer": claimer, "others": False})
            for claimer in claimers
        ]
        return Claims(cursors, with_flow=True)

    def exchange(
        self,
        finished: Sequence[Finished],
        claimers: Sequence[str],
        queues: Sequence[str] | None,
        lease: float,
    ) -> Exchange:
        """A turn of one statement is sent alone, its own transaction (no BEGIN and COMMIT
        around it): one result (query end_job), one claim, or one result and one claim
        while no queue has a row (the plain claim also ends a job). The server then plans
        and runs one statement instead of four.

        A claim for several free slots is one claim first, and one for the others (one
        transaction) only when it took a job and saw another ready (``more``): an idle
        worker woken for one job sends one statement; a job enqueued after that claim's
        snapshot wakes the worker (NOTIFY) as usual. The merged claim does not see its end
        (one snapshot): when it took nothing, a claim of its own follows, so that a job the
        end made claimable (a dependent it released, a retry due at once) is taken in this
        turn, as in one transaction. Any other turn is a transaction of several
        (SqlBackend.exchange)."""
        if (
            len(finished) > 1
            or (finished and claimers and self._flow)
            or not (finished or claimers)
        ):
            return super().exchange(finished, claimers, queues, lease)
        from queuectl.backends.results import Exchange

        now = self.now()
        ends = self._end_rows(finished, now)
        if not claimers:
            return Exchange([self._rows("end_job", ends[0])[0]["held"] == 1], [])
        claim, params = self._claim_statement(queues, lease, now)
        params.update(ends[0] if ends else NO_END, claimer=claimers[0], others=len(claimers) > 1)
        rows = self._rows(claim, params)
        jobs = self._claimed(Claims([rows], with_flow=True), claimers[:1], queues, lease)
        if ends and not jobs:  # what the end made claimable
            jobs = self.exchange([], claimers, queues, lease).claimed
        elif jobs and len(claimers) > 1 and rows[0]["more"]:
            jobs += super().exchange([], claimers[1:], queues, lease).claimed
        return Exchange([rows[0]["held"] == 1] if ends else [], jobs)

    # --- engine specifics ---------------------------------------------------------
    def heartbeat(
        self, workers: Sequence[str], running: Sequence[tuple[str, int, str]], lease: float
    ) -> Beat:
        result = super().heartbeat(workers, running, lease)
        self.now_from_server()  # keep the local estimate of the server's clock fresh
        try:  # finished attempts' output chunks (query output_drop_finished)
            self._change("output_drop_finished", {"grace": OUTPUT_GRACE})
        except StorageError:
            pass  # the next heartbeat drops them
        return result

    # --- output from any host (DECISIONS.md, "Output from any host") -------------
    def write_output(
        self, job_id: str, run: int, pieces: Sequence[tuple[int, bytes]], bound: int
    ) -> None:
        """Store ``pieces`` (offset, bytes) of an attempt's output, keep its chunks within
        ``bound`` bytes (its start and its end, logfiles.cap_shape; 0: all) and tell the
        readers (NOTIFY on the output channel): one transaction, one round trip."""
        if not pieces:
            return
        key = {"job_id": job_id, "run": run}

        def work(conn: Any) -> None:
            for start, data in pieces:
                self._run(conn, "output_add", {**key, "start": start, "data": data})
            if bound:
                head, tail = cap_shape(bound)
                end = pieces[-1][0] + len(pieces[-1][1])
                self._run(conn, "output_trim", {**key, "head": head, "cut": end - tail})
            self._run(conn, "output_notify", key)

        self._write(work, batched=True)

    def _migrate(self) -> None:
        steps = migrations("postgres", self.schema)
        latest = steps[-1][0]
        if self._version() == latest:
            return

        def apply(conn: Any) -> None:
            self._run(conn, "migration_lock", {"lock": MIGRATION_LOCK})
            self._run(conn, "create_schema")
            self._run(conn, "create_version_table")
            current = int(self._run(conn, "schema_version").fetchone()["v"] or 0)
            if current > latest:
                raise StorageError(
                    f"{self.where.shown} has queue schema {current}; this queuectl knows {latest}"
                )
            for number, script in steps:
                if number > current:
                    conn.execute(script.encode())  # no parameters: several statements at once
                    self._run(conn, "record_version", {"version": number})

        self._write(apply)

    def close(self) -> None:
        self.link.close()


class Listener:
    """LISTEN on a dedicated connection: a readable fd when a job or a control message
    arrives from any host (``kinds``; a reader of output listens for "output"). Broken
    connections raise StorageError from drain(); the worker then polls and makes a new
    Listener."""

    def __init__(self, where: Location, kinds: Sequence[str] = ("jobs", "control")) -> None:
        self.shown = where.shown
        schema = where.schema or WRITTEN_FOR
        self.channels = {channel(schema, kind): kind for kind in kinds}
        self.jobs_only = set(kinds) <= {"jobs"}
        try:
            self.conn = psycopg.connect(
                make_conninfo(where.target, **LINK_OPTIONS), autocommit=True
            )
            for name in self.channels:
                self.conn.execute(f'LISTEN "{name}"')
        except psycopg.Error as exc:
            raise StorageError(f"PostgreSQL at {self.shown}: cannot LISTEN: {exc}") from exc

    def fileno(self) -> int:
        return self.conn.fileno()

    def drain(self) -> set[str]:
        """What arrived: "jobs" (something may be claimable) and/or "control"."""
        try:
            return {self.channels[n.channel] for n in self.conn.notifies(timeout=0)}
        except psycopg.Error as exc:
            raise StorageError(f"PostgreSQL at {self.shown}: lost LISTEN: {exc}") from exc

    def close(self) -> None:
        try:
            self.conn.close()
        except psycopg.Error:
            pass  # it was broken already
