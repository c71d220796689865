"""What every command line shares: ``--db`` and ``--json`` before or after the command,
and negative values read as values (``--delay -5s`` is refused for being negative, not
taken for an option)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import pytest

from queuectl.backends import open_backend
from queuectl.cli import quick_parse
from queuectl.cli.parser import build_parser, parse
from tests.contract.support import add, make_completed, make_dead
from tests.support.cli import cli, cli_json, cli_ok


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A queue outside the test's home, holding a pending job ``p``, a completed ``c``
    and a dead ``d``."""
    path = tmp_path / "elsewhere" / "q.db"
    path.parent.mkdir(mode=0o700)
    backend = open_backend(str(path))
    try:
        add(backend, "p")
        make_completed(backend, "c")
        make_dead(backend, "d")
    finally:
        backend.close()
    return path


# --- --db after the command, for every command -----------------------------------------
AFTER = [
    ["enqueue", "--command", "true"],
    ["enqueue", "--", "true"],
    ["list", "--json"],
    ["status"],
    ["stats", "--json"],
    ["show", "p", "--json"],
    ["logs", "c"],
    ["cancel", "p"],
    ["dlq", "list", "--json"],
    ["dlq", "retry", "d"],
    ["dlq", "purge", "--all"],
    ["config", "set", "max-retries", "4"],
    ["config", "get", "max-retries"],
    ["config", "unset", "max-retries"],
    ["config", "list"],
    ["config", "show", "--json"],
    ["worker", "list", "--json"],
    ["worker", "stop", "--timeout", "0"],
    ["worker", "start", "--burst"],
]


@pytest.mark.parametrize("args", AFTER, ids=" ".join)
def test_db_after_the_command_names_the_queue(home: Path, elsewhere: Path, args: list[str]) -> None:
    """Each of these succeeds only on the queue that holds ``p``, ``c`` and ``d``; none
    touches the default queue."""
    cut = args.index("--") if "--" in args else len(args)
    cli_ok(home, *args[:cut], "--db", str(elsewhere), *args[cut:])
    assert not (home / "queuectl.db").exists()


