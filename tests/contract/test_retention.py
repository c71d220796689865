"""Retention on every engine: finished attempts rolled up (the figures stay the same), and
purges that delete ended jobs with their attempts but never a job still wanted."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from queuectl.errors import Conflict
from queuectl.lifecycle import Failed, Finished, Policy, Succeeded, decide
from queuectl.models import STATES
from queuectl.stats import aggregate, minute_of
from queuectl.web.metrics import DURATION_BUCKETS
from tests.contract.support import (
    LEASE,
    add,
    claim,
    end,
    finish_some,
    make_completed,
    make_dead,
    run_once,
    state_of,
    take,
    write_end,
)

if TYPE_CHECKING:
    from queuectl.backends.base import Backend

Connect = Callable[[], "Backend"]
LATER = 1e12  # an instant after everything: roll up or purge all there is


def figures(backend: Backend, now: float) -> dict[str, Any]:
    """Every figure the faces read, at a fixed ``now``: stats of all time and of a window,
    the counter and the histogram of /metrics, the dashboard's timeline."""
    start = minute_of(now) - 600
    return {
        "stats": aggregate(backend.finished_attempts(None), None, now),
        "window": aggregate(backend.finished_attempts(start), start, now),
        "outcomes": sorted((q, o, n) for q, o, n, _ in backend.attempt_outcomes()),
        "seconds": sorted(round(s, 9) for _, _, _, s in backend.attempt_outcomes()),
        "histogram": sorted(
            (q, s, n) for q, s, n, _ in backend.attempt_durations(DURATION_BUCKETS)
        ),
        "timeline": sorted(backend.attempt_timeline(start, 60.0)),
    }


def rolled(backend: Backend) -> int:
    """Attempts the figures read from the rollups."""
    return sum(r.attempts for r in backend.finished_attempts(None) if r.duration is not None)


# --- rolling up -------------------------------------------------------------------------
def test_rolled_up_attempts_give_the_same_figures(backend: Backend) -> None:
    finish_some(backend)
    now = backend.now() + 1
    before = figures(backend, now)
    assert rolled(backend) == 0
    assert backend.roll_up(LATER, 1000) == 4
    assert rolled(backend) == 4
    assert figures(backend, now) == before
    assert backend.roll_up(LATER, 1000) == 0, "nothing is rolled up twice"
    assert len(backend.attempts("b")) == 1, "rolling up deletes nothing"


def test_a_roll_up_takes_the_oldest_first_within_its_limit_and_before_its_instant(
    backend: Backend,
) -> None:
    make_completed(backend, "j1", "j2", "j3")
    (first,), (last,) = backend.attempts("j1"), backend.attempts("j3")
    assert first.finished_at is not None
    assert backend.roll_up(first.finished_at, 1000) == 0, "none ended before it"
    assert backend.roll_up(LATER, 2) == 2
    assert rolled(backend) == 2
    one_by_one = [r for r in backend.finished_attempts(None) if r.duration is None]
    assert [r.finished_at for r in one_by_one] == [last.finished_at], "j3 is left"
    assert backend.roll_up(LATER, 2) == 1


def test_attempts_that_ended_at_one_instant_are_rolled_up_together(backend: Backend) -> None:
    add(backend, "x", "y", "z")
    _, jobs = backend.exchange([], ["w1", "w2", "w3"], None, LEASE)
    assert len(jobs) == 3
    now = backend.now()
    ends = [
        Finished(job, job.worker, decide(job, Succeeded(), Policy(), now), "succeeded")
        for job in jobs
    ]
    assert backend.exchange(ends, [], None, LEASE).held == [True] * 3
    instants = {a.finished_at for job in jobs for a in backend.attempts(job.id)}
    taken = backend.roll_up(LATER, 1)
    assert taken == (3 if len(instants) == 1 else 1)  # one instant: never split
    assert rolled(backend) == taken


