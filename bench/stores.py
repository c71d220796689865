"""The two backends as places to put a fresh queue.

SQLite: the default file (``$QUEUECTL_HOME/queuectl.db``) of a new temporary home.
PostgreSQL: a database of the run's own, created on the server at start and dropped
at the end; "fresh" drops the ``queuectl`` schema (the next opening migrates anew).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench.core import log


@dataclass(frozen=True)
class Location:
    backend: str  # "sqlite" or "postgres"
    db: str  # what Queue() takes: a path or a postgresql:// URL
    home: str  # QUEUECTL_HOME of the CLI and workers (logs live here)
    env: dict[str, str]  # what a CLI or worker process needs beyond the base env


class SQLiteStore:
    name = "sqlite"
    label = "SQLite"

    def __init__(self, root: str) -> None:
        self.root = root

    @contextmanager
    def fresh(self, separate: bool = False) -> Iterator[Location]:
        home = tempfile.mkdtemp(prefix="sqlite-", dir=self.root)
        try:
            yield Location("sqlite", os.path.join(home, "queuectl.db"), home, {})
        finally:
            _remove_tree(home)

    def close(self) -> None:
        pass


class PostgresStore:
    name = "postgres"
    label = "PostgreSQL"

    def __init__(self, root: str, admin_url: str) -> None:
        import psycopg

        self.root = root
        self.admin_url = admin_url
        self._psycopg = psycopg
        self.admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=3)
        self.created: list[str] = []
        self.url = self._create()

    def server_version(self) -> str | None:
        try:
            row = self.admin.execute("SHOW server_version").fetchone()
            return str(row[0]) if row else None
        except Exception:
            return None

    def _create(self) -> str:
        name = f"queuectl_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        self.admin.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        parts = urlsplit(self.admin_url)
        return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))

    def _drop(self, url: str) -> None:
        name = urlsplit(url).path.lstrip("/")
        self.admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self.created:
            self.created.remove(name)

    def connect(self, url: str | None = None) -> Any:
        return self._psycopg.connect(url or self.url, autocommit=True, connect_timeout=5)

    @contextmanager
    def fresh(self, separate: bool = False) -> Iterator[Location]:
        """An empty queue: the run's database with its schema dropped, or (``separate``)
        a new database of its own, for queues used side by side."""
        url = self._create() if separate else self.url
        if not separate:
            with self.connect(url) as conn:
                conn.execute("SET lock_timeout = '10s'")
                conn.execute("DROP SCHEMA IF EXISTS queuectl CASCADE")
        home = tempfile.mkdtemp(prefix="pg-", dir=self.root)
        try:
            yield Location("postgres", url, home, {"QUEUECTL_DB": url})
        finally:
            _remove_tree(home)
            if separate:
                self._drop(url)

    def close(self) -> None:
        for name in list(self.created):
            try:
                self.admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except Exception as exc:
                log(f"could not drop database {name}: {exc}")
        self.created.clear()
        self.admin.close()


def _remove_tree(path: str) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def open_postgres(root: str, url: str) -> tuple[PostgresStore | None, str | None]:
    """The PostgreSQL store, or (None, why it is missing): never an exception."""
    try:
        return PostgresStore(root, url), None
    except ImportError as exc:
        return None, f"psycopg is not installed ({exc})"
    except Exception as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        return None, f"cannot reach {url}: {reason}"


Store = SQLiteStore | PostgresStore
