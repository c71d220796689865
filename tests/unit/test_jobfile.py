"""The lines of ``export`` and ``import`` (jobfile), without a queue: a job's spec, its
history, environment values kept back, and every check a line must pass."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from queuectl.errors import InvalidInput
from queuectl.jobfile import check_line, check_lines, line_of, new_job
from queuectl.jobspec import check_job
from queuectl.models import Attempt, Job, JobState

NOW = 1_800_000_000.0


def a_job(**fields: Any) -> Job:
    job = Job(
        id="j1",
        command='echo "it\'s" $HOME',
        state=JobState.DEAD,
        attempts=2,
        max_retries=1,
        priority=5,
        queue="io",
        run_at=NOW + 0.25,
        timeout=90.0,
        cwd="/srv",
        env={"TOKEN": "s3cr3t", "MODE": "x"},
        created_at=NOW,
        updated_at=NOW + 9.5,
        started_at=NOW + 8,
        finished_at=NOW + 9.5,
        exit_code=3,
        last_error="exit code 3",
        worker="h:1:1",
        runs=3,
        lease_until=None,
        tags=("a", "team=b"),
        unique_key="k",
        no_retry_on=frozenset({64, 2}),
        snoozes=1,
        after=("dep",),
        after_mode="done",
    )
    return dataclasses.replace(job, **fields)


def attempts(job: Job) -> list[Attempt]:
    return [
        Attempt(job.id, run, "h:1:1", NOW + run, NOW + run + 0.5, "failed", 3, "exit code 3",
                f"/logs/{job.id}.{run}.log", "out ✓\n")
        for run in (1, 3)
    ]  # fmt: skip


def through_json(line: dict[str, Any]) -> Any:
    return json.loads(json.dumps(line))


# --- jobs → lines ----------------------------------------------------------------------
def test_a_line_without_history_is_a_spec_enqueue_takes() -> None:
    line = line_of(a_job())
    assert "state" not in line and "history" not in line
    assert line["env_keys"] == ["MODE", "TOKEN"] and "env" not in line
    assert line["no_retry_on"] == [2, 64] and line["after_mode"] == "done"
    assert line["run_at"] == "2027-01-15T08:00:00.250000Z"
    with_values = dict(line_of(a_job(), env_values=True))
    assert with_values["env"] == {"TOKEN": "s3cr3t", "MODE": "x"}
    spec = check_job(through_json(with_values), NOW)
    assert spec["env"] == {"TOKEN": "s3cr3t", "MODE": "x"} and spec["run_at"] == NOW + 0.25


def test_keys_with_nothing_to_say_are_left_out() -> None:
    plain = a_job(timeout=None, cwd=None, env=None, tags=(), unique_key=None,
                  no_retry_on=frozenset(), after=(), after_mode=None, snoozes=0)  # fmt: skip
    assert set(line_of(plain)) == {"id", "command", "queue", "priority", "max_retries", "run_at"}
    assert "snoozes" not in line_of(plain, [])


def test_a_history_line_gives_the_job_and_its_attempts_back() -> None:
    job = a_job(env={"TOKEN": "s3cr3t"})
    line = check_line(through_json(line_of(job, attempts(job), env_values=True)), NOW)
    assert line.job == job
    assert line.attempts == attempts(job)
    assert line.spec["id"] == "j1" and line.waits_for() == []


def test_clean_env_goes_out_when_set_and_comes_back_either_way() -> None:
    clean = a_job(clean_env=True)
    assert line_of(clean)["clean_env"] is True and "clean_env" not in line_of(a_job())
    line = check_line(through_json(line_of(clean, attempts(clean), env_values=True)), NOW)
    assert line.job == clean
    fresh = check_line(through_json(line_of(clean, env_values=True)), NOW)
    assert fresh.job is None and new_job(fresh.spec, NOW, 3).clean_env is True


def test_a_blocked_job_waits_for_what_still_holds_it() -> None:
    job = a_job(state=JobState.BLOCKED, after=("x", "y"), blocked_by=("y",), env=None)
    line = check_line(through_json(line_of(job, [])), NOW)
    assert line.job == job and line.waits_for() == ["y"]


# --- lines → jobs ----------------------------------------------------------------------
def test_a_line_without_history_is_a_new_job() -> None:
    line = check_line({"id": "n", "command": "true", "delay": "1m", "after": ["a"]}, NOW)
    assert line.job is None and line.waits_for() == ["a"]
    job = new_job(line.spec, NOW + 1, max_retries=3)
    assert (job.state, job.run_at, job.max_retries, job.blocked_by) == (
        JobState.BLOCKED, NOW + 61, 3, ("a",)
    )  # fmt: skip
    plain = new_job(check_job({"command": "true", "max_retries": 0}, NOW), NOW, 3)
    assert (plain.state, plain.max_retries, plain.after_mode) == (JobState.PENDING, 0, None)


def history_line(**changes: Any) -> dict[str, Any]:
    job = a_job(env=None)
    line = through_json(line_of(job, attempts(job)))
    line.update(changes)
    return {key: value for key, value in line.items() if value is not None}


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"state": "lost"}, "unknown state"),
        ({"attempts": 4}, "cannot exceed runs"),
        ({"runs": -1}, "runs must be a whole number"),
        ({"state": "blocked"}, "names the jobs it is blocked by"),
        ({"blocked_by": ["dep"]}, "names the jobs it is blocked by"),
        ({"state": "blocked", "blocked_by": ["other"]}, "not in after"),
        (
            {
                "history": [
                    {"attempt": 3, "worker": "w", "started_at": "2027-01-01T00:00:00Z"},
                    {"attempt": 1, "worker": "w", "started_at": "2027-01-01T00:00:00Z"},
                ]
            },
            "out of order",
        ),
        (
            {"history": [{"attempt": 4, "worker": "w", "started_at": "2027-01-01T00:00:00Z"}]},
            "beyond the job's 3 runs",
        ),
        ({"history": [{"attempt": 1, "worker": "w"}]}, "needs its worker and started_at"),
        (
            {"history": [{"attempt": 1, "worker": "w", "started_at": "x", "duration": 1}]},
            "unknown key 'duration'",
        ),
        ({"history": {}}, "history must be an array"),
        ({"created_at": None}, "needs created_at"),
        ({"updated_at": 17}, "invalid time"),
        ({"finished_at": 17}, "ISO 8601"),
        ({"state": "processing", "worker": None}, "needs the worker"),
        ({"delay": "5s"}, "not a delay"),
        ({"unique_within": "1h"}, "is for enqueue"),
        ({"on_duplicate": "skip"}, "is for enqueue"),
        ({"colour": "red"}, "unknown key 'colour'"),
        ({"last_error": "a\x00b"}, "NUL"),
        ({"exit_code": 1.5}, "exit_code must be a whole number"),
        ({"env_keys": ["TOKEN"]}, "--with-env-values"),
    ],
    ids=lambda value: str(value)[:30],
)
def test_a_bad_history_line_is_refused_saying_why(changes: dict[str, Any], says: str) -> None:
    with pytest.raises(InvalidInput, match=says):
        check_line(history_line(**changes), NOW)


def test_check_lines_reads_the_whole_file_before_any_queue() -> None:
    lines = [
        json.dumps({"id": "a", "command": "true"}),
        "",
        json.dumps({"id": "b", "command": "true", "after": ["a", "elsewhere", "c"]}),
        json.dumps({"id": "c", "command": "true"}),
    ]
    assert check_lines(lines, "f", NOW) == ["c", "elsewhere"], "not earlier in the file"
    with pytest.raises(InvalidInput, match="f, line 3: job id 'a' appears twice"):
        check_lines([*lines[:2], lines[0]], "f", NOW)
    with pytest.raises(InvalidInput, match="f, line 2: malformed JSON"):
        check_lines([lines[0], "{"], "f", NOW)
    with pytest.raises(InvalidInput, match="f: no jobs found"):
        check_lines(["", " "], "f", NOW)


# --- what enqueue makes of export's lines ------------------------------------------------
def test_enqueue_sends_a_history_line_to_import() -> None:
    with pytest.raises(InvalidInput, match="queuectl import"):
        check_job({"command": "true", "state": "completed"}, NOW)


def test_enqueue_needs_a_value_for_every_variable_named() -> None:
    with pytest.raises(InvalidInput, match=r"'TOKEN'.*--with-env-values"):
        check_job({"command": "true", "env_keys": ["TOKEN"], "env": {"MODE": "x"}}, NOW)
    spec = check_job({"command": "true", "env_keys": ["TOKEN"], "env": {"TOKEN": "t"}}, NOW)
    assert spec["env"] == {"TOKEN": "t"} and "env_keys" not in spec
    with pytest.raises(InvalidInput, match="env_keys must be an array"):
        check_job({"command": "true", "env_keys": "TOKEN"}, NOW)