def test_a_roll_up_overtaken_by_another_write_gives_up(
    backend: Backend, connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its attempts are read before its transaction: a purge (or another roll-up) that
    commits in between wins, and nothing is summed up twice."""
    make_completed(backend, "p", "q")
    other = connect()
    read = backend._rows  # type: ignore[attr-defined]

    def purge_meanwhile(name: str, params: Any = None) -> Any:
        rows = read(name, params)
        if name == "attempts_ended_between":
            assert other.purge_batch("completed", LATER, None, 1) == ["p"]
        return rows

    monkeypatch.setattr(backend, "_rows", purge_meanwhile)
    assert backend.roll_up(LATER, 1000) == 0
    monkeypatch.undo()
    assert backend.roll_up(LATER, 1000) == 1  # q; p was rolled up by its purge
    assert sum(r.attempts for r in backend.finished_attempts(None)) == 2


# --- purging ----------------------------------------------------------------------------
def test_a_purge_deletes_the_oldest_ended_jobs_and_the_figures_stay(backend: Backend) -> None:
    finish_some(backend)
    make_completed(backend, "e")
    now = backend.now() + 1
    before = figures(backend, now)
    assert backend.purgeable(["completed", "dead"], LATER) == {"completed": 3, "dead": 1}
    assert backend.purge_batch("completed", LATER, None, 1) == ["a"]
    assert backend.purge_batch("completed", LATER, None, 5) == ["c", "e"]
    assert backend.purge_batch("dead", LATER) == ["d"]
    for job in ("a", "c", "d", "e"):
        assert backend.get(job) is None and backend.attempts(job) == []
    assert state_of(backend, "b") == "failed"
    assert figures(backend, now) == before
    assert backend.purgeable(["completed", "cancelled", "dead"], LATER) == dict.fromkeys(
        ["completed", "cancelled", "dead"], 0
    )


def test_a_purge_takes_only_jobs_that_ended_before_its_instant_in_its_queue(
    backend: Backend,
) -> None:
    make_completed(backend, "old")
    old = backend.get("old")
    assert old is not None and old.finished_at is not None
    add(backend, "io-job", queue="io")
    run_once(backend, "io-job", Succeeded())
    assert backend.purge_batch("completed", old.finished_at) == []
    assert backend.purge_batch("completed", LATER, "nope") == []
    assert backend.purgeable(["completed"], LATER, "io") == {"completed": 1}
    assert backend.purge_batch("completed", LATER, "io") == ["io-job"]
    assert state_of(backend, "old") == "completed"


def test_a_purge_never_takes_a_job_that_has_not_ended(backend: Backend) -> None:
    add(backend, "done", "busy")
    add(backend, "scheduled", delay="1h")
    add(backend, "retrying", "waiting")
    run_once(backend, "done", Succeeded())
    claim(backend)  # busy: processing
    job = claim(backend)
    assert end(backend, job, Failed(1))  # retrying: failed, waiting out its backoff
    add(backend, "blocked", after=["waiting"])
    held = {j.id: j.state.value for j in backend.list_jobs()}
    for state in STATES:
        assert backend.purge_batch(state, LATER) == (["done"] if state == "completed" else [])
    del held["done"]
    assert {j.id: j.state.value for j in backend.list_jobs()} == held
    assert set(held.values()) == {"pending", "processing", "failed", "blocked"}


def test_a_job_that_a_job_still_to_run_depends_on_is_kept(backend: Backend) -> None:
    add(backend, "first", "second")
    add(backend, "then", after=["first", "second"])
    run_once(backend, "first", Succeeded())
    assert state_of(backend, "then") == "blocked"
    assert backend.purgeable(["completed"], LATER) == {"completed": 0}
    assert backend.purge_batch("completed", LATER) == []
    with pytest.raises(Conflict, match="'first' yet"):
        backend.purge(["first"], "completed")
    run_once(backend, "second", Succeeded())
    assert state_of(backend, "then") == "pending"
    assert backend.purge_batch("completed", LATER) == []  # pending: still to run
    run_once(backend, "then", Succeeded())
    assert backend.purge_batch("completed", LATER) == ["first", "second", "then"]
    assert backend.dependencies("then") == []


def test_a_purged_dependency_no_longer_holds_its_dependents_back(backend: Backend) -> None:
    """A dependent cancelled by another dependency, and blocked again by rerun
    --with-dependents after the first was purged, waits only for what is still there."""
    add(backend, "ok", "bad", max_retries=0)
    add(backend, "then", after=["ok", "bad"])
    run_once(backend, "ok", Succeeded())
    run_once(backend, "bad", Failed(1))
    assert state_of(backend, "then") == "cancelled"
    assert backend.purge(["ok"], "completed") == ["ok"]
    assert backend.rerun(["bad"], with_dependents=True).done == ["bad"]
    assert state_of(backend, "then") == "blocked"
    assert backend.blocking(["then"]) == {"then": ["bad"]}
    run_once(backend, "bad", Succeeded())
    assert state_of(backend, "then") == "pending"


def test_a_cancelled_job_whose_worker_is_still_stopping_it_is_kept(backend: Backend) -> None:
    backend.register_workers(["w1"], "host", 1, None, None)
    add(backend, "long")
    job = claim(backend, "w1")
    backend.cancel(["long"])
    assert backend.purge_batch("cancelled", LATER) == []
    assert backend.purgeable(["cancelled"], LATER) == {"cancelled": 0}
    assert not end(backend, job, Failed(-15))  # its result: the job was no longer its
    assert backend.purge_batch("cancelled", LATER) == ["long"]


def test_dlq_purge_by_name_is_all_or_nothing(backend: Backend) -> None:
    make_dead(backend, "d1", "d2")
    add(backend, "after-d2", after=["d2"], after_mode="done")
    assert state_of(backend, "after-d2") == "pending"
    with pytest.raises(Conflict, match="nothing was changed"):
        backend.purge(["d1", "d2"], "dead")
    assert state_of(backend, "d1") == "dead"
    assert backend.purge(None, "dead") == ["d1"]  # every one that may go


def test_the_log_files_of_purged_attempts_are_noted_for_their_host(backend: Backend) -> None:
    add(backend, "loud", "quiet")
    for worker, path in (("host-a:7:1", "/logs/loud.1.log"), ("host-b:8:1", None)):
        job = take(backend, worker)
        assert job is not None
        step = decide(job, Succeeded(), Policy(), backend.now())
        assert write_end(backend, job, worker, step, "succeeded", path)
    assert sorted(backend.purge_batch("completed", LATER)) == ["loud", "quiet"]
    assert backend.take_log_removals("host-b", 10) == []  # its job printed nothing
    assert backend.take_log_removals("host-a", 10) == [("loud", 1)]
    assert backend.take_log_removals("host-a", 10) == [], "each is taken once"


def test_every_purged_attempt_counts_once_when_two_purge_at_once(connect: Connect) -> None:
    first, second = connect(), connect()
    make_completed(first, *(f"j{n}" for n in range(40)))
    first.roll_up(LATER, 10)  # some rolled up already, the rest by the purges
    taken: list[list[str]] = [[], []]

    def purge(backend: Backend, into: list[str]) -> None:
        while batch := backend.purge_batch("completed", LATER, None, 3):
            into += batch

    threads = [threading.Thread(target=purge, args=(b, t)) for b, t in zip(
        (first, second), taken, strict=True)]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(taken[0] + taken[1]) == sorted(f"j{n}" for n in range(40))
    assert sum(r.attempts for r in first.finished_attempts(None)) == 40
    assert [n for *_, n, _ in first.attempt_outcomes()] == [40]
