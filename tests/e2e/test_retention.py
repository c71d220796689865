"""Retention through the real CLI and real workers, on every engine: ``purge`` (dry run,
the prompt, --yes, log files), statistics that agree before and after purging 100,000
jobs, and workers that purge what outlived its ``retention-*`` setting, and nothing else."""

from __future__ import annotations

import os
import pty
import re
import subprocess
from typing import Any

import pytest

from queuectl.api import Queue
from tests.support.cli import QUEUECTL
from tests.support.harness import Queuectl
from tests.support.history import fill_history
from tests.support.polling import wait_for


def location(qc: Queuectl) -> str:
    """The queue the CLI of ``qc`` uses, for the API."""
    return qc.env.get("QUEUECTL_DB") or str(qc.home / "queuectl.db")


def log_of(qc: Queuectl, job_id: str, attempt: int = 1) -> str:
    return str(qc.home / "logs" / f"{job_id}.{attempt}.log")


def ids(qc: Queuectl) -> set[str]:
    return {job["id"] for job in qc.jobs()}


def ended_ago(qc: Queuectl, seconds: float, *jobs: str) -> None:
    """Wait until every job of ``jobs`` ended more than ``seconds`` ago, by the queue's
    clock (PostgreSQL's, on PostgreSQL)."""
    with Queue(location(qc)) as queue:
        ends = [queue.get(job).finished_at or 0.0 for job in jobs]
        wait_for(lambda: queue.now() - max(ends) > seconds, 10, what="the jobs to age")


def some_jobs(qc: Queuectl) -> dict[str, str]:
    """Ended jobs of every kind, with output, and a job scheduled for later."""
    made = {
        "done": qc.enqueue("echo done"),
        "io": qc.enqueue("echo io", "--queue", "io"),
        "dead": qc.enqueue("echo dead; exit 3", "--max-retries", "0"),
        "cancelled": qc.enqueue("true", "--delay", "1h"),
        "later": qc.enqueue("true", "--delay", "1h"),
    }
    qc.run("cancel", made["cancelled"])
    qc.start_worker("--burst").wait(60)  # exit 1: a job it ran ended dead
    assert qc.state(made["done"]) == "completed" and qc.state(made["dead"]) == "dead"
    return made


def _cells(table: str) -> list[list[str]]:
    return [line.split() for line in table.splitlines()]


RESOURCE_KEYS = ("cpu_p50", "cpu_p95", "max_rss_kb_p50", "max_rss_kb_p95")


def _same_stats(before: dict[str, Any], after: dict[str, Any], rates_too: bool = True) -> None:
    """The same figures, but the window's ends and the rate: read a few seconds apart, the
    window moved (``rates_too``: by a small part of it)."""
    rates = []
    for figures in (before, after):
        groups = [figures["total"], *figures["queues"].values()]
        rates.append([group.pop("throughput_per_min") for group in groups])
        for group in groups:  # resources come from the attempts kept (DECISIONS §25)
            for key in RESOURCE_KEYS:
                group.pop(key, None)
        figures.pop("until")
        figures.pop("since")  # --since 30d: thirty days before each call
    assert after == before
    if rates_too:
        assert rates[1] == pytest.approx(rates[0], rel=1e-3)


# --- purge ----------------------------------------------------------------------------
def test_a_dry_run_counts_and_deletes_nothing(qc: Queuectl) -> None:
    made = some_jobs(qc)
    shown = qc.run("purge", "--dry-run").stdout
    assert re.fullmatch(
        r"would purge 3 jobs \(2 completed, 1 cancelled\) that ended before \S+Z\n", shown
    )
    counted = qc.json("purge", "--dry-run", "--state", "dead,completed", "--queue", "io")
    assert (counted["dry_run"], counted["jobs"], counted["total"]) == (
        True, {"dead": 0, "completed": 1}, 1)  # fmt: skip
    assert ids(qc) == set(made.values())
    assert os.path.exists(log_of(qc, made["done"]))


def test_off_a_terminal_purge_needs_yes(qc: Queuectl) -> None:
    made = some_jobs(qc)
    refused = qc.run("purge", check=False, input="y\n")  # stdin is a pipe, not a terminal
    assert refused.returncode == 2
    assert refused.stderr == (
        "queuectl: error: purge deletes jobs for good: confirm with --yes "
        "(there is no terminal to ask on)\n"
    )
    assert ids(qc) == set(made.values())


def test_on_a_terminal_purge_asks_first(qc: Queuectl) -> None:
    made = some_jobs(qc)

    def purge(answer: str) -> subprocess.CompletedProcess[str]:
        keyboard, terminal = pty.openpty()
        try:
            os.write(keyboard, answer.encode())
            return subprocess.run(
                [*QUEUECTL, "purge", "--state", "completed"],
                stdin=terminal, capture_output=True, text=True, env=qc.env, timeout=60,
            )  # fmt: skip
        finally:
            os.close(keyboard)
            os.close(terminal)

    declined = purge("n\n")
    assert declined.returncode == 1
    assert declined.stderr.startswith("purge 2 jobs (2 completed) that ended before ")
    assert declined.stderr.endswith("? Statistics are kept. [y/N] nothing was purged\n")
    assert ids(qc) == set(made.values())
    accepted = purge("y\n")
    assert accepted.returncode == 0, accepted.stderr
    assert accepted.stderr.endswith("[y/N] purged 2 jobs (2 completed)\n")
    assert ids(qc) == set(made.values()) - {made["done"], made["io"]}


