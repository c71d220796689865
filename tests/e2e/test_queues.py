"""``queue pause/resume/set/list`` through the CLI, with real workers: a paused queue's
jobs start nowhere, a resume wakes idle workers at once, and ``--concurrency`` holds
across several worker processes (measured from the jobs' own start/end stamps)."""

from __future__ import annotations

import time
from pathlib import Path

from tests.support.cli import one_line_error
from tests.support.harness import Queuectl
from tests.support.jobs import most_at_once, spans, stamped


def test_pause_holds_a_queue_and_resume_wakes_workers(qc: Queuectl) -> None:
    paused = qc.run("queue", "pause", "slow", "--reason", "disk full")
    assert paused.stdout == "slow\n"
    held = qc.enqueue("true", "--queue", "slow")  # enqueue goes on
    other = qc.enqueue("true", "--queue", "fast")
    qc.start_worker("--count", "2")
    qc.wait_state(other, "completed")
    (listed,) = [x for x in qc.json("queue", "list") if x["name"] == "slow"]
    assert listed["paused"] is True and listed["paused_reason"] == "disk full"
    assert listed["counts"]["pending"] == 1 and listed["workers"] == 2  # a row per slot
    assert qc.state(held) == "pending"
    resumed = time.monotonic()
    qc.run("queue", "resume", "slow")
    qc.wait_state(held, "completed", timeout=20)
    # the idle worker learnt of the resume by its wake-up, not at its next poll
    assert time.monotonic() - resumed < 5
    assert [x["name"] for x in qc.json("queue", "list") if x["paused"]] == []


def test_no_job_starts_after_pause_returns(qc: Queuectl) -> None:
    # 8 s of work for 6 slots: the queue is still busy when pause returns, however slowly
    # the pause command starts on a loaded machine
    jobs = ({"id": f"j{n:03d}", "queue": "q", "command": "sleep 0.3"} for n in range(160))
    qc.enqueue_file(jobs)
    qc.start_worker("--count", "3")
    qc.start_worker("--count", "3")
    qc.wait_state("j002", "completed", "processing")
    qc.run("queue", "pause", "q")
    returned = time.time()
    # the jobs running then finish, and their slots free up: none may take a job of q
    counts = qc.wait_counts(30, processing=0)
    assert counts["pending"] > 0
    started = [_instant(j["started_at"]) for j in qc.jobs() if j["started_at"]]
    late = [t for t in started if t > returned]
    assert late == [], "a job of the paused queue started after pause returned"


def _instant(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text).timestamp()


def test_concurrency_holds_across_worker_processes(qc: Queuectl, tmp_path: Path) -> None:
    out = tmp_path / "out"
    qc.run("queue", "set", "q", "--concurrency", "3")
    qc.enqueue_file({"queue": "q", "command": stamped(out, "sleep 0.2")} for _ in range(24))
    for _ in range(4):
        qc.start_worker("--count", "2")
    qc.wait_counts(120, completed=24)
    ran = spans(out)
    assert len(ran) == 24
    most = most_at_once(ran)
    assert most <= 3, f"{most} jobs of a --concurrency 3 queue ran at once"
    assert most == 3, "the limit was never reached: the test shows nothing"


def test_bad_input_is_refused_and_writes_nothing(qc: Queuectl) -> None:
    qc.enqueue("true")
    for args in (
        ("queue", "set", "q", "--concurrency", "0"),
        ("queue", "set", "q", "--rate", "10/d"),
        ("queue", "set", "q", "--timeout", "soon"),
        ("queue", "set", "q", "--no-retry-on", "2,x"),
        ("queue", "set", "q", "--no-retry-on", "256"),
        ("queue", "set", "q"),
        ("queue", "set", "bad name", "--concurrency", "1"),
        ("queue", "pause"),
        ("queue", "pause", "q", "--all"),
        ("queue", "pause", "q", "--for", "0s"),
        ("queue", "resume"),
    ):
        one_line_error(qc.run(*args, check=False), 2)
    listed = qc.json("queue", "list")
    assert [(x["name"], x["paused"], x["concurrency"], x["rate"]) for x in listed] == [
        ("default", False, None, None)
    ], "a refused command wrote something"


def test_set_and_clear_limits(qc: Queuectl) -> None:
    qc.run("queue", "set", "q", "--concurrency", "2", "--rate", "30/m", "--timeout", "5m")
    (row,) = qc.json("queue", "list")
    assert (row["concurrency"], row["rate"], row["timeout"]) == (2, "30/m", 300.0)
    text = qc.run("queue", "list").stdout
    assert "concurrency 0/2" in text and "rate 30/m" in text
    qc.run("queue", "set", "q", "--concurrency", "none", "--rate", "none", "--timeout", "none")
    assert qc.json("queue", "list") == []


def test_a_queue_s_no_retry_on_codes_join_the_job_s_and_the_global_ones(
    fast_retries: Queuectl,
) -> None:
    qc = fast_retries
    qc.config("no-retry-on", "126")
    qc.config("backoff-base", "1")
    qc.run("queue", "set", "strict", "--no-retry-on", "3,4")
    (row,) = qc.json("queue", "list")
    assert (row["name"], row["no_retry_on"]) == ("strict", [3, 4])
    assert "no-retry-on 3,4" in qc.run("queue", "list").stdout
    ids = {
        "queue code": qc.enqueue("exit 3", "--queue", "strict"),
        "job code": qc.enqueue("exit 5", "--queue", "strict", "--no-retry-on", "5"),
        "global code": qc.enqueue("exit 126", "--queue", "strict"),
        "another queue": qc.enqueue("exit 3", "--queue", "lax", "--max-retries", "1"),
    }
    qc.start_worker("--burst").wait(60)
    attempts = {name: (qc.state(i), qc.show(i)["attempts"]) for name, i in ids.items()}
    assert attempts == {
        "queue code": ("dead", 1),
        "job code": ("dead", 1),
        "global code": ("dead", 1),
        "another queue": ("dead", 2),
    }
    assert "not retried (no-retry-on 3)" in qc.show(ids["queue code"])["last_error"]
    qc.run("queue", "set", "strict", "--no-retry-on", "none")
    assert [x["no_retry_on"] for x in qc.json("queue", "list")] == [[], []]  # lax, strict


def test_status_shows_paused_queues_and_limits_as_used_over_limit(qc: Queuectl) -> None:
    qc.run("queue", "set", "io", "--concurrency", "3", "--rate", "10/s")
    qc.run("queue", "pause", "slow", "--reason", "disk full", "--for", "1h")
    text = qc.run("status").stdout
    assert "io  concurrency 0/3 · rate 10/s" in text
    assert "slow  paused by " in text and "(disk full) until " in text
    flow = {x["name"]: x for x in qc.json("status")["queues"]}
    assert flow["io"]["concurrency"] == 3 and flow["slow"]["paused"] is True
    qc.run("queue", "resume", "--all")
    assert "slow" not in qc.run("status").stdout
