"""Where a queue lives and who opens it: both decided here, once.

``locate`` turns what the user gave (``--db``, ``$QUEUECTL_DB``, nothing) into one
``Location``: the engine, the SQLite path or PostgreSQL URL, the logs folder and, on
PostgreSQL, the schema that holds the queue. The backends, ``api``, the log files and
the faces all read that value; nothing parses a location a second time.

A ``Role`` names what a process asks of the storage (how durable its own commits are,
how it waits for a lock, whether it runs for hours), so that every opener states who
it is instead of passing loose flags.
"""

from __future__ import annotations

import os

from queuectl.errors import InvalidInput

POSTGRES_PREFIXES = ("postgresql://", "postgres://")
SCHEMA = "queuectl"  # the PostgreSQL schema of the queue's tables, functions and channels


class Role:
    """Who opens a queue. ``durable``: its own commits wait for the disk (a worker's claims,
    results and leases may not: a lost one re-runs a job, which at-least-once allows; an
    operator's action or an enqueue must survive a power cut once acknowledged).
    ``long_running``: it runs for hours, so it waits for a busy SQLite lock in fine steps
    of its own and checkpoints on a thread of its own (see backends.sqlite)."""

    __slots__ = ("durable", "long_running", "name")

    def __init__(self, name: str, *, durable: bool, long_running: bool) -> None:
        self.name = name
        self.durable = durable
        self.long_running = long_running

    def __repr__(self) -> str:
        return f"Role({self.name!r})"


COMMAND = Role("command", durable=True, long_running=False)  # the CLI and Python callers
WORKER = Role("worker", durable=False, long_running=True)
DASHBOARD = Role("dashboard", durable=True, long_running=True)  # an operator's clicks


class Location:
    """A queue's place: ``engine`` ("sqlite" or "postgresql"), ``target`` (the absolute
    SQLite path, or the PostgreSQL URL as given), ``logs_dir`` (where attempts' output is
    kept) and ``schema`` (PostgreSQL only)."""

    __slots__ = ("engine", "logs_dir", "schema", "target")

    def __init__(self, engine: str, target: str, logs_dir: str, schema: str | None) -> None:
        self.engine = engine
        self.target = target
        self.logs_dir = logs_dir
        self.schema = schema

    @property
    def is_postgres(self) -> bool:
        return self.engine == "postgresql"

    def __repr__(self) -> str:
        return f"Location({self.engine!r}, logs_dir={self.logs_dir!r})"  # no URL: a password


def locate(db: str | None = None) -> Location:
    """--db, else $QUEUECTL_DB, else $QUEUECTL_DB_PATH, else the default SQLite file in
    the queue home. A SQLite path loses ``sqlite://``, has ``~`` expanded and is made
    absolute (its logs folder sits beside it); a PostgreSQL queue keeps its logs in the
    queue home of this host."""
    given = db or os.environ.get("QUEUECTL_DB") or os.environ.get("QUEUECTL_DB_PATH")
    if not given:
        given = os.path.join(queue_home(), "queuectl.db")
    if "\x00" in given:
        raise InvalidInput("the queue location must not contain NUL bytes")
    if is_postgres(given):
        return Location("postgresql", given, os.path.join(queue_home(), "logs"), SCHEMA)
    path = given.removeprefix("sqlite://")
    try:
        path = os.path.abspath(os.path.expanduser(path))
    except FileNotFoundError:  # a relative path, and the current directory was deleted
        raise InvalidInput(f"{path}: a relative path needs a current directory") from None
    return Location("sqlite", path, os.path.join(os.path.dirname(path), "logs"), None)


def is_postgres(location: str) -> bool:
    return location.startswith(POSTGRES_PREFIXES)


def queue_home() -> str:
    """``$QUEUECTL_HOME``, else ``$XDG_DATA_HOME/queuectl``, else ``~/.local/share/queuectl``."""
    home = os.environ.get("QUEUECTL_HOME")
    if home:
        return os.path.abspath(os.path.expanduser(home))
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "share"
    )
    return os.path.join(data, "queuectl")
