"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from queuectl.api import Queue
from tests.helpers import ADMIN_URL, reset_pg_queue

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A QUEUECTL_HOME that does not exist yet: the CLI creates it on first use."""
    return tmp_path / "home"


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A database of this test run's own on the machine's PostgreSQL, dropped at the end.

    Without a server: a skip on a developer's machine, a failure under CI=true.
    """
    try:
        import psycopg

        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)
    except Exception as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"no PostgreSQL at {ADMIN_URL}: {exc} (with CI=true this fails)")
    name = f"queuectl_test_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = ADMIN_URL.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(params=BACKENDS)
def location(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """A fresh, empty queue of each backend (a path or a URL; for PostgreSQL a new schema
    in this run's database). Its logs stay in this test's folder (QUEUECTL_HOME)."""
    monkeypatch.setenv("QUEUECTL_HOME", str(tmp_path / "home"))
    if request.param == "sqlite":
        return str(tmp_path / "home" / "queue.db")
    if request.param == "postgres":
        url: str = request.getfixturevalue("pg_database")
        reset_pg_queue(url)
        return url
    raise AssertionError(f"no location for backend {request.param!r}")  # pragma: no cover


@pytest.fixture
def queue(location: str) -> Iterator[Queue]:
    """The queue at ``location``, through the API."""
    opened = Queue(location)
    yield opened
    opened.close()
