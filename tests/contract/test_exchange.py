"""``Backend.exchange``, the verb every worker turn runs, on every engine: the results of
ended attempts and the claims for free slots, in one transaction."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from queuectl.backends import open_backend
from queuectl.backends.results import Exchange
from queuectl.lifecycle import (
    Cancelled,
    Failed,
    Finished,
    Interrupted,
    Policy,
    Succeeded,
    decide,
)
from queuectl.models import JobState
from tests.contract.support import (
    LEASE,
    POLICY,
    add,
    claim,
    in_processes,
    rescue_lost,
    state_of,
)

if TYPE_CHECKING:
    from multiprocessing.queues import Queue
    from multiprocessing.synchronize import Barrier

    from queuectl.backends.base import Backend
    from queuectl.lifecycle import Outcome
    from queuectl.models import Attempt, Job

Connect = Callable[[], "Backend"]
TURN_JOBS = 150
PROCESSES = 3
SLOTS = 2


def result(backend: Backend, job: Job, outcome: Outcome, worker: str | None = None) -> Finished:
    """The result a worker hands to exchange for ``job``, decided now (by its holder)."""
    step = decide(job, outcome, POLICY, backend.now())
    return Finished(job, job.worker if worker is None else worker, step, outcome.name, None, "out")


def snapshot(backend: Backend, *ids: str) -> list[tuple[Job | None, list[Attempt]]]:
    return [(backend.get(i), backend.attempts(i)) for i in ids]


# --- one transaction ------------------------------------------------------------------
def test_a_turn_ends_attempts_and_claims_for_each_free_slot(backend: Backend) -> None:
    add(backend, "a", "b", "c", "d")
    a, b = claim(backend, "s1"), claim(backend, "s2")
    turn = backend.exchange(
        [result(backend, a, Succeeded()), result(backend, b, Failed(4))], ["s1", "s2"], None, LEASE
    )
    assert isinstance(turn, Exchange)
    assert turn.held == [True, True]
    assert sorted((j.id, j.worker) for j in turn.claimed) == [("c", "s1"), ("d", "s2")]
    assert [state_of(backend, i) for i in "abcd"] == ["completed", "failed", *["processing"] * 2]
    assert [(x.outcome, x.log_tail) for x in backend.attempts("a")] == [("succeeded", "out")]
    assert [(x.outcome, x.exit_code) for x in backend.attempts("b")] == [("failed", 4)]
    for job in turn.claimed:
        assert backend.get(job.id) == job
        assert [(x.run, x.worker, x.finished_at) for x in backend.attempts(job.id)] == [
            (1, job.worker, None)
        ]


def test_a_failure_anywhere_in_a_turn_applies_none_of_it(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The turn is made to fail at its first statement, then its second, and so on, until
    it runs through: every failed try left the queue exactly as it was (an engine that
    sends the turn in one round trip included: a failure before its COMMIT is sent)."""
    add(backend, "a", "b", "c", "d")
    a, b = claim(backend), claim(backend)
    results = [result(backend, a, Succeeded()), result(backend, b, Failed(1))]
    before = snapshot(backend, "a", "b", "c", "d")
    run = backend._run  # type: ignore[attr-defined]  # every engine's statements pass here
    failed_at: list[str] = []
    for position in itertools.count():
        monkeypatch.setattr(backend, "_run", _failing_at(run, position))
        try:
            turn = backend.exchange(results, ["w2", "w3"], None, LEASE)
        except _Injected as exc:
            failed_at.append(str(exc))
            assert snapshot(backend, "a", "b", "c", "d") == before, f"failed at {exc}: changed"
            continue
        break
    monkeypatch.undo()
    assert "end_job" in failed_at  # PostgreSQL's also ends the attempt; SQLite's apart
    assert {"claim_any", "claim_plain_any"} & set(failed_at)  # full or plain (no queue rows)
    assert turn.held == [True, True]
    assert sorted(job.id for job in turn.claimed) == ["c", "d"]
    assert [state_of(backend, i) for i in "abcd"] == ["completed", "failed", *["processing"] * 2]


class _Injected(Exception):
    pass


def _failing_at(run: Callable[..., Any], position: int) -> Callable[..., Any]:
    """The statement runner ``run``, failing at its call number ``position`` (0: the first)."""
    calls = itertools.count()

    def failing(conn: Any, name: str, params: Any = None) -> Any:
        if next(calls) == position:
            raise _Injected(name)
        return run(conn, name, params)

    return failing


def test_results_are_written_before_the_same_turn_claims(backend: Backend) -> None:
    """A result that gives its job back (the worker was told to stop now) makes it ready
    for the claims of that very turn, which then start its next run."""
    add(backend, "a")
    job = claim(backend, "s1")
    back = result(backend, job, Interrupted())
    back = back._replace(transition=dataclasses.replace(back.transition, run_at=job.run_at))
    turn = backend.exchange([back], ["s2"], None, LEASE)
    assert turn.held == [True]
    (again,) = turn.claimed
    assert (again.id, again.runs, again.worker, again.attempts) == ("a", 2, "s2", 0)
    assert [(x.run, x.outcome) for x in backend.attempts("a")] == [(1, "interrupted"), (2, None)]


