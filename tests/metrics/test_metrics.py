"""/metrics as Prometheus reads it: parsed with prometheus_client's own parser and
compared with what `queuectl status --json` says about the same queue."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from queuectl.api import Queue
from queuectl.lifecycle import Failed, Succeeded, TimedOut
from queuectl.web.metrics import DURATION_BUCKETS, render
from tests.contract.support import add, claim, end, make_completed, make_dead, run_once
from tests.support.cli import cli_json
from tests.support.output import STATES

Samples = dict[str, list[tuple[dict[str, str], float]]]


def scrape(queue: Queue) -> tuple[dict[str, str], Samples]:
    """(metric name → type, sample name → [(labels, value)]) of one render()."""
    body, content_type = render(queue)
    assert content_type.startswith("text/plain")
    types: dict[str, str] = {}
    samples: Samples = defaultdict(list)
    for family in text_string_to_metric_families(body.decode("utf-8")):
        types[family.name] = family.type
        for sample in family.samples:
            samples[sample.name].append((sample.labels, sample.value))
    return types, samples


def busy_queue(queue: Queue) -> None:
    """Jobs in every state, in two queues, and two live workers on another host."""
    backend = queue.backend
    make_completed(backend, "done-1", "done-2")
    make_dead(backend, "dead-1")
    add(backend, "retry", "cancel-me", "pending-1", queue="io")
    job = claim(backend, queues=["io"])
    assert end(backend, job, Failed(1))  # "retry" waits out its backoff: failed
    queue.cancel(["cancel-me"])
    add(backend, "running", "waiting", queue="io", priority=5)
    backend.register_workers(["w-a", "w-b"], "elsewhere", 4242, None, None)
    claim(backend, "w-a", queues=["io"])
    add(backend, "later", delay="1h")


def test_jobs_gauge_totals_equal_status_json(queue: Queue, location: str, home: Path) -> None:
    busy_queue(queue)
    status = cli_json(home, "--db", location, "status", "--json")
    types, samples = scrape(queue)
    assert types["queuectl_jobs"] == "gauge"

    totals: dict[str, float] = defaultdict(float)
    seen: dict[str, set[str]] = defaultdict(set)
    for labels, value in samples["queuectl_jobs"]:
        totals[labels["state"]] += value
        seen[labels["queue"]].add(labels["state"])
    assert dict(totals) == {state: float(n) for state, n in status["jobs"].items()}
    assert set(seen) == {"default", "io"}
    for states in seen.values():
        assert states == set(STATES)  # every state of every queue, 0 included
    io = {
        labels["state"]: value
        for labels, value in samples["queuectl_jobs"]
        if labels["queue"] == "io"
    }
    assert (io["processing"], io["failed"], io["cancelled"], io["pending"]) == (1, 1, 1, 2)

    assert types["queuectl_workers"] == "gauge"
    assert samples["queuectl_workers"] == [({}, float(len(status["workers"])))]
    assert len(status["workers"]) == 2


def test_an_empty_queue_has_every_state_at_zero(queue: Queue) -> None:
    _, samples = scrape(queue)
    assert {labels["state"]: value for labels, value in samples["queuectl_jobs"]} == dict.fromkeys(
        STATES, 0.0
    )
    assert samples["queuectl_oldest_pending_age_seconds"] == [({}, 0.0)]
    assert samples["queuectl_workers"] == [({}, 0.0)]
    assert "queuectl_attempts_finished_total" not in samples
    assert "queuectl_attempt_duration_seconds_count" not in samples


def three_attempts(queue: Queue) -> None:
    """default: one succeeded, one failed (its job waits for a retry); io: one timed out."""
    backend = queue.backend
    add(backend, "a", "b")
    add(backend, "c", queue="io", max_retries=0)
    run_once(backend, "a", Succeeded())
    run_once(backend, "b", Failed(2))
    run_once(backend, "c", TimedOut(5))


def test_attempt_counter_and_duration_histogram(queue: Queue) -> None:
    three_attempts(queue)
    types, samples = scrape(queue)

    assert types["queuectl_attempts_finished"] == "counter"
    finished = {
        (labels["queue"], labels["outcome"]): value
        for labels, value in samples["queuectl_attempts_finished_total"]
    }
    assert finished == {
        ("default", "succeeded"): 1.0,
        ("default", "failed"): 1.0,
        ("io", "timed_out"): 1.0,
    }

    assert types["queuectl_attempt_duration_seconds"] == "histogram"
    counts = {
        labels["queue"]: value
        for labels, value in samples["queuectl_attempt_duration_seconds_count"]
    }
    assert counts == {"default": 2.0, "io": 1.0}
    buckets: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for labels, value in samples["queuectl_attempt_duration_seconds_bucket"]:
        buckets[labels["queue"]].append((float(labels["le"]), value))
    for name, series in buckets.items():
        bounds = [le for le, _ in series]
        assert bounds == [*map(float, DURATION_BUCKETS), float("inf")]
        values = [n for _, n in series]
        assert values == sorted(values)  # cumulative
        assert values[-1] == counts[name]
    sums = {
        labels["queue"]: value for labels, value in samples["queuectl_attempt_duration_seconds_sum"]
    }
    assert 0 <= sums["default"] < 60


def test_oldest_pending_age(queue: Queue) -> None:
    queue.enqueue("true", id="waiting")
    job = queue.get("waiting")
    before = queue.now() - job.run_at
    _, samples = scrape(queue)
    [(labels, age)] = samples["queuectl_oldest_pending_age_seconds"]
    assert labels == {}
    assert before <= age <= queue.now() - job.run_at


def test_queue_pause_and_limits(queue: Queue) -> None:
    _, samples = scrape(queue)
    assert samples["queuectl_queue_paused"] == [] and samples["queuectl_queue_limit"] == []
    queue.pause(["io"], reason="maintenance")
    queue.set_queue("api", {"concurrency": 3, "rate": (60, 60.0), "timeout": 90.0})
    types, samples = scrape(queue)
    assert types["queuectl_queue_paused"] == types["queuectl_queue_limit"] == "gauge"
    assert sorted(samples["queuectl_queue_paused"], key=lambda s: s[0]["queue"]) == [
        ({"queue": "api"}, 0.0),
        ({"queue": "io"}, 1.0),
    ]
    limits = {s[0]["limit"]: s[1] for s in samples["queuectl_queue_limit"]}
    assert limits == {"concurrency": 3.0, "rate": 1.0, "timeout": 90.0}
    queue.resume(["io"])
    _, samples = scrape(queue)
    assert samples["queuectl_queue_paused"] == [({"queue": "api"}, 0.0)]


def test_counters_and_histogram_stay_as_attempts_are_rolled_up_and_purged(queue: Queue) -> None:
    """No reset: a purge rolls its attempts up first, and /metrics reads the rollups."""
    backend = queue.backend
    three_attempts(queue)
    attempts = (
        "queuectl_attempts_finished_total",
        "queuectl_attempt_duration_seconds_bucket",
        "queuectl_attempt_duration_seconds_count",
    )

    def series() -> dict[str, list[tuple[dict[str, str], float]]]:
        _, samples = scrape(queue)
        return {name: sorted(samples[name], key=repr) for name in attempts}

    before = series()
    assert backend.roll_up(backend.now() + 1, 100) == 3
    assert series() == before
    assert queue.purge(["completed", "dead"], backend.now() + 1) == {"completed": 1, "dead": 1}
    assert series() == before
    _, samples = scrape(queue)
    assert {s[0]["state"]: s[1] for s in samples["queuectl_jobs"] if s[1]} == {"failed": 1}
