"""What ``rerun``, ``edit``, ``run-now`` and ``worker start --queue '!NAME'`` refuse:
bad input is one line and exit 2, before anything is written or created."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import cli, cli_json, cli_ok, one_line_error


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        ([], "name something to change"),
        (["--priority", "high"], "--priority"),
        (["--priority", str(2**31)], "priority must be between"),
        (["--max-retries", "1001"], "max_retries must be between"),
        (["--max-retries", "-1"], "--max-retries"),
        (["--timeout", "0"], "timeout must be greater than zero"),
        (["--timeout", "soon"], "invalid timeout"),
        (["--queue", "no spaces"], "invalid queue name"),
        (["--queue", "!gpu"], "invalid queue name"),
        (["--run-at", "yesterday"], "invalid time"),
        (["--run-at", "2030-01-01T00:00:00Z", "--delay", "5m"], "not allowed with"),
        (["--delay", "forever"], "invalid delay"),
        (["--command", " "], "command must not be empty"),
    ],
)
def test_edit_refuses_bad_input_and_changes_nothing(
    home: Path, flags: list[str], says: str
) -> None:
    cli_ok(home, "enqueue", "--command", "echo old", "--id", "e", "--delay", "1h")
    before = cli_json(home, "show", "e", "--json")

    done = cli(home, "edit", "e", *flags)

    one_line_error(done, 2)
    assert says in done.stderr
    assert cli_json(home, "show", "e", "--json") == before


@pytest.mark.parametrize(
    "args",
    [
        ["edit", "x", "--priority", "high"],
        ["edit", "x", "--timeout", "0"],
        ["edit", "bad id!", "--priority", "1"],
        ["rerun", "bad id!"],
        ["run-now", "ok", "bad id!"],
        ["worker", "start", "--queue", "gpu", "--queue", "!io", "--burst"],
        ["worker", "start", "--queue", "!bad name", "--burst"],
        ["worker", "start", "--queue", "!!gpu", "--burst"],
    ],
)
def test_bad_input_creates_no_queue(home: Path, args: list[str]) -> None:
    one_line_error(cli(home, *args), 2)
    assert not home.exists()


def test_a_worker_serves_queues_or_leaves_them_out_not_both(home: Path) -> None:
    done = cli(home, "worker", "start", "--queue", "!gpu", "--queue", "io")
    one_line_error(done, 2)
    assert "not both" in done.stderr


def test_commands_that_change_jobs_name_at_least_one(home: Path) -> None:
    for command in ("rerun", "run-now", "edit"):
        done = cli(home, command)
        assert done.returncode == 2 and "Traceback" not in done.stderr
    assert not home.exists()


def test_help_shows_the_commands_and_their_options(home: Path) -> None:
    shown = cli_ok(home, "--help").stdout
    for command in ("rerun", "edit", "run-now"):
        assert command in shown
    edit = cli_ok(home, "edit", "--help", env={"COLUMNS": "200"}).stdout
    for flag in (
        "--command",
        "--priority",
        "--queue",
        "--run-at",
        "--delay",
        "--max-retries",
        "--clean-env",
        "--limit",
    ):
        assert flag in edit
    assert edit.count("(default: unchanged)") == 9
    assert "'!NAME'" in cli_ok(home, "worker", "start", "--help").stdout
