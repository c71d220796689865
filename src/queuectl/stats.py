"""Statistics of finished attempts as pure functions: rows and a clock in, numbers out.

The backends return the finished attempts (queue, outcome, start, end), and the rollups
of those already summed up (``Rollup``: many attempts of one queue, outcome and duration
class); percentiles and rates are computed here, the same way for every engine, and
unit-tested without a database. SQLite has no percentile function to push the work down
to.

Durations count by their class (``duration_class``: rounded up to three significant
digits), whether an attempt is read one by one or from a rollup, so a figure does not
change when its attempts are rolled up and deleted (DECISIONS.md, "Retention").
"""

from __future__ import annotations

import bisect
import math
from typing import TYPE_CHECKING, Any, NamedTuple

from queuectl.timefmt import iso

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

SUCCEEDED = "succeeded"  # the one successful outcome; every other one counts as failed
MAX_BUCKETS = 10_000  # a timeline longer than this is a mistake (e.g. a bucket of 1 ms)
MINUTE = 60.0  # the rollups' time bucket: attempts are summed up per minute they ended in
# Attempts that ended longer ago than this are rolled up by live workers. Well past any
# transaction's length, so no attempt can still be committed with an earlier end once
# its minute is rolled up (a PostgreSQL turn in flight, as the mark moves on).
ROLL_UP_AFTER = 300.0


class FinishedAttempt(NamedTuple):
    """One attempt that has ended, with the queue of its job; or, read from the rollups,
    ``attempts`` attempts alike: then ``duration`` is their duration class, ``longest``
    the longest of them and ``started_at`` the earliest start (``finished_at`` is then
    the start of their minute, or for all time equal to ``started_at``)."""

    queue: str
    outcome: str
    started_at: float
    finished_at: float
    attempts: int = 1
    duration: float | None = None
    longest: float | None = None


class ResourceUse(NamedTuple):
    """What one finished attempt used: CPU seconds (user and system) and its peak memory
    in KiB (None where not measured), with its job's queue."""

    queue: str
    cpu: float
    max_rss_kb: int | None


# Resource figures are over at most this many of the newest attempts of a window: they
# are not rolled up, and a percentile of the newest ten thousand says what a queue's jobs
# use now without reading a whole history.
RESOURCE_SAMPLE = 10_000


class Rollup(NamedTuple):
    """Attempts summed up: of one queue and outcome, in one duration class, that ended in
    the minute starting at ``minute`` (None: all time). ``seconds`` is the sum of their
    durations, ``longest`` the longest, ``first_started`` the earliest start."""

    minute: float | None
    queue: str
    outcome: str
    duration: float
    attempts: int
    seconds: float
    longest: float
    first_started: float


def duration_class(seconds: float) -> float:
    """The class a duration counts in: the smallest number of three significant digits
    (1.00, 1.01 … 9.99, 10.0, 10.1 …) at least ``seconds``; 0 for none at all (a clock
    stepped back counts as zero). Percentiles read from classes are at most 1 % above the
    exact ones, and every bound of /metrics' histogram (0.05, 2.5, 3600 …) is a class
    edge, so a histogram read from classes is exact."""
    if not seconds >= 1e-9:  # zero, negative, nan, or below a nanosecond
        return 0.0
    if seconds == math.inf:
        return seconds
    exponent = math.floor(math.log10(seconds)) - 2
    mantissa = math.ceil(seconds / 10.0**exponent)
    mantissa, exponent = _normal(mantissa, exponent)
    while _edge(mantissa, exponent) < seconds:  # the float division erred low
        mantissa, exponent = _normal(mantissa + 1, exponent)
    while True:  # or high: the edge below may still be at least ``seconds``
        lower = _normal(mantissa - 1, exponent)
        if _edge(*lower) < seconds:
            return _edge(mantissa, exponent)
        mantissa, exponent = lower


def _normal(mantissa: int, exponent: int) -> tuple[int, int]:
    """Three digits again after a step: 1000e-3 is 100e-2, and the step below 100e-2
    (99e-2) is 999e-3."""
    if mantissa >= 1000:
        return mantissa // 10, exponent + 1
    if mantissa < 100:
        return 999, exponent - 1
    return mantissa, exponent


