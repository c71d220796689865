"""SQLite: the zero-set-up engine for one machine.

WAL lets readers run beside the one writer; every write transaction starts with
``BEGIN IMMEDIATE`` so it holds the write lock from its first statement (no
read-to-write upgrade that could fail half-way). Commits are durable by default
(``synchronous=FULL``). See DECISIONS.md for why a claim is atomic.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import time
from collections import Counter
from contextlib import contextmanager
from itertools import chain

from queuectl.backends.common import (
    JOB_COLUMNS,
    PLAIN,
    Claims,
    DuplicateKey,
    SqlBackend,
    check_readable,
    no_queue,
    plain_batch,
)
from queuectl.errors import StorageError
from queuectl.files import check_private, private_dirs
from queuectl.location import COMMAND
from queuectl.sqlfiles import migrations, queries

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence
    from typing import Any, TypeVar

    from queuectl.backends.wakeup import DbWatcher
    from queuectl.location import Role

    R = TypeVar("R")

BUSY_TIMEOUT = 5.0  # SQLite's own wait for the write lock, per attempt
# A worker waits for the lock itself, in finer steps than SQLite's (1 ms, 2 ms, 5 ms …):
# it is woken by an enqueue's first write to the WAL, while that commit still holds the
# lock for its fsync, and a new job should start as soon as the lock is free. Steps stay
# this small for the first 5 ms of a wait, then double up to 0.1 s.
WORKER_FIRST_PAUSE = 0.0001
BUSY_DEADLINE = 60.0  # then we retry whole transactions up to this long
_BUSY_CODES = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
_SYNC = {"full": "FULL", "normal": "NORMAL", "off": "OFF"}
_Q = queries("sqlite")
INSERT_CHUNK = 200  # jobs per multi-row INSERT (16 parameters each)
_HEAD, _VALUES, _ROW = _Q["insert_job"].rpartition("VALUES ")
_INSERT_CHUNK = _HEAD + _VALUES + ", ".join([_ROW] * INSERT_CHUNK)
QUEUE = JOB_COLUMNS.index("queue")  # where a new job's row holds its queue
_P_HEAD, _P_VALUES, _P_ROW = _Q["insert_plain_job"].rpartition("VALUES ")


def _plain_row(n: int) -> str:
    """insert_plain_job's row for the ``n``-th job (from 0) of a statement."""
    return re.sub(r"\?([2-7])\b", lambda m: f"?{int(m[1]) + PLAIN * n}", _P_ROW)


_PLAIN_CHUNK = _P_HEAD + _P_VALUES + ", ".join(_plain_row(n) for n in range(INSERT_CHUNK))


def _storage_error(path: str, exc: sqlite3.Error) -> StorageError:
    code = getattr(exc, "sqlite_errorcode", None)
    if code == sqlite3.SQLITE_NOTADB:
        return StorageError(f"{path} is not a queuectl database (file is not a database)")
    if code == sqlite3.SQLITE_FULL or (
        code is not None and code & 0xFF == sqlite3.SQLITE_IOERR and _disk_full(path)
    ):
        # a full disk often shows first as an I/O error (growing the -shm file)
        return StorageError(f"{path}: the disk is full; nothing was written")
    if code in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM):
        return StorageError(f"{path}: cannot write the queue here ({exc}); check permissions")
    return StorageError(f"{path}: {exc}")


def _disk_full(path: str) -> bool:
    try:
        stats = os.statvfs(os.path.dirname(path))
    except OSError:
        return False
    return stats.f_bavail == 0 or stats.f_favail == 0


def _prepare_location(path: str, creates: bool) -> None:
    """Create the folders (0700) and the file (0600) ourselves: SQLite would use the umask.
    A folder or file that exists must be this user's (or root's) and writable by no one
    else (files.check_private), or another user's jobs would run as this one. A role that
    does not create (location.READER) finds the file or fails, and creates nothing."""
    folder = os.path.dirname(path)
    check_private(folder, "folder")
    check_private(path, "file")
    if not creates and not os.path.exists(path):
        raise no_queue(path)
    try:
        if not os.path.isdir(folder):
            private_dirs(folder)
        if not os.path.exists(path):
            os.close(os.open(path, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600))
    except OSError as exc:
        raise StorageError(f"cannot create the queue at {path}: {exc.strerror}") from exc
    if os.path.isdir(path):
        raise StorageError(f"{path} is a folder, not a queue database")


