"""Where a queue lives and who opens it: both decided here, once.

``locate`` turns what the user gave (``--db``, ``$QUEUECTL_DB``, nothing) into one
``Location``: the engine, the SQLite path or PostgreSQL URL, the logs folder and, on
PostgreSQL, the schema that holds the queue. The backends, ``api``, the log files and
the faces all read that value; nothing parses a location a second time.

A ``Role`` names what a process asks of the storage (how durable its own commits are,
how it waits for a lock, whether it runs for hours, whether it may create the queue), so
that every opener states who it is instead of passing loose flags.

One PostgreSQL database holds any number of queues, one per schema: ``?schema=NAME`` in
the URL, else ``$QUEUECTL_SCHEMA``, else ``queuectl``. The URL given to the driver has
no ``schema`` parameter (libpq would refuse it).
"""

from __future__ import annotations

import os

from queuectl.errors import InvalidInput

POSTGRES_PREFIXES = ("postgresql://", "postgres://")
SCHEMA = "queuectl"  # the PostgreSQL schema of the queue's tables, functions and channels
SCHEMA_ENV = "QUEUECTL_SCHEMA"
# A schema name is used unquoted in SQL and in channel names ("NAME_jobs", at most 63
# bytes): lowercase letters, digits and "_", not starting with a digit nor with "pg_"
# (PostgreSQL keeps those names for itself).
SCHEMA_MAX = 40
_SCHEMA_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")
LOCATION_HINT = "give a path, sqlite:///PATH or postgresql://…"


class Role:
    """Who opens a queue. ``durable``: its own commits wait for the disk (a worker's claims,
    results and leases may not: a lost one re-runs a job, which at-least-once allows; an
    operator's action or an enqueue must survive a power cut once acknowledged).
    ``long_running``: it runs for hours, so it waits for a busy SQLite lock in fine steps
    of its own and checkpoints on a thread of its own (see backends.sqlite).
    ``creates``: a queue that is not there is created (and an older one migrated); a role
    that only reads neither creates nor migrates, and is told the queue is missing."""

    __slots__ = ("creates", "durable", "long_running", "name")

    def __init__(
        self, name: str, *, durable: bool, long_running: bool, creates: bool = True
    ) -> None:
        self.name = name
        self.durable = durable
        self.long_running = long_running
        self.creates = creates

    def __repr__(self) -> str:
        return f"Role({self.name!r})"


COMMAND = Role("command", durable=True, long_running=False)  # the CLI and Python callers
WORKER = Role("worker", durable=False, long_running=True)
DASHBOARD = Role("dashboard", durable=True, long_running=True)  # an operator's clicks
# commands that only look (status, list, show, logs…): a wrong --db must not leave a queue
READER = Role("reader", durable=True, long_running=False, creates=False)
# a reader that reads a few times and exits (status, list, show…, not --follow nor wait):
# on PostgreSQL it reads through libpq alone, without importing psycopg (backends.pgread)
GLANCE = Role("glance", durable=True, long_running=False, creates=False)


class Location:
    """A queue's place: ``engine`` ("sqlite" or "postgresql"), ``target`` (the absolute
    SQLite path, or the PostgreSQL URL as the driver takes it: without ``schema``, but
    with any password), ``logs_dir`` (where attempts' output is kept) and ``schema``
    (PostgreSQL only). ``shown`` is what messages print."""

    __slots__ = ("engine", "logs_dir", "schema", "target")

    def __init__(self, engine: str, target: str, logs_dir: str, schema: str | None) -> None:
        self.engine = engine
        self.target = target
        self.logs_dir = logs_dir
        self.schema = schema

    @property
    def is_postgres(self) -> bool:
        return self.engine == "postgresql"

    @property
    def shown(self) -> str:
        """The SQLite path, or the PostgreSQL URL without its password and with its schema:
        for messages, which may end up anywhere."""
        if not self.is_postgres:
            return self.target
        from queuectl.credentials import without_password

        return f"{without_password(self.target)} (schema {self.schema})"

    def __repr__(self) -> str:
        return f"Location({self.engine!r}, {self.shown!r}, logs_dir={self.logs_dir!r})"


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
        url, schema = _schema_of(given)
        return Location("postgresql", url, os.path.join(queue_home(), "logs"), schema)
    scheme, sep, _ = given.partition("://")
    if sep and scheme != "sqlite" and _is_scheme(scheme):
        raise InvalidInput(f"{scheme}:// is not a queue location: {LOCATION_HINT}")
    path = given.removeprefix("sqlite://")
    try:
        path = os.path.abspath(os.path.expanduser(path))
    except FileNotFoundError:  # a relative path, and the current directory was deleted
        raise InvalidInput(f"{path}: a relative path needs a current directory") from None
    return Location("sqlite", path, os.path.join(os.path.dirname(path), "logs"), None)


def is_postgres(location: str) -> bool:
    return location.startswith(POSTGRES_PREFIXES)


def _is_scheme(word: str) -> bool:
    """A URL scheme (RFC 3986: a letter, then letters, digits, "+", "-", "."): ``mysql``
    is one, ``./data`` (in ``./data://x``) is a path."""
    return word[:1].isalpha() and all(c.isalnum() or c in "+-." for c in word) and word.isascii()


def _schema_of(url: str) -> tuple[str, str]:
    """(the URL without its ``schema`` parameter, the schema): the URL's, else
    ``$QUEUECTL_SCHEMA``, else ``queuectl``. Other parameters keep their exact text."""
    base, mark, query = url.partition("?")
    query, hash_mark, fragment = query.partition("#")
    kept, named = [], []
    for part in query.split("&") if mark else ():
        key, _, value = part.partition("=")
        if key == "schema":
            from urllib.parse import unquote

            named.append(unquote(value))
        elif part:
            kept.append(part)
    if len(named) > 1:
        raise InvalidInput("the PostgreSQL URL names its schema more than once")
    if named:
        schema = check_schema(named[0], "the URL")
    else:
        schema = check_schema(os.environ.get(SCHEMA_ENV) or SCHEMA, f"${SCHEMA_ENV}")
    rest = "&".join(kept)
    return f"{base}{'?' if rest else ''}{rest}{hash_mark}{fragment}", schema


def check_schema(name: str, source: str) -> str:
    """A PostgreSQL schema for a queue: a plain lowercase identifier (see SCHEMA_MAX)."""
    if (
        not 0 < len(name) <= SCHEMA_MAX
        or not _SCHEMA_CHARS.issuperset(name)
        or name[0].isdigit()
        or name.startswith("pg_")
    ):
        raise InvalidInput(
            f"the schema {name[:60]!r} of {source} is not a plain lowercase name: "
            f"a-z, 0-9 and _, up to {SCHEMA_MAX} characters, not starting with a digit or pg_"
        )
    return name


def queue_home() -> str:
    """``$QUEUECTL_HOME``, else ``$XDG_DATA_HOME/queuectl``, else ``~/.local/share/queuectl``."""
    home = os.environ.get("QUEUECTL_HOME")
    if home:
        return os.path.abspath(os.path.expanduser(home))
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "share"
    )
    return os.path.join(data, "queuectl")
