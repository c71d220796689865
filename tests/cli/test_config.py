"""``queuectl config``: settings stored in the queue, read back by any process."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import cli, cli_json, cli_ok

KEYS = (
    "max_retries",
    "backoff_base",
    "max_backoff",
    "job_timeout",
    "kill_grace",
    "stop_timeout",
    "lease",
    "heartbeat",
    "poll_interval",
    "log_tail_bytes",
    "durability",
    "no_retry_on",
    "backoff_jitter",
    "snooze_exit_code",
    "snooze_delay",
    "max_snoozes",
    "on_complete",
    "on_failure",
    "on_dead",
    "hook_timeout",
    "max_log_bytes",
    "keep_output",
    "live_output_bytes",
    "retention_completed",
    "retention_cancelled",
    "retention_dead",
)


def test_set_in_one_process_get_in_another(home: Path) -> None:
    done = cli_ok(home, "config", "set", "max-retries", "5")
    assert done.stdout == ""
    assert cli_ok(home, "config", "get", "max_retries").stdout == "5\n"
    assert cli_ok(home, "config", "get", "max-retries").stdout == "5\n"


@pytest.mark.usefixtures("made")
def test_defaults_are_printed_bare(home: Path) -> None:
    assert cli_ok(home, "config", "get", "max-retries").stdout == "3\n"
    assert cli_ok(home, "config", "get", "job-timeout").stdout == "none\n"


def test_values_are_stored_in_canonical_form(home: Path) -> None:
    cli_ok(home, "config", "set", "max_backoff", "1h")
    assert cli_ok(home, "config", "get", "max-backoff").stdout == "3600\n"


def test_new_jobs_take_the_max_retries_setting(home: Path) -> None:
    cli_ok(home, "enqueue", "--command", "true", "--id", "before")
    cli_ok(home, "config", "set", "max-retries", "5")
    cli_ok(home, "enqueue", "--command", "true", "--id", "after")
    cli_ok(home, "enqueue", "--command", "true", "--id", "own", "--max-retries", "1")
    retries = {j["id"]: j["max_retries"] for j in cli_json(home, "list", "--json")}
    assert retries == {"before": 3, "after": 5, "own": 1}


def test_unset_goes_back_to_the_default(home: Path) -> None:
    cli_ok(home, "config", "set", "max-retries", "5")
    cli_ok(home, "config", "unset", "max_retries")
    assert cli_ok(home, "config", "get", "max-retries").stdout == "3\n"


@pytest.mark.parametrize("action", ["list", "show"])
def test_list_json_has_every_key(home: Path, action: str) -> None:
    cli_ok(home, "config", "set", "lease", "60")
    values = cli_json(home, "config", action, "--json")
    assert set(values) == set(KEYS)
    assert values["lease"] == "60"
    assert values["max_retries"] == "3"


@pytest.mark.usefixtures("made")
def test_list_text_shows_every_key(home: Path) -> None:
    shown = cli_ok(home, "config", "list").stdout
    for key in KEYS:
        assert key.replace("_", "-") in shown


@pytest.mark.usefixtures("made")
@pytest.mark.parametrize(
    "args",
    [
        ["set", "max-retries", "lots"],
        ["set", "max-retries", "-1"],
        ["set", "lease", "abc"],
        ["set", "lease", "5"],  # the default heartbeat (5 s) must fit twice in it
        ["set", "heartbeat", "20"],
        ["set", "durability", "maybe"],
        ["set", "nope", "1"],
        ["get", "nope"],
        ["unset", "nope"],
        ["set", "max-retries"],
        ["set", "hook-timeout", "0"],
        ["set", "stop-timeout", "-1s"],
        ["set", "on-dead", "x" * 4097],
    ],
    ids=lambda args: " ".join(args)[:40],
)
def test_bad_config_exits_2_and_changes_nothing(home: Path, args: list[str]) -> None:
    before = cli_json(home, "config", "list", "--json")
    done = cli(home, "config", *args)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert cli_json(home, "config", "list", "--json") == before


def test_unset_that_would_break_the_heartbeat_rule_is_refused(home: Path) -> None:
    cli_ok(home, "config", "set", "lease", "60")
    cli_ok(home, "config", "set", "heartbeat", "20")
    done = cli(home, "config", "unset", "lease")  # back to 30 s: 2 x 20 s no longer fits
    assert done.returncode == 2
    assert cli_ok(home, "config", "get", "lease").stdout == "60\n"


@pytest.mark.usefixtures("made")
def test_a_hook_is_kept_as_written_and_none_removes_it(home: Path) -> None:
    hook = """notify-send "job $QUEUECTL_JOB_ID: it's dead" | logger -t 'queuectl'"""
    cli_ok(home, "config", "set", "on-dead", hook)
    assert cli_ok(home, "config", "get", "on_dead").stdout == hook + "\n"
    cli_ok(home, "config", "set", "on-dead", "none")
    assert cli_ok(home, "config", "get", "on-dead").stdout == "none\n"


@pytest.mark.usefixtures("made")
def test_a_stop_timeout_of_0_interrupts_at_once_and_none_waits_for_ever(home: Path) -> None:
    cli_ok(home, "config", "set", "stop-timeout", "0")
    assert cli_ok(home, "config", "get", "stop-timeout").stdout == "0\n"
    cli_ok(home, "config", "set", "stop-timeout", "5m")
    assert cli_ok(home, "config", "get", "stop-timeout").stdout == "300\n"
    cli_ok(home, "config", "set", "stop-timeout", "none")
    assert cli_ok(home, "config", "get", "stop-timeout").stdout == "none\n"
