"""Dependencies (``enqueue --after``): blocked jobs, released or cancelled in the very
transaction that ends their dependency, on every engine."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

from queuectl.errors import InvalidInput
from queuectl.lifecycle import Failed, Succeeded
from tests.contract.support import (
    LEASE,
    POLICY,
    add,
    assert_counts_exact,
    claim,
    end,
    make_completed,
    make_dead,
    rescue_lost,
    run_once,
    spec,
    state_of,
    take,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from threading import Barrier

    from queuectl.backends.base import Backend
    from queuectl.models import Job


def states(backend: Backend, *ids: str) -> list[str | None]:
    return [state_of(backend, job_id) for job_id in ids]


def test_a_dependent_is_blocked_until_its_dependency_completes(backend: Backend) -> None:
    add(backend, "a")
    add(backend, "b", after=["a"])
    assert states(backend, "a", "b") == ["pending", "blocked"]
    assert backend.blocking(["b"]) == {"b": ["a"]}
    job = claim(backend)
    assert job.id == "a"
    assert take(backend, "w2") is None  # b is not claimable while blocked
    assert end(backend, job, Succeeded())
    assert states(backend, "b") == ["pending"]
    assert run_once(backend, "b", Succeeded()).state == "completed"
    assert_counts_exact(backend)


def test_every_dependency_must_complete(backend: Backend) -> None:
    add(backend, "a", "b")
    add(backend, "c", after=["a", "b"])
    run_once(backend, "a", Succeeded())
    assert states(backend, "c") == ["blocked"]
    assert backend.blocking(["c"]) == {"c": ["b"]}
    run_once(backend, "b", Succeeded())
    assert states(backend, "c") == ["pending"]


def test_a_failed_attempt_with_retries_left_does_not_release(backend: Backend) -> None:
    add(backend, "a", max_retries=1)
    add(backend, "b", after=["a"])
    assert run_once(backend, "a", Failed(1)).state == "failed"
    assert states(backend, "b") == ["blocked"]


def test_a_dead_dependency_cancels_its_dependents_transitively(backend: Backend) -> None:
    add(backend, "a", max_retries=0)
    add(backend, "b", after=["a"])
    add(backend, "c", after=["b"])
    add(backend, "d", after=["c"], after_mode="done")
    add(backend, "e", after=["d"])
    assert run_once(backend, "a", Failed(1)).state == "dead"
    assert states(backend, "b", "c", "d", "e") == ["cancelled", "cancelled", "pending", "blocked"]
    b, c = backend.get("b"), backend.get("c")
    assert b is not None and b.last_error == "dependency a ended dead"
    assert c is not None and c.last_error == "dependency b ended cancelled"
    assert_counts_exact(backend)


def test_cancelling_a_dependency_cancels_its_dependents(backend: Backend) -> None:
    add(backend, "a")
    add(backend, "b", after=["a"])
    done = backend.cancel(["a"])
    assert done.cancelled == ["a"]
    assert states(backend, "b") == ["cancelled"]
    b = backend.get("b")
    assert b is not None and b.last_error == "dependency a ended cancelled"


def test_a_blocked_job_can_be_cancelled(backend: Backend) -> None:
    add(backend, "a")
    add(backend, "b", after=["a"])
    add(backend, "c", after=["b"])
    assert backend.cancel(["b"]).cancelled == ["b"]
    assert states(backend, "a", "b", "c") == ["pending", "cancelled", "cancelled"]
    assert_counts_exact(backend)


def test_mode_done_releases_on_any_ending(backend: Backend) -> None:
    add(backend, "a", max_retries=0)
    add(backend, "b", after=["a"], after_mode="done")
    assert run_once(backend, "a", Failed(1)).state == "dead"
    assert states(backend, "b") == ["pending"]
    job = backend.get("b")
    assert job is not None and job.after == ("a",) and job.after_mode == "done"


def test_dependencies_already_ended_at_enqueue(backend: Backend) -> None:
    make_completed(backend, "ok")
    make_dead(backend, "bad")
    add(backend, "x", after=["ok"])
    add(backend, "y", after=["bad"])
    add(backend, "z", after=["bad"], after_mode="done")
    assert states(backend, "x", "y", "z") == ["pending", "cancelled", "pending"]
    y = backend.get("y")
    assert y is not None and y.last_error == "dependency bad ended dead"
    assert_counts_exact(backend)


def test_a_missing_dependency_is_refused_and_nothing_is_written(backend: Backend) -> None:
    add(backend, "a")
    now = backend.now()
    batch = [spec("b", now), spec("c", now, after=["a", "nope"])]
    with pytest.raises(InvalidInput, match="'c' runs after 'nope'"):
        backend.enqueue(batch, 3, now)
    assert states(backend, "b", "c") == [None, None]


def test_a_dependency_must_come_earlier_in_the_batch(backend: Backend) -> None:
    now = backend.now()
    with pytest.raises(InvalidInput, match="'a' runs after 'b'"):
        backend.enqueue([spec("a", now, after=["b"]), spec("b", now)], 3, now)
    assert states(backend, "a", "b") == [None, None]
    backend.enqueue([spec("b", now), spec("a", now, after=["b"])], 3, now)
    assert states(backend, "a", "b") == ["blocked", "pending"]


def test_a_rescued_dependency_releases_or_cancels(backend: Backend) -> None:
    add(backend, "a", max_retries=0)
    add(backend, "b", after=["a"])
    add(backend, "c", after=["a"], after_mode="done")
    backend.exchange([], ["w1"], None, 0.05)  # a lease that runs out: the worker is lost
    assert rescue_lost(backend, POLICY) == ["a"]
    assert states(backend, "a", "b", "c") == ["dead", "cancelled", "pending"]


def test_rerun_with_dependents_blocks_them_again(backend: Backend) -> None:
    make_completed(backend, "ok")
    add(backend, "a", max_retries=0)
    add(backend, "b", after=["a", "ok"])
    add(backend, "c", after=["b"])
    run_once(backend, "a", Failed(1))
    assert states(backend, "b", "c") == ["cancelled", "cancelled"]
    done, refused = backend.rerun(["a"], with_dependents=True)
    assert done == ["a"] and not refused
    assert states(backend, "a", "b", "c") == ["pending", "blocked", "blocked"]
    assert backend.blocking(["b", "c"]) == {"b": ["a"], "c": ["b"]}
    assert_counts_exact(backend)
    run_once(backend, "a", Succeeded())
    assert states(backend, "b", "c") == ["pending", "blocked"]


def test_rerun_without_dependents_leaves_them_cancelled(backend: Backend) -> None:
    add(backend, "a", max_retries=0)
    add(backend, "b", after=["a"])
    run_once(backend, "a", Failed(1))
    backend.rerun(["a"])
    assert states(backend, "a", "b") == ["pending", "cancelled"]


def test_show_lists_dependencies_and_dependents(backend: Backend) -> None:
    add(backend, "a", "b")
    add(backend, "c", after=["a", "b"])
    run_once(backend, "a", Succeeded())
    assert sorted(backend.dependencies("c")) == [
        ("after", "a", "completed"),
        ("after", "b", "pending"),
    ]
    assert backend.dependencies("a") == [("dependent", "c", "blocked")]


def test_a_chain_of_1000_runs_in_order(backend: Backend) -> None:
    n = 1000
    now = backend.now()
    ids = [f"j{i}" for i in range(n)]
    backend.enqueue(
        [spec(ids[0], now)] + [spec(ids[i], now, after=[ids[i - 1]]) for i in range(1, n)], 3, now
    )
    started = time.monotonic()
    order = _drain(backend)
    assert order == ids
    assert time.monotonic() - started < 60


def test_a_fan_in_of_1000_runs_last(backend: Backend) -> None:
    n = 1000
    now = backend.now()
    ids = [f"j{i}" for i in range(n)]
    backend.enqueue([spec(i, now) for i in ids] + [spec("last", now, after=ids)], 3, now)
    assert backend.blocking(["last"])["last"][:2] == ["j0", "j1"]
    order = _drain(backend)
    assert sorted(order[:-1]) == sorted(ids) and order[-1] == "last"


def _drain(backend: Backend) -> list[str]:
    """Run every job as a worker with one slot does (one turn ends a job and claims the
    next), each succeeding: the ids in the order they ran."""
    from queuectl.lifecycle import Finished, decide

    order: list[str] = []
    _, claimed = backend.exchange([], ["w1"], None, LEASE)
    while claimed:
        job = claimed[0]
        order.append(job.id)
        step = decide(job, Succeeded(), POLICY, backend.now())
        _, claimed = backend.exchange(
            [Finished(job, "w1", step, "succeeded", None, None)], ["w1"], None, LEASE
        )
    return order


def test_a_blocked_job_can_be_edited_and_stays_blocked(backend: Backend) -> None:
    from queuectl.jobspec import check_changes

    add(backend, "a")
    add(backend, "b", after=["a"])
    edited = backend.edit("b", check_changes({"priority": 7}, time.time()))
    assert (edited.state, edited.priority) == ("blocked", 7)
    run_once(backend, "a", Succeeded())
    assert states(backend, "b") == ["pending"]


def test_two_dependencies_ending_at_once_release_their_job(
    backend: Backend, connect: Callable[[], Backend]
) -> None:
    """Each round, two connections end one dependency each at the same moment: the job
    is released exactly once, never left blocked (the row lock on PostgreSQL)."""
    import threading

    others = [connect(), connect()]
    for n in range(15):
        left, right, last = f"l{n}", f"r{n}", f"x{n}"
        add(backend, left, right)
        add(backend, last, after=[left, right])
        jobs = [claim(backend, "w1"), claim(backend, "w2")]
        assert {job.id for job in jobs} == {left, right}
        start = threading.Barrier(2)
        held: list[bool] = []
        threads = [
            threading.Thread(target=_end_at_once, args=(others[i], job, start, held))
            for i, job in enumerate(jobs)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert held == [True, True]
        assert states(backend, last) == ["pending"], f"round {n}"
        assert run_once(backend, last, Succeeded()).state == "completed"
    assert_counts_exact(backend)


def test_a_dependent_enqueued_as_its_dependency_ends_is_released(
    backend: Backend, connect: Callable[[], Backend]
) -> None:
    """Each round, one connection ends a job while another enqueues a job after it: the
    dependent is pending afterwards whichever came first, never left blocked (the edge
    marks its dependency, jobs.dependents, and the ending settles a marked job)."""
    import threading

    ender, enqueuer = connect(), connect()
    for n in range(15):
        first, then = f"d{n}", f"t{n}"
        add(backend, first)
        job = claim(backend, "w1")
        start = threading.Barrier(2)
        held: list[bool] = []
        threads = [
            threading.Thread(target=_end_at_once, args=(ender, job, start, held)),
            threading.Thread(target=_enqueue_at_once, args=(enqueuer, then, first, start)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert held == [True]
        assert states(backend, first, then) == ["completed", "pending"], f"round {n}"
        assert run_once(backend, then, Succeeded()).state == "completed"
    assert_counts_exact(backend)


def _enqueue_at_once(backend: Backend, job_id: str, after: str, start: Barrier) -> None:
    start.wait()
    add(backend, job_id, after=[after])


def _end_at_once(backend: Backend, job: Job, start: Barrier, held: list[bool]) -> None:
    """End ``job`` (claimed by its worker) successfully once ``start`` lets every thread go."""
    start.wait()
    held.append(end(backend, job, Succeeded(), worker=job.worker or ""))


def test_a_unique_job_with_dependencies_is_linked_only_when_inserted(backend: Backend) -> None:
    add(backend, "a")
    now = backend.now()
    first = spec("b", now, after=["a"], unique_key="k")
    assert backend.enqueue([first], 3, now) == ["b"]
    again = spec("c", now, after=["a"], unique_key="k", on_duplicate="skip")
    assert backend.enqueue([again], 3, now) == ["b"]  # the holder's id: c is not made
    assert states(backend, "a", "b", "c") == ["pending", "blocked", None]
    assert [(side, job) for side, job, _ in backend.dependencies("a")] == [("dependent", "b")]
