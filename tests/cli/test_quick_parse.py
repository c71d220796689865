"""A plain ``enqueue`` is parsed without argparse (``cli.quick_parse``): it must read
every command line it takes exactly as argparse does (``parser.parse``, with the global
options before or after the command and ``-- CMD ARG...``), and leave every other one to
argparse. Both read enqueue's options from one table (``cli.OPTIONS``)."""

from __future__ import annotations

import argparse
import itertools

import pytest

from queuectl.cli import OPTIONS, Option, quick_parse
from queuectl.cli.parser import build_parser, parse

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
    ["enqueue", "--priority", "-5", "--command", "true"],
    ["enqueue", "--priority", " 7 ", "--command", "true"],
    ["enqueue", "--command", "a", "--command", "b"],
    ["enqueue", "--command", "true", "--timeout", "90s", "--delay", "5m", "--queue", "io"],
    ["enqueue", "--command", "true", "--delay", "-5s", "--timeout", "-.5"],
    ["enqueue", "--command", "-1", "--timeout", "-1x"],  # values, refused later
    ["enqueue", "--command", "true", "--run-at", "2030-01-01T00:00:00Z", "--cwd", "/tmp"],
    ["enqueue", "--command", "true", "--env", "A=1", "--env=B=2"],
    ["enqueue", "--env-file", ".env", "--env-file=b.env", "--clean-env", "--command", "true"],
    ["enqueue", '{"command":"true"}', "--clean-env"],
    ["enqueue", "--clean-env", "--", "env"],
    ["enqueue", "--command=", "--id="],
    ["enqueue"],
    ["enqueue", "enqueue"],
    ["enqueue", "echo", "hello"],
    ["enqueue", "--priority", "1", "echo", "hello"],
    # the global options, before and after the command; the later --db wins
    ["enqueue", "--command", "true", "--db", "x"],
    ["--db", "a", "enqueue", "--db=b", "--command", "true"],
    ["--db", "a", "--db", "b", "enqueue", "--command", "true"],
    ["--json", "enqueue", "--command", "true"],
    ["enqueue", "--json", "--command", "true"],
    ["--json", "--db", "x", "enqueue", '{"command":"true"}', "--json"],
    ["enqueue", "--file", "-", "--json", "--priority", "2"],
    # -- CMD ARG...: the job's argv, whatever it holds
    ["enqueue", "--", "echo", "hello"],
    ["enqueue", "--priority", "5", "--db", "x", "--", "printf", "%s", "--db", "--"],
    ["enqueue", "--", "--command"],
    ["enqueue", "--"],
    ["--json", "enqueue", "--json", "--", "true"],
    ["enqueue", '{"command":"true"}', "--", "echo"],
]

LEFT_TO_ARGPARSE = [
    [],
    ["--help"],
    ["enqueue", "--help"],
    ["enqueue", "-h"],
    ["status"],
    ["list", "--json"],
    ["--db"],
    ["--json"],
    ["enqueue", "--command"],
    ["enqueue", "--command", "-x"],
    ["enqueue", "--command", "--id"],
    ["enqueue", "--command", "--"],
    ["enqueue", "--comm", "true"],
    ["enqueue", "--js", "--command", "true"],
    ["enqueue", "--json=yes", "--command", "true"],
    ["enqueue", "--command", "true", "--unknown", "x"],
    ["enqueue", "--priority", "high", "--command", "true"],
    ["enqueue", "--max-retries", "99999999999", "--command", "true"],
    ["enqueue", "--max-retries", "-1", "--command", "true"],
    ["enqueue", "--command", "true", "--run-at", "2030-01-01", "--delay", "5m"],
    ["enqueue", "a", "--id", "x", "b"],
    ["enqueue", "-5"],
    ["enqueue", "--clean-env=1", "--command", "true"],
    ["enqueue", "--clean", "--command", "true"],
    ["enqueue", "--env-file", "--clean-env", "--command", "true"],
    ["--", "enqueue"],
    ["--priority", "5", "enqueue"],
    ["x", "enqueue"],
]


