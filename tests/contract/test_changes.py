"""The operator's changes of queued jobs (``rerun``, ``edit``, ``run_now``) and workers
that leave queues out (``!NAME``): the same on every engine."""

from __future__ import annotations

import selectors
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import pytest

from queuectl.backends import open_backend
from queuectl.errors import Conflict, NotFound
from queuectl.jobspec import check_changes
from queuectl.lifecycle import Cancelled, Failed, Succeeded
from queuectl.models import JobState
from tests.contract.support import (
    add,
    assert_counts_exact,
    claim,
    end,
    in_processes,
    make_completed,
    make_dead,
    run_once,
    server_now,
    state_of,
    take,
)
from tests.support.polling import wait_for

if TYPE_CHECKING:
    from multiprocessing.queues import Queue
    from multiprocessing.synchronize import Barrier

    from queuectl.backends.base import Backend
    from queuectl.models import Job

Connect = Callable[[], "Backend"]


def job_of(backend: Backend, job_id: str) -> Job:
    job = backend.get(job_id)
    assert job is not None, f"no job {job_id}"
    return job


def changes(**given: object) -> dict[str, object]:
    """What Queue.edit hands a backend: every changeable field, None where unchanged."""
    return check_changes(given, time.time())


def refusals(refused: Mapping[str, Exception]) -> dict[str, tuple[str, str]]:
    return {job_id: (type(error).__name__, str(error)) for job_id, error in refused.items()}


# --- rerun ----------------------------------------------------------------------------
def test_rerun_puts_final_jobs_back_with_their_history(backend: Backend) -> None:
    make_completed(backend, "c")
    make_dead(backend, "d")
    add(backend, "x")
    assert backend.cancel(["x"]).cancelled == ["x"]
    before = {job_id: backend.attempts(job_id) for job_id in ("c", "d", "x")}

    done, refused = backend.rerun(["c", "d", "x"])

    assert (done, refused) == (["c", "d", "x"], {})
    for job_id in ("c", "d", "x"):
        job = job_of(backend, job_id)
        assert (job.state, job.attempts, job.worker, job.lease_until) == (
            JobState.PENDING, 0, None, None
        )  # fmt: skip
        assert job.run_at <= server_now(backend)
        assert backend.attempts(job_id) == before[job_id]
    assert_counts_exact(backend)
    # the retry budget starts afresh, and attempts are numbered on
    assert run_once(backend, "c", Failed(1)).state == "failed"
    assert job_of(backend, "c").attempts == 1
    assert [a.run for a in backend.attempts("c")] == [1, 2]
    assert claim(backend).id == "d"


def test_rerun_refuses_jobs_that_are_not_final_and_reruns_the_others(backend: Backend) -> None:
    add(backend, "r", "p")
    assert claim(backend).id == "r"
    make_completed(backend, "c")

    done, refused = backend.rerun(["p", "c", "missing", "r"])

    assert done == ["c"]
    assert refusals(refused) == {
        "p": ("Conflict", "cannot rerun job 'p': it is pending"),
        "missing": ("NotFound", "no job 'missing'"),
        "r": ("Conflict", "cannot rerun job 'r': it is processing"),
    }
    assert [state_of(backend, i) for i in ("p", "c", "r")] == ["pending", "pending", "processing"]


def test_rerun_waits_until_a_job_cancelled_as_it_ran_has_stopped(backend: Backend) -> None:
    backend.register_workers(["w1"], "host-a", 4242, None, None)
    add(backend, "a")
    job = claim(backend, "w1")
    assert backend.cancel(["a"]).cancelled == ["a"]

    done, refused = backend.rerun(["a"])
    assert done == []
    assert isinstance(refused["a"], Conflict)
    assert "still stopping" in str(refused["a"])

    assert end(backend, job, Cancelled(), "w1") is False  # the worker ends its attempt
    assert backend.rerun(["a"]).done == ["a"]
    assert claim(backend).runs == 2


def test_rerun_ends_an_attempt_that_a_vanished_worker_left_open(backend: Backend) -> None:
    add(backend, "a")
    claim(backend, "gone")  # no worker row: its worker is no more
    assert backend.cancel(["a"]).cancelled == ["a"]

    assert backend.rerun(["a"]).done == ["a"]

    (left,) = backend.attempts("a")
    assert (left.run, left.outcome, left.error) == (1, "worker_lost", "worker lost")
    assert left.finished_at is not None
    assert claim(backend).runs == 2


