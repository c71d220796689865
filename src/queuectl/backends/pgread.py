"""PostgreSQL without psycopg, for commands that only read (location.GLANCE: status,
list, show, stats…): their reads go through libpq itself (backends.libpq), so that they
do not pay the import of psycopg (DECISIONS.md §28). Also what both PostgreSQL backends
share: the connection's options, the queries by schema, and the reads' methods.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import TYPE_CHECKING

from queuectl.backends.common import SqlBackend, check_readable
from queuectl.errors import StorageError
from queuectl.sqlfiles import WRITTEN_FOR, migrations, queries

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from typing import Any, TypeVar

    from queuectl.backends.libpq import Connection
    from queuectl.backends.postgres import Listener
    from queuectl.location import Location

    R = TypeVar("R")

CONNECT_TIMEOUT = 5.0  # seconds to reach the server before a command gives up
# A lost network must surface as an error, not a query that hangs for the kernel's
# 15-minute retransmission timeout: unacknowledged data fails after 15 s, and idle
# connections are probed.
LINK_OPTIONS: dict[str, str | int] = {
    "connect_timeout": int(CONNECT_TIMEOUT),
    # A client that vanishes inside a transaction (power loss, a cut link) would keep its
    # rows locked until the server notices the dead socket, hours later, and SKIP LOCKED
    # rescues would pass its job by. Our transactions never idle: end such sessions fast.
    "options": "-c idle_in_transaction_session_timeout=2000",
    "tcp_user_timeout": 15000,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 3,
    "keepalives_count": 3,
}
_QUERIES = {WRITTEN_FOR: queries("postgres")}  # per schema, rewritten once per process


def queries_in(schema: str) -> dict[str, str]:
    if schema not in _QUERIES:
        _QUERIES[schema] = queries("postgres", schema)
    return _QUERIES[schema]


class PostgresReads(SqlBackend):
    """The methods of both PostgreSQL backends that only read through ``_rows``."""

    where: Location
    schema: str
    _offset = 0.0  # database clock minus local clock, refreshed by now_from_server()
    _reading: Any = None  # the connection of a snapshot()

    driver_error: type[Exception]  # what the driver raises

    def _open(self) -> Any:
        """The process's connection, connected again if it broke."""
        raise NotImplementedError

    def _abandon(self, conn: Any) -> None:
        """After the end of a snapshot failed: roll back, or drop the connection."""
        raise NotImplementedError

    def _read_on(self) -> Any:
        """The connection a read goes to: the process's, which must still be the
        snapshot's while one is open (a read must not see another state)."""
        conn = self._open()
        if self._reading is not None and conn is not self._reading:
            raise StorageError(
                f"PostgreSQL at {self.where.shown}: the connection was lost during a read "
                "that needed one snapshot"
            )
        return conn

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """One REPEATABLE READ transaction, read only, on the process's one connection;
        a read that finds the connection replaced fails rather than read another state."""
        try:
            conn = self._open()
            conn.execute(self.q["snapshot_begin"])
            conn.execute(self.q["snapshot_patience"])
        except self.driver_error as exc:
            raise self.error(exc) from exc
        self._reading = conn
        try:
            yield
        finally:
            self._reading = None
            try:
                conn.execute(self.q["snapshot_end"])
            except self.driver_error:
                self._abandon(conn)

    def error(self, exc: BaseException) -> StorageError:
        reason = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        return StorageError(f"PostgreSQL at {self.where.shown}: {reason or type(exc).__name__}")

    def now(self) -> float:
        """The database's clock, estimated locally from the last measured offset."""
        return time.time() + self._offset

    def now_from_server(self) -> float:
        """Measure the offset as if the server had read its clock at the end of the round
        trip: the estimate then errs behind the server, never ahead, so a job enqueued
        with no delay is due at once for a claim that follows (a midpoint estimate ran a
        few milliseconds ahead on a busy machine, and such a claim found nothing)."""
        server = float(self._rows("now")[0]["now"])
        self._offset = server - time.time()
        return server

    def _list(self, values: Sequence[object]) -> object:
        return list(values)

    def output(self, job_id: str, run: int, after: int = 0) -> list[tuple[int, bytes]]:
        """The stored chunks of an attempt's output that end after offset ``after``."""
        rows = self._rows("output_of", {"job_id": job_id, "run": run, "after": after})
        return [(int(row["start"]), bytes(row["data"])) for row in rows]

    def output_watcher(self) -> Listener:
        """Readable when some attempt's output was stored (a reader on any host)."""
        from queuectl.backends.postgres import Listener

        return Listener(self.where, ("output",))

    def watcher(self) -> Listener:
        from queuectl.backends.postgres import Listener

        return Listener(self.where)

    def _version(self) -> int:
        present = self._rows("schema_present")[0]["present"]
        return int(self._rows("schema_version")[0]["v"] or 0) if present else 0

    def _check_version(self) -> None:
        """For a role that only reads: the queue must be there, at this queuectl's schema
        version (migrating is a write: see DECISIONS.md, "Never the wrong queue")."""
        check_readable(self._version(), migrations("postgres")[-1][0], self.where.shown)


class PostgresReader(PostgresReads):
    """A queue opened to read only, on one libpq connection (connected again on the next
    use after it broke). It never writes: a write is a mistake of the caller's."""

    def __init__(self, where: Location) -> None:
        from queuectl.backends import libpq

        self.where = where
        self.schema = where.schema or WRITTEN_FOR
        self.q = queries_in(self.schema)
        self._link: Connection | None = None
        self.driver_error = libpq.LibpqError
        try:
            url_ok = libpq.valid(where.target)
        except libpq.LibpqError as exc:  # no libpq to load: one line, not a traceback
            raise self.error(exc) from None
        if not url_ok:
            raise StorageError(f"{where.shown}: not a valid PostgreSQL URL")
        try:
            self._check_version()
            self.reload_settings()
            self.now_from_server()
        except BaseException:
            self.close()
            raise

    def _open(self) -> Connection:
        from queuectl.backends.libpq import Connection

        if self._link is None or self._link.broken:
            self.close()
            self._link = Connection(self.where.target, LINK_OPTIONS)
        return self._link

    def _rows(self, name: str, params: dict[str, Any] | None = None) -> list[Any]:
        try:
            conn: Connection = self._read_on()
            return conn.execute(self.q[name], params or {}).fetchall()
        except self.driver_error as exc:
            raise self.error(exc) from exc

    def _abandon(self, conn: Connection) -> None:
        conn.close()  # the server rolls back what it held of the transaction

    def _write(self, work: Callable[[Any], R], batched: bool = False) -> R:
        raise StorageError(f"PostgreSQL at {self.where.shown}: opened to read only")

    def close(self) -> None:
        if self._link is not None:
            self._link.close()
            self._link = None