def test_the_two_lists_hold_different_forms() -> None:
    assert not {tuple(argv) for argv in TAKEN} & {tuple(argv) for argv in LEFT_TO_ARGPARSE}


@pytest.mark.parametrize("argv", TAKEN, ids=" ".join)
def test_the_quick_parse_reads_what_argparse_reads(argv: list[str]) -> None:
    quick = quick_parse(argv)
    assert quick is not None
    assert vars(quick) == vars(parse(argv))


GLOBAL = [["--db", "g.db"], ["--db=g.db"], ["--json"]]


@pytest.mark.parametrize("argv", [argv for argv in TAKEN if "--" not in argv], ids=" ".join)
@pytest.mark.parametrize("option", GLOBAL, ids=" ".join)
def test_a_global_option_is_read_alike_wherever_it_stands(
    argv: list[str], option: list[str]
) -> None:
    """Before the command, after it, between its options, at the end: every place but
    between an option and its value, or between two words of the JSON job."""
    start = argv.index("enqueue")

    def splits(i: int) -> bool:
        before = argv[i - 1] if i > 0 else ""
        if before.startswith("--") and "=" not in before and before != "--json":
            return True  # an option and its value
        return (
            start < i - 1
            and i < len(argv)
            and not argv[i - 1].startswith("-")
            and not argv[i].startswith("-")
            and not argv[i - 2].startswith("--")
        )

    places = [i for i in range(len(argv) + 1) if not splits(i)]
    for place in places:
        moved = [*argv[:place], *option, *argv[place:]]
        quick = quick_parse(moved)
        assert quick is not None, moved
        assert vars(quick) == vars(parse(moved)), moved


@pytest.mark.parametrize("argv", LEFT_TO_ARGPARSE, ids=" ".join)
def test_anything_else_is_left_to_argparse(argv: list[str]) -> None:
    assert quick_parse(argv) is None


@pytest.mark.parametrize(
    "option", [o for o in OPTIONS if not o.switch], ids=lambda option: option.flag
)
@pytest.mark.parametrize("joined", [False, True], ids=["spaced", "joined"])
def test_every_option_of_the_table_is_read_alike_by_both(option: Option, joined: bool) -> None:
    argv = ["enqueue", f"{option.flag}=7"] if joined else ["enqueue", option.flag, "7"]
    quick = quick_parse(argv)
    assert quick is not None
    assert vars(quick) == vars(parse(argv))
    value = "7" if option.convert is None else option.convert("7")
    assert getattr(quick, option.dest) == ([value] if option.append else value)


@pytest.mark.parametrize("option", [o for o in OPTIONS if o.switch], ids=lambda o: o.flag)
def test_a_switch_takes_no_value_in_either(option: Option) -> None:
    """A switch is True when given, None (no field) when not; ``--switch=x`` is argparse's
    to refuse."""
    for argv in (["enqueue", option.flag, "--command", "true"], ["enqueue", "--command", "true"]):
        quick = quick_parse(argv)
        assert quick is not None
        assert vars(quick) == vars(parse(argv))
        assert getattr(quick, option.dest) is (True if option.flag in argv else None)
    assert quick_parse(["enqueue", f"{option.flag}=yes", "--command", "true"]) is None
    with pytest.raises(SystemExit) as refused:
        parse(["enqueue", f"{option.flag}=yes", "--command", "true"])
    assert refused.value.code == 2


def test_argparse_knows_no_enqueue_option_but_the_table_s() -> None:
    commands = next(
        action
        for action in build_parser("enqueue")._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    enqueue = commands.choices["enqueue"]
    declared = {flag for action in enqueue._actions for flag in action.option_strings}
    assert declared - {"-h", "--help", "--db", "--json"} == {option.flag for option in OPTIONS}


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
