"""``explain ID``: why a job is not running, one test per reason, through the CLI on both
engines. No sleeps: run_at far ahead, a pause, a slot held by a gated job."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.cli import one_line_error
from tests.support.harness import Queuectl
from tests.support.jobs import gate_wait


def _explain(qc: Queuectl, job_id: str) -> dict[str, Any]:
    found: dict[str, Any] = qc.json("explain", job_id)
    assert found["id"] == job_id
    return found


def _codes(found: dict[str, Any]) -> list[str]:
    return [r["code"] for r in found["reasons"]]


def _running(qc: Queuectl, gate: Path, *flags: str) -> str:
    """A job of ``flags``' queue that runs until ``gate`` exists, once a worker took it."""
    held = qc.enqueue(gate_wait(gate), *flags)
    qc.wait_state(held, "processing")
    return held


def test_a_final_job_says_when_and_why(qc: Queuectl) -> None:
    job = qc.enqueue("true", "--delay", "1h")
    qc.run("cancel", job)
    found = _explain(qc, job)
    assert found["state"] == "cancelled" and _codes(found) == ["final"]
    assert found["reasons"][0]["finished_at"]
    assert "cancelled at" in qc.run("explain", job).stdout


def test_a_running_job_names_its_worker(qc: Queuectl, tmp_path: Path) -> None:
    qc.start_worker()
    job = _running(qc, tmp_path / "gate")
    (reason,) = _explain(qc, job)["reasons"]
    assert reason["code"] == "running" and reason["worker"] == qc.job(job)["worker"]
    assert reason["since"] == qc.job(job)["started_at"]


def test_waiting_for_run_at_says_until_when(qc: Queuectl) -> None:
    qc.start_worker()
    job = qc.enqueue("true", "--delay", "1h")
    found = _explain(qc, job)
    assert _codes(found) == ["waiting"]
    assert found["reasons"][0]["until"] == qc.job(job)["run_at"]


def test_backoff_says_until_when_and_which_attempt(qc: Queuectl) -> None:
    qc.config("backoff-base", "1000")
    qc.start_worker()
    job = qc.enqueue("exit 3", "--max-retries", "2")
    qc.wait_state(job, "failed")
    (reason,) = _explain(qc, job)["reasons"]
    assert reason["code"] == "backoff" and (reason["attempt"], reason["of"]) == (2, 3)
    assert reason["until"] == qc.job(job)["run_at"]


def test_blocked_names_its_dependencies_and_their_states(qc: Queuectl) -> None:
    first = qc.enqueue("true", "--delay", "1h")
    then = qc.enqueue("true", "--after", first)
    found = _explain(qc, then)
    assert found["state"] == "blocked" and _codes(found)[0] == "blocked"
    assert found["reasons"][0]["dependencies"] == [{"id": first, "state": "pending"}]
    assert f"blocked by {first} (pending)" in qc.run("explain", then).stdout


def test_a_paused_queue_says_by_whom_why_and_until(qc: Queuectl) -> None:
    qc.start_worker()
    qc.run("queue", "pause", "q", "--reason", "disk full", "--for", "1h")
    job = qc.enqueue("true", "--queue", "q")
    (reason,) = _explain(qc, job)["reasons"]
    assert reason["code"] == "paused" and reason["paused_reason"] == "disk full"
    assert reason["paused_by"] and reason["paused_until"]


def test_full_concurrency_names_the_jobs_holding_the_slots(qc: Queuectl, tmp_path: Path) -> None:
    qc.run("queue", "set", "q", "--concurrency", "1")
    qc.start_worker("--count", "2")
    held = _running(qc, tmp_path / "gate", "--queue", "q")
    job = qc.enqueue("true", "--queue", "q")
    (reason,) = _explain(qc, job)["reasons"]
    assert reason["code"] == "concurrency" and reason["held_by"] == [held]


def test_a_rate_limit_says_when_the_next_start_is_allowed(qc: Queuectl) -> None:
    qc.run("queue", "set", "q", "--rate", "1/h")
    qc.start_worker()
    qc.wait_state(qc.enqueue("true", "--queue", "q"), "completed")  # took the one token
    job = qc.enqueue("true", "--queue", "q")
    (reason,) = _explain(qc, job)["reasons"]
    assert reason["code"] == "rate" and reason["rate"] == "1/h" and reason["next_start_at"]


def test_no_live_worker_serves_the_queue(qc: Queuectl) -> None:
    qc.start_worker("--queue", "!q")
    qc.wait_state(qc.enqueue("true", "--queue", "other"), "completed")  # the worker is up
    job = qc.enqueue("true", "--queue", "q")
    (reason,) = _explain(qc, job)["reasons"]
    assert reason["code"] == "no_worker"
    assert [w["queues"] for w in reason["workers"]] == [["!q"]]
    assert "!q" in qc.run("explain", job).stdout


def test_several_reasons_are_listed_the_first_holding_it_now(qc: Queuectl) -> None:
    qc.run("queue", "pause", "q")
    job = qc.enqueue("true", "--queue", "q", "--delay", "1h")
    assert _codes(_explain(qc, job)) == ["waiting", "paused", "no_worker"]


def test_next_in_line_counts_the_ready_jobs_ahead_in_claim_order(
    qc: Queuectl, tmp_path: Path
) -> None:
    qc.start_worker("--count", "1")
    _running(qc, tmp_path / "gate")  # the one slot is busy: the rest wait in line
    qc.enqueue("true", "--queue", "elsewhere")  # a queue the worker serves too: counts
    ids = [qc.enqueue("true") for _ in range(3)]
    urgent = qc.enqueue("true", "--priority", "5")
    (reason,) = _explain(qc, ids[2])["reasons"]
    assert reason["code"] == "queued" and reason["ahead"] == 4  # elsewhere, ids[0], ids[1], urgent
    assert _explain(qc, urgent)["reasons"][0]["ahead"] == 0


def test_an_unknown_id_is_one_line_exit_1(qc: Queuectl) -> None:
    qc.enqueue("true")
    one_line_error(qc.run("explain", "nosuchjob", check=False), 1)
