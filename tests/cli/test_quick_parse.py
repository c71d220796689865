"""A plain ``enqueue`` is parsed without argparse (cli._quick_enqueue): it must read every
command line it takes exactly as argparse does, and leave every other one to argparse."""

from __future__ import annotations

import pytest

from queuectl.cli import _quick_enqueue, build_parser

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
    quick = _quick_enqueue(argv)
    assert quick is not None
    assert vars(quick) == vars(build_parser("enqueue").parse_args(argv))


@pytest.mark.parametrize("argv", LEFT_TO_ARGPARSE, ids=" ".join)
def test_anything_else_is_left_to_argparse(argv: list[str]) -> None:
    assert _quick_enqueue(argv) is None