def _edge(mantissa: int, exponent: int) -> float:
    """mantissa * 10**exponent, correctly rounded: the very float of its decimal literal."""
    if exponent >= 0:
        return float(mantissa * 10**exponent)
    return mantissa / int(10**-exponent)


def minute_of(instant: float) -> float:
    """The start of the minute ``instant`` is in (the rollups' time bucket)."""
    return math.floor(instant / MINUTE) * MINUTE


def rollups(attempts: Iterable[FinishedAttempt]) -> tuple[list[Rollup], list[Rollup]]:
    """Finished attempts → their rollups per minute, and the same summed over all time
    (``minute`` None), each key once: what a backend adds to its two rollup tables."""
    minutes: dict[tuple[float, str, str, float], list[float]] = {}
    for attempt in attempts:
        took = max(attempt.finished_at - attempt.started_at, 0.0)
        key = (minute_of(attempt.finished_at), attempt.queue, attempt.outcome,
               duration_class(took))  # fmt: skip
        _add(minutes, key, 1, took, took, attempt.started_at)
    totals: dict[tuple[str, str, float], list[float]] = {}
    for (_, queue, outcome, duration), (n, seconds, longest, first) in minutes.items():
        _add(totals, (queue, outcome, duration), n, seconds, longest, first)
    return (
        [Rollup(*key, int(v[0]), v[1], v[2], v[3]) for key, v in minutes.items()],
        [Rollup(None, *key, int(v[0]), v[1], v[2], v[3]) for key, v in totals.items()],
    )


def _add(
    groups: dict[Any, list[float]], key: object, n: float, seconds: float, longest: float,
    first: float,
) -> None:  # fmt: skip
    found = groups.get(key)
    if found is None:
        groups[key] = [n, seconds, longest, first]
        return
    found[0] += n
    found[1] += seconds
    found[2] = max(found[2], longest)
    found[3] = min(found[3], first)


def percentile(
    ordered: Sequence[float], q: float, counts: Sequence[int] | None = None
) -> float | None:
    """The ``q``-th percentile (0..100) of sorted values, linearly interpolated between
    the closest ranks (numpy's default); None for no values. ``counts``: how many times
    each value occurs (the same as repeating it that often)."""
    if not ordered:
        return None
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside 0..100")
    if counts is None:
        ends = None
        size = len(ordered)
    else:
        ends = list(_running(counts))  # the rank after each value's last occurrence
        size = ends[-1]

    def at(rank: int) -> float:
        return ordered[rank if ends is None else bisect.bisect_right(ends, rank)]

    rank = (size - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, size - 1)
    return at(low) + (at(high) - at(low)) * (rank - low)


def _running(counts: Sequence[int]) -> Iterable[int]:
    total = 0
    for n in counts:
        total += n
        yield total


def summary(
    durations: list[float] | Mapping[float, int],
    succeeded: int,
    window: float | None,
    longest: float | None = None,
) -> dict[str, Any]:
    """The figures of one group of attempts. ``durations``: a list (sorted in place), or
    how many attempts took each duration class; ``longest``: the longest exact duration
    (the percentiles, read from classes, never exceed it).

    ``window``: the seconds the attempts are spread over (None: no window, so no rate).
    """
    if isinstance(durations, list):
        durations.sort()
        values, counts = durations, None
        finished = len(durations)
    else:
        values = sorted(durations)
        counts = [durations[v] for v in values]
        finished = sum(counts)
    top = longest if longest is not None else (values[-1] if values else None)
    rate = None if window is None or window <= 0 else finished * 60.0 / window

    def at_most_top(value: float | None) -> float | None:
        return None if value is None or top is None else _seconds(min(value, top))

    return {
        "finished": finished,
        "succeeded": succeeded,
        "failed": finished - succeeded,
        "success_rate": round(succeeded / finished, 6) if finished else None,
        "throughput_per_min": None if rate is None else round(rate, 6),
        "duration_p50": at_most_top(percentile(values, 50, counts)),
        "duration_p95": at_most_top(percentile(values, 95, counts)),
        "duration_max": _seconds(top),
    }


