"""psycopg is loaded only by commands that talk to PostgreSQL (DESIGN.md, "Conventions")."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.cli import cli_env

# Runs `main(argv)` in a fresh interpreter, then writes its exit code, every loaded module
# whose top-level package starts with "psycopg" and whether the libpq reader was loaded to
# the file named first.
PROBE = """
import json, sys
report, argv = sys.argv[1], json.loads(sys.argv[2])
from queuectl.cli import main
code = main(argv)
loaded = sorted(m for m in sys.modules if m.split(".")[0].startswith("psycopg"))
with open(report, "w") as handle:
    json.dump({"code": code, "psycopg": loaded,
               "libpq": "queuectl.backends.libpq" in sys.modules}, handle)
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
    """Nor the libpq reader of PostgreSQL's glancing commands."""
    for argv in SQLITE_COMMANDS:  # in order: the worker runs the jobs enqueued before it
        found = probe(tmp_path, *argv)
        assert found["psycopg"] == [], f"`queuectl {' '.join(argv)}` on SQLite loaded {found}"
        assert found["libpq"] is False, f"`queuectl {' '.join(argv)}` on SQLite loaded libpq"
        if argv[0] == "logs":
            assert found["stdout"] == "hi\n", "the worker ran the jobs"


def test_a_postgresql_url_imports_psycopg_to_write(tmp_path: Path, pg_url: str) -> None:
    """The other side of the checks here: the probe does see psycopg when it is used."""
    found = probe(tmp_path, "enqueue", "--command", "true", db=pg_url)
    assert "psycopg" in found["psycopg"]  # type: ignore[operator]


GLANCES = [
    ("status",),
    ("status", "--json"),
    ("list", "--json"),
    ("show", "job1", "--json"),
    ("stats", "--json"),
    ("config", "list", "--json"),
    ("worker", "list", "--json"),
    ("dlq", "list", "--json"),
    ("queue", "list", "--json"),
    ("schedule", "list", "--json"),
    ("explain", "job1"),
    ("export",),
]


def test_postgresql_commands_that_glance_never_import_psycopg(tmp_path: Path, pg_url: str) -> None:
    """Commands that read a few rows and exit read through libpq alone (backends.pgread):
    what they print is the queue's, without the import of psycopg."""
    probe(tmp_path, "enqueue", "--command", "echo hi", "--id", "job1", db=pg_url)
    for argv in GLANCES:
        found = probe(tmp_path, *argv, db=pg_url)
        assert found["psycopg"] == [], f"`queuectl {' '.join(argv)}` on PostgreSQL loaded {found}"
        assert found["libpq"] is True, f"`queuectl {' '.join(argv)}` did not read through libpq"
    status = json.loads(str(probe(tmp_path, "status", "--json", db=pg_url)["stdout"]))
    assert status["jobs"]["pending"] == 1
    listed = json.loads(str(probe(tmp_path, "list", "--json", db=pg_url)["stdout"]))
    assert [job["id"] for job in listed] == ["job1"]