# --- edit -----------------------------------------------------------------------------
def test_edit_changes_a_job_that_has_not_started(backend: Backend) -> None:
    add(backend, "a", delay="1h")
    edited = backend.edit(
        "a",
        changes(
            command=["echo", "new"],
            priority=7,
            queue="io",
            run_at="2001-01-01T00:00:00Z",
            max_retries=9,
            timeout="90s",
        ),
    )
    assert edited == job_of(backend, "a")
    assert (edited.command, edited.priority, edited.queue) == (["echo", "new"], 7, "io")
    assert (edited.max_retries, edited.timeout, edited.state) == (9, 90.0, JobState.PENDING)
    assert edited.run_at == 978307200.0
    assert claim(backend, queues=["io"]).command == ["echo", "new"]


def test_edit_leaves_what_it_does_not_name(backend: Backend) -> None:
    add(backend, "a", command="old", priority=3, queue="io", max_retries=2, timeout=5)
    before = job_of(backend, "a")
    after = backend.edit("a", changes(priority=4))
    assert after.priority == 4
    assert after.updated_at >= before.updated_at
    fields = ("command", "queue", "max_retries", "timeout", "run_at", "attempts", "runs")
    assert [getattr(after, f) for f in fields] == [getattr(before, f) for f in fields]


def test_edit_delay_counts_from_the_queues_clock(backend: Backend) -> None:
    add(backend, "a")
    before = backend.now()
    edited = backend.edit("a", changes(delay="1h"))
    # PostgreSQL's backend.now() estimates the server's clock and errs behind by up to a
    # round trip (PostgresBackend.now_from_server): the upper bound allows for that
    assert before + 3600 <= edited.run_at <= backend.now() + 3600 + 0.5
    assert take(backend) is None


def test_edit_of_a_failed_job_waiting_for_its_retry(backend: Backend) -> None:
    add(backend, "f")
    assert end(backend, claim(backend), Failed(1))
    edited = backend.edit("f", changes(command="fixed", run_at="2001-01-01T00:00:00Z"))
    assert (edited.state, edited.attempts, edited.command) == (JobState.FAILED, 1, "fixed")
    again = claim(backend)
    assert (again.id, again.command, again.runs) == ("f", "fixed", 2)


@pytest.mark.parametrize("state", ["processing", "completed", "dead", "cancelled"])
def test_edit_refuses_a_job_that_runs_or_has_ended(backend: Backend, state: str) -> None:
    add(backend, "a", priority=1, max_retries=0)
    if state == "processing":
        claim(backend)
    elif state == "completed":
        run_once(backend, "a", Succeeded())
    elif state == "dead":
        run_once(backend, "a", Failed(1))
    else:
        backend.cancel(["a"])
    before = job_of(backend, "a")
    with pytest.raises(Conflict, match=f"cannot edit job 'a': it is {state}"):
        backend.edit("a", changes(priority=5))
    assert job_of(backend, "a") == before


def test_edit_of_a_missing_job(backend: Backend) -> None:
    with pytest.raises(NotFound, match="no job 'nope'"):
        backend.edit("nope", changes(priority=5))


def _claim_or_edit(location: str, name: str, start: Barrier, out: Queue[object]) -> None:
    """Child process. The claimer takes jobs in order (a little work between claims); the
    editor edits the command of every job from the last one back, so the two meet."""
    try:
        backend = open_backend(location)
        start.wait(timeout=60)
        done: list[str] = []
        if name == "editor":
            new = changes(command="new")
            for n in reversed(range(RACE)):
                try:
                    done.append(backend.edit(f"r{n:03d}", new).id)
                except Conflict:
                    pass
        else:
            while (job := take(backend, name)) is not None:
                done.append(f"{job.id}={job.command}")
                time.sleep(0.001)
        backend.close()
        out.put((name, done))
    except BaseException as exc:
        out.put((name, exc))
        raise


RACE = 150


