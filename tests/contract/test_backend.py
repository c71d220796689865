"""The Backend protocol's contract, the same for every storage engine."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from queuectl.errors import Conflict, InvalidInput, NotFound, QueuectlError
from queuectl.lifecycle import Failed, Interrupted, Policy, Succeeded, TimedOut, decide
from queuectl.models import STATES, JobState
from tests.contract.support import (
    FIRST,
    POLICY,
    add,
    claim,
    end,
    make_completed,
    make_dead,
    rescue_lost,
    run_once,
    spec,
    state_of,
    take,
    wait_past,
    write_end,
)

if TYPE_CHECKING:
    from queuectl.backends.base import Backend

Connect = Callable[[], "Backend"]


def ids_of(backend: Backend, state: str | None = None, queue: str | None = None) -> list[str]:
    return [job.id for job in backend.list_jobs(None if state is None else [state], queue)]


def drain(backend: Backend, worker: str = "w1", queues: list[str] | None = None) -> list[str]:
    """Claim until nothing is ready; the ids in claim order."""
    taken = []
    while (job := take(backend, worker, queues)) is not None:
        taken.append(job.id)
    return taken


# --- enqueue ------------------------------------------------------------------------
def test_enqueue_stores_every_field(backend: Backend) -> None:
    now = backend.now()
    specs = [
        spec("plain", now),
        spec(
            "full",
            now,
            command=["printf", "%s", "a b"],
            priority=7,
            max_retries=5,
            timeout="90s",
            delay="5m",
            queue="emails",
            cwd="/tmp",
            env={"A": "1", "B": "two"},
            tags=["nightly", "team=a"],
        ),
    ]
    assert backend.enqueue(specs, 3, now) == ["plain", "full"]

    plain = backend.get("plain")
    assert plain is not None
    assert plain.command == "true"
    assert plain.state is JobState.PENDING
    assert (plain.attempts, plain.max_retries, plain.priority, plain.runs) == (0, 3, 0, 0)
    assert (plain.queue, plain.timeout, plain.cwd, plain.env) == ("default", None, None, None)
    assert plain.tags == ()
    assert plain.run_at == plain.created_at == plain.updated_at == pytest.approx(now)
    assert (plain.started_at, plain.finished_at, plain.lease_until) == (None, None, None)
    assert (plain.exit_code, plain.last_error, plain.worker) == (None, None, None)

    full = backend.get("full")
    assert full is not None
    assert full.command == ["printf", "%s", "a b"]
    assert (full.priority, full.max_retries, full.timeout) == (7, 5, 90.0)
    assert full.run_at == pytest.approx(now + 300)
    assert (full.queue, full.cwd, full.env) == ("emails", "/tmp", {"A": "1", "B": "two"})
    assert full.tags == ("nightly", "team=a")


def test_a_batch_of_plain_jobs_keeps_each_ones_command_queue_and_order(backend: Backend) -> None:
    now = backend.now()
    commands: list[str | list[str]] = [
        "echo a,b",
        "printf 'x\x1fy'",
        'echo "ünï" \\',
        ["printf", "%s\n", "a,b", "\x1f"],
        "true",
    ]
    specs = [
        spec(f"p{n}", now, command=c, priority=n, queue=f"q{n % 2}") for n, c in enumerate(commands)
    ]
    assert backend.enqueue(specs, 4, now) == [f"p{n}" for n in range(len(commands))]
    assert ids_of(backend) == [f"p{n}" for n in range(len(commands))]
    for n, command in enumerate(commands):
        job = backend.get(f"p{n}")
        assert job is not None
        assert (job.command, job.priority, job.queue) == (command, n, f"q{n % 2}")
        assert (job.max_retries, job.timeout, job.cwd, job.env, job.tags) == (
            4,
            None,
            None,
            None,
            (),
        )
        assert job.run_at == job.created_at == job.updated_at == pytest.approx(now)
    counts = backend.counts_by_queue()
    assert (counts["q0"]["pending"], counts["q1"]["pending"]) == (3, 2)


def test_get_of_a_missing_job_is_none(backend: Backend) -> None:
    assert backend.get("nope") is None


def test_a_batch_with_an_existing_id_inserts_nothing(backend: Backend) -> None:
    add(backend, "a")
    with pytest.raises(InvalidInput, match="'a'"):
        add(backend, "b", "a", "c")
    assert ids_of(backend) == ["a"]


def test_a_batch_with_a_duplicate_id_inserts_nothing(backend: Backend) -> None:
    with pytest.raises(InvalidInput, match="'x'"):
        add(backend, "w", "x", "y", "x")
    assert ids_of(backend) == []
    assert sum(backend.counts().values()) == 0


def test_a_failed_batch_leaves_the_queue_usable(backend: Backend) -> None:
    add(backend, "a")
    with pytest.raises(InvalidInput):
        add(backend, "a")
    add(backend, "b")
    assert ids_of(backend) == ["a", "b"]


def test_an_empty_batch_inserts_nothing(backend: Backend) -> None:
    assert backend.enqueue([], 3, backend.now()) == []
    assert ids_of(backend) == []


def test_a_large_batch_is_inserted_in_order(backend: Backend) -> None:
    ids = [f"job-{n:05d}" for n in range(3050)]  # not a whole number of SQLite's chunks
    add(backend, *ids)
    assert ids_of(backend) == ids
    with pytest.raises(InvalidInput, match="job-03049"):
        add(backend, "new-1", "job-03049", *(f"new-{n}" for n in range(2, 300)))
    assert backend.get("new-1") is None
    assert backend.get("new-299") is None


def test_another_connection_sees_enqueued_jobs(backend: Backend, connect: Connect) -> None:
    other = connect()
    add(backend, "a")
    assert ids_of(other) == ["a"]


# --- list / counts ------------------------------------------------------------------
def test_list_is_in_enqueue_order(backend: Backend) -> None:
    add(backend, "c", "a")
    add(backend, "b", priority=9)
    add(backend, "0")
    assert ids_of(backend) == ["c", "a", "b", "0"]


def test_list_filters_by_state_queue_and_limit(backend: Backend) -> None:
    add(backend, "d1", "d2")
    add(backend, "m1", "m2", queue="mail")
    make_completed(backend, "done")
    assert ids_of(backend, "pending") == ["d1", "d2", "m1", "m2"]
    assert ids_of(backend, "completed") == ["done"]
    assert ids_of(backend, "dead") == []
    assert ids_of(backend, None, "mail") == ["m1", "m2"]
    assert ids_of(backend, "pending", "default") == ["d1", "d2"]
    assert ids_of(backend, None, "nowhere") == []
    assert [j.id for j in backend.list_jobs(None, None, 3)] == ["d1", "d2", "m1"]
    assert [j.id for j in backend.list_jobs(["pending"], "mail", 1)] == ["m1"]


def test_counts_name_all_six_states(backend: Backend) -> None:
    assert backend.counts() == dict.fromkeys(STATES, 0)
    add(backend, "p1", "p2")
    make_completed(backend, "c")
    make_dead(backend, "d")
    counts = backend.counts()
    assert set(counts) == set(STATES)
    assert counts == {**dict.fromkeys(STATES, 0), "pending": 2, "completed": 1, "dead": 1}


def test_counts_by_queue(backend: Backend) -> None:
    add(backend, "a")
    add(backend, "b", "c", queue="mail")
    by_queue = backend.counts_by_queue()
    assert by_queue["default"]["pending"] == 1
    assert by_queue["mail"]["pending"] == 2
    assert set(by_queue["mail"]) == set(STATES)


def test_counts_stay_exact_through_every_transition(backend: Backend) -> None:
    """Counts may be kept apart from the rows (SQLite: triggers); after every kind of
    write they still equal a count of the rows themselves."""

    def assert_exact() -> None:
        jobs = backend.list_jobs()
        expected = dict.fromkeys(STATES, 0)
        for job in jobs:
            expected[job.state.value] += 1
        assert backend.counts() == expected
        assert sum(sum(c.values()) for c in backend.counts_by_queue().values()) == len(jobs)

    assert_exact()
    add(backend, *(f"p{n}" for n in range(6)))
    add(backend, "m1", "m2", queue="mail")
    with pytest.raises(InvalidInput):
        add(backend, "new", "p0")  # rolled back: counts nothing
    make_completed(backend, "c1", "c2")
    make_dead(backend, "d1", "d2", "d3", "d4")
    assert_exact()
    retrying = claim(backend)  # p0 fails and waits for its retry
    assert end(backend, retrying, Failed(1))
    running = claim(backend)  # p1 stays processing
    lost = claim(backend, "w2", lease=0.01)  # p2: its worker vanishes
    assert (retrying.id, running.id, lost.id) == ("p0", "p1", "p2")
    assert_exact()
    assert rescue_lost(backend) == ["p2"]
    assert_exact()
    assert backend.cancel(["p3", "p0", "p1"]).cancelled == ["p3", "p0", "p1"]
    assert not end(backend, running, Succeeded())  # cancelled meanwhile: no change
    assert_exact()
    assert backend.retry_dead(["d1"]) == ["d1"]
    assert backend.purge(["d2"], "dead") == ["d2"]
    assert_exact()
    assert sorted(backend.retry_dead(None)) == ["d3", "d4"]
    assert sorted(backend.purge(None, "completed")) == ["c1", "c2"]
    assert sorted(backend.purge(None, "cancelled")) == ["p0", "p1", "p3"]
    assert_exact()
    assert backend.counts()["pending"] == len(ids_of(backend, "pending")) > 0


# --- claim (a turn with one free slot: support.take) ----------------------------------
def test_claim_of_an_empty_queue_is_none(backend: Backend) -> None:
    assert take(backend) is None
    assert take(backend, queues=["default"]) is None


def test_claim_takes_the_highest_priority_first(backend: Backend) -> None:
    add(backend, "low", priority=-1)
    add(backend, "zero")
    add(backend, "high", priority=10)
    add(backend, "mid", priority=5)
    assert drain(backend) == ["high", "mid", "zero", "low"]


def test_claim_is_fifo_among_equal_priorities(backend: Backend) -> None:
    add(backend, "a1", "a2", "a3")
    add(backend, "b1", priority=1)
    add(backend, "a4")
    add(backend, "b2", priority=1)
    assert drain(backend) == ["b1", "b2", "a1", "a2", "a3", "a4"]


def test_claim_never_takes_a_job_before_its_run_at(backend: Backend) -> None:
    add(backend, "later", delay="1h", priority=100)
    add(backend, "past", run_at="2001-01-01T00:00:00Z")
    add(backend, "now")
    assert drain(backend) == ["past", "now"]
    assert state_of(backend, "later") == "pending"


def test_claim_takes_a_job_once_its_run_at_passes(backend: Backend) -> None:
    add(backend, "soon", delay="50ms")
    soon = backend.get("soon")
    assert soon is not None
    if backend.now() < soon.run_at:
        assert take(backend) is None
    wait_past(backend, soon.run_at)
    assert claim(backend).id == "soon"


def test_claim_respects_the_queues_filter(backend: Backend) -> None:
    add(backend, "d")
    add(backend, "m", queue="mail")
    add(backend, "s", queue="sms", priority=5)
    assert take(backend, queues=["nowhere"]) is None
    assert claim(backend, queues=["mail"]).id == "m"
    assert take(backend, queues=["mail"]) is None
    assert claim(backend, queues=["mail", "default"]).id == "d"
    assert claim(backend, queues=None).id == "s"


def test_claim_starts_an_attempt_under_a_lease(backend: Backend) -> None:
    add(backend, "a")
    before = backend.now()
    job = claim(backend, "w1", lease=30)
    after = backend.now()
    assert job.id == "a"
    assert job.state is JobState.PROCESSING
    assert job.worker == "w1"
    assert job.runs == 1
    assert job.attempts == 0
    assert job.started_at is not None and before <= job.started_at <= after
    assert job.lease_until is not None and before + 30 <= job.lease_until <= after + 30
    assert backend.get("a") == job

    (attempt,) = backend.attempts("a")
    assert (attempt.job_id, attempt.run, attempt.worker) == ("a", 1, "w1")
    assert attempt.started_at == pytest.approx(job.started_at)
    assert (attempt.finished_at, attempt.outcome, attempt.exit_code) == (None, None, None)


def test_a_claimed_job_is_not_claimed_again(backend: Backend) -> None:
    add(backend, "a")
    claim(backend)
    assert take(backend, "w2") is None


def test_two_connections_never_claim_the_same_job(backend: Backend, connect: Connect) -> None:
    other = connect()
    add(backend, *(f"j{n}" for n in range(20)))
    taken: list[str] = []
    for turn in range(30):
        who = backend if turn % 2 else other
        job = take(who, f"w{turn % 2}")
        if job is not None:
            taken.append(job.id)
    assert sorted(taken) == sorted(f"j{n}" for n in range(20))
    assert len(set(taken)) == 20


# --- finish (a turn with one result: support.write_end) ------------------------------
def test_finish_with_success_stores_the_outcome(backend: Backend) -> None:
    add(backend, "a")
    job = claim(backend)
    step = decide(job, Succeeded(), POLICY, backend.now())
    assert write_end(backend, job, "w1", step, "succeeded", "/logs/a/1.log", "hello\n")
    done = backend.get("a")
    assert done is not None
    assert done.state is JobState.COMPLETED
    assert (done.attempts, done.exit_code, done.last_error) == (1, 0, None)
    assert done.lease_until is None
    assert done.finished_at is not None and job.started_at is not None
    assert done.finished_at >= job.started_at
    (attempt,) = backend.attempts("a")
    assert (attempt.outcome, attempt.exit_code, attempt.error) == ("succeeded", 0, None)
    assert (attempt.log_path, attempt.log_tail) == ("/logs/a/1.log", "hello\n")
    assert attempt.finished_at == pytest.approx(done.finished_at)


def test_finish_with_a_failure_schedules_the_retry(backend: Backend) -> None:
    add(backend, "a")
    job = claim(backend)
    step = decide(job, Failed(3), POLICY, backend.now())
    assert write_end(backend, job, "w1", step, "failed", None, "boom")
    failed = backend.get("a")
    assert failed is not None
    assert failed.state is JobState.FAILED
    assert (failed.attempts, failed.exit_code, failed.last_error) == (1, 3, "exit code 3")
    assert failed.run_at == step.run_at
    assert take(backend) is None  # its backoff (2 s) has not passed
    assert backend.next_due(None) == step.run_at
    (attempt,) = backend.attempts("a")
    assert (attempt.outcome, attempt.exit_code, attempt.error) == ("failed", 3, "exit code 3")
    assert attempt.log_tail == "boom"


def test_a_failed_job_is_claimed_again_after_its_backoff(backend: Backend) -> None:
    add(backend, "a")
    job = claim(backend)
    assert end(backend, job, TimedOut(1.0), policy=Policy(backoff_base=2, max_backoff=0.05))
    again = backend.get("a")
    assert again is not None and again.state is JobState.FAILED
    wait_past(backend, again.run_at)
    second = claim(backend, "w2")
    assert (second.id, second.runs, second.attempts, second.worker) == ("a", 2, 1, "w2")
    assert end(backend, second, Succeeded(), "w2")
    assert [(a.run, a.worker, a.outcome) for a in backend.attempts("a")] == [
        (1, "w1", "timed_out"),
        (2, "w2", "succeeded"),
    ]
    final = backend.get("a")
    assert final is not None and (final.state, final.attempts) == (JobState.COMPLETED, 2)


def test_the_last_failure_sends_the_job_to_the_dead_letters(backend: Backend) -> None:
    add(backend, "a", max_retries=0)
    dead = run_once(backend, "a", Failed(7))
    assert (dead.state, dead.attempts, dead.exit_code) == (JobState.DEAD, 1, 7)
    assert take(backend) is None
    assert backend.next_due(None) is None


def test_an_interrupted_attempt_gives_the_job_back(backend: Backend) -> None:
    add(backend, "a", max_retries=0)
    back = run_once(backend, "a", Interrupted())
    assert (back.state, back.attempts) == (JobState.PENDING, 0)
    again = claim(backend, "w2")
    assert (again.id, again.runs) == ("a", 2)
    assert backend.attempts("a")[0].outcome == "interrupted"


def test_finish_by_the_wrong_worker_changes_nothing_in_the_job(backend: Backend) -> None:
    add(backend, "a")
    job = claim(backend, "w1")
    step = decide(job, Failed(9), POLICY, backend.now())
    assert write_end(backend, job, "intruder", step, "failed", None, "not mine") is False
    assert backend.get("a") == job


def test_finish_by_the_wrong_worker_leaves_the_attempt_running(backend: Backend) -> None:
    add(backend, "a")
    job = claim(backend, "w1")
    attempts = backend.attempts("a")
    step = decide(job, Failed(9), POLICY, backend.now())
    assert write_end(backend, job, "intruder", step, "failed", None, "not mine") is False
    assert backend.attempts("a") == attempts
    # and the rightful worker's outcome is the one recorded
    assert end(backend, job, Succeeded(), "w1")
    assert [a.outcome for a in backend.attempts("a")] == ["succeeded"]


def test_finish_of_a_stale_run_changes_nothing(backend: Backend) -> None:
    add(backend, "a")
    first = claim(backend, "w1", lease=0.01)
    assert rescue_lost(backend, Policy(max_backoff=0)) == ["a"]
    second = claim(backend, "w2")
    assert second.runs == 2
    attempts = backend.attempts("a")

    late = decide(first, Succeeded(), POLICY, backend.now())
    assert write_end(backend, first, "w1", late, "succeeded", None, "late") is False
    assert write_end(backend, first, "w2", late, "succeeded", None, "late") is False
    assert backend.get("a") == second
    assert backend.attempts("a") == attempts

    assert end(backend, second, Succeeded(), "w2")
    assert state_of(backend, "a") == "completed"


def test_finish_after_the_job_was_finished_is_refused(backend: Backend) -> None:
    add(backend, "a")
    job = claim(backend)
    assert end(backend, job, Succeeded())
    done = backend.get("a")
    assert end(backend, job, Failed(1)) is False
    assert backend.get("a") == done


# --- heartbeat -----------------------------------------------------------------------
def test_heartbeat_renews_the_leases_of_held_jobs(backend: Backend) -> None:
    backend.register_workers(["w1", "w2"], "host-a", 4242, None, None)
    add(backend, "a", "b", "c")
    a = claim(backend, "w1", lease=5)
    b = claim(backend, "w2", lease=5)
    assert a.lease_until is not None and b.lease_until is not None
    wait_past(backend, a.lease_until - 5)

    held, stop, present, now = backend.heartbeat(["w1"], [("a", 1, "w1")], 60)
    assert held == {("a", 1)}
    assert (stop, present, now) == (False, True, False)
    renewed, untouched = backend.get("a"), backend.get("b")
    assert renewed is not None and renewed.lease_until is not None
    assert renewed.lease_until > a.lease_until + 50
    assert untouched == b

    beat = backend.heartbeat(["w1", "w2"], [("a", 1, "w1"), ("b", 1, "w2")], 60)
    assert beat.held == {("a", 1), ("b", 1)}
    assert beat.registered


def test_heartbeat_renews_only_the_runs_it_names(backend: Backend) -> None:
    # A claim whose reply was lost is held by the worker's id, but the worker does not
    # know it: it must not be renewed, so that its lease expires and it is rescued.
    backend.register_workers(["w1"], "host-a", 4242, None, None)
    add(backend, "a", "b")
    a = claim(backend, "w1", lease=5)
    lost = claim(backend, "w1", lease=5)
    beat = backend.heartbeat(["w1"], [("a", 1, "w1"), ("b", 2, "w1"), ("b", 1, "w2")], 60)
    assert beat.held == {("a", 1)}
    assert backend.get(lost.id) == lost
    assert a.lease_until is not None


def test_heartbeat_updates_the_worker_rows(backend: Backend) -> None:
    backend.register_workers(["w1"], "host-a", 4242, None, None)
    (before,) = backend.workers()
    wait_past(backend, before.heartbeat_at)
    backend.heartbeat(["w1"], [], 60)
    (after,) = backend.workers()
    assert after.heartbeat_at > before.heartbeat_at


def test_heartbeat_holds_nothing_after_finish(backend: Backend) -> None:
    backend.register_workers(["w1"], "host-a", 4242, None, None)
    add(backend, "a")
    job = claim(backend)
    assert end(backend, job, Succeeded())
    beat = backend.heartbeat(["w1"], [("a", job.runs, job.worker or "")], 60)
    assert (beat.held, beat.stop_requested, beat.registered) == (set(), False, True)


def test_heartbeat_reports_a_stop_request(backend: Backend, connect: Connect) -> None:
    backend.register_workers(["w1", "w2"], "host-a", 4242, None, None)
    assert connect().request_stop() == 2
    beat = backend.heartbeat(["w1"], [], 60)
    assert (beat.stop_requested, beat.stop_now) == (True, False)


def test_heartbeat_reports_a_stop_now_request_until_the_worker_registers_again(
    backend: Backend, connect: Connect
) -> None:
    backend.register_workers(["w1", "w2"], "host-a", 4242, None, None)
    assert connect().request_stop(now=True) == 2
    assert connect().request_stop() == 2, "a graceful request does not take it back"
    for _ in range(2):
        beat = backend.heartbeat(["w1"], [], 60)
        assert (beat.stop_requested, beat.stop_now) == (True, True)
    backend.register_workers(["w1"], "host-a", 4343, None, None)  # a new worker, same id
    beat = backend.heartbeat(["w1"], [], 60)
    assert (beat.stop_requested, beat.stop_now) == (False, False)


def test_heartbeat_of_unregistered_workers_says_so(backend: Backend) -> None:
    backend.register_workers(["w1"], "host-a", 4242, None, None)
    assert backend.heartbeat(["w1"], [], 60)[2] is True
    assert backend.heartbeat(["w1", "ghost"], [], 60)[2] is False
    backend.unregister_workers(["w1"])
    assert backend.heartbeat(["w1"], [], 60)[2] is False


# --- rescue of expired leases ---------------------------------------------------------
def test_rescue_fails_an_expired_attempt_as_worker_lost(backend: Backend) -> None:
    add(backend, "a", max_retries=2)
    claim(backend, "w1", lease=0.01)
    before = backend.now()
    assert rescue_lost(backend) == ["a"]
    lost = backend.get("a")
    assert lost is not None
    assert lost.state is JobState.FAILED
    assert (lost.attempts, lost.last_error, lost.exit_code) == (1, "worker lost", None)
    assert lost.lease_until is None
    assert lost.run_at >= before + 2.0  # the first retry waits 2 s
    (attempt,) = backend.attempts("a")
    assert (attempt.outcome, attempt.error) == ("worker_lost", "worker lost")
    assert attempt.finished_at is not None
    assert backend.rescue_expired(POLICY, 3600) == []  # once only


def test_rescue_of_a_job_out_of_retries_kills_it(backend: Backend) -> None:
    add(backend, "a", max_retries=0)
    claim(backend, "w1", lease=0.01)
    assert rescue_lost(backend) == ["a"]
    dead = backend.get("a")
    assert dead is not None
    assert (dead.state, dead.attempts, dead.last_error) == (JobState.DEAD, 1, "worker lost")


def test_rescue_leaves_live_leases_alone(backend: Backend) -> None:
    add(backend, "a")
    job = claim(backend, "w1", lease=60)
    assert backend.rescue_expired(POLICY, 3600) == []  # watches
    assert backend.rescue_expired(POLICY, 3600) == []  # has not seen it stand for 60 s
    assert backend.get("a") == job


def test_rescue_keeps_workers_that_beat_recently(backend: Backend) -> None:
    backend.register_workers(["w1"], "host-a", 4242, None, None)
    assert backend.rescue_expired(POLICY, 3600) == []
    assert [w.id for w in backend.workers()] == ["w1"]


# Without a timeout these two hang for the backend's whole busy deadline (60 s).
@pytest.mark.timeout(3)
def test_rescue_drops_workers_silent_too_long(backend: Backend) -> None:
    backend.register_workers(["w1"], "host-a", 4242, None, None)
    (worker,) = backend.workers()
    wait_past(backend, worker.heartbeat_at + 0.01)
    assert backend.rescue_expired(POLICY, 0.005) == []
    assert backend.workers() == []


def test_rescue_of_a_lost_job_also_drops_its_silent_worker(backend: Backend) -> None:
    backend.register_workers(["w1"], "host-a", 4242, None, None)
    add(backend, "a")
    claim(backend, "w1", lease=0.01)
    wait_past(backend, backend.workers()[0].heartbeat_at + 0.01)
    assert rescue_lost(backend, stale_after=0.005) == ["a"]
    assert backend.workers() == []
    assert state_of(backend, "a") == "failed"


# --- dead letters --------------------------------------------------------------------
def test_retry_dead_resets_attempts_and_keeps_history(backend: Backend) -> None:
    add(backend, "a", max_retries=1)
    first = claim(backend)
    assert end(backend, first, Failed(1), policy=Policy(max_backoff=0))
    second = claim(backend)
    assert end(backend, second, Failed(2))
    assert state_of(backend, "a") == "dead"

    assert backend.retry_dead(["a"]) == ["a"]
    again = backend.get("a")
    assert again is not None
    assert (again.state, again.attempts, again.worker) == (JobState.PENDING, 0, None)
    assert again.run_at <= backend.now()
    assert [a.run for a in backend.attempts("a")] == [1, 2]

    third = claim(backend)
    assert (third.id, third.runs, third.attempts) == ("a", 3, 0)
    assert [a.run for a in backend.attempts("a")] == [1, 2, 3]


def test_retry_dead_of_every_dead_job(backend: Backend) -> None:
    make_dead(backend, "d1", "d2")
    add(backend, "p")
    assert sorted(backend.retry_dead(None)) == ["d1", "d2"]
    assert ids_of(backend, "pending") == ["d1", "d2", "p"]
    assert backend.retry_dead(None) == []


def test_retry_dead_refuses_a_job_that_is_not_dead(backend: Backend) -> None:
    make_dead(backend, "d")
    add(backend, "p")
    with pytest.raises(Conflict):
        backend.retry_dead(["d", "p"])
    assert (state_of(backend, "d"), state_of(backend, "p")) == ("dead", "pending")


def test_retry_dead_refuses_a_missing_job(backend: Backend) -> None:
    make_dead(backend, "d")
    dead = backend.get("d")
    with pytest.raises(NotFound):
        backend.retry_dead(["d", "missing"])
    assert backend.get("d") == dead


def test_purge_removes_dead_jobs_and_their_attempts(backend: Backend) -> None:
    make_dead(backend, "d1", "d2")
    make_completed(backend, "c")
    assert backend.purge(["d1"], "dead") == ["d1"]
    assert backend.get("d1") is None
    assert backend.attempts("d1") == []
    assert len(backend.attempts("d2")) == 1
    assert sorted(backend.purge(None, "dead")) == ["d2"]
    assert backend.attempts("d2") == []
    assert ids_of(backend) == ["c"]
    assert len(backend.attempts("c")) == 1


def test_purge_refuses_jobs_in_another_state(backend: Backend) -> None:
    make_dead(backend, "d")
    add(backend, "p")
    with pytest.raises(Conflict):
        backend.purge(["d", "p"], "dead")
    with pytest.raises(NotFound):
        backend.purge(["d", "missing"], "dead")
    assert ids_of(backend) == ["d", "p"]
    assert len(backend.attempts("d")) == 1


# --- cancel --------------------------------------------------------------------------
def test_cancel_pending_and_failed_jobs(backend: Backend) -> None:
    add(backend, "p")
    add(backend, "f")
    assert run_once(backend, "p", Interrupted()).state == "pending"
    failed = claim(backend)
    assert failed.id == "f"
    assert end(backend, failed, Failed(1))
    assert backend.cancel(["p", "f"]) == (["p", "f"], {})
    assert (state_of(backend, "p"), state_of(backend, "f")) == ("cancelled", "cancelled")
    assert take(backend) is None
    assert backend.next_due(None) is None


def test_cancel_cancels_what_it_can_and_names_the_rest_with_their_state(
    backend: Backend,
) -> None:
    add(backend, "p", "x", "q")
    make_completed(backend, "c")
    make_dead(backend, "d")
    assert backend.cancel(["x"]).cancelled == ["x"]
    done = backend.cancel(["p", "c", "missing", "x", "d", "q"])
    assert done.cancelled == ["p", "q"]
    assert done.left == {"c": "completed", "missing": None, "x": "cancelled", "d": "dead"}
    states = {job_id: state_of(backend, job_id) for job_id in "pqcdx"}
    assert states == {
        "p": "cancelled",
        "q": "cancelled",
        "c": "completed",
        "d": "dead",
        "x": "cancelled",
    }
    assert isinstance(done.refusal("missing"), NotFound)
    assert isinstance(done.refusal("c"), Conflict)
    assert backend.cancel(["missing"]) == ([], {"missing": None})


def test_cancel_of_a_running_job_stops_its_finish(backend: Backend) -> None:
    add(backend, "a")
    job = claim(backend)
    assert backend.cancel(["a"]).cancelled == ["a"]
    assert state_of(backend, "a") == "cancelled"
    assert end(backend, job, Succeeded()) is False
    assert state_of(backend, "a") == "cancelled"


# --- settings -----------------------------------------------------------------------
def test_settings_start_empty_and_persist(backend: Backend, connect: Connect) -> None:
    assert backend.settings() == {}
    backend.config_set("max_retries", "5")
    backend.config_set("lease", "60")
    backend.config_set("max_retries", "6")
    assert backend.settings() == {"max_retries": "6", "lease": "60"}
    assert connect().settings() == {"max_retries": "6", "lease": "60"}


def test_config_unset(backend: Backend) -> None:
    backend.config_set("lease", "60")
    assert backend.config_unset("lease") is True
    assert backend.config_unset("lease") is False
    assert backend.settings() == {}


def test_reload_settings_sees_another_connection(backend: Backend, connect: Connect) -> None:
    backend.settings()
    connect().config_set("heartbeat", "2")
    assert backend.reload_settings() == {"heartbeat": "2"}
    assert backend.settings() == {"heartbeat": "2"}


def test_enqueue_applies_the_default_max_retries(backend: Backend) -> None:
    now = backend.now()
    backend.enqueue([spec("a", now), spec("b", now, max_retries=1)], 7, now)
    a, b = backend.get("a"), backend.get("b")
    assert a is not None and b is not None
    assert (a.max_retries, b.max_retries) == (7, 1)


# --- workers -------------------------------------------------------------------------
def test_workers_register_show_their_job_and_unregister(backend: Backend) -> None:
    assert backend.workers() == []
    backend.register_workers(["w1", "w2"], "host-a", 4242, "boot-1", ["mail", "sms"])
    backend.register_workers(["w3"], "host-b", 7, None, None)
    workers = {w.id: w for w in backend.workers()}
    assert set(workers) == {"w1", "w2", "w3"}
    w1 = workers["w1"]
    assert (w1.host, w1.pid, w1.pid_start, w1.queues) == ("host-a", 4242, "boot-1", ["mail", "sms"])
    assert (w1.current_job, w1.stop_requested) == (None, False)
    assert workers["w3"].queues is None

    add(backend, "a", queue="mail")
    job = claim(backend, "w1", queues=["mail"])
    workers = {w.id: w for w in backend.workers()}
    assert workers["w1"].current_job == "a"
    assert workers["w1"].job_started_at == pytest.approx(job.started_at)
    assert workers["w2"].current_job is None

    backend.unregister_workers(["w1", "w3"])
    assert [w.id for w in backend.workers()] == ["w2"]


def test_request_stop_flags_every_worker(backend: Backend) -> None:
    assert backend.request_stop() == 0
    backend.register_workers(["w1", "w2"], "host-a", 4242, None, None)
    assert backend.request_stop() == 2
    assert all(w.stop_requested for w in backend.workers())


# --- next_due, work_left -----------------------------------------------------------------
def test_next_due(backend: Backend) -> None:
    assert backend.next_due(None) is None
    add(backend, "later", delay="1h")
    add(backend, "soon", delay="1m", queue="mail")
    later, soon = backend.get("later"), backend.get("soon")
    assert later is not None and soon is not None
    assert backend.next_due(None) == soon.run_at
    assert backend.next_due(["default"]) == later.run_at
    assert backend.next_due(["mail", "default"]) == soon.run_at
    assert backend.next_due(["nowhere"]) is None


def test_next_due_ignores_running_and_finished_jobs(backend: Backend) -> None:
    add(backend, "run")
    claim(backend)
    make_completed(backend, "done")
    make_dead(backend, "dead")
    assert backend.next_due(None) is None


def test_work_left_is_a_job_ready_now_or_a_failed_job_waiting_for_its_retry(
    backend: Backend,
) -> None:
    """What holds a burst run: a job scheduled for later does not, a retry does."""
    add(backend, "later", delay="1h")
    add(backend, "run", priority=FIRST)
    claim(backend)
    make_completed(backend, "done")
    make_dead(backend, "dead")
    assert not backend.work_left(None)
    add(backend, "ready", queue="mail")
    assert backend.work_left(None) and backend.work_left(["mail"])
    assert not backend.work_left(["default", "io"])
    assert backend.work_left(["!default"]) and not backend.work_left(["!mail"])
    assert run_once(backend, "ready", Failed(1)).state == "failed"  # retried in 2 s
    assert backend.work_left(["mail"]) and backend.work_left(None)
    assert backend.work_left(["!default", "!io"]) and not backend.work_left(["!mail"])
    assert not backend.work_left(["default"])


# --- get_many ---------------------------------------------------------------------------
def test_get_many_returns_the_jobs_that_exist(backend: Backend) -> None:
    add(backend, "a", "b", "c")
    found = backend.get_many(["c", "a", "missing", "a"])
    assert sorted(job.id for job in found) == ["a", "c"]
    assert {job.id: job for job in found}["a"] == backend.get("a")
    assert backend.get_many([]) == []
    many = [f"j{n}" for n in range(1200)]  # more than one read's worth of ids
    add(backend, *many)
    assert len(backend.get_many(many)) == 1200


# --- errors ------------------------------------------------------------------------
def test_errors_are_queuectl_errors() -> None:
    for kind in (InvalidInput, NotFound, Conflict):
        assert issubclass(kind, QueuectlError)