# --- the guard ------------------------------------------------------------------------
def test_a_result_for_a_run_no_longer_held_is_refused_and_changes_nothing(
    backend: Backend,
) -> None:
    """Rescued and run again elsewhere, or named for another worker: such a result is
    False and writes nothing; the rest of the turn still applies."""
    add(backend, "rescued", "mine")
    stale = claim(backend, "s2", lease=0.01)
    mine = claim(backend, "s3")
    assert rescue_lost(backend, Policy(max_backoff=0)) == ["rescued"]
    again = claim(backend, "s9")
    assert (again.id, again.runs) == ("rescued", 2)
    add(backend, "next")
    before = snapshot(backend, "rescued", "mine")

    turn = backend.exchange(
        [
            result(backend, stale, Succeeded()),
            result(backend, mine, Failed(1), worker="intruder"),
            result(backend, stale, Succeeded(), worker="s9"),  # the right worker, an old run
        ],
        ["s1"],
        None,
        LEASE,
    )
    assert turn.held == [False, False, False]
    assert snapshot(backend, "rescued", "mine") == before
    assert [(j.id, j.worker) for j in turn.claimed] == [("next", "s1")]

    assert backend.exchange([result(backend, mine, Succeeded())], [], None, LEASE).held == [True]
    assert state_of(backend, "mine") == "completed"


def test_a_result_for_a_run_cancelled_meanwhile_is_refused_but_ends_its_attempt(
    backend: Backend,
) -> None:
    """Cancel leaves the running attempt open for its worker, which stops the job and
    says how the attempt ended: the job stays cancelled (False), the attempt is closed."""
    add(backend, "a")
    job = claim(backend, "s1")
    assert backend.cancel(["a"]).cancelled == ["a"]
    cancelled = backend.get("a")
    stopped = result(backend, job, Cancelled())
    assert backend.exchange([stopped], [], None, LEASE).held == [False]
    assert backend.get("a") == cancelled
    (attempt,) = backend.attempts("a")
    assert (attempt.outcome, attempt.log_tail) == ("cancelled", "out")
    assert attempt.finished_at is not None
    # once closed, a second write of it changes nothing
    assert backend.exchange([stopped], [], None, LEASE).held == [False]
    assert backend.attempts("a") == [attempt]


def test_a_result_already_written_is_refused_the_second_time(backend: Backend) -> None:
    add(backend, "a")
    job = claim(backend)
    done = result(backend, job, Succeeded())
    assert backend.exchange([done], [], None, LEASE).held == [True]
    after = snapshot(backend, "a")
    assert backend.exchange([done, result(backend, job, Failed(1))], [], None, LEASE).held == [
        False,
        False,
    ]
    assert snapshot(backend, "a") == after


# --- empty claims -----------------------------------------------------------------------
def test_a_claim_with_nothing_ready_takes_nothing(backend: Backend) -> None:
    assert backend.exchange([], ["s1", "s2"], None, LEASE) == Exchange([], [])
    add(backend, "later", delay="1h")
    add(backend, "running")
    running = claim(backend, "s0")
    make = backend.exchange
    assert make([], ["s1", "s2"], None, LEASE) == Exchange([], [])
    assert make([], ["s1"], ["default"], LEASE) == Exchange([], [])
    assert make([], ["s1"], ["nowhere"], LEASE) == Exchange([], [])
    assert state_of(backend, "later") == "pending"
    # with a result: the result is written, the claim still takes nothing
    turn = make([result(backend, running, Succeeded())], ["s0"], None, LEASE)
    assert turn == Exchange([True], [])
    assert state_of(backend, "running") == "completed"


def test_a_turn_with_nothing_to_do_changes_nothing(backend: Backend) -> None:
    add(backend, "a")
    before = snapshot(backend, "a")
    assert backend.exchange([], [], None, LEASE) == Exchange([], [])
    assert backend.exchange([], [], ["default"], LEASE) == Exchange([], [])
    assert snapshot(backend, "a") == before


# --- several claimers -----------------------------------------------------------------
def test_several_claimers_are_served_one_job_each_best_first(backend: Backend) -> None:
    add(backend, "low", priority=-1)
    add(backend, "a1", "a2")
    add(backend, "high", priority=9)
    add(backend, "a3")
    turn = backend.exchange([], ["s1", "s2", "s3"], None, LEASE)
    assert sorted(j.id for j in turn.claimed) == ["a1", "a2", "high"]
    assert sorted(j.worker or "" for j in turn.claimed) == ["s1", "s2", "s3"]
    assert len({j.id for j in turn.claimed}) == 3

    # jobs run short: two of the three claimers are served, each a job of its own
    turn = backend.exchange([], ["s4", "s5", "s6"], None, LEASE)
    assert sorted(j.id for j in turn.claimed) == ["a3", "low"]
    workers = [j.worker for j in turn.claimed]
    assert len(set(workers)) == 2 and set(workers) <= {"s4", "s5", "s6"}
    assert backend.exchange([], ["s7"], None, LEASE).claimed == []


