"""What ``--help`` and usage errors show: every command and flag of CLI.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import cli, cli_ok

COMMANDS = (
    "enqueue",
    "list",
    "status",
    "stats",
    "show",
    "logs",
    "cancel",
    "dlq",
    "config",
    "worker",
    "dashboard",
)


def test_help_lists_every_command(home: Path) -> None:
    shown = cli_ok(home, "--help").stdout
    for command in COMMANDS:
        assert command in shown
    assert "--db" in shown


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (
            ["enqueue"],
            [
                "--command",
                "--file",
                "--id",
                "--priority",
                "--max-retries",
                "--timeout",
                "--run-at",
                "--delay",
                "--queue",
                "--cwd",
                "--env",
            ],
        ),
        (["list"], ["--state", "--queue", "--limit", "--json"]),
        (["status"], ["--json", "--watch", "--interval"]),
        (["stats"], ["--since", "--json"]),
        (["dashboard"], ["--host", "--port", "--token-file"]),
        (["show"], ["--json"]),
        (["logs"], ["--attempt", "--follow"]),
        (["dlq"], ["list", "retry", "purge"]),
        (["dlq", "retry"], ["--all"]),
        (["dlq", "purge"], ["--all"]),
        (["config"], ["get", "set", "unset", "list", "show"]),
        (["worker"], ["start", "stop", "list"]),
        (
            ["worker", "start"],
            ["--count", "-c", "--concurrency", "--queue", "--burst", "--detach"],
        ),
        (["worker", "stop"], ["--timeout"]),
        (["worker", "list"], ["--json"]),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) and len(v) <= 2 else None,
)
def test_subcommand_help_names_its_options(home: Path, args: list[str], words: list[str]) -> None:
    shown = cli_ok(home, *args, "--help").stdout
    for word in words:
        assert word in shown


@pytest.mark.parametrize(
    "args",
    [["bogus"], ["dlq"], ["config"], ["worker"], ["list", "--bogus"], ["show"], ["cancel"]],
    ids=" ".join,
)
def test_usage_errors_exit_2_with_one_line(home: Path, args: list[str]) -> None:
    done = cli(home, *args)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.endswith("\n"), done.stderr
    assert "Traceback" not in done.stderr


def test_no_command_prints_the_help_and_exits_0(home: Path) -> None:
    done = cli_ok(home)
    assert done.stdout == cli_ok(home, "--help").stdout and done.stderr == ""
    assert not home.exists()


def test_version_prints_the_package_version(home: Path) -> None:
    from importlib.metadata import version

    expected = f"queuectl {version('queuectl')}\n"
    assert cli_ok(home, "--version").stdout == expected
    assert cli_ok(home, "--db", "x.db", "--version").stdout == expected
    assert "--version" in cli_ok(home, "--help").stdout
    assert not home.exists()
