"""Queues as objects: pause, concurrency and rate limits, decided by the claim itself."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pytest

from queuectl.backends import open_backend
from queuectl.lifecycle import Succeeded, decide
from queuectl.queues import limiting, pausing, resumed
from tests.contract.support import POLICY, add, claim, end, in_processes, take, write_end
from tests.support.jobs import most_at_once
from tests.support.polling import wait_for

if TYPE_CHECKING:
    from collections.abc import Callable
    from multiprocessing.queues import Queue
    from multiprocessing.synchronize import Barrier

    from queuectl.backends.base import Backend


def test_a_queue_without_a_row_has_no_limits(backend: Backend) -> None:
    add(backend, "a", "b", queue="io")
    assert backend.queue_rows() == []
    assert {claim(backend, "w1").id, claim(backend, "w2").id} == {"a", "b"}


def test_pause_stops_claims_and_resume_restores_them(backend: Backend) -> None:
    add(backend, "slow-1", queue="slow")
    add(backend, "io-1", queue="io")
    assert backend.queue_change(["slow"], pausing(reason="disk full", by="ops")) == ["slow"]
    (row,) = backend.queue_rows()
    assert (row.name, row.paused, row.paused_reason, row.paused_by) == (
        "slow", True, "disk full", "ops",
    )  # fmt: skip
    assert claim(backend).id == "io-1"  # other queues go on
    assert take(backend, "w2") is None
    assert take(backend, "w2", ["slow"]) is None
    assert backend.work_left(["slow"]) is False  # a paused queue holds no burst run
    add(backend, "slow-2", queue="slow")  # enqueue goes on
    backend.queue_change(["slow"], resumed)
    assert backend.queue_rows() == []  # neither paused nor limited: no row
    assert claim(backend, "w2").id == "slow-1"


def test_a_change_made_elsewhere_binds_the_next_claim_of_a_worker_that_saw_no_rows(
    connect: Callable[[], Backend],
) -> None:
    """While no queue has a row, a worker claims with a plainer statement (queries.sql,
    claim_plain_for_worker). A pause or a limit set by another process binds its very
    next claim, which still takes another queue's job in the same call; a resume (the
    row gone) gives the paused queue's jobs back at once."""
    worker, ops = connect(), connect()
    add(ops, "slow-1", "slow-2", queue="slow", priority=5)
    add(ops, "io-1", "io-2", "io-3", queue="io")
    assert claim(worker, "w1").id == "slow-1"
    assert claim(worker, "w2").id == "slow-2"  # no queue has a row: the plain claim
    add(ops, "slow-3", queue="slow", priority=5)
    ops.queue_change(["slow"], pausing())
    assert claim(worker, "w3").id == "io-1"  # not slow-3, which comes first by priority
    ops.queue_change(["io"], limiting({"concurrency": 1}))
    assert take(worker, "w4", ["io"]) is None  # io-1 runs: io is full
    ops.queue_change(["io"], limiting({"concurrency": None}))
    ops.queue_change(["slow"], resumed)
    assert ops.queue_rows() == []
    assert claim(worker, "w5").id == "slow-3"
    assert claim(worker, "w6").id == "io-2"
    assert take(worker, "w7", ["slow"]) is None
    add(ops, "slow-4", queue="slow")
    assert claim(worker, "w8", ["slow"]).id == "slow-4"


