"""A plain ``enqueue`` is parsed without argparse (``cli.quick_parse``): it must read
every command line it takes exactly as argparse does, and leave every other one to argparse.
Both read enqueue's options from one table (``cli.OPTIONS``)."""

from __future__ import annotations

import argparse
import itertools

import pytest

from queuectl.cli import OPTIONS, Option, quick_parse
from queuectl.cli.parser import build_parser

TAKEN = [
    ["enqueue", "--command", "true"],
    ["enqueue", "--command=echo a=b", "--id=x1"],
    ["--db", "/tmp/q.db", "enqueue", "--command", "true"],
    ["--db=sqlite:///tmp/q.db", "enqueue", "--command", "true"],
    ["enqueue", '{"command":"true"}'],
    ["enqueue", '{"command":"true"}', "--id", "x"],
    ["enqueue", "--id", "x", '{"command":"true"}'],
    ["--db", "-", "enqueue", "--command", "true"],
    ["enqueue", "--file", "-"],
    ["enqueue", "--file", "jobs.jsonl"],
    ["enqueue", "--command", "sleep 1", "--priority", "5", "--max-retries", "0"],
    ["enqueue", "--priority=-5", "--command", "true"],
    ["enqueue", "--priority", " 7 ", "--command", "true"],
    ["enqueue", "--command", "a", "--command", "b"],
    ["enqueue", "--command", "true", "--timeout", "90s", "--delay", "5m", "--queue", "io"],
    ["enqueue", "--command", "true", "--run-at", "2030-01-01T00:00:00Z", "--cwd", "/tmp"],
    ["enqueue", "--command", "true", "--env", "A=1", "--env=B=2"],
    ["enqueue", "--command=", "--id="],
    ["enqueue"],
    ["enqueue", "enqueue"],
]

LEFT_TO_ARGPARSE = [
    [],
    ["--help"],
    ["enqueue", "--help"],
    ["enqueue", "-h"],
    ["status"],
    ["list", "--json"],
    ["--db"],
    ["enqueue", "--command"],
    ["enqueue", "--command", "-x"],
    ["enqueue", "--command", "--id"],
    ["enqueue", "--comm", "true"],
    ["enqueue", "--command", "true", "--db", "x"],
    ["enqueue", "--command", "true", "--unknown", "x"],
    ["enqueue", "--priority", "-5", "--command", "true"],
    ["enqueue", "--priority", "high", "--command", "true"],
    ["enqueue", "--max-retries", "99999999999", "--command", "true"],
    ["enqueue", "--command", "true", "--run-at", "2030-01-01", "--delay", "5m"],
    ["enqueue", "a", "b"],
    ["enqueue", "-5"],
    ["enqueue", "--", "--command"],
    ["x", "enqueue"],
]


@pytest.mark.parametrize("argv", TAKEN, ids=" ".join)
def test_the_quick_parse_reads_what_argparse_reads(argv: list[str]) -> None:
    quick = quick_parse(argv)
    assert quick is not None
    assert vars(quick) == vars(build_parser("enqueue").parse_args(argv))


@pytest.mark.parametrize("argv", LEFT_TO_ARGPARSE, ids=" ".join)
def test_anything_else_is_left_to_argparse(argv: list[str]) -> None:
    assert quick_parse(argv) is None


@pytest.mark.parametrize("option", OPTIONS, ids=lambda option: option.flag)
@pytest.mark.parametrize("joined", [False, True], ids=["spaced", "joined"])
def test_every_option_of_the_table_is_read_alike_by_both(option: Option, joined: bool) -> None:
    argv = ["enqueue", f"{option.flag}=7"] if joined else ["enqueue", option.flag, "7"]
    quick = quick_parse(argv)
    assert quick is not None
    assert vars(quick) == vars(build_parser("enqueue").parse_args(argv))
    value = "7" if option.convert is None else option.convert("7")
    assert getattr(quick, option.dest) == ([value] if option.append else value)


def test_argparse_knows_no_enqueue_option_but_the_table_s() -> None:
    commands = next(
        action
        for action in build_parser("enqueue")._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    enqueue = commands.choices["enqueue"]
    declared = {flag for action in enqueue._actions for flag in action.option_strings}
    assert declared - {"-h", "--help"} == {option.flag for option in OPTIONS}


EXCLUSIVE = [
    (first, second)
    for first, second in itertools.permutations(OPTIONS, 2)
    if first.exclusive is not None and first.exclusive == second.exclusive
]


@pytest.mark.parametrize(
    ("first", "second"), EXCLUSIVE, ids=lambda option: option.flag.removeprefix("--")
)
def test_options_that_exclude_each_other_are_refused_by_argparse(
    first: Option, second: Option
) -> None:
    argv = ["enqueue", "--command", "true", first.flag, "7", second.flag, "7"]
    assert quick_parse(argv) is None
    with pytest.raises(SystemExit) as refused:
        build_parser("enqueue").parse_args(argv)
    assert refused.value.code == 2