def test_purge_deletes_ended_jobs_their_attempts_and_log_files(qc: Queuectl) -> None:
    made = some_jobs(qc)
    before = qc.json("stats")
    files = {name: log_of(qc, job) for name, job in made.items()}
    assert all(os.path.exists(files[name]) for name in ("done", "io", "dead"))

    done = qc.run("purge", "--yes")
    assert done.stdout == ""
    assert done.stderr == "purged 3 jobs (2 completed, 1 cancelled)\n"
    assert ids(qc) == {made["dead"], made["later"]}
    assert not os.path.exists(files["done"]) and not os.path.exists(files["io"])
    assert os.path.exists(files["dead"]), "dead jobs go only when named"
    assert qc.run("show", made["done"], check=False).returncode == 1
    assert qc.run("logs", made["done"], check=False).returncode == 1
    _same_stats(before, qc.json("stats"), rates_too=False)  # a history of a second

    dead = qc.json("purge", "--yes", "--state", "dead")
    assert (dead["dry_run"], dead["jobs"], dead["total"]) == (False, {"dead": 1}, 1)
    assert not os.path.exists(files["dead"])
    assert ids(qc) == {made["later"]}
    assert qc.run("purge", "--yes").stderr == "nothing to purge\n"


# --- statistics survive ----------------------------------------------------------------
def test_stats_agree_before_and_after_purging_100000_jobs(qc: Queuectl) -> None:
    recent = [qc.enqueue("echo recent"), qc.enqueue("exit 1", "--max-retries", "0")]
    qc.start_worker("--burst").wait(60)
    where = location(qc)
    with Queue(where) as queue:
        start = queue.now() - 10 * 86400
        attempts = fill_history(where, 100_000, start)
        # a worker has rolled up the first half of the history; the purge does the rest
        while queue.backend.roll_up(start + 25_000, 20_000) == 20_000:
            pass
    text = qc.run("stats").stdout
    figures = qc.json("stats")
    month = qc.json("stats", "--since", "30d")
    assert figures["total"]["finished"] == attempts + 2

    done = qc.run("purge", "--older-than", "7d", "--yes", timeout=600)
    assert done.stderr == "purged 100000 jobs (100000 completed, 0 cancelled)\n"
    assert ids(qc) == set(recent)
    for row_before, row_after in zip(_cells(text), _cells(qc.run("stats").stdout), strict=True):
        assert row_after[:5] + row_after[6:] == row_before[:5] + row_before[6:]
        if row_before[0] != "QUEUE":  # PER MIN: over a window that grew by seconds
            assert float(row_after[5]) == pytest.approx(float(row_before[5]), abs=0.011)
    _same_stats(figures, qc.json("stats"))
    _same_stats(month, qc.json("stats", "--since", "30d"))


# --- live workers ------------------------------------------------------------------------
def test_a_worker_purges_what_outlived_its_retention_and_nothing_else(qc: Queuectl) -> None:
    made = some_jobs(qc)
    qc.config("backoff-base", "1000")  # a failed job waits a long time for its retry
    busy = qc.enqueue("sleep 60", "--queue", "busy")
    failing = qc.enqueue("echo failing; exit 1", "--queue", "busy")
    blocked = qc.enqueue("true", "--after", busy)
    qc.start_worker("--queue", "busy", "--count", "2")  # its next pass: a minute away
    qc.wait_state(busy, "processing")
    qc.wait_state(failing, "failed")
    qc.config("retention-completed", "1s")
    qc.config("retention-cancelled", "1s")  # retention-dead stays none: dead jobs are kept
    ended_ago(qc, 1.0, made["done"], made["io"], made["cancelled"])

    # a worker's first retention pass comes at its start (then about once a minute)
    keeper = qc.start_worker("--burst", "--queue", "nothing", name="keeper")
    assert keeper.wait(60) == 0
    assert re.search(r"retention: purged 2 completed job\(s\)", keeper.log())
    assert re.search(r"retention: purged 1 cancelled job\(s\)", keeper.log())
    kept = {made["dead"], made["later"], busy, failing, blocked}
    assert ids(qc) == kept
    assert [qc.state(job) for job in (busy, failing, blocked)] == [
        "processing", "failed", "blocked"]  # fmt: skip
    assert not os.path.exists(log_of(qc, made["done"]))
    assert os.path.exists(log_of(qc, made["dead"])) and os.path.exists(log_of(qc, failing))
    assert qc.json("stats")["total"]["finished"] == 4  # done, io, dead, failing's first
