"""The real ``queuectl dashboard`` and workers in subprocesses, each leading a session of
its own, and ended by its process group (SIGTERM, then SIGKILL after a while)."""

from __future__ import annotations

import re
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from queuectl.credentials import TOKEN_ENV
from tests.support.cli import QUEUECTL, cli_env
from tests.support.processes import end_group


@contextmanager
def dashboard_process(
    home: Path, db: str | None, *extra: str, env: dict[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``queuectl [--db DB] dashboard --port 0 EXTRA`` on a free loopback port, ``env``
    added to its environment; yields the process and its base URL."""
    args = [*QUEUECTL, *(("--db", db) if db is not None else ()), "dashboard", "--port", "0"]
    process = subprocess.Popen(
        [*args, *extra],
        env=cli_env(home, env),
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        first: list[str] = []
        reader = threading.Thread(target=lambda: first.append(process.stderr.readline()))  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout=30)
        found = re.search(r"http://127\.0\.0\.1:(\d+)/", first[0] if first else "")
        assert found, f"the dashboard did not start: {first}"
        yield process, f"http://127.0.0.1:{found.group(1)}"
    finally:
        end_group(process)


@contextmanager
def dashboard(home: Path, db: str, token: str | None = None) -> Iterator[str]:
    """The dashboard of ``db`` on a free loopback port; yields its base URL."""
    with dashboard_process(home, db, env={TOKEN_ENV: token} if token else None) as (_, base):
        yield base


@contextmanager
def worker(
    home: Path, db: str, *extra: str, burst: bool = True, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[str]]:
    """``queuectl worker start --burst``: runs what is there, then exits; without
    ``burst`` it stays until it is stopped. ``env`` is added to its environment."""
    process = subprocess.Popen(
        [*QUEUECTL, "--db", db, "worker", "start", *(("--burst",) if burst else ()), *extra],
        env=cli_env(home, env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        end_group(process)
