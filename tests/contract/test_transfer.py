"""Export and import at the storage protocol, on every engine: pages of jobs in enqueue
order from one snapshot, their attempts, and an import that restores jobs as they were
(states, counters, attempts, dependencies), all or nothing."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest

from queuectl.backends import open_backend
from queuectl.errors import Conflict, InvalidInput
from queuectl.jobfile import check_line, line_of, new_job
from queuectl.lifecycle import Failed, Succeeded
from queuectl.models import JobState
from tests.contract.support import (
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
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from queuectl.backends.base import Backend
    from queuectl.models import Attempt, Job


@pytest.fixture
def other(location: str, tmp_path: Path) -> Iterator[Backend]:
    """A second, empty queue of the same engine (another file, or another schema)."""
    if location.startswith("postgresql://"):
        where = f"{location}?schema=other_{uuid.uuid4().hex[:8]}"
    else:
        where = str(tmp_path / "home" / "other.db")
    backend = open_backend(where)
    yield backend
    backend.close()


def everything(backend: Backend) -> list[tuple[Job, list[Attempt]]]:
    """Every job of the queue in enqueue order, as an export reads it: with the
    dependencies that still hold it and its attempts."""
    with backend.snapshot():
        jobs, _ = backend.job_page(0, 10_000)
        tried = backend.attempts_of_jobs([job.id for job in jobs])
        held = backend.blocking([job.id for job in jobs])
    return [(_with_blockers(job, held), tried.get(job.id, [])) for job in jobs]


def _with_blockers(job: Job, held: dict[str, list[str]]) -> Job:
    from dataclasses import replace

    return replace(job, blocked_by=tuple(held.get(job.id, ())))


def moved(source: Backend, target: Backend, skip: bool = False) -> None:
    """Every job of ``source`` into ``target`` through its lines, as export | import does."""
    lines = [check_line(line_of(job, tried, True), 0) for job, tried in everything(source)]
    records = [(line.job, line.attempts) for line in lines if line.job is not None]
    target.import_jobs([records], [], skip)


def a_varied_queue(backend: Backend) -> None:
    """Jobs in every state: completed, dead, failed and waiting, pending later, blocked,
    cancelled by a dependency, processing; with tags, env, clean_env, keys and argv
    commands."""
    make_completed(backend, "done")
    make_dead(backend, "gone")
    add(backend, "retry", max_retries=3, tags=["t"], env={"TOKEN": "s3cr3t"}, clean_env=True)
    run_once(backend, "retry", Failed(2))
    add(
        backend,
        "later",
        delay=3600,
        unique_key="report",
        command=["printf", "%s\n", "a b"],
        clean_env=True,
    )
    add(backend, "chain", after=["done", "later"])  # blocked by later
    add(backend, "victim", after=["gone"])  # cancelled: its dependency ended dead
    add(backend, "running", priority=100)
    claim(backend, "w9")


def shown(backend: Backend) -> list[tuple[dict[str, object], list[dict[str, object]], object]]:
    """What `show --json` shows of every job: the job, its attempts and its edges."""
    return [
        (job.to_dict(), [a.to_dict() | {"tail": a.log_tail} for a in tried],
         sorted(backend.dependencies(job.id)))
        for job, tried in everything(backend)
    ]  # fmt: skip


# --- pages -----------------------------------------------------------------------------
def test_pages_walk_the_jobs_in_enqueue_order_and_filter_them(backend: Backend) -> None:
    add(backend, *[f"j{n}" for n in range(7)])
    add(backend, "io1", "io2", queue="io")
    seen, after = [], 0
    while True:
        jobs, after = backend.job_page(after, 3)
        if not jobs:
            break
        seen += [job.id for job in jobs]
    assert seen == [f"j{n}" for n in range(7)] + ["io1", "io2"]
    assert backend.job_page(after, 10) == ([], after), "nothing after the last: the same place"
    assert [j.id for j in backend.job_page(0, 10, queue="io").jobs] == ["io1", "io2"]
    make_completed(backend, "c")
    assert [j.id for j in backend.job_page(0, 10, ["completed"]).jobs] == ["c"]


def test_attempts_of_jobs_come_per_job_oldest_first(backend: Backend) -> None:
    add(backend, "a", "b", "c", max_retries=3)
    run_once(backend, "a", Failed(1))
    run_once(backend, "b", Succeeded())
    found = backend.attempts_of_jobs(["a", "b", "c"])
    assert sorted(found) == ["a", "b"]
    assert [t.run for t in found["a"]] == [1] and found["b"][0].outcome == "succeeded"


def test_reads_in_a_snapshot_see_the_queue_as_of_the_first(
    backend: Backend, connect: object
) -> None:
    add(backend, "a", "b")
    writer = connect()  # type: ignore[operator]
    with backend.snapshot():
        first = backend.job_page(0, 1)
        add(writer, "c")
        run_once(writer, "a", Succeeded())
        rest = backend.job_page(first.last, 10)
        assert [j.id for j in rest.jobs] == ["b"], "c came after the snapshot"
        assert backend.attempts_of_jobs(["a"]) == {}, "a ran after the snapshot"
    assert [j.id for j in backend.job_page(0, 10).jobs] == ["a", "b", "c"]


# --- import ---------------------------------------------------------------------------
def test_an_import_restores_every_job_as_it_was(backend: Backend, other: Backend) -> None:
    a_varied_queue(backend)
    assert [state_of(backend, i) for i in ("chain", "victim", "running")] == [
        "blocked",
        "cancelled",
        "processing",
    ]
    moved(backend, other)
    assert shown(other) == shown(backend)
    assert other.counts() == backend.counts()
    assert_counts_exact(other)
    restored = other.get("retry")
    assert restored is not None and restored.env == {"TOKEN": "s3cr3t"} and restored.clean_env
    assert [job.id for job, _ in everything(other) if job.clean_env] == ["retry", "later"]


def test_restored_jobs_go_on_in_their_new_queue(backend: Backend, other: Backend) -> None:
    a_varied_queue(backend)
    moved(backend, other)
    # the unique key is held in the new queue as in the old
    with pytest.raises(Conflict):
        add(other, "second", unique_key="report")
    # the blocked job is released when its dependency completes there
    other.run_now(["later"])
    assert run_once(other, "later", Succeeded()).state == "completed"
    assert state_of(other, "chain") == "pending"
    # the running job's worker is not there: it is rescued as lost after a lease (the
    # queue's: an import keeps no lease length), and its next attempt is numbered on
    other.config_set("heartbeat", "1")
    other.config_set("lease", "3")
    assert rescue_lost(other, timeout=20) == ["running"]
    job = other.get("running")
    assert job is not None and job.state is JobState.FAILED and job.runs == 1
    other.run_now(["running"])
    assert run_once(other, "running", Succeeded()).runs == 2
    assert_counts_exact(other)


def test_a_line_without_history_is_a_new_job_settled_by_what_has_ended(
    backend: Backend, other: Backend
) -> None:
    make_completed(other, "ok")
    make_dead(other, "bad")
    now = other.now()
    jobs = [
        new_job(spec("fine", now, after=["ok"]), now, 3),
        new_job(spec("doomed", now, after=["bad"]), now, 3),
        new_job(spec("next", now, after=["fine"]), now, 3),
    ]
    done = other.import_jobs([[(job, []) for job in jobs]], ["bad", "ok"], False)
    assert done == (3, 0, 0)
    assert [state_of(other, i) for i in ("fine", "doomed", "next")] == [
        "pending",
        "cancelled",
        "blocked",
    ]
    assert_counts_exact(other)


def test_an_import_is_all_or_nothing(backend: Backend, other: Backend) -> None:
    a_varied_queue(backend)
    add(other, "done")  # an id of the file, in the queue already
    with pytest.raises(InvalidInput, match="'done' is in the queue already"):
        moved(backend, other)
    assert [j.id for j in other.job_page(0, 100).jobs] == ["done"]
    assert_counts_exact(other)

    moved(backend, other, skip=True)
    assert other.get("done") is not None and state_of(other, "done") == "pending"
    assert state_of(other, "gone") == "dead"
    assert_counts_exact(other)


def test_an_active_job_whose_unique_key_is_held_is_refused(
    backend: Backend, other: Backend
) -> None:
    add(backend, "mine", unique_key="k")
    add(other, "theirs", unique_key="k")
    with pytest.raises(Conflict, match="'theirs' holds"):
        moved(backend, other)
    assert other.get("mine") is None


def test_a_dependency_that_still_holds_a_job_must_be_there(
    backend: Backend, other: Backend
) -> None:
    now = other.now()
    job = new_job(spec("b", now, after=["a"]), now, 3)
    with pytest.raises(InvalidInput, match="'a', which is neither in the queue"):
        other.import_jobs([[(job, [])]], ["a"], False)
    assert other.get("b") is None


# --- rescues tell what they ended ---------------------------------------------------------
def test_a_rescue_returns_each_ending_for_the_rescuers_hooks(backend: Backend) -> None:
    add(backend, "a", max_retries=0)
    job = claim(backend, "w1", lease=0.01)
    rescued = rescue_lost(backend)
    assert rescued == ["a"]
    (ended,) = rescued.ended  # type: ignore[attr-defined]
    assert (ended.job.id, ended.job.runs, ended.worker) == ("a", job.runs, "w1")
    assert (ended.outcome, ended.transition.state) == ("worker_lost", JobState.DEAD)
    assert backend.rescue_expired(POLICY, 3600).ended == []
    assert end(backend, job, Succeeded()) is False  # the worker's late result is refused
