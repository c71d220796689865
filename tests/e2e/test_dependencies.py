"""Dependencies through the real CLI: ``enqueue --after``, ``show``, ``list --state
blocked``, ``rerun --with-dependents``, and a worker SIGKILLed while it runs a dependency."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from tests.support.harness import Queuectl
from tests.support.jobs import q, wait_for_pid


def test_enqueue_after_blocks_and_a_worker_runs_the_chain(qc: Queuectl, tmp_path: Path) -> None:
    out = tmp_path / "out"
    qc.enqueue(f"echo a >> {q(out)}", "--id", "a")
    qc.enqueue(f"echo b >> {q(out)}", "--id", "b", "--after", "a")
    qc.enqueue(f"echo c >> {q(out)}", "--id", "c", "--after", "a", "--after", "b")
    assert [j["id"] for j in qc.json("list", "--state", "blocked")] == ["b", "c"]
    assert qc.json("status")["jobs"]["blocked"] == 2
    shown = qc.show("c")
    assert shown["state"] == "blocked"
    assert shown["after"] == ["a", "b"] and shown["blocked_by"] == ["a", "b"]
    assert shown["dependencies"] == [
        {"id": "a", "state": "pending"},
        {"id": "b", "state": "blocked"},
    ]
    assert qc.show("a")["dependents"] == [
        {"id": "b", "state": "blocked"},
        {"id": "c", "state": "blocked"},
    ]
    text = qc.run("show", "a").stdout
    assert "dependents" in text and "b (blocked), c (blocked)" in text
    worker = qc.start_worker("--burst")
    assert worker.wait(60) == 0, qc.worker_logs()
    assert out.read_text().split() == ["a", "b", "c"]


def test_a_missing_dependency_is_exit_2_and_nothing_is_written(qc: Queuectl) -> None:
    result = qc.run("enqueue", "--id", "x", "--after", "nope", "--command", "true", check=False)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "'nope'" in result.stderr
    assert "Traceback" not in result.stderr
    assert qc.counts().get("pending", 0) == 0


def test_after_in_a_file_may_name_an_earlier_line(qc: Queuectl, tmp_path: Path) -> None:
    qc.enqueue_file(
        [
            {"id": "one", "command": "true"},
            {"id": "two", "command": "true", "after": ["one"], "after_mode": "done"},
        ]
    )
    assert qc.state("two") == "blocked"
    assert qc.job("two")["after_mode"] == "done"


def test_rerun_with_dependents_blocks_them_again(qc: Queuectl) -> None:
    qc.enqueue("exit 1", "--id", "a", "--max-retries", "0")
    qc.enqueue("true", "--id", "b", "--after", "a")
    qc.enqueue("true", "--id", "c", "--after", "b")
    assert qc.start_worker("--burst").wait(60) == 1, qc.worker_logs()
    assert [qc.state(i) for i in "abc"] == ["dead", "cancelled", "cancelled"]
    assert qc.job("b")["last_error"] == "dependency a ended dead"
    qc.run("rerun", "a", "--with-dependents")
    assert [qc.state(i) for i in "abc"] == ["pending", "blocked", "blocked"]


def test_a_sigkilled_worker_running_a_dependency_still_settles_it(
    fast_retries: Queuectl, tmp_path: Path
) -> None:
    qc = fast_retries
    pid_file = tmp_path / "pid"
    qc.enqueue(f"echo $$ > {q(pid_file)}; sleep 60", "--id", "a", "--max-retries", "0")
    qc.enqueue("true", "--id", "b", "--after", "a")
    qc.enqueue("true", "--id", "c", "--after", "a", "--after-mode", "done")
    doomed = qc.start_worker()
    wait_for_pid(pid_file, 20)
    os.killpg(doomed.pid, signal.SIGKILL)
    assert doomed.wait(10) == -signal.SIGKILL
    rescuer = qc.start_worker()
    qc.wait_state("a", "dead", timeout=60)
    assert qc.state("b") == "cancelled"
    assert qc.job("b")["last_error"] == "dependency a ended dead"
    qc.wait_state("c", "completed", timeout=30)
    rescuer.send(signal.SIGTERM)
    assert rescuer.wait(10) == 0