def test_an_edit_racing_a_claim_lands_before_it_or_is_refused(
    backend: Backend, location: str
) -> None:
    ids = [f"r{n:03d}" for n in range(RACE)]
    add(backend, *ids, command="old")

    found = in_processes(_claim_or_edit, location, ["claimer", "editor"])

    claimed = dict(entry.split("=", 1) for entry in found["claimer"])
    assert sorted(claimed) == ids, "every job is claimed once"
    stored = {job_id: job_of(backend, job_id).command for job_id in ids}
    assert claimed == stored, "a claim ran the command stored: no edit landed after it"
    assert sorted(found["editor"]) == sorted(i for i in ids if stored[i] == "new")


# --- run-now ----------------------------------------------------------------------------
def test_run_now_makes_a_scheduled_job_due(backend: Backend) -> None:
    add(backend, "later", delay="1h")
    assert take(backend) is None
    before = backend.now()
    assert backend.run_now(["later"]) == (["later"], {})
    assert before <= job_of(backend, "later").run_at <= server_now(backend)
    assert claim(backend).id == "later"


def test_run_now_ends_the_wait_for_a_retry(backend: Backend) -> None:
    add(backend, "f")
    assert end(backend, claim(backend), Failed(1))  # the backoff: 2 s by default
    assert take(backend) is None
    assert backend.run_now(["f"]).done == ["f"]
    again = claim(backend)
    assert (again.id, again.runs, again.attempts) == ("f", 2, 1)


def test_run_now_of_a_job_already_due_keeps_its_place(backend: Backend) -> None:
    add(backend, "a", "b")
    b = job_of(backend, "b")
    assert backend.run_now(["b"]).done == ["b"]
    assert job_of(backend, "b").run_at == b.run_at
    assert [claim(backend).id, claim(backend).id] == ["a", "b"]


def test_run_now_refuses_jobs_that_are_not_waiting(backend: Backend) -> None:
    add(backend, "r")
    claim(backend)
    make_completed(backend, "c")
    add(backend, "later", delay="1h")

    done, refused = backend.run_now(["r", "later", "c", "missing"])

    assert done == ["later"]
    assert refusals(refused) == {
        "r": ("Conflict", "cannot run-now job 'r': it is processing"),
        "c": ("Conflict", "cannot run-now job 'c': it is completed"),
        "missing": ("NotFound", "no job 'missing'"),
    }


# --- wake-ups ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "change",
    [
        lambda b: b.rerun(["c"]),
        lambda b: b.run_now(["later"]),
        lambda b: b.edit("later", changes(run_at="2001-01-01T00:00:00Z")),
    ],
    ids=["rerun", "run_now", "edit"],
)
def test_a_change_wakes_idle_workers(
    backend: Backend, connect: Connect, change: Callable[[Backend], Any]
) -> None:
    make_completed(backend, "c")
    add(backend, "later", delay="1h")
    watcher = connect().watcher()
    assert watcher is not None
    with selectors.DefaultSelector() as selector:
        selector.register(watcher.fileno(), selectors.EVENT_READ)
        while selector.select(0.2):
            watcher.drain()  # what came before the change
        change(backend)
        wait_for(
            lambda: selector.select(0.1) and "jobs" in watcher.drain(),
            timeout=10,
            what="a wake-up",
        )
    watcher.close()


# --- workers that leave queues out (--queue '!NAME') -------------------------------------
def test_claim_of_every_queue_but_the_excluded_ones(backend: Backend) -> None:
    add(backend, "g", queue="gpu", priority=10)
    add(backend, "i", queue="io", priority=5)
    add(backend, "d")
    add(backend, "g2", queue="gpu")

    assert claim(backend, queues=["!gpu"]).id == "i"
    assert claim(backend, queues=["!gpu", "!io"]).id == "d"
    assert take(backend, queues=["!gpu"]) is None
    assert [state_of(backend, i) for i in ("g", "g2")] == ["pending", "pending"]
    assert claim(backend, queues=["!io"]).id == "g"


def test_next_due_of_every_queue_but_the_excluded_ones(backend: Backend) -> None:
    add(backend, "g", queue="gpu", delay="1m")
    add(backend, "d", delay="1h")
    assert backend.next_due(["!gpu"]) == job_of(backend, "d").run_at
    assert backend.next_due(["!io"]) == job_of(backend, "g").run_at
    assert backend.next_due(["!gpu", "!default"]) is None
