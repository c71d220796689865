"""``export`` and ``import`` through the real CLI, on both engines: lines that enqueue
re-creates, a history that import restores, environment values kept back unless asked
for, and bad input refused whole."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.cli import one_line_error
from tests.support.harness import Queuectl
from tests.support.jobs import q


def other_queue(qc: Queuectl, name: str = "other") -> str:
    """``--db`` of another queue of the same engine as ``qc``'s, empty until used."""
    db = qc.env.get("QUEUECTL_DB")
    if db is None:
        return str(qc.tmp / name / "q.db")
    return f"{db}?schema={name}"


def exported(qc: Queuectl, *flags: str, db: str | None = None) -> list[dict[str, Any]]:
    where = ("--db", db) if db else ()
    done = qc.run(*where, "export", *flags)
    assert done.stderr.startswith("exported "), done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def shown_all(qc: Queuectl, db: str | None = None) -> list[dict[str, Any]]:
    """``show --json`` of every job, in enqueue order."""
    where = ("--db", db) if db else ()
    ids = [job["id"] for job in qc.json(*where, "list")]
    return [qc.json(*where, "show", job_id) for job_id in ids]


def some_history(qc: Queuectl, tmp_path: Path) -> None:
    """A few jobs run by a worker: completed, retried then completed, dead, cancelled by
    a dependency; one waiting for later; tags, an argv command, an environment."""
    flag = tmp_path / "flag"
    qc.config("backoff-base", "1")
    qc.enqueue("echo done", "--id", "ok", "--tag", "nightly")
    qc.enqueue(f"test -e {q(flag)} || {{ touch {q(flag)}; exit 4; }}", "--id", "flaky")
    qc.enqueue("exit 3", "--id", "bad", "--max-retries", "0")
    qc.enqueue("true", "--id", "after-bad", "--after", "bad")
    qc.enqueue("echo $TOKEN", "--id", "secret", "--env", "TOKEN=s3cr3t")
    qc.run("enqueue", "--id", "argv", "--", "printf", "%s\\n", "it's $HOME")
    assert qc.start_worker("--burst").wait(60) == 1, qc.worker_logs()  # bad ended dead
    qc.enqueue("true", "--id", "later", "--delay", "1h", "--unique-key", "nightly-report")
    qc.enqueue("true", "--id", "waits", "--after", "later", "--after-mode", "done")


def test_export_writes_lines_that_enqueue_and_import_make_new_jobs_of(
    qc: Queuectl, tmp_path: Path
) -> None:
    some_history(qc, tmp_path)
    lines = exported(qc, "--with-env-values")
    assert [line["id"] for line in lines] == [
        "ok", "flaky", "bad", "after-bad", "secret", "argv", "later", "waits"
    ]  # fmt: skip
    assert lines[5]["command"] == ["printf", "%s\\n", "it's $HOME"]
    assert lines[0]["tags"] == ["nightly"] and "state" not in lines[0]
    path = tmp_path / "jobs.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))

    for verb in ("enqueue", "import"):
        db = other_queue(qc, verb)
        qc.run("--db", db, verb, "--file", str(path))
        again = {job["id"]: job for job in qc.json("--db", db, "list")}
        assert [again[i]["state"] for i in ("ok", "bad", "after-bad", "later", "waits")] == [
            "pending", "pending", "blocked", "pending", "blocked"
        ]  # fmt: skip
        assert all(job["attempts"] == 0 for job in again.values())
        assert again["later"]["run_at"] == lines[6]["run_at"], "a time still to come is kept"
        assert again["argv"]["command"] == lines[5]["command"]
        assert again["secret"]["env_keys"] == ["TOKEN"]


def test_environment_values_leave_only_when_asked_for(qc: Queuectl, tmp_path: Path) -> None:
    qc.enqueue("echo $TOKEN", "--id", "secret", "--env", "TOKEN=s3cr3t")
    for flags in ((), ("--with-history",)):
        text = qc.run("export", *flags).stdout
        assert "s3cr3t" not in text and json.loads(text)["env_keys"] == ["TOKEN"]
    path = tmp_path / "jobs.jsonl"
    path.write_text(qc.run("export").stdout)
    db = str(tmp_path / "other" / "q.db")
    for verb in ("enqueue", "import"):
        refused = qc.run("--db", db, verb, "--file", str(path), check=False)
        one_line_error(refused, 2)
        assert "TOKEN" in refused.stderr and "--with-env-values" in refused.stderr
    assert not Path(db).exists(), "a refused file creates no queue"

    path.write_text(qc.run("export", "--with-env-values").stdout)
    assert "s3cr3t" in path.read_text()
    qc.run("--db", db, "import", "--file", str(path))
    qc.run("--db", db, "worker", "start", "--burst")
    assert qc.run("--db", db, "logs", "secret").stdout == "s3cr3t\n"


