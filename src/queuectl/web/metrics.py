"""Prometheus text exposition of a queue, read from the database at scrape time.

A custom collector in a registry of its own: nothing is counted in this process, so
every dashboard, on any host, reports the same numbers, and there is no global
registry and no background thread. Every metric is named ``queuectl_*``:

- ``queuectl_jobs{state,queue}`` (gauge): jobs per state and queue; every state of
  every queue, 0 included. Summed over queues they equal ``status --json``'s ``jobs``.
- ``queuectl_attempts_finished_total{queue,outcome}`` (counter): finished attempts,
  those of purged jobs included (rolled up before they were deleted): no reset.
- ``queuectl_attempt_duration_seconds{queue}`` (histogram): how long finished
  attempts took, over the same attempts. Its bounds are duration class edges
  (stats.duration_class), so rolled-up attempts fall in their bucket exactly.
- ``queuectl_oldest_pending_age_seconds`` (gauge): how long the job that has been
  ready to run the longest has waited since its ``run_at``; 0 when none waits.
- ``queuectl_workers`` (gauge): live workers, as ``status`` counts them.
- ``queuectl_queue_paused{queue}`` (gauge): 1 while a queue is paused, 0 for a queue
  with limits that is not; a queue neither paused nor limited has no series.
- ``queuectl_queue_limit{queue,limit}`` (gauge): a queue's limits (``queue set``):
  ``concurrency`` (jobs at once), ``rate`` (starts per second), ``timeout`` (seconds),
  and what each attempt may use: ``mem`` (bytes), ``cpu`` (cores), ``pids``, ``nofile``.
- ``queuectl_attempt_cpu_seconds{queue,quantile}`` and
  ``queuectl_attempt_max_rss_bytes{queue,quantile}`` (gauges): the median (0.5) and
  95th percentile (0.95) of the CPU time (user and system) and peak memory of attempts
  that finished in the last hour (RESOURCE_WINDOW), per queue; a queue without measured
  attempts in that hour has no series.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from queuectl.models import STATES
from queuectl.stats import ALL

if TYPE_CHECKING:
    from collections.abc import Iterator

    from prometheus_client.metrics_core import Metric

    from queuectl.api import Queue

# Seconds, for shell commands: from a quick `true` to an hour-long batch job.
DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600)
DEFAULT_QUEUE = "default"  # always shown, so an empty queue still has a series per state
RESOURCE_WINDOW = 3600.0  # seconds of finished attempts the resource percentiles cover


class QueueCollector:
    """Reads the queue on every ``collect()``: one scrape, a handful of statements."""

    def __init__(self, queue: Queue) -> None:
        self.queue = queue

    def describe(self) -> Iterator[Metric]:
        """The metric names without reading the queue (registering reads nothing)."""
        yield GaugeMetricFamily("queuectl_jobs", "", labels=["state", "queue"])
        yield CounterMetricFamily("queuectl_attempts_finished", "", labels=["queue", "outcome"])
        yield HistogramMetricFamily("queuectl_attempt_duration_seconds", "", labels=["queue"])
        yield GaugeMetricFamily("queuectl_oldest_pending_age_seconds", "")
        yield GaugeMetricFamily("queuectl_workers", "")
        yield GaugeMetricFamily("queuectl_queue_paused", "", labels=["queue"])
        yield GaugeMetricFamily("queuectl_queue_limit", "", labels=["queue", "limit"])
        yield GaugeMetricFamily("queuectl_attempt_cpu_seconds", "", labels=["queue", "quantile"])
        yield GaugeMetricFamily("queuectl_attempt_max_rss_bytes", "", labels=["queue", "quantile"])

    def collect(self) -> Iterator[Metric]:
        queue = self.queue
        jobs = GaugeMetricFamily(
            "queuectl_jobs", "Jobs per state and queue.", labels=["state", "queue"]
        )
        per_queue = queue.counts_by_queue()
        per_queue.setdefault(DEFAULT_QUEUE, dict.fromkeys(STATES, 0))
        for name, counts in sorted(per_queue.items()):
            for state in STATES:
                jobs.add_metric([state, name], counts.get(state, 0))
        yield jobs

        finished = CounterMetricFamily(
            "queuectl_attempts_finished",
            "Finished attempts, purged ones included, per queue and outcome.",
            labels=["queue", "outcome"],
        )
        for name, outcomes in sorted(queue.outcome_counts().items()):
            for outcome, n in sorted(outcomes.items()):
                finished.add_metric([name, outcome], n)
        yield finished

        durations = HistogramMetricFamily(
            "queuectl_attempt_duration_seconds",
            "How long finished attempts took, per queue.",
            labels=["queue"],
        )
        for name, histogram in queue.duration_histogram(DURATION_BUCKETS).items():
            buckets = [(_bound(le), n) for le, n in histogram["buckets"]]
            buckets.append(("+Inf", histogram["count"]))
            durations.add_metric([name], buckets, histogram["sum"])
        yield durations

        age = queue.oldest_pending_age()
        yield GaugeMetricFamily(
            "queuectl_oldest_pending_age_seconds",
            "Seconds the longest-waiting ready job has waited since its run_at (0: none).",
            value=age or 0.0,
        )
        yield GaugeMetricFamily(
            "queuectl_workers", "Live workers, as status shows them.", value=len(queue.workers())
        )
        yield from _queue_metrics(queue)
        yield from _resource_metrics(queue)


def _resource_metrics(queue: Queue) -> Iterator[Metric]:
    """p50/p95 of what the last hour's attempts used, per queue (Queue.resources)."""
    cpu = GaugeMetricFamily(
        "queuectl_attempt_cpu_seconds",
        "CPU seconds (user and system) of attempts that finished in the last hour.",
        labels=["queue", "quantile"],
    )
    rss = GaugeMetricFamily(
        "queuectl_attempt_max_rss_bytes",
        "Peak memory of attempts that finished in the last hour.",
        labels=["queue", "quantile"],
    )
    found = queue.resources(queue.now() - RESOURCE_WINDOW)
    for name, figures in sorted(found.items()):
        if name == ALL:
            continue
        for quantile, key in (("0.5", "50"), ("0.95", "95")):
            if (seconds := figures[f"cpu_p{key}"]) is not None:
                cpu.add_metric([name, quantile], seconds)
            if (kib := figures[f"max_rss_kb_p{key}"]) is not None:
                rss.add_metric([name, quantile], kib * 1024)
    yield cpu
    yield rss


