"""What people read: tables that fit the terminal, coloured states only on a terminal,
and one rendering of a command, of names, of tries and of a running attempt."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

from queuectl.config import SETTINGS
from queuectl.lifecycle import Failed
from tests.contract.support import add, claim, end, make_completed, make_dead
from tests.support.cli import cli, cli_json, cli_ok, on_terminal

if TYPE_CHECKING:
    from queuectl.backends.base import Backend

ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
LONG = "echo " + "a long command line that no terminal shows whole " * 3
HEADERS = ("ID", "STATE", "QUEUE", "PRI", "TRIES", "COMMAND", "WHEN", "LAST ERROR")


def mixed_queue(home: Path, store: Backend) -> None:
    """Jobs of every kind: long commands, generated ids, a running one, errors."""
    for _ in range(3):
        cli_ok(home, "enqueue", "--command", LONG)
    add(store, "run-me", priority=9)
    claim(store)
    make_completed(store, "done")
    make_dead(store, "dead")
    add(store, "fails", max_retries=2, priority=9)
    assert end(store, claim(store), Failed(3))
    cli_ok(home, "enqueue", "--command", "sleep 1", "--id", "gone")
    cli_ok(home, "cancel", "gone")


def rows(text: str) -> list[str]:
    return ESCAPE.sub("", text).rstrip("\n").split("\n")


# --- width -----------------------------------------------------------------------------
def test_list_fits_80_columns_and_cuts_the_command(home: Path, store: Backend) -> None:
    mixed_queue(home, store)
    shown = rows(cli_ok(home, "list", env={"COLUMNS": "80"}).stdout)
    assert all(len(line) <= 80 for line in shown), shown
    assert len(shown) == 1 + 8  # one line per job
    assert all(word in shown[0] for word in ("ID", "STATE", "TRIES", "COMMAND", "WHEN"))
    assert any("…" in line for line in shown)
    for job in cli_json(home, "list", "--json"):
        assert any(line.startswith(job["id"] + " ") for line in shown)  # ids are never cut


def test_a_wide_terminal_keeps_every_column_and_a_pipe_cuts_nothing(
    home: Path, store: Backend
) -> None:
    mixed_queue(home, store)
    wide = rows(cli_ok(home, "list", env={"COLUMNS": "140"}).stdout)
    assert all(len(line) <= 140 for line in wide)
    assert [word for word in HEADERS if word in wide[0]] == list(HEADERS)
    assert "exit code 3" in "\n".join(wide)
    piped = cli_ok(home, "list").stdout
    assert LONG in piped and "…" not in piped  # into a pipe or a file nothing is cut


def test_list_on_a_real_terminal(home: Path, store: Backend) -> None:
    mixed_queue(home, store)
    code, shown = on_terminal(home, "list", columns=80)
    assert code == 0
    assert all(len(line) <= 80 for line in rows(shown)), shown
    assert "…" in shown
    code, narrow = on_terminal(home, "list", columns=60)
    assert all(len(line) <= 60 for line in rows(narrow)), narrow


def test_config_list_is_cut_only_when_the_screen_is_narrow(home: Path) -> None:
    meanings = [meaning for _, _, meaning in SETTINGS.values()]
    for shown in (
        cli_ok(home, "config", "list", env={"COLUMNS": "200"}).stdout,
        cli_ok(home, "config", "list").stdout,
        on_terminal(home, "config", "list", columns=200)[1],
    ):
        assert all(meaning in shown for meaning in meanings), shown
        assert "…" not in shown
    narrow = rows(cli_ok(home, "config", "list", env={"COLUMNS": "70"}).stdout)
    assert all(len(line) <= 70 for line in narrow) and "…" in "\n".join(narrow)


# --- colour ------------------------------------------------------------------------------
def test_states_are_coloured_on_a_terminal_only(home: Path, store: Backend) -> None:
    mixed_queue(home, store)
    for args in (["list"], ["status"], ["show", "done"], ["dlq", "list"]):
        _, shown = on_terminal(home, *args)
        assert ESCAPE.search(shown), f"{args}: no colour on a terminal"
        _, bland = on_terminal(home, *args, env={"NO_COLOR": "1"})
        assert not ESCAPE.search(bland) and "\x1b" not in bland, args
        piped = cli_ok(home, *args).stdout
        assert "\x1b" not in piped, f"{args}: colour into a pipe"
    _, shown = on_terminal(home, "list")
    assert "\x1b[32mcompleted\x1b[0m" in shown and "\x1b[36mprocessing\x1b[0m" in shown
    _, empty = on_terminal(home, "list", env={"NO_COLOR": ""})  # empty: not set
    assert ESCAPE.search(empty)


def test_json_is_never_coloured(home: Path, store: Backend) -> None:
    mixed_queue(home, store)
    _, shown = on_terminal(home, "list", "--json")
    json.loads(shown)


# --- one rendering -----------------------------------------------------------------------
def test_an_argv_command_reads_the_same_in_list_and_show(home: Path) -> None:
    job = {"id": "argv", "command": ["printf", "%s\\n", "a b"], "env": {"B": "2", "A": "1"}}
    cli_ok(home, "enqueue", json.dumps(job))
    typed = "printf '%s\\n' 'a b'"
    assert typed in cli_ok(home, "list").stdout
    shown = cli_ok(home, "show", "argv").stdout.splitlines()
    assert f"command      {typed}" in shown
    assert "env_keys     A, B" in shown  # names, not a Python list
    assert "tags         -" in shown


def test_a_running_attempt_is_processing_in_every_view(home: Path, store: Backend) -> None:
    add(store, "run-me")
    claim(store, "w1")
    (line,) = rows(cli_ok(home, "list").stdout)[1:]
    assert line.split()[1:2] == ["processing"]
    assert " 1/4 " in line and "started" in line  # attempt 1 of 4 runs
    shown = cli_ok(home, "show", "run-me").stdout
    assert "attempts     1/4" in shown.splitlines()
    assert "running" not in shown
    (attempt,) = rows(shown.split("\n\n")[1])[1:]
    assert attempt.split()[:2] == ["1", "processing"]
    assert cli_json(home, "show", "run-me", "--json")["history"][0]["outcome"] is None


def test_when_says_what_its_time_is(home: Path, store: Backend) -> None:
    cli_ok(home, "enqueue", "--command", "true", "--id", "ready")
    cli_ok(home, "enqueue", "--command", "true", "--id", "later", "--delay", "2h")
    make_completed(store, "done")
    add(store, "fails", max_retries=2, priority=9)
    assert end(store, claim(store), Failed(3))
    add(store, "running", priority=9)
    claim(store)
    cli_ok(home, "enqueue", "--command", "true", "--id", "gone")
    cli_ok(home, "cancel", "gone")
    table = rows(cli_ok(home, "list").stdout)
    when = {line.split()[0]: line for line in table[1:]}
    assert re.search(r"queued \d+s ago", when["ready"])
    assert "runs in 2h" in when["later"]
    assert re.search(r"finished \d+s ago", when["done"])
    assert re.search(r"retry (in|due) \d+s", when["fails"])
    assert re.search(r"started \d+s ago", when["running"])
    assert re.search(r"cancelled \d+s ago", when["gone"])


def test_control_characters_are_shown_escaped(home: Path) -> None:
    cli_ok(home, "enqueue", "--command", "printf '\x1b[2J'; echo\tdone", "--id", "sneaky")
    for args in (["list"], ["show", "sneaky"]):
        shown = cli_ok(home, *args).stdout
        assert "\x1b" not in shown and "\t" not in shown
        assert "\\x1b[2J" in shown


def test_the_tries_column_counts_the_running_attempt(home: Path, store: Backend) -> None:
    make_completed(store, "once")
    (line,) = rows(cli(home, "list", "--state", "completed").stdout)[1:]
    assert " 1/4 " in line