def test_every_claimer_of_a_turn_keeps_to_its_queues(backend: Backend) -> None:
    add(backend, "d1", "d2", priority=9)
    add(backend, "m1", queue="mail")
    add(backend, "s1", queue="sms", priority=1)
    turn = backend.exchange([], ["w1", "w2", "w3"], ["mail", "sms"], LEASE)
    assert sorted(j.id for j in turn.claimed) == ["m1", "s1"]
    assert {j.queue for j in turn.claimed} == {"mail", "sms"}
    assert [state_of(backend, i) for i in ("d1", "d2")] == ["pending", "pending"]
    assert sorted(j.id for j in backend.exchange([], ["w4", "w5"], None, LEASE).claimed) == [
        "d1",
        "d2",
    ]


def test_a_claimed_job_names_its_claimer(backend: Backend) -> None:
    """The worker starts each job in the slot its ``worker`` names; the attempt, the
    worker list and the lease renewal all know the job by that slot."""
    backend.register_workers(["h:1:1", "h:1:2"], "h", 1, None, None)
    add(backend, "a", "b")
    turn = backend.exchange([], ["h:1:1", "h:1:2"], None, 30)
    assert sorted(j.worker or "" for j in turn.claimed) == ["h:1:1", "h:1:2"]
    slot_of = {j.worker: j for j in turn.claimed}
    for slot, job in slot_of.items():
        assert (job.state, job.runs) == (JobState.PROCESSING, 1)
        (attempt,) = backend.attempts(job.id)
        assert attempt.worker == slot
    assert {w.id: w.current_job for w in backend.workers()} == {
        slot: job.id for slot, job in slot_of.items()
    }
    running = [(j.id, j.runs, j.worker or "") for j in turn.claimed]
    assert backend.heartbeat(["h:1:1", "h:1:2"], running, 30).held == {("a", 1), ("b", 1)}
    swapped = [(i, r, "h:1:2" if w == "h:1:1" else "h:1:1") for i, r, w in running]
    assert backend.heartbeat(["h:1:1", "h:1:2"], swapped, 30).held == set()


def test_two_connections_exchanging_turns_take_each_job_once(
    backend: Backend, connect: Connect
) -> None:
    other = connect()
    add(backend, *(f"j{n:02d}" for n in range(25)))
    taken: list[str] = []
    pending: dict[int, list[Finished]] = {0: [], 1: []}
    for turn in range(20):
        who, side = (backend, 0) if turn % 2 else (other, 1)
        slots = [f"c{side}:{n}" for n in range(3)]
        held, claimed = who.exchange(pending[side], slots, None, LEASE)
        assert held == [True] * len(pending[side])
        pending[side] = [result(who, job, Succeeded()) for job in claimed]
        taken += [job.id for job in claimed]
    assert sorted(taken) == [f"j{n:02d}" for n in range(25)]
    assert backend.counts()["completed"] + backend.counts()["processing"] == 25


# --- many processes ---------------------------------------------------------------------
def _work_in_turns(location: str, name: str, start: Barrier, out: Queue[object]) -> None:
    """Child process: a worker of SLOTS slots in turns, each turn writing the results of
    the last one's jobs and claiming for its slots, until a turn takes nothing."""
    try:
        backend = open_backend(location)
        slots = [f"{name}:{n}" for n in range(SLOTS)]
        start.wait(timeout=60)
        claimed: list[str] = []
        results: list[Finished] = []
        while True:
            held, jobs = backend.exchange(results, slots, None, 60)
            if held != [True] * len(results):
                raise AssertionError(f"{name} lost a result of its own: {held}")
            if not jobs:
                break
            assert len({job.worker for job in jobs}) == len(jobs) <= SLOTS
            claimed += [job.id for job in jobs]
            results = [result(backend, job, Succeeded()) for job in jobs]
        backend.close()
        out.put((name, claimed))
    except BaseException as exc:
        out.put((name, exc))
        raise


def test_processes_exchanging_turns_run_every_job_once(backend: Backend, location: str) -> None:
    ids = [f"job-{n:03d}" for n in range(TURN_JOBS)]
    add(backend, *ids)
    taken = in_processes(_work_in_turns, location, [f"p{n}" for n in range(PROCESSES)])
    every = [job_id for ids_of in taken.values() for job_id in ids_of]
    assert sorted(every) == ids, "a job was claimed twice or not at all"
    assert backend.counts()["completed"] == TURN_JOBS
    for job_id in ids:
        (attempt,) = backend.attempts(job_id)
        assert attempt.outcome == "succeeded"