def test_a_worker_that_starts_on_a_backlog_claims_with_the_plain_statement_from_its_second_claim(
    connect: Callable[[], Backend], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker starts with the full claim (it has not looked at the queues yet). The
    first claim that takes a job says whether a queue has a row, so a worker that starts
    on a backlog, with no queue paused or limited, makes its next claims with the plain
    statement rather than keep the full one until the queue runs dry."""
    worker, ops = connect(), connect()
    add(ops, "a", "b", "c")
    names: list[str] = []
    for hook in ("_run", "_rows"):  # PostgreSQL sends a claim alone through _rows
        original = getattr(worker, hook)

        def spy(*args: Any, original: Any = original) -> Any:
            names.append(next(a for a in args if isinstance(a, str)))
            return original(*args)

        monkeypatch.setattr(worker, hook, spy)
    assert [claim(worker, w).id for w in ("w1", "w2", "w3")] == ["a", "b", "c"]
    assert [name for name in names if name.startswith("claim")] == [
        "claim_any",
        "claim_plain_any",
        "claim_plain_any",
    ]


def test_running_jobs_finish_in_a_paused_queue(backend: Backend) -> None:
    add(backend, "a", queue="q")
    job = claim(backend)
    backend.queue_change(["q"], pausing())
    assert end(backend, job, Succeeded())
    assert backend.get("a").state == "completed"  # type: ignore[union-attr]


def test_pause_all_pauses_every_known_queue(backend: Backend) -> None:
    add(backend, "a", queue="one")
    add(backend, "b", queue="two")
    assert backend.queue_change(None, pausing()) == ["one", "two"]
    assert take(backend) is None


def test_a_pause_for_a_while_ends_by_itself(backend: Backend) -> None:
    add(backend, "a", queue="q")
    backend.queue_change(["q"], pausing(duration=0.5))
    assert take(backend) is None
    due = backend.next_due(None)
    assert due is not None and due > backend.now()  # the worker sleeps until the pause ends
    job = wait_for(lambda: take(backend), timeout=10, what="the pause to end")
    assert job.id == "a"


def test_concurrency_bounds_running_jobs(backend: Backend) -> None:
    add(backend, *(f"j{n}" for n in range(5)), queue="q")
    add(backend, "other")
    backend.queue_change(["q"], limiting({"concurrency": 2}))
    first, second = claim(backend, "w1", ["q"]), claim(backend, "w2", ["q"])
    assert take(backend, "w3", ["q"]) is None
    assert claim(backend, "w3").id == "other"  # other queues are not held up
    assert end(backend, first, Succeeded(), "w1")
    assert claim(backend, "w1", ["q"]).queue == "q"  # a slot freed: one more starts
    assert take(backend, "w4", ["q"]) is None
    backend.queue_change(["q"], limiting({"concurrency": None}))
    assert claim(backend, "w4", ["q"]).queue == "q"
    assert second.queue == "q"


def test_rate_bucket_refills(backend: Backend) -> None:
    add(backend, *(f"j{n}" for n in range(4)), queue="q")
    add(backend, "other")
    backend.queue_change(["q"], limiting({"rate": (2, 1.0)}))
    first = claim(backend, "w1", ["q"])  # a new rate may start a job at once
    assert take(backend, "w2", ["q"]) is None  # then one start per half second
    assert claim(backend, "w2").id == "other"  # other queues are not held up
    due = backend.next_due(None)
    assert first.started_at is not None
    assert due is not None and abs(due - (first.started_at + 0.5)) < 0.01  # the next token
    second = wait_for(lambda: take(backend, "w2", ["q"]), timeout=10, what="a token")
    assert second.started_at is not None and second.started_at >= first.started_at + 0.5 - 1e-6


def test_queue_timeout_sits_between_the_jobs_and_the_global_one(backend: Backend) -> None:
    add(backend, "own", queue="q", timeout=5)
    add(backend, "none", queue="q")
    backend.queue_change(["q"], limiting({"timeout": 30.0}))
    assert {claim(backend, "w1").timeout, claim(backend, "w2").timeout} == {5.0, 30.0}


def _claim_and_hold(location: str, worker: str, start: Barrier, out: Queue[object]) -> None:
    """Child process: claim jobs of queue q until none is left, holding each a moment;
    report the ids it ran."""
    try:
        backend = open_backend(location)
        start.wait(timeout=60)
        ran: list[str] = []
        deadline = time.monotonic() + 60
        while backend.work_left(["q"]) and time.monotonic() < deadline:
            job = take(backend, worker, ["q"])
            if job is None:
                time.sleep(0.002)
                continue
            time.sleep(0.02)
            step = decide(job, Succeeded(), POLICY, backend.now())
            assert write_end(backend, job, worker, step, "succeeded")
            ran.append(job.id)
        backend.close()
        out.put((worker, ran))
    except BaseException as exc:
        out.put((worker, exc))
        raise


def test_concurrency_is_never_exceeded_by_several_claimers(backend: Backend, location: str) -> None:
    jobs = 40
    add(backend, *(f"j{n:02d}" for n in range(jobs)), queue="q")
    backend.queue_change(["q"], limiting({"concurrency": 3}))
    ran = in_processes(_claim_and_hold, location, [f"w{n}" for n in range(6)])
    assert sorted(i for taken in ran.values() for i in taken) == [f"j{n:02d}" for n in range(jobs)]
    # by the queue's one clock: a claim starts a job, the end of its attempt ends it
    spans = [(j.started_at or 0.0, j.finished_at or 0.0) for j in backend.get_many(sorted(
        i for taken in ran.values() for i in taken))]  # fmt: skip
    most = most_at_once(spans)
    assert most <= 3, f"{most} jobs of a --concurrency 3 queue ran at once"


def test_ready_ahead_counts_what_the_claim_takes_first(backend: Backend) -> None:
    """explain's count of the jobs ahead is the claim's own order and filter: each job has
    exactly as many ahead as claims take before it, and a closed queue's jobs count not."""
    add(backend, "low-1", "low-2", queue="a")
    add(backend, "high", queue="b", priority=5)
    add(backend, "later", queue="a", delay="1h", priority=9)  # not ready: counts not
    add(backend, "held", queue="c", priority=9)
    backend.queue_change(["c"], pausing())
    every = ["a", "b", "c"]
    assert backend.ready_ahead("low-2", every, 1000) == 2
    assert backend.ready_ahead("low-2", ["a"], 1000) == 1  # only the queues named count
    assert backend.ready_ahead("high", every, 1000) == 0
    order = [claim(backend).id for _ in range(3)]
    assert order == ["high", "low-1", "low-2"]


def test_a_queue_s_no_retry_on_codes_join_a_claimed_job_s_own(backend: Backend) -> None:
    backend.queue_change(["strict"], limiting({"no_retry_on": [4, 3]}))
    (row,) = backend.queue_rows()
    assert row.no_retry_on == (3, 4)
    add(backend, "own", queue="strict", no_retry_on=[5])
    add(backend, "other", queue="lax", no_retry_on=[5])
    jobs = {job.id: job for job in (claim(backend, "w1"), claim(backend, "w2"))}
    assert jobs["own"].no_retry_on == {3, 4, 5}
    assert jobs["other"].no_retry_on == {5}
    backend.queue_change(["strict"], limiting({"no_retry_on": []}))
    assert backend.queue_rows() == []  # no codes, nothing else: no row


def test_ready_ahead_stops_counting_past_its_bound(backend: Backend) -> None:
    """explain says "more than N" past the bound: the count reads at most N + 1 jobs,
    from each of the claim order's three ranges (higher priority; due earlier; enqueued
    earlier at the same instant)."""
    add(backend, *[f"hi{i}" for i in range(4)], priority=5)
    add(backend, *[f"same{i}" for i in range(4)])  # one batch: one run_at
    add(backend, "me")
    assert backend.ready_ahead("me", ["default"], 100) == 8
    assert backend.ready_ahead("me", ["default"], 5) == 6
    assert backend.ready_ahead("same2", ["default"], 100) == 6
    assert backend.ready_ahead("same2", ["default"], 3) == 4
