"""Statistics of finished attempts as pure functions: rows and a clock in, numbers out.

The backends return the raw spans of finished attempts (queue, outcome, start, end);
percentiles and rates are computed here, the same way for every engine, and unit-tested
without a database. Sorting 100,000 durations takes a few milliseconds, and SQLite has
no percentile function to push the work down to.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, NamedTuple

from queuectl.timefmt import iso

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

SUCCEEDED = "succeeded"  # the one successful outcome; every other one counts as failed
MAX_BUCKETS = 10_000  # a timeline longer than this is a mistake (e.g. a bucket of 1 ms)


class FinishedAttempt(NamedTuple):
    """One attempt that has ended, with the queue of its job."""

    queue: str
    outcome: str
    started_at: float
    finished_at: float


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0..100) of sorted values, linearly interpolated between
    the closest ranks (numpy's default); None for no values."""
    if not ordered:
        return None
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside 0..100")
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(durations: list[float], succeeded: int, window: float | None) -> dict[str, Any]:
    """The figures of one group of attempts. ``durations`` is sorted in place.

    ``window``: the seconds the attempts are spread over (None: no window, so no rate).
    """
    durations.sort()
    finished = len(durations)
    rate = None if window is None or window <= 0 else finished * 60.0 / window
    return {
        "finished": finished,
        "succeeded": succeeded,
        "failed": finished - succeeded,
        "success_rate": round(succeeded / finished, 6) if finished else None,
        "throughput_per_min": None if rate is None else round(rate, 6),
        "duration_p50": _seconds(percentile(durations, 50)),
        "duration_p95": _seconds(percentile(durations, 95)),
        "duration_max": _seconds(durations[-1] if durations else None),
    }


def aggregate(
    attempts: Iterable[FinishedAttempt], since: float | None, now: float
) -> dict[str, Any]:
    """Overall and per-queue figures of attempts that finished in ``[since, now]``.

    The window of the rate is ``now - since``; with no ``since`` (all time) it starts
    when the earliest of these attempts started, so a first burst of work is not
    divided by a window of almost nothing. A duration below zero (the wall clock
    stepped back during an attempt) counts as zero.
    """
    per_queue: dict[str, tuple[list[float], list[int]]] = {}
    everything: list[float] = []
    total_ok = 0
    first: float | None = None
    for queue, outcome, started_at, finished_at in attempts:
        durations, ok = per_queue.setdefault(queue, ([], [0]))
        duration = max(finished_at - started_at, 0.0)
        durations.append(duration)
        everything.append(duration)
        if outcome == SUCCEEDED:
            ok[0] += 1
            total_ok += 1
        if first is None or started_at < first:
            first = started_at
    start = since if since is not None else first
    window = None if start is None else max(now - start, 0.0)
    return {
        "since": iso(since),
        "until": iso(now),
        "total": summary(everything, total_ok, window),
        "queues": {
            name: summary(durations, ok[0], window)
            for name, (durations, ok) in sorted(per_queue.items())
        },
    }


def bucket_start(since: float, bucket: float) -> float:
    """Buckets are aligned on multiples of ``bucket`` since the epoch (minutes start at :00),
    so two reads a few seconds apart show the same buckets; the first one starts at or
    before ``since``."""
    return math.floor(since / bucket) * bucket


def bucket_count(start: float, bucket: float, now: float) -> int:
    """How many buckets from ``start`` cover up to ``now`` (the last one still filling)."""
    return max(math.floor((now - start) / bucket) + 1, 1)


def fill_timeline(
    slots: Iterable[tuple[int, int, int]], start: float, bucket: float, count: int
) -> list[dict[str, Any]]:
    """(slot, succeeded, failed) rows → every bucket oldest first, empty ones included.

    A slot past ``count`` (an attempt that finished while the clock was read) joins the
    last bucket; none is dropped.
    """
    succeeded = [0] * count
    failed = [0] * count
    for slot, ok, bad in slots:
        index = min(max(int(slot), 0), count - 1)
        succeeded[index] += int(ok)
        failed[index] += int(bad)
    return [
        {"t": start + index * bucket, "succeeded": succeeded[index], "failed": failed[index]}
        for index in range(count)
    ]


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
