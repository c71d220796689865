"""Percentiles, rates and timelines of finished attempts: pure, with the clock passed in."""

from __future__ import annotations

import random

import pytest

from queuectl.stats import (
    FinishedAttempt,
    aggregate,
    bucket_count,
    bucket_start,
    fill_timeline,
    percentile,
    summary,
)

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z


def attempt(queue: str, outcome: str, took: float, ended_ago: float) -> FinishedAttempt:
    finished = NOW - ended_ago
    return FinishedAttempt(queue, outcome, finished - took, finished)


# --- percentile --------------------------------------------------------------------------
def test_percentile_of_nothing_is_none() -> None:
    assert percentile([], 50) is None


def test_percentile_of_one_value_is_that_value() -> None:
    assert percentile([4.0], 0) == percentile([4.0], 50) == percentile([4.0], 100) == 4.0


@pytest.mark.parametrize(
    ("q", "expected"),
    [(0, 1.0), (25, 1.75), (50, 2.5), (75, 3.25), (95, 3.85), (100, 4.0)],
)
def test_percentile_interpolates_between_ranks(q: float, expected: float) -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], q) == pytest.approx(expected)


def test_percentile_of_1_to_100() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 95) == pytest.approx(95.05)
    assert percentile(values, 100) == 100.0


def test_percentile_agrees_with_the_statistics_module() -> None:
    import statistics

    rng = random.Random(7)
    values = sorted(rng.uniform(0, 30) for _ in range(1001))
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    assert percentile(values, 50) == pytest.approx(cuts[49])
    assert percentile(values, 95) == pytest.approx(cuts[94])


@pytest.mark.parametrize("q", [-1, 100.5])
def test_percentile_outside_0_100_is_a_mistake(q: float) -> None:
    with pytest.raises(ValueError):
        percentile([1.0], q)


# --- summary -----------------------------------------------------------------------------
def test_summary_of_a_group() -> None:
    figures = summary([3.0, 1.0, 2.0, 10.0], succeeded=3, window=120.0)
    assert figures == {
        "finished": 4,
        "succeeded": 3,
        "failed": 1,
        "success_rate": 0.75,
        "throughput_per_min": 2.0,
        "duration_p50": 2.5,
        "duration_p95": pytest.approx(8.95),
        "duration_max": 10.0,
    }


def test_summary_without_attempts_has_no_rate_or_durations() -> None:
    figures = summary([], succeeded=0, window=60.0)
    assert figures["finished"] == 0
    assert figures["throughput_per_min"] == 0.0
    for key in ("success_rate", "duration_p50", "duration_p95", "duration_max"):
        assert figures[key] is None


@pytest.mark.parametrize("window", [None, 0.0])
def test_summary_without_a_window_has_no_throughput(window: float | None) -> None:
    assert summary([1.0], 1, window)["throughput_per_min"] is None


# --- aggregate ---------------------------------------------------------------------------
def test_aggregate_per_queue_and_total() -> None:
    rows = [
        attempt("default", "succeeded", 1.0, 50),
        attempt("default", "failed", 3.0, 40),
        attempt("io", "succeeded", 2.0, 30),
        attempt("io", "timed_out", 10.0, 20),
        attempt("io", "worker_lost", 5.0, 10),
    ]
    figures = aggregate(rows, NOW - 300, NOW)
    assert figures["since"] == "2027-01-15T07:55:00.000000Z"
    assert figures["until"] == "2027-01-15T08:00:00.000000Z"
    assert list(figures["queues"]) == ["default", "io"]
    total = figures["total"]
    assert (total["finished"], total["succeeded"], total["failed"]) == (5, 2, 3)
    assert total["success_rate"] == 0.4
    assert total["throughput_per_min"] == 1.0  # 5 attempts over 5 minutes
    assert (total["duration_p50"], total["duration_max"]) == (3.0, 10.0)
    io = figures["queues"]["io"]
    assert (io["finished"], io["succeeded"], io["failed"]) == (3, 1, 2)
    assert io["success_rate"] == pytest.approx(1 / 3, abs=1e-6)
    assert io["throughput_per_min"] == pytest.approx(0.6)
    assert (io["duration_p50"], io["duration_max"]) == (5.0, 10.0)
    assert io["duration_p95"] == pytest.approx(9.5)


def test_aggregate_of_all_time_starts_the_window_at_the_first_start() -> None:
    # the earliest attempt started 120 s ago: 4 attempts over 2 minutes
    rows = [attempt("q", "succeeded", 60.0, 60), *(attempt("q", "succeeded", 1, 1),) * 3]
    figures = aggregate(rows, None, NOW)
    assert figures["since"] is None
    assert figures["total"]["throughput_per_min"] == 2.0


def test_aggregate_of_nothing() -> None:
    figures = aggregate([], None, NOW)
    assert figures["queues"] == {}
    assert figures["total"]["finished"] == 0
    assert figures["total"]["throughput_per_min"] is None
    assert aggregate([], NOW - 60, NOW)["total"]["throughput_per_min"] == 0.0


def test_a_clock_step_back_counts_as_zero_seconds() -> None:
    rows = [FinishedAttempt("q", "succeeded", NOW, NOW - 2)]
    assert aggregate(rows, NOW - 60, NOW)["total"]["duration_max"] == 0.0


def test_aggregate_of_100k_attempts_is_quick() -> None:
    import time

    rng = random.Random(1)
    rows = [
        attempt(f"q{n % 5}", "succeeded" if n % 10 else "failed", rng.uniform(0, 60), n % 3600)
        for n in range(100_000)
    ]
    began = time.perf_counter()
    figures = aggregate(rows, NOW - 3600, NOW)
    took = time.perf_counter() - began
    assert figures["total"]["finished"] == 100_000
    assert figures["total"]["success_rate"] == 0.9
    assert took < 2.0, f"aggregating 100,000 attempts took {took:.2f}s"


# --- timeline ----------------------------------------------------------------------------
def test_buckets_are_aligned_on_multiples_of_their_size() -> None:
    assert bucket_start(NOW + 59.9, 60) == NOW
    assert bucket_start(NOW + 60, 60) == NOW + 60
    assert bucket_count(NOW, 60, NOW) == 1
    assert bucket_count(NOW, 60, NOW + 59.9) == 1
    assert bucket_count(NOW, 60, NOW + 3600) == 61


def test_fill_timeline_keeps_empty_buckets_oldest_first() -> None:
    filled = fill_timeline([(2, 5, 1), (0, 1, 0)], NOW, 60, 4)
    assert filled == [
        {"t": NOW, "succeeded": 1, "failed": 0},
        {"t": NOW + 60, "succeeded": 0, "failed": 0},
        {"t": NOW + 120, "succeeded": 5, "failed": 1},
        {"t": NOW + 180, "succeeded": 0, "failed": 0},
    ]


def test_fill_timeline_puts_a_late_slot_in_the_last_bucket() -> None:
    filled = fill_timeline([(5, 2, 3), (1, 1, 1)], NOW, 10, 2)
    assert [(b["succeeded"], b["failed"]) for b in filled] == [(0, 0), (3, 4)]
