"""Secrets never ride in a long-running process's arguments, which every user of the
machine reads with ``ps``: such commands refuse a password in ``--db`` and the
dashboard's ``--token``, each with a one-line hint; short commands keep accepting
``--db`` URLs with a password."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.support import assert_clean_error, run_cli
from tests.support.backends import pg_with_password
from tests.support.cli import cli_json, cli_ok

PASSWORD = "hunter2-secret"
# nothing listens on port 1: a command that tried to connect would fail (exit 1) at once
UNREACHABLE = "postgresql://queue:{}@127.0.0.1:1/jobs"
LONG_RUNNING = [
    ["worker", "start"],
    ["worker", "start", "--detach"],
    ["worker", "start", "--burst"],
    ["dashboard", "--port", "0"],
    ["status", "--watch"],
    ["logs", "--follow", "some-job"],
    ["wait", "some-job"],
]


@pytest.mark.parametrize("command", LONG_RUNNING, ids=" ".join)
@pytest.mark.parametrize(
    "url",
    [
        UNREACHABLE.format(PASSWORD),
        f"postgres://queue@127.0.0.1:1/jobs?sslmode=disable&password={PASSWORD}",
    ],
    ids=["user part", "query"],
)
def test_long_running_commands_refuse_a_password_in_db(
    tmp_path: Path, command: list[str], url: str
) -> None:
    home = tmp_path / "home"
    ran = run_cli(home, "--db", url, *command, timeout=30)
    assert_clean_error(ran, 2, "--db", "ps", "PGPASSWORD", ".pgpass", "QUEUECTL_DB")
    assert PASSWORD not in ran.err
    assert not home.exists()  # nothing was created or written


def test_the_dashboard_refuses_a_token_in_its_arguments(tmp_path: Path) -> None:
    home = tmp_path / "home"
    # (an address of another machine: before the fix the dashboard failed to listen on
    # it, rather than serve forever)
    ran = run_cli(
        home, "--db", str(home / "q.db"), "dashboard", "--host", "192.0.2.1", "--token", "T0k"
    )
    assert_clean_error(ran, 2, "--token", "ps", "--token-file", "QUEUECTL_DASHBOARD_TOKEN")
    assert not home.exists()


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"", "on one line"),
        (b"\n  \n", "on one line"),
        (b"two words\n", "on one line"),
        (b"first\nsecond\n", "on one line"),
        (b"x" * 5000, "on one line"),
        (b"\xff\xfe", "not UTF-8"),
    ],
    ids=["empty", "blank", "spaces", "two lines", "huge", "binary"],
)
def test_a_bad_token_file_is_refused(tmp_path: Path, content: bytes, why: str) -> None:
    home = tmp_path / "home"
    token_file = tmp_path / "token"
    token_file.write_bytes(content)
    ran = run_cli(home, "dashboard", "--port", "0", "--token-file", str(token_file))
    assert_clean_error(ran, 2, str(token_file), why)
    assert not home.exists()
    missing = run_cli(home, "dashboard", "--port", "0", "--token-file", str(tmp_path / "none"))
    assert_clean_error(missing, 2, "cannot read the token file", "No such file")


def test_short_commands_still_accept_a_password_in_db(tmp_path: Path, pg_database: str) -> None:
    """Their arguments are visible only for the moment they run, and scripts use them."""
    from tests.support.backends import reset_pg_queue

    reset_pg_queue(pg_database)
    home = tmp_path / "home"
    url = pg_with_password(pg_database, PASSWORD)
    cli_ok(home, "--db", url, "enqueue", "--command", "true")
    found = cli_json(home, "--db", url, "status", "--json")
    assert found["jobs"]["pending"] == 1