def _queue_metrics(queue: Queue) -> Iterator[Metric]:
    """Pause and limits of every queue that has either (``queue pause``, ``queue set``)."""
    now = queue.now()
    paused = GaugeMetricFamily(
        "queuectl_queue_paused", "1 while the queue is paused.", labels=["queue"]
    )
    limits = GaugeMetricFamily(
        "queuectl_queue_limit",
        "A queue's limits: concurrency (jobs), rate (starts per second), timeout (seconds).",
        labels=["queue", "limit"],
    )
    for row in queue.queue_rows():
        paused.add_metric([row.name], 1.0 if row.paused_at_time(now) else 0.0)
        if row.concurrency is not None:
            limits.add_metric([row.name, "concurrency"], row.concurrency)
        if row.rate_n is not None and row.rate_period:
            limits.add_metric([row.name, "rate"], row.rate_n / row.rate_period)
        if row.timeout is not None:
            limits.add_metric([row.name, "timeout"], row.timeout)
        for key, value in (row.limits or {}).items():
            limits.add_metric([row.name, key], value)
    yield paused
    yield limits


def registry_of(queue: Queue) -> CollectorRegistry:
    """A registry of this queue's metrics alone (nothing of the process or the platform)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(QueueCollector(queue))
    return registry


def render(queue: Queue) -> tuple[bytes, str]:
    """The exposition text of ``queue`` now, and its content type, for a /metrics page."""
    return generate_latest(registry_of(queue)), CONTENT_TYPE_LATEST


def _bound(value: float) -> str:
    """A bucket bound as Prometheus writes it: ``1.0``, ``0.25``."""
    return repr(float(value))
