"""The protocol's results carry names (backends.results), on every engine, and still
unpack as the tuples they replaced."""

from __future__ import annotations

from typing import TYPE_CHECKING

from queuectl.backends.results import Beat, DurationBucket, OutcomeCount, TimelineSlot
from queuectl.lifecycle import Failed, Succeeded
from tests.contract.support import add, claim, run_once

if TYPE_CHECKING:
    from queuectl.backends.base import Backend


def test_a_heartbeat_says_what_it_learned_by_name(backend: Backend) -> None:
    backend.register_workers(["w1"], "h", 1, None, None)
    add(backend, "a")
    job = claim(backend, "w1")
    beat = backend.heartbeat(["w1", "gone"], [("a", job.runs, "w1")], 60)
    assert beat == Beat(held={("a", 1)}, stop_requested=False, registered=False, stop_now=False)
    held, stop, present, now = beat
    assert (held, stop, present, now) == ({("a", 1)}, False, False, False)
    assert backend.request_stop() == 1
    assert backend.heartbeat(["w1"], [], 60) == Beat(set(), True, True, False)
    assert backend.request_stop(now=True) == 1
    assert backend.heartbeat(["w1"], [], 60) == Beat(set(), True, True, True)


def test_figures_come_as_named_rows(backend: Backend) -> None:
    start = backend.now() - 60
    add(backend, "ok", "bad")
    add(backend, "other", queue="io")
    run_once(backend, "ok", Succeeded())
    run_once(backend, "bad", Failed(2))
    run_once(backend, "other", Succeeded())

    (slot,) = backend.attempt_timeline(start, 60.0)
    assert isinstance(slot, TimelineSlot)
    assert (slot.slot, slot.succeeded, slot.failed) == (1, 2, 1)

    outcomes = sorted(backend.attempt_outcomes())
    assert all(isinstance(row, OutcomeCount) for row in outcomes)
    assert [(r.queue, r.outcome, r.attempts) for r in outcomes] == [
        ("default", "failed", 1),
        ("default", "succeeded", 1),
        ("io", "succeeded", 1),
    ]
    assert all(0 <= r.seconds < 60 and isinstance(r.seconds, float) for r in outcomes)

    buckets = sorted(backend.attempt_durations([3600.0]), key=lambda r: r.queue)
    assert all(isinstance(row, DurationBucket) for row in buckets)
    assert [(r.queue, r.slot, r.attempts) for r in buckets] == [("default", 0, 2), ("io", 0, 1)]
    assert all(0 <= r.seconds < 60 and isinstance(r.seconds, float) for r in buckets)
