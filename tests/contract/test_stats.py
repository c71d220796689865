"""The statistics verbs of the Backend protocol (and Queue's figures over them), on
every engine: what finished when, in which queue, with which outcome, for how long."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from queuectl.api import Queue
from queuectl.errors import InvalidInput
from queuectl.lifecycle import Failed, Succeeded
from tests.contract.support import (
    add,
    claim,
    end,
    finish_some,
    run_once,
    server_now,
    wait_past,
)

if TYPE_CHECKING:
    from queuectl.backends.base import Backend

Connect = Callable[[], "Backend"]


def test_finished_attempts_carry_queue_outcome_and_times(backend: Backend) -> None:
    before = backend.now()
    finish_some(backend)
    add(backend, "running")
    claim(backend)  # a started attempt is not finished: left out
    rows = sorted(backend.finished_attempts(None), key=lambda r: r.started_at)
    assert [(r.queue, r.outcome) for r in rows] == [
        ("default", "succeeded"),
        ("default", "failed"),
        ("io", "succeeded"),
        ("io", "timed_out"),
    ]
    for row in rows:
        assert before <= row.started_at <= row.finished_at <= server_now(backend)


def test_finished_attempts_since_leaves_out_earlier_ones(backend: Backend) -> None:
    make = lambda i: run_once(backend, i, Succeeded())  # noqa: E731
    add(backend, "old", "new")
    make("old")
    (old,) = backend.attempts("old")
    assert old.finished_at is not None
    # after the old attempt's end by the clock that wrote it (now() may err behind it)
    cut = old.finished_at + 0.001
    wait_past(backend, cut)
    make("new")
    assert len(backend.finished_attempts(None)) == 2
    assert [(r.queue, r.outcome) for r in backend.finished_attempts(cut)] == [
        ("default", "succeeded")
    ]
    assert backend.finished_attempts(backend.now() + 60) == []


def test_every_attempt_of_a_retried_job_counts(backend: Backend) -> None:
    add(backend, "flaky")
    run_once(backend, "flaky", Failed(1))
    job = backend.get("flaky")
    assert job is not None
    wait_past(backend, job.run_at)
    run_once(backend, "flaky", Succeeded())
    outcomes = sorted(r.outcome for r in backend.finished_attempts(None))
    assert outcomes == ["failed", "succeeded"]


def test_timeline_counts_per_bucket(backend: Backend) -> None:
    start = backend.now() - 120
    finish_some(backend)
    slots = backend.attempt_timeline(start, 60.0)
    # everything finished just now: two minutes after start, in slot 2
    assert slots == [(2, 2, 2)]
    assert backend.attempt_timeline(backend.now() + 1, 60.0) == []


def test_oldest_ready_is_the_earliest_due_run_at(backend: Backend) -> None:
    assert backend.oldest_ready() is None
    add(backend, "later", delay="1h")
    assert backend.oldest_ready() is None  # scheduled, not waiting yet
    add(backend, "first", "second")
    first = backend.get("first")
    assert first is not None
    assert backend.oldest_ready() == pytest.approx(first.run_at)
    claim(backend)  # "first" is processing now: "second" is the oldest waiting
    second = backend.get("second")
    assert second is not None
    assert backend.oldest_ready() == pytest.approx(second.run_at)


def test_a_job_in_backoff_is_not_ready(backend: Backend) -> None:
    add(backend, "x")
    job = claim(backend)
    assert end(backend, job, Failed(1))  # failed, waiting 2 s for its retry
    assert backend.oldest_ready() is None


def test_attempt_outcomes_and_buckets(backend: Backend) -> None:
    finish_some(backend)
    outcomes = {(q, o): (n, s) for q, o, n, s in backend.attempt_outcomes()}
    assert set(outcomes) == {
        ("default", "succeeded"),
        ("default", "failed"),
        ("io", "succeeded"),
        ("io", "timed_out"),
    }
    for n, seconds in outcomes.values():
        assert n == 1
        assert 0 <= seconds < 60
    slots = sorted((q, s, n) for q, s, n, _ in backend.attempt_durations([-1.0, 3600.0]))
    assert slots == [("default", 1, 2), ("io", 1, 2)]  # none took -1 s, all within an hour
    slots = sorted((q, s, n) for q, s, n, _ in backend.attempt_durations([-2.0, -1.0]))
    assert slots == [("default", None, 2), ("io", None, 2)]  # longer than every bound
    for _, _, _, seconds in backend.attempt_durations([1.0]):
        assert 0 <= seconds < 60


def test_purged_jobs_stay_in_the_figures(backend: Backend) -> None:
    """Their attempts are rolled up before they go (this once told a counter reset)."""
    finish_some(backend)
    before = sorted(backend.attempt_outcomes())
    backend.purge(["d"], "dead")
    assert backend.get("d") is None and backend.attempts("d") == []
    assert sum(r.attempts for r in backend.finished_attempts(None)) == 4
    assert [(q, o, n) for q, o, n, _ in sorted(backend.attempt_outcomes())] == [
        (q, o, n) for q, o, n, _ in before
    ]


# --- Queue: the same figures for users --------------------------------------------------
def test_stats_shape(queue: Queue) -> None:
    finish_some(queue.backend)
    figures = queue.stats()
    assert figures["since"] is None
    assert figures["until"].endswith("Z")
    total = figures["total"]
    assert (total["finished"], total["succeeded"], total["failed"]) == (4, 2, 2)
    assert total["success_rate"] == 0.5
    assert total["throughput_per_min"] > 0
    assert 0 <= total["duration_p50"] <= total["duration_p95"] <= total["duration_max"]
    assert set(figures["queues"]) == {"default", "io"}
    io = figures["queues"]["io"]
    assert (io["finished"], io["succeeded"], io["failed"], io["success_rate"]) == (2, 1, 1, 0.5)


def test_stats_of_an_empty_window(queue: Queue) -> None:
    finish_some(queue.backend)
    later = queue.now() + 10
    figures = queue.stats(later)
    assert figures["queues"] == {}
    assert figures["total"] == {
        "finished": 0,
        "succeeded": 0,
        "failed": 0,
        "success_rate": None,
        "throughput_per_min": None,  # the window ends before it starts
        "duration_p50": None,
        "duration_p95": None,
        "duration_max": None,
        "cpu_p50": None,  # what attempts used: none measured in the window
        "cpu_p95": None,
        "max_rss_kb_p50": None,
        "max_rss_kb_p95": None,
    }
    since = queue.now() - 60
    assert queue.stats(queue.now())["total"]["finished"] == 0
    assert queue.stats(since)["total"]["throughput_per_min"] == pytest.approx(4.0, rel=0.05)


def test_timeline_has_every_bucket_oldest_first(queue: Queue) -> None:
    finish_some(queue.backend)
    now = queue.now()
    buckets = queue.timeline(now - 3600, 60)
    assert len(buckets) in (60, 61, 62)  # aligned on whole minutes: the ends are partial
    starts = [b["t"] for b in buckets]
    assert starts == sorted(starts)
    assert all(b - a == pytest.approx(60) for a, b in itertools.pairwise(starts))
    assert starts[0] <= now - 3600 < starts[0] + 60
    assert starts[-1] <= now < starts[-1] + 60
    assert sum(b["succeeded"] for b in buckets) == 2
    assert sum(b["failed"] for b in buckets) == 2
    assert buckets[-1]["succeeded"] + buckets[-2]["succeeded"] == 2


@pytest.mark.parametrize("bucket", [0, -5, float("nan"), float("inf")])
def test_timeline_refuses_a_bad_bucket(queue: Queue, bucket: float) -> None:
    with pytest.raises(InvalidInput):
        queue.timeline(queue.now() - 60, bucket)


def test_timeline_refuses_too_many_buckets(queue: Queue) -> None:
    with pytest.raises(InvalidInput, match="too many"):
        queue.timeline(queue.now() - 86400, 0.001)


def test_oldest_pending_age(queue: Queue) -> None:
    assert queue.oldest_pending_age() is None
    queue.enqueue("true", id="waiting")
    job = queue.get("waiting")
    wait_past(queue.backend, job.run_at + 0.01)
    age = queue.oldest_pending_age()
    assert age is not None
    assert 0.01 <= age <= queue.now() - job.run_at + 0.001


def test_outcome_counts_and_histogram(queue: Queue) -> None:
    finish_some(queue.backend)
    assert queue.outcome_counts() == {
        "default": {"succeeded": 1, "failed": 1},
        "io": {"succeeded": 1, "timed_out": 1},
    }
    histogram = queue.duration_histogram([3600, -1])
    assert set(histogram) == {"default", "io"}
    for entry in histogram.values():
        assert entry["buckets"] == [(-1.0, 0), (3600.0, 2)]
        assert entry["count"] == 2
        assert 0 <= entry["sum"] < 120
