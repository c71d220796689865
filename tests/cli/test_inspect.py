"""What users see from list, status, show, cancel and dlq; where and how the queue is stored."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from queuectl.lifecycle import Failed
from tests.contract.support import add, claim, end, make_completed, make_dead
from tests.support.cli import cli, cli_json, cli_ok, one_line_error
from tests.support.output import JOB_FIELDS, STATES, TIMESTAMP, TIMESTAMP_FIELDS

if TYPE_CHECKING:
    from queuectl.backends.base import Backend


def assert_job_object(job: dict[str, Any]) -> None:
    missing = [field for field in JOB_FIELDS if field not in job]
    assert not missing, f"job object lacks {missing}"
    for field in TIMESTAMP_FIELDS:
        value = job[field]
        assert value is None or TIMESTAMP.match(value), f"{field} = {value!r}"
    assert job["state"] in STATES
    assert isinstance(job["attempts"], int)
    assert isinstance(job["max_retries"], int)
    assert isinstance(job["priority"], int)


# --- list ----------------------------------------------------------------------------
@pytest.mark.usefixtures("made")
def test_list_json_of_an_empty_queue_is_an_empty_array(home: Path) -> None:
    done = cli_ok(home, "list", "--json")
    assert json.loads(done.stdout) == []
    assert done.stdout.strip() == "[]"


@pytest.mark.usefixtures("made")
def test_list_of_an_empty_queue_says_so(home: Path) -> None:
    assert cli_ok(home, "list").stdout.strip()


def test_list_json_carries_every_field(home: Path, store: Backend) -> None:
    cli_ok(home, "enqueue", '{"id":"p","command":"true","timeout":5}')
    make_completed(store, "c")
    make_dead(store, "d")
    add(store, "f", "r", queue="work")
    assert end(store, claim(store, queues=["work"]), Failed(4))
    claim(store, "worker-9", queues=["work"])
    jobs = {job["id"]: job for job in cli_json(home, "list", "--json")}
    assert set(jobs) == {"p", "c", "d", "f", "r"}
    for job in jobs.values():
        assert_job_object(job)
    assert jobs["p"]["timeout"] == 5.0
    p = jobs["p"]
    assert (p["started_at"], p["finished_at"], p["exit_code"], p["worker"]) == (None,) * 4
    assert jobs["c"]["state"] == "completed"
    assert jobs["c"]["exit_code"] == 0 and jobs["c"]["finished_at"] is not None
    assert (jobs["d"]["state"], jobs["d"]["exit_code"], jobs["d"]["attempts"]) == ("dead", 1, 1)
    assert jobs["d"]["last_error"] == "exit code 1"
    assert (jobs["f"]["state"], jobs["f"]["exit_code"]) == ("failed", 4)
    assert (jobs["r"]["state"], jobs["r"]["worker"]) == ("processing", "worker-9")
    assert jobs["r"]["started_at"] is not None


def test_list_filters(home: Path) -> None:
    for job_id, queue in (("a", "default"), ("b", "mail"), ("c", "mail")):
        cli_ok(home, "enqueue", "--command", "true", "--id", job_id, "--queue", queue)
    cli_ok(home, "cancel", "a")

    def ids(*args: str) -> list[str]:
        return [job["id"] for job in cli_json(home, "list", "--json", *args)]

    assert ids() == ["a", "b", "c"]
    assert ids("--state", "pending") == ["b", "c"]
    assert ids("--state", "cancelled") == ["a"]
    assert ids("--queue", "mail") == ["b", "c"]
    assert ids("--queue", "mail", "--limit", "1") == ["c"]  # the newest
    assert ids("--state", "dead") == []
    table = cli_ok(home, "list").stdout
    assert all(job_id in table for job_id in "abc")


@pytest.mark.parametrize(
    "args", [["--state", "bogus"], ["--limit", "-1"], ["--limit", "many"]], ids=" ".join
)
def test_list_refuses_bad_filters(home: Path, args: list[str]) -> None:
    one_line_error(cli(home, "list", *args), 2)


# --- status --------------------------------------------------------------------------
@pytest.mark.usefixtures("made")
def test_status_json(home: Path) -> None:
    assert cli_json(home, "status", "--json") == {
        "jobs": dict.fromkeys(STATES, 0),
        "workers": [],
        "queues": [],  # the paused or limited ones
    }
    cli_ok(home, "enqueue", "--command", "true")
    status = cli_json(home, "status", "--json")
    assert set(status) == {"jobs", "workers", "queues"}
    assert set(status["jobs"]) == set(STATES)
    assert status["jobs"]["pending"] == 1
    assert status["workers"] == []


@pytest.mark.usefixtures("made")
def test_status_text_names_every_state(home: Path) -> None:
    shown = cli_ok(home, "status").stdout
    for state in STATES:
        assert state in shown


# --- show ----------------------------------------------------------------------------
def test_show_json_has_the_job_and_its_attempts(home: Path, store: Backend) -> None:
    add(store, "a", max_retries=1)
    job = claim(store, "w1")
    assert end(store, job, Failed(3))
    shown = cli_json(home, "show", "a", "--json")
    assert shown["id"] == "a"
    assert shown["state"] == "failed"
    assert shown["last_error"] == "exit code 3"
    history = shown["history"]
    assert isinstance(history, list) and len(history) == 1
    (attempt,) = history
    assert (attempt["worker"], attempt["outcome"], attempt["exit_code"]) == ("w1", "failed", 3)
    for field in ("started_at", "finished_at"):
        assert TIMESTAMP.match(attempt[field])


def test_show_json_is_a_job_object(home: Path) -> None:
    cli_ok(home, "enqueue", "--command", "true", "--id", "a")
    assert_job_object(cli_json(home, "show", "a", "--json"))


def test_show_text(home: Path) -> None:
    cli_ok(home, "enqueue", "--command", "echo hello", "--id", "a")
    shown = cli_ok(home, "show", "a").stdout
    assert "echo hello" in shown and "pending" in shown


def test_show_of_a_missing_job_exits_1(home: Path) -> None:
    one_line_error(cli(home, "show", "missing"), 1)
    one_line_error(cli(home, "show", "missing", "--json"), 1)


def test_show_of_a_bad_id_exits_2(home: Path) -> None:
    one_line_error(cli(home, "show", "../etc"), 2)


# --- cancel --------------------------------------------------------------------------
def test_cancel_pending_jobs(home: Path) -> None:
    for job_id in ("a", "b"):
        cli_ok(home, "enqueue", "--command", "true", "--id", job_id)
    done = cli_ok(home, "cancel", "a", "b")
    assert done.stdout.split() == ["a", "b"]
    assert cli_json(home, "status", "--json")["jobs"]["cancelled"] == 2


def test_cancel_cancels_what_it_can_and_reports_each_other_job(home: Path, store: Backend) -> None:
    add(store, "p", "q")
    make_completed(store, "c")
    make_dead(store, "d")
    done = cli(home, "cancel", "p", "missing", "c", "d", "gone", "q")
    assert done.returncode == 1
    assert done.stdout.split() == ["p", "q"]
    lines = done.stderr.splitlines()
    assert len(lines) == 4, done.stderr
    assert all(line.startswith("queuectl: error: ") for line in lines)
    assert ["missing" in lines[0], "c" in lines[1], "d" in lines[2], "gone" in lines[3]] == [
        True
    ] * 4
    assert "no job" in lines[0] and "no job" in lines[3]
    assert "completed" in lines[1] and "dead" in lines[2]
    states = {job["id"]: job["state"] for job in cli_json(home, "list", "--json")}
    assert states == {"p": "cancelled", "q": "cancelled", "c": "completed", "d": "dead"}


def test_cancel_of_a_job_already_cancelled_is_noted_and_succeeds(
    home: Path, store: Backend
) -> None:
    add(store, "p")
    cli_ok(home, "cancel", "p")
    again = cli_ok(home, "cancel", "p")
    assert again.stdout == ""
    assert again.stderr == "queuectl: job 'p' was already cancelled\n"
    one_line_error(cli(home, "cancel", "missing"), 1)


# --- dead letter queue ---------------------------------------------------------------
@pytest.mark.usefixtures("made")
def test_dlq_list_json_empty(home: Path) -> None:
    assert cli_json(home, "dlq", "list", "--json") == []
    assert cli_ok(home, "dlq", "list").stdout.strip()


def test_dlq_list_retry_and_purge(home: Path, store: Backend) -> None:
    make_dead(store, "d1", "d2", "d3")
    add(store, "p")
    dead = cli_json(home, "dlq", "list", "--json")
    assert [job["id"] for job in dead] == ["d1", "d2", "d3"]
    for job in dead:
        assert_job_object(job)

    retried = cli_ok(home, "dlq", "retry", "d1")
    assert retried.stdout.split() == ["d1"]
    jobs = {job["id"]: job for job in cli_json(home, "list", "--json")}
    assert (jobs["d1"]["state"], jobs["d1"]["attempts"]) == ("pending", 0)
    assert len(cli_json(home, "show", "d1", "--json")["history"]) == 1  # history kept

    one_line_error(cli(home, "dlq", "retry", "d2", "p"), 1)
    one_line_error(cli(home, "dlq", "purge", "d2", "missing"), 1)
    assert [job["id"] for job in cli_json(home, "dlq", "list", "--json")] == ["d2", "d3"]

    assert cli_ok(home, "dlq", "purge", "d2").stdout.split() == ["d2"]
    assert sorted(cli_ok(home, "dlq", "retry", "--all").stdout.split()) == ["d3"]
    assert cli_json(home, "dlq", "list", "--json") == []
    assert cli_ok(home, "dlq", "purge", "--all").stdout == ""
    assert [job["id"] for job in cli_json(home, "list", "--json")] == ["d1", "d3", "p"]


@pytest.mark.parametrize(
    "args",
    [["retry"], ["purge"], ["retry", "a", "--all"], ["purge", "a", "--all"]],
    ids=" ".join,
)
def test_dlq_needs_ids_or_all(home: Path, args: list[str]) -> None:
    one_line_error(cli(home, "dlq", *args), 2)


# --- where the queue lives, and how ----------------------------------------------------
def test_queue_is_created_private(home: Path) -> None:
    cli_ok(home, "enqueue", "--command", "true")
    assert stat.S_IMODE(os.stat(home).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(home / "queuectl.db").st_mode) == 0o600


def test_queue_side_files_are_private(home: Path, store: Backend) -> None:
    add(store, "a")  # the open connection keeps the write-ahead files in place
    cli_ok(home, "enqueue", "--command", "true")
    for path in home.iterdir():
        if path.is_file():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


def test_db_option_and_environment(home: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere" / "q.db"
    cli_ok(home, "--db", str(elsewhere), "enqueue", "--command", "true", "--id", "x")
    assert elsewhere.exists()
    assert not (home / "queuectl.db").exists()
    for env in ({"QUEUECTL_DB": str(elsewhere)}, {"QUEUECTL_DB_PATH": str(elsewhere)}):
        assert [j["id"] for j in cli_json(home, "list", "--json", env=env)] == ["x"]
    url = f"sqlite://{elsewhere}"
    assert [j["id"] for j in cli_json(home, "--db", url, "list", "--json")] == ["x"]
    default = cli(home, "list", "--json")  # the default queue was never written to
    assert (default.returncode, default.stdout) == (1, "") and "no queue at" in default.stderr


def test_a_file_that_is_not_a_queue_is_an_operational_error(home: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    done = cli(home, "--db", str(junk), "list")
    one_line_error(done, 1)


def test_environment_values_are_never_shown(home: Path) -> None:
    cli_ok(
        home,
        "enqueue",
        "--command",
        'echo "$SECRET"',
        "--id",
        "s",
        "--env",
        "SECRET=hunter2",
    )
    for args in (
        ["list"],
        ["list", "--json"],
        ["status"],
        ["status", "--json"],
        ["show", "s"],
        ["show", "s", "--json"],
    ):
        done = cli_ok(home, *args)
        assert "hunter2" not in done.stdout + done.stderr, " ".join(args)
    (job,) = cli_json(home, "list", "--json")
    assert job["env_keys"] == ["SECRET"]


@pytest.mark.usefixtures("made")
def test_an_ancient_run_at_does_not_break_list(home: Path) -> None:
    cli(home, "enqueue", '{"id":"old","command":"true","run_at":"0001-01-01T00:00:00+01:00"}')
    done = cli(home, "list", "--json")
    assert "Traceback" not in done.stderr
    assert done.returncode == 0


@pytest.mark.usefixtures("made")
def test_a_run_at_before_1970_is_refused_so_every_timestamp_prints_as_iso(home: Path) -> None:
    done = cli(home, "enqueue", '{"id":"old","command":"true","run_at":"0999-06-01T00:00:00Z"}')
    assert done.returncode == 2 and "out of range" in done.stderr
    assert cli_json(home, "list", "--json") == []


@pytest.mark.usefixtures("made")
def test_a_non_utf8_command_does_not_break_list(home: Path) -> None:
    cli(home, "enqueue", "--command", "echo \udcff", "--id", "bytes")
    done = cli(home, "list", "--json", env={"PYTHONIOENCODING": "utf-8:strict"})
    assert "Traceback" not in done.stderr
    assert done.returncode == 0
    json.loads(done.stdout)
