"""Unique jobs (enqueue --unique-key): the database holds a key for one active job, or
for a window after a job was created; a duplicate is refused or answered with the holder."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from queuectl.backends import open_backend
from queuectl.errors import Conflict
from queuectl.lifecycle import Failed, Succeeded
from tests.contract.support import add, claim, end, in_processes, make_dead, run_once, spec

if TYPE_CHECKING:
    from multiprocessing.queues import Queue
    from multiprocessing.synchronize import Barrier

    from queuectl.backends.base import Backend

KEYS = 5
PROCESSES = 8


def test_a_second_active_job_with_the_key_is_refused_naming_the_first(backend: Backend) -> None:
    add(backend, "a", unique_key="nightly")
    with pytest.raises(Conflict, match="unique key 'nightly' is taken: job 'a' is active"):
        add(backend, "b", unique_key="nightly")
    assert backend.get("b") is None


def test_skip_answers_with_the_job_that_holds_the_key(backend: Backend) -> None:
    add(backend, "a", unique_key="k")
    assert add(backend, "b", unique_key="k", on_duplicate="skip") == ["a"]
    assert backend.get("b") is None


@pytest.mark.parametrize("ending", ["completed", "dead"])
def test_a_key_is_free_again_once_its_job_has_ended(backend: Backend, ending: str) -> None:
    add(backend, "a", unique_key="k", max_retries=0)
    run_once(backend, "a", Succeeded() if ending == "completed" else Failed(1))
    assert add(backend, "b", unique_key="k") == ["b"]


def test_failed_and_processing_jobs_hold_their_key(backend: Backend) -> None:
    add(backend, "a", unique_key="k")
    job = claim(backend)
    with pytest.raises(Conflict):
        add(backend, "b", unique_key="k")  # processing
    end(backend, job, Failed(1))
    with pytest.raises(Conflict):
        add(backend, "c", unique_key="k")  # failed, waiting for its retry


def test_a_window_holds_the_key_after_its_job_has_ended(backend: Backend) -> None:
    add(backend, "a", unique_key="k", unique_within="1h")
    run_once(backend, "a", Succeeded())
    with pytest.raises(Conflict, match="was created in the last 1h00m"):
        add(backend, "b", unique_key="k", unique_within="1h")
    # an "active" enqueue asks only for no active job
    assert add(backend, "c", unique_key="k") == ["c"]


def test_a_window_that_has_passed_frees_the_key(backend: Backend) -> None:
    now = backend.now()
    early = spec("a", now, unique_key="k")
    backend.enqueue([early], 0, now - 120)  # created two minutes ago
    run_once(backend, "a", Succeeded())
    assert add(backend, "b", unique_key="k", unique_within="60s") == ["b"]


def test_keys_are_independent_and_jobs_without_a_key_unaffected(backend: Backend) -> None:
    add(backend, "a", unique_key="x")
    add(backend, "b", unique_key="y")
    add(backend, "c")
    add(backend, "d")
    assert {job.id for job in backend.list_jobs()} == {"a", "b", "c", "d"}


def test_a_batch_with_a_duplicate_is_refused_whole(backend: Backend) -> None:
    add(backend, "a", unique_key="k")
    with pytest.raises(Conflict, match="nothing was enqueued"):
        backend.enqueue(
            [spec("b", backend.now()), spec("c", backend.now(), unique_key="k")], 3, backend.now()
        )
    assert backend.get("b") is None


def test_a_batch_skips_its_duplicates_in_order(backend: Backend) -> None:
    now = backend.now()
    specs = [
        spec("p", now),
        spec("a", now, unique_key="k", on_duplicate="skip"),
        spec("q", now),
        spec("b", now, unique_key="k", on_duplicate="skip"),  # a duplicate of "a", same batch
        spec("r", now),
    ]
    assert backend.enqueue(specs, 3, now) == ["p", "a", "q", "a", "r"]
    assert [job.id for job in backend.list_jobs()] == ["p", "a", "q", "r"]  # enqueue order


def test_a_job_shows_its_key(backend: Backend) -> None:
    add(backend, "a", unique_key="k")
    job = backend.get("a")
    assert job is not None and job.unique_key == "k"
    assert job.to_dict()["unique_key"] == "k"


def test_a_rerun_never_makes_two_active_jobs_with_one_key(backend: Backend) -> None:
    make_dead(backend, "a")  # no key: nothing to hold
    add(backend, "x", unique_key="k", max_retries=0)
    run_once(backend, "x", Failed(1))
    add(backend, "y", unique_key="k")
    with pytest.raises(Conflict) as refused:
        backend.rerun(["x"])
    assert "another active job holds the unique key" in str(refused.value)
    active = [j.id for j in backend.list_jobs() if j.unique_key == "k" and j.state == "pending"]
    assert active == ["y"]


def _enqueue_every_key(location: str, name: str, start: Barrier, out: Queue[object]) -> None:
    """Child process: enqueue a job for every key at once with the others; report which
    of its own jobs went in (the others' holders are returned instead)."""
    try:
        backend = open_backend(location)
        start.wait(timeout=60)
        mine = []
        for key in range(KEYS):
            for within in ("active", "1h"):
                job_id = f"{name}-{within}-{key}"
                now = backend.now()
                got = backend.enqueue(
                    [
                        spec(
                            job_id,
                            now,
                            unique_key=f"{within}-{key}",
                            unique_within=within,
                            on_duplicate="skip",
                        )
                    ],
                    3,
                    now,
                )
                if got == [job_id]:
                    mine.append(job_id)
        backend.close()
        out.put((name, mine))
    except BaseException as exc:
        out.put((name, exc))
        raise


def test_concurrent_enqueuers_leave_exactly_one_active_job_per_key(
    backend: Backend, location: str
) -> None:
    taken = in_processes(_enqueue_every_key, location, [f"p{n}" for n in range(PROCESSES)])
    inserted = [job_id for ids in taken.values() for job_id in ids]
    jobs = backend.list_jobs()
    assert sorted(job.id for job in jobs) == sorted(inserted)
    per_key: dict[str | None, int] = {}
    for job in jobs:
        per_key[job.unique_key] = per_key.get(job.unique_key, 0) + 1
    expected = {f"{w}-{k}": 1 for w in ("active", "1h") for k in range(KEYS)}
    assert per_key == expected
