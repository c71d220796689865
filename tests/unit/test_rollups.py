"""Rollups as pure functions: duration classes, summing attempts up, and figures that do not
change when attempts are read from their rollups instead of one by one."""

from __future__ import annotations

import math
import random
from decimal import ROUND_CEILING, Context, Decimal

import pytest

from queuectl.stats import (
    MINUTE,
    FinishedAttempt,
    Rollup,
    aggregate,
    duration_class,
    minute_of,
    percentile,
    rollups,
)
from queuectl.web.metrics import DURATION_BUCKETS
from tests.unit.test_stats import NOW, attempt


def as_rows(rolled: list[Rollup]) -> list[FinishedAttempt]:
    """Rollups as the backends hand them back (Insights.finished_attempts)."""
    return [
        FinishedAttempt(
            r.queue,
            r.outcome,
            r.first_started if r.minute is None else r.minute,
            r.first_started if r.minute is None else r.minute,
            r.attempts,
            r.duration,
            r.longest,
        )
        for r in rolled
    ]


def history(size: int, seed: int = 5) -> list[FinishedAttempt]:
    rng = random.Random(seed)
    return [
        attempt(
            rng.choice(["default", "io", "batch"]),
            rng.choice(["succeeded"] * 8 + ["failed", "timed_out"]),
            rng.choice([rng.uniform(0, 2), 10 ** rng.uniform(-3, 3), 0.05, 2.5, -1.0]),
            rng.uniform(0, 86400),
        )
        for _ in range(size)
    ]


# --- duration classes -------------------------------------------------------------------
def _decimal_class(seconds: float) -> float:
    """The smallest three-digit decimal whose float is at least ``seconds`` (slowly)."""
    context = Context(prec=3, rounding=ROUND_CEILING)
    edge = context.plus(Decimal(seconds))
    while float(context.next_minus(edge)) >= seconds:
        edge = context.next_minus(edge)
    return float(edge)


def test_a_duration_counts_in_the_smallest_three_digit_number_at_least_it() -> None:
    rng = random.Random(11)
    values = [rng.uniform(0, 100) for _ in range(20_000)]
    values += [10 ** rng.uniform(-8, 6) for _ in range(20_000)]
    values += [0.0999999999999, 0.1000000000001, 999.5, 1000.0, 1.005]
    for value in values:
        assert duration_class(value) == _decimal_class(value), value


def test_a_class_is_at_most_1_percent_above_the_duration() -> None:
    rng = random.Random(2)
    for _ in range(10_000):
        value = 10 ** rng.uniform(-6, 5)
        assert value <= duration_class(value) <= value * 1.01


@pytest.mark.parametrize("bound", DURATION_BUCKETS)
def test_every_bound_of_the_metrics_histogram_is_a_class_edge(bound: float) -> None:
    assert duration_class(float(bound)) == float(bound)
    assert duration_class(math.nextafter(float(bound), math.inf)) > bound


@pytest.mark.parametrize("value", [0.0, -3.0, float("nan"), 1e-12])
def test_no_duration_at_all_is_class_zero(value: float) -> None:
    assert duration_class(value) == 0.0


# --- percentiles of counted values --------------------------------------------------------
def test_a_percentile_of_counted_values_is_that_of_the_values_repeated() -> None:
    rng = random.Random(4)
    values = sorted({round(rng.uniform(0, 50), 1) for _ in range(200)})
    counts = [rng.randint(1, 9) for _ in values]
    repeated = [v for v, n in zip(values, counts, strict=True) for _ in range(n)]
    for q in (0, 12.5, 50, 95, 99, 100):
        assert percentile(values, q, counts) == pytest.approx(percentile(repeated, q))


# --- summing up ---------------------------------------------------------------------------
def test_attempts_are_summed_up_per_minute_queue_outcome_and_class() -> None:
    rows = [
        attempt("default", "succeeded", 1.234, 10),
        attempt("default", "succeeded", 1.2349, 20),  # the same class, the same minute
        attempt("default", "failed", 1.234, 30),
        attempt("io", "succeeded", 0.5, 3600),
    ]
    minutes, totals = rollups(rows)
    assert len(minutes) == 3 and len(totals) == 3
    found = {(r.queue, r.outcome, r.duration): r for r in totals}
    both = found[("default", "succeeded", 1.24)]
    assert (both.attempts, both.minute) == (2, None)
    assert both.seconds == pytest.approx(2.4689)
    assert both.longest == pytest.approx(1.2349)
    assert both.first_started == rows[1].started_at
    io = next(r for r in minutes if r.queue == "io")
    assert io.minute == minute_of(rows[3].finished_at)
    assert io.minute % MINUTE == 0 and io.minute <= rows[3].finished_at < io.minute + MINUTE
    assert sum(r.attempts for r in minutes) == sum(r.attempts for r in totals) == 4


def test_figures_are_the_same_read_one_by_one_or_from_the_rollups() -> None:
    rows = history(5_000)
    minutes, totals = rollups(rows)
    assert aggregate(as_rows(totals), None, NOW) == aggregate(rows, None, NOW)
    since = NOW - 3 * 3600 + 17  # inside a minute: rolled-up minutes count whole
    inside = [r for r in rows if r.finished_at >= minute_of(since)]
    windowed = [r for r in minutes if r.minute is not None and r.minute + MINUTE > since]
    assert aggregate(as_rows(windowed), since, NOW) == aggregate(inside, since, NOW)


def test_figures_are_the_same_when_some_attempts_are_rolled_up() -> None:
    rows = history(3_000, seed=9)
    _, old = rollups(rows[:1_000])
    _, again = rollups(rows[1_000:2_000])
    mixed = [*as_rows(old), *as_rows(again), *rows[2_000:]]
    assert aggregate(mixed, None, NOW) == aggregate(rows, None, NOW)


def test_percentiles_never_exceed_the_longest_attempt() -> None:
    figures = aggregate([attempt("q", "succeeded", 1.2341, 5)], None, NOW)["total"]
    assert figures["duration_p50"] == figures["duration_p95"] == figures["duration_max"]
    assert figures["duration_max"] == 1.2341
