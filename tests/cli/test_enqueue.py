"""``queuectl enqueue`` in every form, and every way of getting it wrong."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from queuectl.api import Queue
from tests.support.cli import cli, cli_env, cli_json, cli_ok

GENERATED_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def instant(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def show(home: Path, job_id: str) -> dict[str, Any]:
    """The job as ``list --json`` shows it."""
    (job,) = [j for j in listed(home) if j["id"] == job_id]
    return job


def listed(home: Path) -> list[dict[str, Any]]:
    jobs: list[dict[str, Any]] = cli_json(home, "list", "--json")
    return jobs


# --- the forms that work -------------------------------------------------------------
def test_json_job(home: Path) -> None:
    done = cli_ok(home, "enqueue", '{"id":"job1","command":"sleep 2"}')
    assert done.stdout == "job1\n"
    job = show(home, "job1")
    assert (job["command"], job["state"], job["attempts"]) == ("sleep 2", "pending", 0)
    assert (job["max_retries"], job["priority"], job["queue"]) == (3, 0, "default")
    assert job["run_at"] == job["created_at"]


def test_json_job_with_every_key(home: Path, tmp_path: Path) -> None:
    raw = {
        "id": "all",
        "command": ["printf", "%s\\n", "a b"],
        "priority": 4,
        "max_retries": 0,
        "timeout": "2m",
        "run_at": "2030-01-01T00:00:00Z",
        "queue": "mail",
        "cwd": str(tmp_path),
        "env": {"A": "1"},
    }
    assert cli_ok(home, "enqueue", json.dumps(raw)).stdout == "all\n"
    job = show(home, "all")
    assert job["command"] == ["printf", "%s\\n", "a b"]
    assert (job["priority"], job["max_retries"], job["timeout"]) == (4, 0, 120.0)
    assert job["run_at"].startswith("2030-01-01T00:00:00.000")
    assert (job["queue"], job["cwd"]) == ("mail", str(tmp_path))


def test_generated_id_is_printed(home: Path) -> None:
    done = cli_ok(home, "enqueue", '{"command":"true"}')
    job_id = done.stdout.strip()
    assert done.stdout == job_id + "\n"
    assert GENERATED_ID.match(job_id)
    assert [j["id"] for j in listed(home)] == [job_id]
    second = cli_ok(home, "enqueue", "--command", "true").stdout.strip()
    assert second != job_id


def test_command_flag_with_every_option(home: Path, tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    done = cli_ok(
        home,
        "enqueue",
        "--command",
        "echo hi > out.txt",
        "--id",
        "flags",
        "--priority",
        "7",
        "--max-retries",
        "5",
        "--timeout",
        "90s",
        "--delay",
        "5m",
        "--queue",
        "emails",
        "--cwd",
        "work",
        "--env",
        "A=1",
        "--env",
        "B=x=y",
        cwd=tmp_path,
    )
    assert done.stdout == "flags\n"
    job = show(home, "flags")
    assert job["command"] == "echo hi > out.txt"
    assert (job["priority"], job["max_retries"], job["timeout"]) == (7, 5, 90.0)
    assert instant(job["run_at"]) - instant(job["created_at"]) == pytest.approx(300, abs=0.01)
    assert (job["queue"], job["cwd"]) == ("emails", str(tmp_path / "work"))
    assert job["env_keys"] == ["A", "B"]


def test_command_flag_with_run_at_and_negative_priority(home: Path) -> None:
    cli_ok(
        home,
        "enqueue",
        "--command",
        "true",
        "--id",
        "r",
        "--run-at",
        "2030-01-01T02:00:00+02:00",
        "--priority",
        "-5",
    )
    job = show(home, "r")
    assert job["run_at"].startswith("2030-01-01T00:00:00.000")
    assert job["run_at"].endswith("Z")
    assert job["priority"] == -5


def test_array_command(home: Path) -> None:
    cli_ok(home, "enqueue", '{"id":"argv","command":["echo","a b","$HOME"]}')
    assert show(home, "argv")["command"] == ["echo", "a b", "$HOME"]


def test_json_lines_file(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "jobs.jsonl"
    path.write_text(
        '{"id":"f1","command":"echo 1"}\n'
        "\n"
        '{"id":"f2","command":["echo","2"],"priority":3}\n'
        '   {"command":"echo 3","queue":"other"}   \n',
        encoding="utf-8",
    )
    done = cli_ok(home, "enqueue", "--file", str(path))
    assert "3" in done.stderr
    jobs = listed(home)
    assert [j["id"] for j in jobs][:2] == ["f1", "f2"]
    assert [j["command"] for j in jobs] == ["echo 1", ["echo", "2"], "echo 3"]
    assert jobs[2]["queue"] == "other"


def test_json_lines_from_stdin(home: Path) -> None:
    lines = "".join(json.dumps({"id": f"s{n}", "command": f"echo {n}"}) + "\n" for n in range(5))
    cli_ok(home, "enqueue", "--file", "-", input=lines)
    assert [j["id"] for j in listed(home)] == [f"s{n}" for n in range(5)]


def test_max_retries_zero_is_allowed(home: Path) -> None:
    cli_ok(home, "enqueue", "--command", "true", "--id", "z", "--max-retries", "0")
    assert show(home, "z")["max_retries"] == 0


# --- -- CMD ARG..., flags beside JSON, --json ----------------------------------------
def test_argv_after_double_dash_runs_without_a_shell(home: Path) -> None:
    words = ["printf", "%s|", "a b", "$HOME", "--db", "--", "-5s"]
    done = cli_ok(home, "enqueue", "--id", "argv", "--priority", "-5", "--", *words)
    assert done.stdout == "argv\n"
    job = show(home, "argv")
    assert (job["command"], job["priority"]) == (words, -5)
    cli_ok(home, "worker", "start", "--burst")
    assert cli_ok(home, "logs", "argv").stdout.startswith("a b|$HOME|--db|--|-5s|")


@pytest.mark.parametrize("words", [["echo hello"], ["echo", "hello"]], ids=["quoted", "words"])
def test_a_command_where_json_belongs_is_answered_with_how_to_enqueue_it(
    home: Path, words: list[str]
) -> None:
    done = cli(home, "enqueue", *words)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "is not a JSON job" in done.stderr
    assert "--command 'echo hello'" in done.stderr
    assert "-- echo hello" in done.stderr
    assert not (home / "queuectl.db").exists()


def test_shell_syntax_where_json_belongs_is_answered_with_command_only(home: Path) -> None:
    done = cli(home, "enqueue", "ls | wc -l")
    assert done.returncode == 2
    assert "--command 'ls | wc -l'" in done.stderr
    assert " -- " not in done.stderr  # as argv, | would be an argument


def test_flags_beside_a_json_job_are_fields_of_it(home: Path) -> None:
    job_text = '{"id":"j","command":"x","max_retries":1}'
    cli_ok(home, "enqueue", job_text, "--priority", "5", "--queue", "io", "--env", "A=1")
    cli_ok(home, "enqueue", '{"command":"x"}', "--delay", "1h", "--id", "k")
    job = show(home, "j")
    assert (job["priority"], job["queue"], job["max_retries"]) == (5, "io", 1)
    assert job["env_keys"] == ["A"]
    later = show(home, "k")
    assert instant(later["run_at"]) - instant(later["created_at"]) == pytest.approx(3600, abs=1)


def test_a_field_given_both_ways_is_named(home: Path, tmp_path: Path) -> None:
    done = cli(home, "enqueue", '{"command":"x","id":"a"}', "--id", "b")
    assert done.returncode == 2
    assert "id is given twice: in the JSON job and as --id" in done.stderr
    (tmp_path / "jobs.jsonl").write_text('{"command":"a"}\n{"command":"b","max_retries":2}\n')
    done = cli(home, "enqueue", "--file", str(tmp_path / "jobs.jsonl"), "--max-retries", "0")
    assert done.returncode == 2
    assert "line 2: max_retries is given twice" in done.stderr
    assert "--max-retries" in done.stderr


def test_flags_beside_a_file_are_fields_of_every_line(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "jobs.jsonl"
    path.write_text('{"id":"f1","command":"a"}\n{"id":"f2","command":"b","priority":9}\n')
    done = cli_ok(
        home, "enqueue", "--file", str(path), "--queue", "batch", "--env", "A=1", "--delay", "1h"
    )
    assert done.stdout == "f1\nf2\n"
    jobs = listed(home)
    assert [(j["id"], j["queue"], j["priority"]) for j in jobs] == [
        ("f1", "batch", 0),
        ("f2", "batch", 9),
    ]
    assert all(j["env_keys"] == ["A"] for j in jobs)
    assert all(instant(j["run_at"]) - instant(j["created_at"]) > 3500 for j in jobs)


@pytest.mark.parametrize(
    "args",
    [
        ["enqueue", "--json", "--command", "true", "--id", "j"],
        ["--json", "enqueue", '{"id":"j","command":"true"}'],
        ["enqueue", "--id", "j", "--", "true", "--json"],  # after --: the job's own argv
    ],
    ids=["flag", "before", "argv"],
)
def test_json_prints_the_new_job_as_show_does(home: Path, args: list[str]) -> None:
    done = cli_ok(home, *args)
    full = cli_json(home, "show", "j", "--json")
    for extra in ("history", "dependencies", "dependents"):  # what only show adds
        del full[extra]
    if args[-1] == "--json":
        assert done.stdout == "j\n"
        assert full["command"] == ["true", "--json"]
    else:
        assert json.loads(done.stdout) == full


def test_json_with_a_file_prints_an_array_of_the_new_jobs(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "jobs.jsonl"
    path.write_text('{"id":"f1","command":"a"}\n{"id":"f2","command":["b"]}\n')
    done = cli_ok(home, "enqueue", "--file", str(path), "--json")
    assert json.loads(done.stdout) == listed(home)
    assert [job["id"] for job in json.loads(done.stdout)] == ["f1", "f2"]


# --- every kind of bad input: exit 2, one line, nothing written -------------------------
BAD_LINE = '{"id":"b3","command":"true","colour":"red"}'
GOOD_LINES = ['{"id":"b1","command":"true"}', '{"id":"b2","command":"true"}']
BAD: list[tuple[str, list[str], dict[str, str], str | None]] = [
    # (name, args, files to create in the working folder, stdin)
    ("duplicate id json", ["enqueue", '{"id":"existing","command":"true"}'], {}, None),
    ("duplicate id flag", ["enqueue", "--command", "true", "--id", "existing"], {}, None),
    ("malformed json", ["enqueue", '{"command": "true"'], {}, None),
    ("not json at all", ["enqueue", "echo hi"], {}, None),
    ("json array job", ["enqueue", '["echo", "hi"]'], {}, None),
    ("missing command", ["enqueue", '{"id":"x"}'], {}, None),
    ("unknown key", ["enqueue", '{"command":"true","retries":2}'], {}, None),
    ("wrong type priority", ["enqueue", '{"command":"true","priority":"high"}'], {}, None),
    ("bool priority", ["enqueue", '{"command":"true","priority":true}'], {}, None),
    ("negative max_retries json", ["enqueue", '{"command":"true","max_retries":-1}'], {}, None),
    (
        "negative max-retries flag",
        ["enqueue", "--command", "true", "--max-retries", "-1"],
        {},
        None,
    ),
    ("word max-retries flag", ["enqueue", "--command", "true", "--max-retries", "x"], {}, None),
    ("word priority flag", ["enqueue", "--command", "true", "--priority", "high"], {}, None),
    ("traversal id json", ["enqueue", '{"id":"../x","command":"true"}'], {}, None),
    ("traversal id flag", ["enqueue", "--command", "true", "--id", "../x"], {}, None),
    ("newline id", ["enqueue", '{"id":"a\\nb","command":"true"}'], {}, None),
    ("empty command", ["enqueue", "--command", ""], {}, None),
    ("empty array command", ["enqueue", '{"command":[]}'], {}, None),
    ("bad delay", ["enqueue", "--command", "true", "--delay", "soon"], {}, None),
    ("negative delay", ["enqueue", '{"command":"true","delay":"-1"}'], {}, None),
    ("bad run-at", ["enqueue", "--command", "true", "--run-at", "tomorrow"], {}, None),
    ("bad timeout", ["enqueue", "--command", "true", "--timeout", "0"], {}, None),
    (
        "delay and run-at",
        ["enqueue", "--command", "true", "--delay", "5s", "--run-at", "2030-01-01T00:00:00Z"],
        {},
        None,
    ),
    (
        "delay and run_at json",
        ["enqueue", '{"command":"x","delay":5,"run_at":"2030-01-01"}'],
        {},
        None,
    ),
    ("env without equals", ["enqueue", "--command", "true", "--env", "NOEQUALS"], {}, None),
    ("bad env name", ["enqueue", "--command", "true", "--env", "1A=x"], {}, None),
    ("bad queue", ["enqueue", "--command", "true", "--queue", "a/b"], {}, None),
    ("nothing to enqueue", ["enqueue"], {}, None),
    ("json and command", ["enqueue", '{"command":"a"}', "--command", "b"], {}, None),
    (
        "field twice json",
        ["enqueue", '{"command":"true","priority":1}', "--priority", "3"],
        {},
        None,
    ),
    ("env twice json", ["enqueue", '{"command":"true","env":{}}', "--env", "A=1"], {}, None),
    (
        "field twice in a file",
        ["enqueue", "--file", "ok.jsonl", "--queue", "q"],
        {"ok.jsonl": '{"command":"true"}\n{"command":"true","queue":"q"}'},
        None,
    ),
    (
        "id with file",
        ["enqueue", "--file", "ok.jsonl", "--id", "x"],
        {"ok.jsonl": GOOD_LINES[0]},
        None,
    ),
    ("not json, two words", ["enqueue", "echo", "hello"], {}, None),
    ("two json jobs", ["enqueue", '{"command":"a"}', '{"command":"b"}'], {}, None),
    ("nothing after --", ["enqueue", "--priority", "1", "--"], {}, None),
    ("empty program after --", ["enqueue", "--", "", "x"], {}, None),
    ("json and --", ["enqueue", '{"command":"a"}', "--", "b"], {}, None),
    ("command and --", ["enqueue", "--command", "a", "--", "b"], {}, None),
    ("negative delay flag", ["enqueue", "--command", "true", "--delay", "-5s"], {}, None),
    ("negative timeout flag", ["enqueue", "--command", "true", "--timeout", "-1m"], {}, None),
    ("missing file", ["enqueue", "--file", "nope.jsonl"], {}, None),
    ("empty file", ["enqueue", "--file", "empty.jsonl"], {"empty.jsonl": "\n\n"}, None),
    (
        "one bad line among good ones",
        ["enqueue", "--file", "jobs.jsonl"],
        {"jobs.jsonl": "\n".join([*GOOD_LINES, BAD_LINE, '{"id":"b4","command":"true"}'])},
        None,
    ),
    (
        "one malformed line",
        ["enqueue", "--file", "jobs.jsonl"],
        {"jobs.jsonl": "\n".join([*GOOD_LINES, "{oops"])},
        None,
    ),
    (
        "duplicate ids in a file",
        ["enqueue", "--file", "jobs.jsonl"],
        {"jobs.jsonl": "\n".join([*GOOD_LINES, GOOD_LINES[0]])},
        None,
    ),
    (
        "existing id in a file",
        ["enqueue", "--file", "jobs.jsonl"],
        {"jobs.jsonl": "\n".join([*GOOD_LINES, '{"id":"existing","command":"true"}'])},
        None,
    ),
    (
        "too long command in a file",
        ["enqueue", "--file", "jobs.jsonl"],
        {"jobs.jsonl": "\n".join([*GOOD_LINES, json.dumps({"command": "x" * 131072})])},
        None,
    ),
    (
        "bad line on stdin",
        ["enqueue", "--file", "-"],
        {},
        "\n".join([*GOOD_LINES, '{"command":"true","max_retries":-1}']),
    ),
    ("file is a folder", ["enqueue", "--file", "."], {}, None),
    (
        "environment too big to start (5.2 MB)",
        ["enqueue", "--file", "-"],
        {},
        json.dumps({"command": "true", "env": {f"V{n}": "x" * 100_000 for n in range(52)}}),
    ),
]


@pytest.mark.parametrize(("name", "args", "files", "stdin"), BAD, ids=[case[0] for case in BAD])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(
    home: Path,
    tmp_path: Path,
    name: str,
    args: list[str],
    files: dict[str, str],
    stdin: str | None,
) -> None:
    with Queue(str(home / "queuectl.db")) as queue:
        queue.enqueue("true", id="existing")
    for file_name, text in files.items():
        (tmp_path / file_name).write_text(text, encoding="utf-8")
    before = cli_ok(home, "list", "--json").stdout

    done = cli(home, *args, input=stdin, cwd=tmp_path)

    assert done.returncode == 2, f"{name}: exit {done.returncode}, stderr {done.stderr!r}"
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.endswith("\n"), done.stderr
    assert done.stderr.startswith("queuectl")
    assert "Traceback" not in done.stderr
    assert cli_ok(home, "list", "--json").stdout == before


def test_bad_line_is_named_in_the_message(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "jobs.jsonl"
    path.write_text("\n".join([*GOOD_LINES, BAD_LINE]) + "\n", encoding="utf-8")
    done = cli(home, "enqueue", "--file", str(path))
    assert done.returncode == 2
    assert "line 3" in done.stderr
    assert "colour" in done.stderr


@pytest.mark.parametrize("key", ["delay", "timeout"])
def test_huge_integer_duration_is_bad_input(home: Path, key: str) -> None:
    done = cli(home, "enqueue", f'{{"command":"true","{key}":1{"0" * 400}}}')
    assert "Traceback" not in done.stderr
    assert done.returncode == 2


# --- bulk ---------------------------------------------------------------------------
def test_ten_thousand_jobs_from_one_file(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "bulk.jsonl"
    ids = [f"bulk-{n:05d}" for n in range(10_000)]
    path.write_text(
        "".join(json.dumps({"id": i, "command": f"echo {i}"}) + "\n" for i in ids),
        encoding="utf-8",
    )
    started = time.monotonic()
    cli_ok(home, "enqueue", "--file", str(path), timeout=60)
    took = time.monotonic() - started
    assert took < 30, f"10,000 jobs took {took:.1f}s"
    status = cli_json(home, "status", "--json")
    assert status["jobs"]["pending"] == 10_000
    assert [j["id"] for j in listed(home)] == ids


def test_a_bad_last_line_of_a_big_file_enqueues_nothing(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "bulk.jsonl"
    lines = [json.dumps({"id": f"j{n}", "command": "true"}) for n in range(6000)]
    lines.append(json.dumps({"id": "j0", "command": "true"}))  # a duplicate at the very end
    path.write_text("\n".join(lines), encoding="utf-8")
    done = cli(home, "enqueue", "--file", str(path))
    assert done.returncode == 2
    assert "j0" in done.stderr
    assert listed(home) == []


# --- start-up cost: heavy modules stay off the enqueue path -----------------------------
PROBE = """
import json, sys
from queuectl.cli import main
rc = main(sys.argv[1:])
print(json.dumps({
    "rc": rc,
    "heavy": sorted(m for m in sys.modules if m.split('.')[0] in ('rich', 'psycopg', 'shtab')),
    "render": 'queuectl.render' in sys.modules,
    "dataclasses": 'dataclasses' in sys.modules,
    "typing": 'typing' in sys.modules,
    "argparse": 'argparse' in sys.modules,
    "shutil": 'shutil' in sys.modules,
}))
"""


@pytest.mark.parametrize(
    "args",
    [
        ["enqueue", "--command", "true"],
        ["enqueue", '{"command":"true","delay":"5m","env":{"A":"1"}}'],
        ["enqueue", "--file", "jobs.jsonl"],
        ["enqueue", "--priority", "-5", "--", "printf", "%s", "a b"],
        ["enqueue", '{"command":"true"}', "--priority", "5", "--db", "q.db"],
        ["enqueue", "--file", "jobs.jsonl", "--queue", "io", "--delay", "5m"],
    ],
    ids=["command", "json", "file", "argv", "json with flags", "file with flags"],
)
def test_enqueue_imports_no_heavy_module(home: Path, tmp_path: Path, args: list[str]) -> None:
    (tmp_path / "jobs.jsonl").write_text('{"command":"true"}\n', encoding="utf-8")
    report = _imports_of(home, tmp_path, args)
    assert report["dataclasses"] is False, "dataclasses is imported on the enqueue path"
    assert report["typing"] is False, "typing is imported on the enqueue path"
    assert report["argparse"] is False, "a plain enqueue is parsed without argparse"
    assert report["shutil"] is False, "shutil is imported on the enqueue path"
    assert report["render"] is False, "tables and colour are loaded on the enqueue path"


@pytest.mark.parametrize("args", [["status"], ["status", "--json"], ["list"]], ids=" ".join)
def test_status_and_list_import_neither_typing_nor_shutil(
    home: Path, tmp_path: Path, args: list[str]
) -> None:
    cli_ok(home, "enqueue", "--command", "true")
    report = _imports_of(home, tmp_path, args)
    assert report["typing"] is False, "typing is imported by status or list"
    assert report["shutil"] is False, "shutil is imported by status or list"


def _imports_of(home: Path, cwd: Path, args: list[str]) -> dict[str, Any]:
    """What ``PROBE`` reports of a CLI call in a fresh interpreter (which must succeed)."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        env=cli_env(home),
        cwd=cwd,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    assert report["rc"] == 0
    assert report["heavy"] == []
    return report