def test_the_db_given_after_the_command_wins(home: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "first.db", tmp_path / "second.db"
    cli_ok(home, "--db", str(first), "enqueue", "--command", "true", "--db", str(second))
    cli_ok(home, "--db", str(first), "enqueue", "--id", "x", "--db", str(second), "--", "true")
    assert not first.exists()
    counts = cli_json(home, "--db", str(first), "status", "--json", "--db", str(second))
    assert counts["jobs"]["pending"] == 2
    assert not first.exists()


def test_db_and_json_after_a_subcommand(home: Path, elsewhere: Path) -> None:
    dead = cli_json(home, "dlq", "list", "--db", str(elsewhere), "--json")
    assert [job["id"] for job in dead] == ["d"]
    assert cli_json(home, "--json", "dlq", "list", "--db", str(elsewhere)) == dead


@pytest.mark.parametrize(
    "args",
    [["status"], ["list"], ["show", "p"], ["config", "list"], ["worker", "list"]],
    ids=" ".join,
)
def test_json_before_the_command_is_json_after_it(
    home: Path, elsewhere: Path, args: list[str]
) -> None:
    where = ["--db", str(elsewhere)]
    before = cli_ok(home, *where, "--json", *args).stdout
    assert before == cli_ok(home, *where, *args, "--json").stdout
    assert before.startswith(("{", "["))


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--json", "logs", "c"], "logs"),
        (["--json", "cancel", "p"], "cancel"),
        (["--json", "dlq", "retry", "d"], "dlq retry"),
        (["--json", "worker", "start", "--burst"], "worker start"),
        (["logs", "c", "--json"], "logs"),
        (["dlq", "purge", "--all", "--json"], "dlq purge"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_json_where_a_command_has_no_json_output_is_refused(
    home: Path, elsewhere: Path, args: list[str], named: str
) -> None:
    done = cli(home, "--db", str(elsewhere), *args)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert f"--json: 'queuectl {named}' has no JSON output" in done.stderr
    ids = {
        job["id"]: job["state"] for job in cli_json(home, "--db", str(elsewhere), "list", "--json")
    }
    assert ids == {"p": "pending", "c": "completed", "d": "dead"}  # nothing was done


# --- every command's parser, in-process -------------------------------------------------
def leaves(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every command line's own parser, with the words that name it."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from leaves(sub, (*path, name))
            return
    yield path, parser


def words_for(path: tuple[str, ...], parser: argparse.ArgumentParser) -> list[str]:
    """The command's words and a value for each positional it requires."""
    needed = [a for a in parser._actions if not a.option_strings and a.nargs in (None, "+")]
    return [*path, *(next(iter(a.choices)) if a.choices else "x" for a in needed)]


# each command line: its words, and whether it declares --json
COMMAND_LINES = {
    " ".join(path): (
        words_for(path, parser),
        any("--json" in action.option_strings for action in parser._actions),
    )
    for path, parser in leaves(build_parser())
}
each_command = pytest.mark.parametrize(
    ("words", "has_json"), list(COMMAND_LINES.values()), ids=list(COMMAND_LINES)
)


def test_every_command_is_among_the_leaves() -> None:
    assert {"dashboard", "dlq list", "config set", "worker start"} <= set(COMMAND_LINES)


@each_command
def test_every_command_takes_db_after_it_and_the_later_wins(
    words: list[str], has_json: bool
) -> None:
    assert parse([*words, "--db", "after"]).db == "after"
    assert parse(["--db", "before", *words]).db == "before"
    assert parse(["--db", "before", *words, "--db", "after"]).db == "after"
    assert parse(words).db is None


@each_command
def test_json_goes_before_or_after_exactly_the_commands_that_have_it(
    words: list[str], has_json: bool
) -> None:
    for placed in (["--json", *words], [*words, "--json"], ["--json", *words, "--json"]):
        if has_json:
            assert parse(placed).json is True
        else:
            with pytest.raises(SystemExit) as refused:
                parse(placed)
            assert refused.value.code == 2
    if has_json:
        assert parse(words).json is False
    else:
        assert not hasattr(parse(words), "json")


# --- negative values --------------------------------------------------------------------
NEGATIVE = [
    ["enqueue", "--command", "true", "--delay", "-5s"],
    ["enqueue", "--command", "true", "--delay", "-5"],
    ["enqueue", "--command", "true", "--timeout", "-1m"],
    ["enqueue", "--command", "true", "--max-retries", "-1"],
    ["enqueue", "--max-retries=-1", "--", "true"],
    ["enqueue", '{"command":"true","delay":"-1h30m"}'],
    ["list", "--limit", "-1"],
    ["logs", "p", "--attempt", "-1"],
    ["stats", "--since", "-1h"],
    ["status", "--watch", "--interval", "-2s"],
    ["worker", "stop", "--timeout", "-5s"],
    ["worker", "start", "--count", "-2"],
    ["dashboard", "--port", "-1"],
]


@pytest.mark.parametrize("args", NEGATIVE, ids=" ".join)
def test_a_negative_duration_or_number_is_refused_as_negative(
    home: Path, elsewhere: Path, args: list[str]
) -> None:
    done = cli(home, "--db", str(elsewhere), *args)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert "must not be negative" in done.stderr
    assert "expected one argument" not in done.stderr
    ids = {
        job["id"]: job["state"] for job in cli_json(home, "--db", str(elsewhere), "list", "--json")
    }
    assert ids == {"p": "pending", "c": "completed", "d": "dead"}  # nothing was done


@pytest.mark.parametrize(
    "args",
    [
        ["enqueue", "--priority", "-5", "--command", "true", "--id", "n"],  # the quick parse
        ["enqueue", "--prio", "-5", "--command", "true", "--id", "n"],  # argparse
    ],
    ids=["quick", "argparse"],
)
def test_a_negative_priority_is_a_priority(home: Path, args: list[str]) -> None:
    assert (quick_parse(args) is None) == ("--prio" in args)
    cli_ok(home, *args)
    assert cli_json(home, "show", "n", "--json")["priority"] == -5
