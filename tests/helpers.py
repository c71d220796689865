"""Shared helpers for tests that drive the real ``queuectl`` CLI in subprocesses.

Every queue lives under a test's own ``home`` folder (``QUEUECTL_HOME``); any queue
location inherited from the developer's environment is removed, so a test can never
touch a real queue.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")

# Every field CLI.md promises in a job object of `list --json`.
JOB_FIELDS = (
    "id",
    "command",
    "state",
    "attempts",
    "max_retries",
    "priority",
    "queue",
    "run_at",
    "timeout",
    "created_at",
    "updated_at",
    "started_at",
    "finished_at",
    "exit_code",
    "last_error",
    "worker",
)
TIMESTAMP_FIELDS = ("run_at", "created_at", "updated_at", "started_at", "finished_at")
STATES = ("pending", "processing", "completed", "failed", "dead", "cancelled")
# ISO 8601 UTC with a Z and millisecond precision or finer (CLI.md, "JSON output").
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3,}Z$")

_INHERITED = ("QUEUECTL_DB", "QUEUECTL_DB_PATH", "QUEUECTL_HOME", "XDG_DATA_HOME")


def cli_env(home: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a CLI run: this process's, minus queue locations, plus ``env``."""
    full = {k: v for k, v in os.environ.items() if k not in _INHERITED}
    full["QUEUECTL_HOME"] = os.fspath(home)
    full["PYTHONDONTWRITEBYTECODE"] = "1"
    if env:
        full.update(env)
    return full


def cli(
    home: str | os.PathLike[str],
    *args: str | os.PathLike[str],
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 60,
    cwd: str | os.PathLike[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m queuectl ARGS`` against the queue in ``home``; never raises on exit code.

    ``subprocess.run`` kills the child if ``timeout`` passes, so nothing outlives a test.
    """
    return subprocess.run(
        [sys.executable, "-m", "queuectl", *(os.fspath(a) for a in args)],
        input=input,
        capture_output=True,
        text=True,
        env=cli_env(home, env),
        timeout=timeout,
        cwd=cwd,
        check=False,
    )


def cli_ok(
    home: str | os.PathLike[str],
    *args: str | os.PathLike[str],
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 60,
    cwd: str | os.PathLike[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Like ``cli`` but asserts exit code 0 (the failure message shows stderr)."""
    done = cli(home, *args, input=input, env=env, timeout=timeout, cwd=cwd)
    assert done.returncode == 0, f"queuectl {_shown(args)} exited {done.returncode}: {done.stderr}"
    return done


def cli_json(
    home: str | os.PathLike[str],
    *args: str | os.PathLike[str],
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 60,
) -> Any:
    """Run a ``--json`` command (add ``--json`` yourself), assert exit 0, return parsed stdout."""
    done = cli_ok(home, *args, input=input, env=env, timeout=timeout)
    try:
        return json.loads(done.stdout)
    except ValueError as exc:
        raise AssertionError(
            f"queuectl {_shown(args)} printed no pure JSON on stdout: {done.stdout!r}"
        ) from exc


def wait_for(
    check: Callable[[], T | None],
    timeout: float = 10.0,
    interval: float = 0.005,
    what: str = "condition",
) -> T:
    """Poll ``check`` until it returns something truthy (returned), or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


def _shown(args: tuple[str | os.PathLike[str], ...]) -> str:
    return " ".join(os.fspath(a) for a in args)


# --- PostgreSQL -------------------------------------------------------------------------
# The server tests may create their own databases on (trust auth on this machine and CI).
ADMIN_URL = os.environ.get("QUEUECTL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def reset_pg_queue(url: str) -> None:
    """Empty the queue in ``url`` (its next opening migrates a fresh schema)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS queuectl CASCADE")


def pg_with_password(url: str, password: str) -> str:
    """``url`` with ``password`` in its user part (this machine's server trusts local
    connections, so any password is accepted: a stand-in for a real one)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    user, _, host = parts.netloc.rpartition("@")
    netloc = f"{user.split(':', 1)[0] or 'postgres'}:{password}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
