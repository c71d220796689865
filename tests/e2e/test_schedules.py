"""Schedules through the real CLI, on each engine: the commands, bad input, and workers
firing slots (two worker processes on SQLite for 30 s; PostgreSQL's two hosts are in
tests/pg/test_schedules_multihost.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import one_line_error
from tests.support.harness import Queuectl
from tests.support.polling import wait_for
from tests.support.schedules import instant, two_workers_fire_every_second


def test_the_schedule_commands(qc: Queuectl) -> None:
    qc.run(
        "schedule", "add", "nightly", "--cron", "30 2 * * *", "--tz", "Europe/Berlin",
        "--queue", "io", "--env", "TARGET=s3", "--tag", "backup", "--max-retries", "1",
        "--", "backup.sh", "--full",
    )  # fmt: skip
    qc.run("schedule", "add", "tick", "--every", "5m", "--missed", "all", "--command", "true")
    listed = qc.json("schedule", "list")
    assert [s["name"] for s in listed] == ["nightly", "tick"]
    nightly = qc.json("schedule", "show", "nightly")
    assert nightly["cron"] == "30 2 * * *" and nightly["tz"] == "Europe/Berlin"
    assert nightly["missed"] == "latest" and nightly["overlap"] == "skip"
    assert nightly["job"] == {
        "command": ["backup.sh", "--full"],
        "priority": 0,
        "max_retries": 1,
        "queue": "io",
        "tags": ["backup"],
        "env_keys": ["TARGET"],
    }
    preview = qc.json("schedule", "preview", "nightly", "--next", "3")
    assert len(preview) == 3 and preview[0]["utc"] == nightly["next_at"].replace(".000000", "")
    assert all(p["local"][11:16] == "02:30" for p in preview)  # (no DST change in 3 days)
    shown = qc.run("schedule", "preview", "tick", "--next", "2").stdout.splitlines()
    assert [instant(line) % 300 for line in shown] == [0.0, 0.0]
    job_id = qc.run("schedule", "run-now", "nightly").stdout.strip()
    assert job_id.startswith("nightly@now-")
    job = qc.show(job_id)
    assert job["queue"] == "io" and job["env_keys"] == [
        "QUEUECTL_SCHEDULE", "QUEUECTL_SCHEDULED_FOR", "TARGET"
    ]  # fmt: skip
    assert qc.json("schedule", "show", "nightly")["run_now_job"] == job_id
    qc.run("schedule", "pause", "nightly")
    assert qc.json("schedule", "show", "nightly")["next_at"] is None
    assert "paused" in qc.run("schedule", "list").stdout
    qc.run("schedule", "resume", "nightly")
    assert qc.json("schedule", "show", "nightly")["next_at"] == nightly["next_at"]
    qc.run("schedule", "remove", "nightly")
    one_line_error(qc.run("schedule", "show", "nightly", check=False), 1)
    assert qc.state(job_id) == "pending"  # the jobs of a removed schedule stay


@pytest.mark.parametrize(
    "args",
    [
        ("bad@name", "--every", "1s", "--command", "x"),
        ("a", "--command", "x"),
        ("a", "--every", "1s", "--cron", "* * * * *", "--command", "x"),
        ("a", "--cron", "0 25 * * *", "--command", "x"),
        ("a", "--cron", "* * *", "--command", "x"),
        ("a", "--cron", "0 2 * * *", "--tz", "Nowhere/Town", "--command", "x"),
        ("a", "--every", "1s", "--tz", "UTC", "--command", "x"),
        ("a", "--every", "500ms", "--command", "x"),
        ("a", "--every", "1s"),
        ("a", "--every", "1s", "--command", "x", "--", "y"),
        ("a", "--every", "1s", "--missed", "never", "--command", "x"),
        ("a", "--every", "1s", "--priority", "high", "--command", "x"),
        ("a", "--every", "1s", "--queue", "bad queue", "--command", "x"),
        ("a", "--every", "1s", "--env", "NOEQUALS", "--command", "x"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(qc: Queuectl, args: tuple[str]) -> None:
    one_line_error(qc.run("schedule", "add", *args, check=False), 2)
    listed = qc.run("schedule", "list", check=False)  # still no queue: nothing was written
    assert listed.returncode == 1 and "no queue" in listed.stderr


def test_reads_of_a_missing_queue_create_none(qc: Queuectl) -> None:
    for read in (("list",), ("show", "x"), ("preview", "x")):
        done = qc.run("schedule", *read, check=False)
        assert done.returncode == 1 and "no queue" in done.stderr, read
    assert qc.run("schedule", "list", check=False).returncode == 1


def test_a_worker_runs_each_slot_with_the_schedule_in_its_environment(qc: Queuectl) -> None:
    command = 'printf "%s %s" "$QUEUECTL_SCHEDULE" "$QUEUECTL_SCHEDULED_FOR"'
    qc.run("schedule", "add", "tick", "--every", "1s", "--command", command)
    qc.start_worker()

    def completed() -> list[str]:
        return [j["id"] for j in qc.jobs() if j["state"] == "completed"]

    job_id = wait_for(completed, 20, what=qc.worker_logs)[0]
    name, slot = job_id.split("@")
    assert qc.run("logs", job_id).stdout == f"{name} {slot}"


def test_two_worker_processes_fire_every_second_once_for_30_seconds(tmp_path: Path) -> None:
    with Queuectl(tmp_path) as qc:  # SQLite; PostgreSQL's two hosts: tests/pg
        two_workers_fire_every_second(qc, qc)
