"""The job's environment through the real CLI, on each engine: ``--env-file`` read at
enqueue, ``--clean-env``, and their precedence (README, "The job's environment"), seen
by jobs that print their environment (argv ``env``, no shell in between)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.support.cli import one_line_error
from tests.support.harness import Queuectl

# the worker's own environment, beside the one every test command has
WORKER_ENV = {
    "LAYER_A": "worker",
    "LAYER_B": "worker",
    "LAYER_C": "worker",
    "LAYER_D": "worker",
    "TZ": "Europe/Berlin",
    "LANG": "C.UTF-8",
}
# what every job gets from queuectl itself, whatever its environment says
OWN = {"QUEUECTL_JOB_ID", "QUEUECTL_ATTEMPT", "QUEUECTL_FENCE"}


def env_file(tmp: Path, text: str, name: str = "job.env") -> str:
    path = tmp / name
    path.write_text(text)
    return str(path)


def printed_env(qc: Queuectl, job_id: str) -> dict[str, str]:
    """The environment job ``job_id`` printed (``env``: NAME=value lines; every value in
    these tests is one line)."""
    out = qc.run("logs", job_id).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def run_all(qc: Queuectl) -> None:
    assert qc.start_worker("--burst", env=WORKER_ENV).wait(60) == 0


def test_precedence_worker_env_file_json_env_then_queuectl_s_own(
    qc: Queuectl, tmp_path: Path
) -> None:
    path = env_file(
        tmp_path,
        "# the layers\nLAYER_B=file\nexport LAYER_C='file'\nLAYER_D=\"file\"\n"
        "QUEUECTL_JOB_ID=forged\nQUEUECTL_ATTEMPT=99\n",
    )
    by_json = qc.run(
        "enqueue", json.dumps({"command": ["env"], "env": {"LAYER_C": "json"}}), "--env-file", path
    ).stdout.strip()
    by_flag = qc.run(
        "enqueue", "--env-file", path, "--env", "LAYER_D=flag", "--", "env"
    ).stdout.strip()
    assert qc.show(by_json)["env_keys"] == [
        "LAYER_B", "LAYER_C", "LAYER_D", "QUEUECTL_ATTEMPT", "QUEUECTL_JOB_ID"
    ]  # fmt: skip
    run_all(qc)
    seen = printed_env(qc, by_json)
    assert (seen["LAYER_A"], seen["LAYER_B"], seen["LAYER_C"], seen["LAYER_D"]) == (
        "worker",
        "file",
        "json",
        "file",
    )
    assert seen["QUEUECTL_JOB_ID"] == by_json and seen["QUEUECTL_ATTEMPT"] == "1"
    seen = printed_env(qc, by_flag)
    assert (seen["LAYER_C"], seen["LAYER_D"]) == ("file", "flag")
    assert seen["QUEUECTL_JOB_ID"] == by_flag
    assert "QUEUECTL_DB" in seen or "QUEUECTL_HOME" in seen  # the worker's whole environment


def test_a_clean_env_job_gets_path_home_lang_tz_and_its_own_variables(
    qc: Queuectl, tmp_path: Path
) -> None:
    path = env_file(tmp_path, "FROM_FILE=1\nLAYER_B=file\n")
    clean = qc.run(
        "enqueue", "--clean-env", "--env-file", path, "--env", "BY_FLAG=2", "--", "env"
    ).stdout.strip()
    by_json = qc.run(
        "enqueue", json.dumps({"command": ["env"], "clean_env": True, "env": {"TZ": "UTC"}})
    ).stdout.strip()
    inherits = qc.run("enqueue", "--", "env").stdout.strip()
    shown = qc.show(clean)
    assert shown["clean_env"] is True and qc.show(inherits)["clean_env"] is False
    assert re.search(r"^clean_env +yes", qc.run("show", clean).stdout, re.M)
    run_all(qc)

    seen = printed_env(qc, clean)
    full = printed_env(qc, inherits)
    kept = [k for k in ("PATH", "HOME", "LANG", "TZ", "QUEUECTL_FENCE") if k in full]
    assert set(seen) == {*kept, "FROM_FILE", "LAYER_B", "BY_FLAG", *OWN}
    assert {k: seen[k] for k in kept} == {k: full[k] for k in kept}
    assert (seen["TZ"], seen["LAYER_B"], seen["BY_FLAG"]) == ("Europe/Berlin", "file", "2")
    assert full["LAYER_A"] == "worker"
    seen = printed_env(qc, by_json)
    assert seen["TZ"] == "UTC"  # the job's own variables come after the clean subset
    assert "LAYER_A" not in seen and "QUEUECTL_DB" not in seen


def test_env_file_and_clean_env_beside_a_file_of_jobs(qc: Queuectl, tmp_path: Path) -> None:
    path = env_file(tmp_path, "SHARED=file\nMODE=file\n")
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(
        json.dumps({"id": "plain", "command": ["env"]})
        + "\n"
        + json.dumps({"id": "own", "command": ["env"], "env": {"MODE": "line"}})
        + "\n"
    )
    qc.run("enqueue", "--file", str(jobs), "--env-file", path, "--clean-env")
    assert {j["id"]: (j["env_keys"], j["clean_env"]) for j in qc.jobs()} == {
        "plain": (["MODE", "SHARED"], True),
        "own": (["MODE", "SHARED"], True),
    }
    run_all(qc)
    assert printed_env(qc, "plain")["MODE"] == "file"
    assert printed_env(qc, "own")["MODE"] == "line"
    assert "LAYER_A" not in printed_env(qc, "own")


BAD_FILES = [
    ("A=1\nnot an assignment\n", "line 2: expected NAME=value"),
    ("A=1\n\n1BAD=x\n", "line 3: invalid variable name '1BAD'"),
    ('# a comment\nA="open\nB=2\n', "line 2: a double quote is never closed"),
    ("A='x' trailing\n", "line 1: unexpected 'trailing' after the closing quote"),
]


@pytest.mark.parametrize(("text", "said"), BAD_FILES, ids=[s for _, s in BAD_FILES])
def test_a_bad_env_file_is_one_line_naming_file_and_line_and_nothing_is_written(
    qc: Queuectl, tmp_path: Path, text: str, said: str
) -> None:
    path = env_file(tmp_path, text, "bad.env")
    for args in (
        ("enqueue", "--env-file", path, "--command", "true"),
        ("enqueue", '{"command": "true"}', "--env-file", path),
        ("schedule", "add", "s", "--every", "1m", "--env-file", path, "--", "true"),
    ):
        done = qc.run(*args, check=False)
        one_line_error(done, 2)
        assert f"{path}, {said}" in done.stderr
    missing = qc.run("enqueue", "--env-file", str(tmp_path / "nope.env"), "--", "true", check=False)
    one_line_error(missing, 2)
    assert "no such file" in missing.stderr
    qc.run("enqueue", "--id", "only", "--", "true")  # creates the queue: nothing else is in it
    assert [j["id"] for j in qc.jobs()] == ["only"]
    assert qc.json("schedule", "list") == []


def test_a_schedule_s_jobs_take_its_env_file_and_clean_env(qc: Queuectl, tmp_path: Path) -> None:
    path = env_file(tmp_path, "TARGET=file\n")
    qc.run(
        "schedule", "add", "nightly", "--cron", "0 3 * * *", "--env-file", path, "--clean-env",
        "--", "env",
    )  # fmt: skip
    job = qc.json("schedule", "show", "nightly")["job"]
    assert job["env_keys"] == ["TARGET"] and job["clean_env"] is True
    job_id = qc.run("schedule", "run-now", "nightly").stdout.strip()
    run_all(qc)
    seen = printed_env(qc, job_id)
    assert seen["TARGET"] == "file" and seen["QUEUECTL_SCHEDULE"] == "nightly"
    assert "LAYER_A" not in seen


def test_edit_turns_clean_env_on_and_off_and_export_carries_it(qc: Queuectl) -> None:
    job_id = qc.enqueue("env", "--delay", "1h")
    qc.run("edit", job_id, "--clean-env")
    assert qc.show(job_id)["clean_env"] is True
    lines = [json.loads(line) for line in qc.run("export").stdout.splitlines()]
    assert lines[0]["clean_env"] is True
    qc.run("edit", job_id, "--no-clean-env")
    assert qc.show(job_id)["clean_env"] is False
    assert "clean_env" not in json.loads(qc.run("export").stdout)