class _Group:
    """What ``aggregate`` gathers of one queue, or of all of them."""

    __slots__ = ("classes", "longest", "succeeded")

    def __init__(self) -> None:
        self.classes: dict[float, int] = {}
        self.succeeded = 0
        self.longest: float | None = None

    def add(self, duration: float, n: int, longest: float, ok: bool) -> None:
        self.classes[duration] = self.classes.get(duration, 0) + n
        if ok:
            self.succeeded += n
        if self.longest is None or longest > self.longest:
            self.longest = longest

    def summary(self, window: float | None) -> dict[str, Any]:
        return summary(self.classes, self.succeeded, window, self.longest)


def aggregate(
    attempts: Iterable[FinishedAttempt], since: float | None, now: float
) -> dict[str, Any]:
    """Overall and per-queue figures of attempts that finished in ``[since, now]``, one by
    one or rolled up (FinishedAttempt): each counts in its duration class.

    The window of the rate is ``now - since``; with no ``since`` (all time) it starts
    when the earliest of these attempts started, so a first burst of work is not
    divided by a window of almost nothing. A duration below zero (the wall clock
    stepped back during an attempt) counts as zero.
    """
    per_queue: dict[str, _Group] = {}
    everything = _Group()
    first: float | None = None
    for row in attempts:
        if row.duration is None:
            took = max(row.finished_at - row.started_at, 0.0)
            duration, longest = duration_class(took), took
        else:
            duration, longest = row.duration, row.longest or 0.0
        ok = row.outcome == SUCCEEDED
        group = per_queue.get(row.queue)
        if group is None:
            group = per_queue[row.queue] = _Group()
        group.add(duration, row.attempts, longest, ok)
        everything.add(duration, row.attempts, longest, ok)
        if first is None or row.started_at < first:
            first = row.started_at
    start = since if since is not None else first
    window = None if start is None else max(now - start, 0.0)
    return {
        "since": iso(since),
        "until": iso(now),
        "total": everything.summary(window),
        "queues": {name: group.summary(window) for name, group in sorted(per_queue.items())},
    }


ALL = "(all)"  # the key of every queue together in ``resources``
NO_RESOURCES = dict.fromkeys(("cpu_p50", "cpu_p95", "max_rss_kb_p50", "max_rss_kb_p95"))


def resources(uses: Iterable[ResourceUse]) -> dict[str, dict[str, float | None]]:
    """p50 and p95 of CPU seconds and of peak memory (KiB) per queue, and over every
    queue under ``ALL``: ``cpu_p50``, ``cpu_p95``, ``max_rss_kb_p50``, ``max_rss_kb_p95``
    (None where nothing was measured)."""
    cpu: dict[str, list[float]] = {}
    rss: dict[str, list[float]] = {}
    for use in uses:
        for name in (use.queue, ALL):
            cpu.setdefault(name, []).append(use.cpu)
            if use.max_rss_kb is not None:
                rss.setdefault(name, []).append(float(use.max_rss_kb))
    found: dict[str, dict[str, float | None]] = {}
    for name, values in cpu.items():
        values.sort()
        peaks = sorted(rss.get(name, []))
        p50, p95 = percentile(peaks, 50), percentile(peaks, 95)
        found[name] = {
            "cpu_p50": _cpu(percentile(values, 50)),
            "cpu_p95": _cpu(percentile(values, 95)),
            "max_rss_kb_p50": None if p50 is None else round(p50),
            "max_rss_kb_p95": None if p95 is None else round(p95),
        }
    return found


def with_resources(
    figures: dict[str, Any], found: Mapping[str, Mapping[str, float | None]]
) -> dict[str, Any]:
    """``aggregate``'s figures with each group's resource percentiles (``resources``)."""
    figures["total"].update(found.get(ALL, NO_RESOURCES))
    for name, group in figures["queues"].items():
        group.update(found.get(name, NO_RESOURCES))
    return figures


def _cpu(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


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
