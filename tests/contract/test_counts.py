"""The counts kept per queue and state (migrations sqlite 0017, postgres 0016) through
every way a job comes, changes or goes; the lists that SQLite reaches by the index the
counts choose; the oldest ready job of a queue with several priorities."""

from __future__ import annotations

import pytest

from queuectl.backends.base import Backend
from queuectl.lifecycle import Failed, Succeeded
from tests.contract.support import add, assert_counts_exact, claim, make_dead, run_once


def test_counts_follow_enqueues_claims_ends_cancels_and_purges(backend: Backend) -> None:
    add(backend, "a", "b", "c")
    add(backend, "m1", "m2", queue="mail")
    assert_counts_exact(backend)
    run_once(backend, "a", Succeeded())
    run_once(backend, "b", Failed(1))
    claim(backend, queues=["mail"])
    assert_counts_exact(backend)
    backend.cancel(["c"])
    make_dead(backend, "d")
    assert_counts_exact(backend)
    assert backend.purge(["d"], "dead") == ["d"]
    assert backend.purge(["a"], "completed") == ["a"]
    assert_counts_exact(backend)
    assert backend.counts_by_queue()["mail"] == {
        **dict.fromkeys(backend.counts(), 0),
        "pending": 1,
        "processing": 1,
    }


def test_a_queue_whose_jobs_are_all_gone_has_no_counts(backend: Backend) -> None:
    make_dead(backend, "x")
    backend.retry_dead(["x"])
    add(backend, "solo", queue="once")
    backend.cancel(["solo"])
    assert backend.purge(["solo"], "cancelled") == ["solo"]
    assert "once" not in backend.counts_by_queue()
    assert_counts_exact(backend)


def test_a_job_moved_to_another_queue_is_counted_there(backend: Backend) -> None:
    import time

    from queuectl.jobspec import check_changes

    add(backend, "j")
    backend.edit("j", check_changes({"queue": "io"}, time.time()))
    assert set(backend.counts_by_queue()) == {"io"}
    assert_counts_exact(backend)


def test_counts_follow_a_schedule_run_and_a_heartbeat(backend: Backend) -> None:
    from queuectl.schedules import make

    backend.schedule_add(make("tick", {"command": "true"}, every="1h", now=backend.now()))
    assert backend.schedule_run_now("tick") is not None
    assert_counts_exact(backend)
    backend.heartbeat(["w1"], [], 30.0)  # folds the changes in (PostgreSQL)
    assert_counts_exact(backend)


def test_every_way_in_lists_the_same_jobs(backend: Backend) -> None:
    """SQLite reads a page by state (few match) or by walking the order's index (many
    match): the jobs and their order are the same either way."""
    add(backend, *[f"p{i}" for i in range(30)], priority=1)
    add(backend, *[f"q{i}" for i in range(30)], queue="io")
    add(backend, "later1", "later2", delay="1h")
    make_dead(backend, "dead1")
    for sort in ("created", "updated", "priority", "run_at"):
        for reverse in (False, True):
            every = backend.list_jobs(["pending"], None, None, sort=sort, reverse=reverse)
            for limit, offset in ((5, 0), (5, 40), (100, 0)):
                page = backend.list_jobs(
                    ["pending"], None, limit, sort=sort, reverse=reverse, offset=offset
                )
                assert [j.id for j in page] == [j.id for j in every[offset : offset + limit]]
    now = backend.now()
    scheduled = backend.list_jobs(["pending"], None, 5, sort="run_at", later=now)
    assert [j.id for j in scheduled] == ["later1", "later2"]
    assert [j.id for j in backend.list_jobs(["dead"], None, 5, sort="updated")] == ["dead1"]


def test_the_oldest_ready_job_of_a_queue_is_found_across_its_priorities(
    backend: Backend,
) -> None:
    add(backend, "low-old", priority=-3, queue="io")
    add(backend, "high-new", priority=9, queue="io")
    add(backend, "mid-later", priority=4, queue="io", delay="1h")
    oldest = backend.get("low-old")
    assert oldest is not None
    assert backend.oldest_ready_by_queue() == {"io": pytest.approx(oldest.run_at)}