def _existing(path: str) -> str:
    """The URI that opens ``path`` only if it exists: SQLite creates a missing file."""
    escaped = path.replace("%", "%25").replace("?", "%3f").replace("#", "%23")
    return f"file:{escaped}?mode=rw"


def _identity(path: str) -> tuple[int, int] | None:
    """(device, inode) of a file; None if it does not exist. Other OSErrors propagate."""
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return None
    return found.st_dev, found.st_ino


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


def _by_name(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    """A cursor's rows as dicts: a claimed job is read column by column by name (some 30
    of them), and sqlite3.Row finds each name by comparing it with every column's in
    turn."""
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


class SQLiteBackend(SqlBackend):
    q = _Q

    def __init__(self, path: str, role: Role = COMMAND) -> None:
        """A long-running ``role`` (a worker, a dashboard) waits for the lock in fine steps
        and checkpoints on a thread of its own. A role whose commits need not be durable
        (a worker) commits its own state changes without fsync when durability is "full"
        — see DECISIONS.md, "Storage and durability"."""
        self.path = path
        self._checkpoints: _Checkpointer | None = None
        self._first_pause = WORKER_FIRST_PAUSE if role.long_running else 0.002
        _prepare_location(path, role.creates)
        try:
            self.conn = sqlite3.connect(
                path if role.creates else _existing(path),
                timeout=0.0 if role.long_running else BUSY_TIMEOUT,
                isolation_level=None,
                check_same_thread=False,
                uri=not role.creates,
            )
            self.conn.row_factory = sqlite3.Row
        except sqlite3.Error as exc:
            raise _storage_error(path, exc) from exc
        try:
            self._migrate(role.creates)
            self.reload_settings()
            # the files SQLite has open, the main one and its WAL companions (location_lost)
            self._identity = _identity(path)
            self._companions = {path + end: _identity(path + end) for end in ("-wal", "-shm")}
            durability = self._settings.get("durability", "full")
            if not role.durable and durability == "full":
                durability = "normal"  # a lost claim or result re-runs a job: at-least-once
            self._rows_of(f"PRAGMA synchronous = {_SYNC.get(durability, 'FULL')}")
            if role.long_running:
                self._rows_of("PRAGMA wal_autocheckpoint = 0")
                self._checkpoints = _Checkpointer(path)
        except BaseException:
            # closed now, not at interpreter exit (the CLI skips that): a refused file
            # keeps no -wal/-shm beside it
            self.conn.close()
            raise

    # --- hooks of SqlBackend ------------------------------------------------------
    def _rows(self, name: str, params: dict[str, Any] | None = None) -> list[Any]:
        return self._rows_of(_Q[name], params)

    def _rows_of(self, sql: str, params: dict[str, Any] | None = None) -> list[Any]:
        return self._patiently(lambda: self.conn.execute(sql, params or {}).fetchall())

    def _write(self, work: Callable[[Any], R], batched: bool = False) -> R:
        """Run ``work`` in one BEGIN IMMEDIATE transaction (all of it, or none of it)."""

        def transaction() -> R:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                result = work(self.conn)
                self.conn.execute("COMMIT")
                if self._checkpoints is not None:
                    self._checkpoints.committed()
                return result
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise

        return self._patiently(transaction)

    def _patiently(self, attempt: Callable[[], R]) -> R:
        """Retry while another process holds the lock (bounded), so "database is locked"
        never reaches a user; every other driver error becomes a StorageError."""
        start = time.monotonic()
        deadline = start + BUSY_DEADLINE
        pause = self._first_pause
        while True:
            try:
                return attempt()
            except sqlite3.IntegrityError as exc:
                raise DuplicateKey(f"{self.path}: {exc}") from exc
            except sqlite3.OperationalError as exc:
                busy = getattr(exc, "sqlite_errorcode", None) in _BUSY_CODES
                if not busy or time.monotonic() > deadline:
                    raise _storage_error(self.path, exc) from exc
                time.sleep(pause)
                if time.monotonic() - start > 0.005:  # short waits in small steps, then back off
                    pause = min(pause * 2, 0.1)
            except sqlite3.Error as exc:
                raise _storage_error(self.path, exc) from exc

    def _run_many(self, conn: Any, name: str, rows: Sequence[dict[str, Any]]) -> None:
        conn.executemany(_Q[name], rows)

    def _insert_jobs(self, conn: Any, rows: list[tuple[Any, ...]]) -> None:
        """Full chunks of a batch go in as multi-row INSERTs: SQLite's per-statement cost
        (cursors opened on the table and every index, then sought) paid once per chunk
        rather than once per job (nearly twice SQLite's rate for a large batch). The jobs
        are counted per queue here, one statement per queue of the batch (count_added):
        a trigger on INSERT would cost every row (migration 0017). A batch of plain jobs
        (common.plain_batch) binds six values a job (insert_plain_job)."""
        if plain_batch(rows):
            self._insert_plain(conn, rows, rows[0][-1])
        else:
            self._insert_full(conn, rows)
        if len(rows) == 1:  # one job (the API's enqueue): no tally to make
            conn.execute(_Q["count_added"], {"queue": rows[0][QUEUE], "state": "pending", "n": 1})
            return
        self._counted(conn, Counter((row[QUEUE], "pending") for row in rows))

    def _insert_plain(self, conn: Any, rows: list[tuple[Any, ...]], now: float) -> None:
        whole = len(rows) - len(rows) % INSERT_CHUNK
        if whole:
            many = [
                [
                    now,
                    *chain.from_iterable(row[:PLAIN] for row in rows[start : start + INSERT_CHUNK]),
                ]
                for start in range(0, whole, INSERT_CHUNK)
            ]
            conn.executemany(_PLAIN_CHUNK, many)
        for row in rows[whole:]:
            conn.execute(_Q["insert_plain_job"], (now, *row[:PLAIN]))

    def _insert_full(self, conn: Any, rows: list[tuple[Any, ...]]) -> None:
        whole = len(rows) - len(rows) % INSERT_CHUNK
        if whole:
            many = [
                list(chain.from_iterable(rows[start : start + INSERT_CHUNK]))
                for start in range(0, whole, INSERT_CHUNK)
            ]
            conn.executemany(_INSERT_CHUNK, many)
        for row in rows[whole:]:  # execute: a little cheaper than executemany for one job
            conn.execute(_Q["insert_job"], row)

    def _list(self, values: Sequence[object]) -> object:
        return json.dumps(list(values))

    def _claim(
        self, conn: Any, name: str, claimers: Sequence[str], params: dict[str, Any]
    ) -> Claims:
        """Rows are read at once (the attempt row needs the claimed run). The first claimer
        that finds nothing ends the claims: this transaction is the only writer and its
        ``now`` is fixed, so nothing can become ready for the next ones. There the queues
        are looked at (query queue_rows_exist): a plain claim that found nothing because
        a queue has gained a row is made again with the full statement, and the next turn
        uses the claim that fits. A full claim that took a job says whether a queue still
        has a row (``flow``): when none has, the next claims are plain ones. A worker
        starts with the full claim, so without this one that starts on a backlog would
        keep the full claim until its queue ran dry."""
        taken: list[Any] = []
        for worker in claimers:
            claim = {**params, "worker": worker}
            rows = _by_name(self._run(conn, name, claim))
            if rows and "flow" in rows[0]:
                self._flow = bool(rows[0]["flow"])
            if not rows:
                self._flow = bool(self._run(conn, "queue_rows_exist").fetchone()["flow"])
                if self._flow and name.startswith("claim_plain_"):
                    name = name.replace("claim_plain_", "claim_", 1)
                    rows = _by_name(self._run(conn, name, claim))
                if not rows:
                    break
            for row in rows:
                self._run(
                    conn,
                    "insert_attempt",
                    {
                        "job_id": row["id"],
                        "run": row["runs"],
                        "worker": worker,
                        "now": params["now"],
                    },
                )
            taken += rows
        return Claims((taken,))

    def _end_jobs(self, conn: Any, ends: Sequence[dict[str, Any]]) -> Callable[[], list[bool]]:
        """Queries end_job and end_attempt; end_job returns the job's ``dependents`` flag
        (set when a job was enqueued after it), so only a job with dependents is settled."""
        held = []
        settle = []
        for params in ends:
            row = self._run(conn, "end_job", params).fetchone()
            held.append(row is not None)
            if row is not None and row["dependents"]:
                settle.append(params["job_id"])
            self._run(conn, "end_attempt", params)
        self._settle(conn, settle)
        return lambda: held

    def now(self) -> float:
        return time.time()

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """One read transaction (deferred: its snapshot is taken at its first read)."""
        self._rows_of(_Q["snapshot_begin"])
        try:
            yield
        finally:
            if self.conn.in_transaction:
                self.conn.execute(_Q["snapshot_end"])

    def _list_access(
        self, states: Sequence[str], queue: str | None, sort: str, limit: int | None, offset: int
    ) -> str:
        """SqlBackend's choice, and a walk of ready states in priority or run_at order is
        told the claim's partial index (jobs_ready, jobs_due): SQLite's planner, without
        statistics, would seek jobs_state and sort every one of them."""
        way = super()._list_access(states, queue, sort, limit, offset)
        if (
            way == "walk"
            and set(states) <= {"pending", "failed"}
            and sort in ("priority", "run_at")
        ):
            return f"ready_{sort}"
        return way

    def _counted(self, conn: Any, added: Mapping[tuple[str, str], int]) -> None:
        for (queue, state), n in sorted(added.items()):
            self._run(conn, "count_added", {"queue": queue, "state": state, "n": n})

    # --- engine specifics ---------------------------------------------------------
    def _migrate(self, creates: bool = True) -> None:
        """Bring the queue to this queuectl's schema; a role that does not create only
        checks that it is there, at that schema (backends.common.check_readable)."""
        steps = migrations("sqlite")
        latest = steps[-1][0]
        version = self._rows("schema_version")[0][0]
        if version == latest:
            return
        if version > latest:
            raise StorageError(
                f"{self.path} has schema version {version}; this queuectl knows up to {latest}"
            )
        if version == 0 and self._rows("table_count")[0]["n"]:
            # checked before anything changes: another application's database stays as it was
            raise StorageError(f"{self.path} is a SQLite database, but not a queuectl queue")
        if not creates:
            check_readable(version, latest, self.path)
        self._rows("wal_mode")

        def apply(conn: sqlite3.Connection) -> None:
            current = self._run(conn, "schema_version").fetchone()[0]
            for number, script in steps:
                if number > current:
                    for statement in _statements(script):
                        conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {latest}")

        self._write(apply)

    def location_lost(self) -> str | None:
        """SQLite keeps the file it opened, whatever the path names later: a queue file
        removed, or replaced by a restored copy, would be served unseen for ever. Cheap
        (one stat), so a worker asks at every heartbeat.

        Once lost, the old queue's ``-wal`` and ``-shm`` still at the path (the very files
        opened here) are unlinked: SQLite pairs them with whatever file the path names, so
        the next process to open it would read the old queue's recent pages into the
        restored copy (or into a new, empty queue). Connections still open on the old
        queue keep their files; the next opening of the path starts clean."""
        try:
            now = _identity(self.path)
        except NotADirectoryError:
            now = None  # its folder was replaced by a file
        except OSError:
            return None  # cannot tell now; asked again at the next heartbeat
        if now == self._identity:
            return None
        if now is None:
            why = f"queue {self.path} was removed"
        else:
            why = f"queue {self.path} was replaced by another file"
        for companion, identity in self._companions.items():
            try:
                if identity is not None and _identity(companion) == identity:
                    os.unlink(companion)
            except OSError:
                pass  # gone already, or not ours to remove
        return why

    def watcher(self) -> DbWatcher | None:
        try:
            from queuectl.backends.wakeup import DbWatcher

            return DbWatcher(self.path)
        except (OSError, AttributeError):  # no inotify here: workers poll
            return None

    def close(self) -> None:
        if self._checkpoints is not None:
            self._checkpoints.close()
        self.conn.close()


class _Checkpointer:
    """Copies a worker's WAL back into the database file on a thread of its own.

    SQLite would otherwise do it inside the commit that crosses 1,000 WAL pages, and
    that commit then costs ~1 µs per page of the WAL: a third of a busy worker's time
    in the database. Here the worker's connection never checkpoints; every EVERY
    commits it wakes this thread, whose PASSIVE checkpoint runs beside the worker
    (the sqlite3 module releases the GIL) and waits for no reader or writer.
    Connections of other processes keep SQLite's automatic checkpoints.
    """

    EVERY = 200

    def __init__(self, path: str) -> None:
        import threading

        self._commits = 0
        self._closing = False
        self._wake = threading.Event()
        self._conn = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
        )
        self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
        self._thread.start()

    def committed(self) -> None:
        self._commits += 1
        if self._commits >= self.EVERY:
            self._commits = 0
            self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._closing:
                break
            try:
                self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error:
                pass  # busy or failing: the WAL grows until the next try succeeds
        self._conn.close()

    def close(self) -> None:
        self._closing = True
        self._wake.set()
        self._thread.join(timeout=BUSY_TIMEOUT)