def test_export_with_history_and_import_restore_every_job_as_it_was(
    qc: Queuectl, tmp_path: Path
) -> None:
    some_history(qc, tmp_path)
    before = shown_all(qc)
    assert [job["state"] for job in before] == [
        "completed", "completed", "dead", "cancelled", "completed", "completed", "pending",
        "blocked",
    ]  # fmt: skip
    text = qc.run("export", "--with-history", "--with-env-values").stdout
    other = other_queue(qc)
    done = qc.run("--db", other, "import", "--file", "-", input=text)
    assert done.stdout == ""
    assert done.stderr == "imported 8 jobs and 6 attempts\n"
    assert shown_all(qc, other) == before
    assert qc.json("--db", other, "status")["jobs"] == qc.counts()
    assert qc.run("--db", other, "export", "--with-history", "--with-env-values").stdout == text
    # what a job left behind stays readable where the logs folder is the same, and the
    # stored tail is there wherever it is not
    assert "done" in qc.run("--db", other, "logs", "ok").stdout
    # the blocked job goes on in its new queue
    qc.run("--db", other, "run-now", "later")
    assert qc.run("--db", other, "worker", "start", "--burst").returncode == 0
    assert qc.json("--db", other, "show", "waits")["state"] == "completed"


def test_filters_choose_what_is_exported(qc: Queuectl) -> None:
    qc.enqueue("true", "--id", "a")
    qc.enqueue("true", "--id", "b", "--queue", "io")
    qc.enqueue("exit 1", "--id", "c", "--queue", "io", "--max-retries", "0")
    qc.run("worker", "start", "--burst", "--queue", "io", check=False)
    assert [line["id"] for line in exported(qc, "--queue", "io")] == ["b", "c"]
    assert [line["id"] for line in exported(qc, "--state", "pending,dead")] == ["a", "c"]
    assert exported(qc, "--state", "failed") == []


def test_bad_input_is_one_line_and_nothing_is_imported(qc: Queuectl, tmp_path: Path) -> None:
    qc.enqueue("true", "--id", "here")
    path = tmp_path / "jobs.jsonl"
    lines = [{"id": "a", "command": "true"}, {"id": "b", "command": "true"}]
    path.write_text(json.dumps(lines[0]) + "\n\n" + json.dumps(lines[1]) + "\n{oops\n")
    refused = qc.run("import", "--file", str(path), check=False)
    one_line_error(refused, 2)
    assert "line 4" in refused.stderr and "malformed JSON" in refused.stderr

    path.write_text("".join(json.dumps(x) + "\n" for x in [*lines, {"id": "here", "command": "x"}]))
    refused = qc.run("import", "--file", str(path), check=False)
    one_line_error(refused, 2)
    assert "'here' is in the queue already" in refused.stderr and "skip" in refused.stderr
    assert [job["id"] for job in qc.jobs()] == ["here"]
    done = qc.run("import", "--file", str(path), "--on-duplicate", "skip")
    assert done.stderr == "imported 2 jobs and 0 attempts, skipped 1 already in the queue\n"
    assert [job["id"] for job in qc.jobs()] == ["here", "a", "b"]
    assert qc.job("here")["command"] == "true", "the queue's job is left as it was"

    path.write_text(json.dumps({"id": "c", "command": "true", "after": ["nowhere"]}) + "\n")
    one_line_error(qc.run("import", "--file", str(path), check=False), 2)
    one_line_error(qc.run("import", "--file", str(tmp_path / "none.jsonl"), check=False), 2)
    one_line_error(qc.run("import", "--file", "-", input="\n\n", check=False), 2)
    one_line_error(qc.run("import", check=False), 2)


def test_a_line_with_history_is_for_import_not_enqueue(qc: Queuectl, tmp_path: Path) -> None:
    qc.enqueue("true", "--id", "a")
    path = tmp_path / "jobs.jsonl"
    path.write_text(qc.run("export", "--with-history").stdout)
    refused = qc.run("--db", str(tmp_path / "x.db"), "enqueue", "--file", str(path), check=False)
    one_line_error(refused, 2)
    assert "queuectl import" in refused.stderr


def test_export_only_reads_and_never_creates_a_queue(qc: Queuectl, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "q.db"
    done = qc.run("--db", str(missing), "export", check=False)
    one_line_error(done, 1)
    assert "no queue at" in done.stderr and not missing.parent.exists()
    qc.enqueue("true", "--id", "a")
    assert qc.run("export", "--json", check=False).returncode == 2  # export prints JSON Lines
