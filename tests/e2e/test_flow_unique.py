"""Unique jobs and the retry policy through the real CLI and real workers, on every
engine: --unique-key with --on-duplicate, --no-retry-on and config no-retry-on,
backoff-jitter, and the snooze exit code."""

from __future__ import annotations

import json

from tests.support.cli import one_line_error
from tests.support.harness import Queuectl

ENQUEUERS = 8


def test_a_duplicate_is_refused_naming_the_job_that_holds_the_key(qc: Queuectl) -> None:
    first = qc.enqueue("true", "--unique-key", "report")
    refused = qc.run("enqueue", "--command", "true", "--unique-key", "report", check=False)
    one_line_error(refused, 1)
    assert f"job '{first}' is active" in refused.stderr
    assert [job["id"] for job in qc.jobs()] == [first]
    assert qc.job(first)["unique_key"] == "report"


def test_skip_prints_the_existing_job_and_exits_0(qc: Queuectl) -> None:
    first = qc.enqueue("true", "--unique-key", "report")
    again = qc.enqueue("true", "--unique-key", "report", "--on-duplicate", "skip")
    assert again == first
    qc.start_worker("--burst").wait(30)
    assert qc.state(first) == "completed"
    assert qc.enqueue("true", "--unique-key", "report") != first  # free once it ended
    refused = qc.run(
        "enqueue", "--command", "true", "--unique-key", "report", "--unique-within", "1h",
        check=False,
    )  # fmt: skip
    one_line_error(refused, 1)  # the first was created within the hour


def test_a_file_with_duplicates(qc: Queuectl) -> None:
    lines = [
        {"id": "a", "command": "true", "unique_key": "k"},
        {"id": "b", "command": "true"},
        {"id": "c", "command": "true", "unique_key": "k"},
    ]
    path = qc.tmp / "jobs.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    refused = qc.run("enqueue", "--file", str(path), check=False)
    one_line_error(refused, 1)
    assert qc.jobs() == []  # all or nothing
    done = qc.run("enqueue", "--file", str(path), "--on-duplicate", "skip")
    assert done.stdout.split() == ["a", "b", "a"]
    assert "enqueued 2 jobs (1 duplicates skipped" in done.stderr


def test_bad_unique_options_exit_2_and_write_nothing(qc: Queuectl) -> None:
    for flags in (
        ["--unique-key", "k", "--on-duplicate", "replace"],
        ["--unique-key", "k", "--unique-within", "soon"],
        ["--unique-within", "-1h"],
        ["--no-retry-on", "2,x"],
        ["--no-retry-on", "256"],
    ):
        one_line_error(qc.run("enqueue", "--command", "true", *flags, check=False), 2)
    listed = qc.run("list", "--json", check=False)  # exit 1 where no queue was created
    assert listed.returncode == 1 or json.loads(listed.stdout) == []


def test_concurrent_enqueuers_leave_one_active_job_per_key(qc: Queuectl) -> None:
    qc.enqueue("true", "--id", "warm-up")  # the queue exists: they race only on the key
    flags = ("--unique-key", "one", "--on-duplicate", "skip", "--command", "true")
    procs = [qc.popen("enqueue", "--id", f"job-{n}", *flags) for n in range(ENQUEUERS)]
    printed = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        printed.append(out.decode().strip())
    keyed = [job for job in qc.jobs() if job["unique_key"] == "one"]
    assert len(keyed) == 1
    assert set(printed) == {keyed[0]["id"]}, "every enqueuer names the one job"


def test_no_retry_on_codes_go_straight_to_dead(qc: Queuectl) -> None:
    qc.config("no-retry-on", "126,127")
    own = qc.enqueue("exit 2", "--no-retry-on", "2,3")
    missing = qc.enqueue("no-such-command-here")
    other = qc.enqueue("exit 4", "--no-retry-on", "2", "--max-retries", "1")
    qc.config("backoff-base", "1")
    qc.start_worker("--burst").wait(60)
    for job_id in (own, missing):
        shown = qc.show(job_id)
        assert (shown["state"], shown["attempts"]) == ("dead", 1)
        assert "not retried" in shown["last_error"]
    assert qc.show(own)["no_retry_on"] == [2, 3]
    assert (qc.state(other), qc.show(other)["attempts"]) == ("dead", 2)


def test_a_snoozed_job_runs_again_without_spending_an_attempt(qc: Queuectl) -> None:
    qc.config("snooze-exit-code", "75")
    qc.config("snooze-delay", "0.2")
    qc.config("max-snoozes", "2")
    marker = qc.tmp / "runs"
    script = f"echo x >> {marker}; test $(wc -l < {marker}) -ge 3 || exit 75"
    job_id = qc.enqueue(script, "--max-retries", "0")
    worker = qc.start_worker()
    shown = qc.wait_state(job_id, "completed", "dead")
    worker.send(15)
    worker.wait(30)
    assert (shown["state"], shown["attempts"], shown["snoozes"]) == ("completed", 1, 2)
    assert len(qc.history(job_id)) == 3


def test_past_max_snoozes_the_code_is_a_failure(qc: Queuectl) -> None:
    qc.config("snooze-exit-code", "75")
    qc.config("snooze-delay", "0")
    qc.config("max-snoozes", "1")
    job_id = qc.enqueue("exit 75", "--max-retries", "0")
    worker = qc.start_worker()
    shown = qc.wait_state(job_id, "dead")
    worker.send(15)
    worker.wait(30)
    assert (shown["attempts"], shown["snoozes"], shown["exit_code"]) == (1, 1, 75)


def test_retry_policy_settings_are_validated(qc: Queuectl) -> None:
    for key, value in (
        ("backoff-jitter", "1.5"),
        ("backoff-jitter", "-0.1"),
        ("backoff-jitter", "nan"),
        ("no-retry-on", "2,abc"),
        ("no-retry-on", "300"),
        ("snooze-exit-code", "0"),
        ("snooze-exit-code", "256"),
        ("snooze-delay", "soon"),
        ("max-snoozes", "-1"),
    ):
        one_line_error(qc.run("config", "set", key, value, check=False), 2)
    qc.config("backoff-jitter", "0.5")
    qc.config("no-retry-on", "127, 2,126")
    assert qc.run("config", "get", "no-retry-on").stdout.strip() == "2,126,127"
    assert qc.run("config", "get", "backoff-jitter").stdout.strip() == "0.5"
