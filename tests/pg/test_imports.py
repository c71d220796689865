"""psycopg is loaded only by commands that talk to PostgreSQL (DESIGN.md, "Conventions")."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import cli_env

# Runs `main(argv)` in a fresh interpreter, then writes its exit code and every loaded
# module whose top-level package starts with "psycopg" to the file named first.
PROBE = """
import json, sys
report, argv = sys.argv[1], json.loads(sys.argv[2])
from queuectl.cli import main
code = main(argv)
loaded = sorted(m for m in sys.modules if m.split(".")[0].startswith("psycopg"))
with open(report, "w") as handle:
    json.dump({"code": code, "psycopg": loaded}, handle)
"""


def probe(tmp_path: Path, *argv: str, db: str | None = None) -> dict[str, object]:
    report = tmp_path / f"report-{len(list(tmp_path.glob('report-*')))}.json"
    env = {"QUEUECTL_DB": db} if db else None
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(report), json.dumps(list(argv))],
        capture_output=True,
        text=True,
        env=cli_env(tmp_path / "home", env),
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found: dict[str, object] = json.loads(report.read_text())
    assert found["code"] == 0, f"main({list(argv)}) returned {found['code']}: {done.stderr}"
    found["stdout"] = done.stdout
    return found


SQLITE_COMMANDS = [
    ("enqueue", "--command", "echo hi", "--id", "job1"),
    ("enqueue", '{"id": "job2", "command": ["true"]}'),
    ("list",),
    ("list", "--json"),
    ("status",),
    ("status", "--json"),
    ("show", "job1", "--json"),
    ("config", "set", "max-retries", "1"),
    ("config", "list", "--json"),
    ("worker", "start", "--burst", "--count", "2"),
    ("logs", "job1"),
    ("worker", "list", "--json"),
    ("worker", "stop"),
    ("dlq", "list", "--json"),
]


def test_sqlite_commands_never_import_psycopg(tmp_path: Path) -> None:
    for argv in SQLITE_COMMANDS:  # in order: the worker runs the jobs enqueued before it
        found = probe(tmp_path, *argv)
        assert found["psycopg"] == [], f"`queuectl {' '.join(argv)}` on SQLite loaded {found}"
        if argv[0] == "logs":
            assert found["stdout"] == "hi\n", "the worker ran the jobs"


@pytest.mark.parametrize("argv", [("list", "--json"), ("status",)], ids=["list", "status"])
def test_a_postgresql_url_does_import_psycopg(
    tmp_path: Path, pg_url: str, argv: tuple[str, ...]
) -> None:
    """The other side of the check above: the probe does see psycopg when it is used."""
    probe(tmp_path, "enqueue", "--command", "true", db=pg_url)  # a read creates no queue
    found = probe(tmp_path, *argv, db=pg_url)
    assert "psycopg" in found["psycopg"]  # type: ignore[operator]
