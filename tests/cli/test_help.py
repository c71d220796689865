"""What ``--help`` and usage errors show: every command and flag of CLI.md."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from queuectl.cli.parser import build_parser
from tests.support.cli import cli, cli_ok

if TYPE_CHECKING:
    from collections.abc import Iterator

    Leaf = tuple[tuple[str, ...], argparse.ArgumentParser]

COMMANDS = (
    "enqueue",
    "list",
    "status",
    "stats",
    "show",
    "logs",
    "wait",
    "cancel",
    "rerun",
    "edit",
    "run-now",
    "dlq",
    "purge",
    "config",
    "queue",
    "worker",
    "dashboard",
    "completion",
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
        (["purge"], ["--state", "--older-than", "--queue", "--dry-run", "--yes", "--json"]),
        (["config"], ["get", "set", "unset", "list", "show"]),
        (["queue"], ["list", "pause", "resume", "set"]),
        (["queue", "pause"], ["--all", "--for", "--reason"]),
        (["queue", "set"], ["--concurrency", "--rate", "--timeout"]),
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


def _leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[Leaf]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
    for action in subs:
        for name, sub in action.choices.items():
            yield from _leaves(sub, (*path, name))


LEAVES = dict((" ".join(path), parser) for path, parser in _leaves(build_parser()))
HIDDEN = {("dashboard", "--token")}  # refused with a hint: it would show in ps


@pytest.mark.parametrize("command", list(LEAVES))
def test_every_argument_says_what_it_does_and_its_default(command: str) -> None:
    for action in LEAVES[command]._actions:
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
            continue
        name = action.option_strings[0] if action.option_strings else action.dest
        if (command, name) in HIDDEN:
            continue
        assert action.help and action.help != argparse.SUPPRESS, f"{command} {name}: no help"
        if action.default not in (None, False, [], argparse.SUPPRESS):
            assert "default" in action.help, f"{command} {name}: its default is not said"


def test_a_command_s_help_shows_its_defaults_and_durations(home: Path) -> None:
    start = cli_ok(home, "worker", "start", "--help").stdout
    assert "(default: 1)" in start and "every queue" in start
    assert "--timeout DURATION" in cli_ok(home, "enqueue", "--help").stdout
    assert "--timeout DURATION" in cli_ok(home, "worker", "stop", "--help").stdout
    listing = cli_ok(home, "list", "--help").stdout
    for state in ("pending", "processing", "completed", "failed", "dead", "cancelled"):
        assert state in listing
