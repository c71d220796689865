"""Fixtures shared by every test folder: a queue of each engine in ``BACKENDS``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from queuectl.api import Queue
from tests.support.backends import (
    ADMIN_URL,
    BACKENDS,
    create_database,
    drop_database,
    reset_pg_queue,
)
from tests.support.harness import Queuectl


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
        url = create_database("queuectl_test")
    except Exception as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"no PostgreSQL at {ADMIN_URL}: {exc} (with CI=true this fails)")
    try:
        yield url
    finally:
        drop_database(url)


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest) -> str | None:
    """A fresh, empty queue of each backend, as ``--db`` takes it: None for SQLite (the
    default file in the test's QUEUECTL_HOME), else a URL (for PostgreSQL a new schema in
    this run's database). A backend joins here and in ``BACKENDS``."""
    if request.param == "sqlite":
        return None
    if request.param == "postgres":
        url: str = request.getfixturevalue("pg_database")
        reset_pg_queue(url)
        return url
    raise AssertionError(f"no queue for backend {request.param!r}")  # pragma: no cover


@pytest.fixture
def location(db: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh, empty queue of each backend (a path or a URL), for the API. Its logs stay
    in this test's folder (QUEUECTL_HOME)."""
    monkeypatch.setenv("QUEUECTL_HOME", str(tmp_path / "home"))
    return db if db is not None else str(tmp_path / "home" / "queue.db")


@pytest.fixture
def queue(location: str) -> Iterator[Queue]:
    """The queue at ``location``, through the API."""
    opened = Queue(location)
    yield opened
    opened.close()


@pytest.fixture
def qc(db: str | None, tmp_path: Path) -> Iterator[Queuectl]:
    """The CLI against a fresh queue of each backend; every process it started is ended
    (by process group or pid) when the test is over, pass or fail."""
    with Queuectl(tmp_path, db) as queue:
        yield queue
