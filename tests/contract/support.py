"""Helpers for the backend contract suite: build specs, drive jobs through states.

Jobs are claimed and ended through ``Backend.exchange``, the one verb workers use for
both: ``take`` is a turn with one free slot and no result, ``write_end`` a turn with
one result and no free slot."""

from __future__ import annotations

from typing import TYPE_CHECKING

from queuectl.jobspec import check_job
from queuectl.lifecycle import Failed, Finished, Outcome, Policy, Succeeded, decide
from tests.support.polling import wait_for

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

    from queuectl.backends.base import Backend
    from queuectl.jobspec import JobSpec
    from queuectl.lifecycle import Transition
    from queuectl.models import Job

POLICY = Policy()
LEASE = 60.0


def spec(job_id: str, now: float, command: str | list[str] = "true", **fields: object) -> JobSpec:
    """A validated job, as the API hands it to a backend."""
    return check_job({"id": job_id, "command": command, **fields}, now)


def add(
    backend: Backend,
    *ids: str,
    max_retries: int = 3,
    command: str | list[str] = "true",
    **fields: object,
) -> list[str]:
    """Enqueue jobs with these ids (in this order) in one batch."""
    now = backend.now()
    return backend.enqueue([spec(i, now, command, **fields) for i in ids], max_retries, now)


def claim(
    backend: Backend, worker: str = "w1", queues: list[str] | None = None, lease: float = LEASE
) -> Job:
    """Claim and assert that a job was there."""
    job = take(backend, worker, queues, lease)
    assert job is not None, "expected a job to claim"
    return job


def end(
    backend: Backend,
    job: Job,
    outcome: Outcome,
    worker: str = "w1",
    policy: Policy = POLICY,
    log_tail: str | None = None,
) -> bool:
    """Finish a claimed job the way a worker does: decide(), then its guarded result."""
    step = decide(job, outcome, policy, backend.now())
    return write_end(backend, job, worker, step, outcome.name, None, log_tail)


def take(
    backend: Backend, worker: str = "w1", queues: list[str] | None = None, lease: float = LEASE
) -> Job | None:
    """A turn with one free slot and no result: the job claimed for ``worker``, or None."""
    held, claimed = backend.exchange([], [worker], queues, lease)
    assert held == [] and len(claimed) <= 1
    return claimed[0] if claimed else None


def write_end(
    backend: Backend,
    job: Job,
    worker: str | None,
    step: Transition,
    outcome: str,
    log_path: str | None = None,
    log_tail: str | None = None,
) -> bool:
    """A turn with one result and no free slot: False if ``worker`` no longer held the run."""
    ended = Finished(job, worker, step, outcome, log_path, log_tail)
    (held,), claimed = backend.exchange([ended], [], None, LEASE)
    assert claimed == []
    return held


def run_once(backend: Backend, job_id: str, outcome: Outcome, worker: str = "w1") -> Job:
    """Claim ``job_id`` (it must be the next ready job) and end it with ``outcome``."""
    job = claim(backend, worker)
    assert job.id == job_id
    assert end(backend, job, outcome, worker)
    after = backend.get(job_id)
    assert after is not None
    return after


FIRST = 2**31 - 1  # the highest priority: helper jobs are claimed before any other


def make_dead(backend: Backend, *ids: str) -> None:
    """Enqueue jobs without retries and fail each once: they land in the DLQ."""
    add(backend, *ids, max_retries=0, priority=FIRST)
    for job_id in ids:
        assert run_once(backend, job_id, Failed(1)).state == "dead"


def make_completed(backend: Backend, *ids: str) -> None:
    """Enqueue jobs and run each once successfully."""
    add(backend, *ids, priority=FIRST)
    for job_id in ids:
        assert run_once(backend, job_id, Succeeded()).state == "completed"


def finish_some(backend: Backend) -> None:
    """default: a succeeds, b fails once (retry pending); io: c succeeds, d times out dead."""
    from queuectl.lifecycle import TimedOut

    add(backend, "a", "b")
    add(backend, "c", queue="io")
    add(backend, "d", queue="io", max_retries=0)
    run_once(backend, "a", Succeeded())
    run_once(backend, "b", Failed(3))
    run_once(backend, "c", Succeeded())
    run_once(backend, "d", TimedOut(1.0))


def server_now(backend: Backend) -> float:
    """The queue's clock as its server reads it now: an upper bound for instants the
    server wrote before. ``now()`` on PostgreSQL is a local estimate that errs behind the
    server by up to a round trip (PostgresBackend.now_from_server), too low for that."""
    exact = getattr(backend, "now_from_server", None)
    return float(exact()) if exact is not None else backend.now()


def wait_past(backend: Backend, instant: float) -> None:
    """Poll the backend's clock until ``instant`` has passed (no fixed sleep)."""
    wait_for(lambda: backend.now() > instant, timeout=5, what="the backend clock to pass")


def rescue_lost(
    backend: Backend, policy: Policy = POLICY, stale_after: float = 3600, timeout: float = 10
) -> list[str]:
    """Rescue pass after pass, as a live worker does, until one takes something (returned).
    The first pass only watches: a lease is lost once this rescuer has seen it unrenewed
    for the lease's length."""
    return wait_for(
        lambda: backend.rescue_expired(policy, stale_after),
        timeout=timeout,
        interval=0.01,
        what="a rescue of the lost lease",
    )


def assert_counts_exact(backend: Backend) -> None:
    """The counts by state and by queue and state (kept as jobs change: migrations sqlite
    0017, postgres 0016) match the jobs."""
    from queuectl.models import STATES

    expected = dict.fromkeys(STATES, 0)
    by_queue: dict[str, dict[str, int]] = {}
    for job in backend.list_jobs(None, None, None):
        expected[job.state.value] += 1
        by_queue.setdefault(job.queue, dict.fromkeys(STATES, 0))[job.state.value] += 1
    assert backend.counts() == expected
    assert backend.counts_by_queue() == by_queue


def state_of(backend: Backend, job_id: str) -> str | None:
    job = backend.get(job_id)
    return None if job is None else job.state.value


def in_processes(
    target: Callable[[str, str, Any, Any], None], location: str, names: Sequence[str]
) -> dict[str, list[str]]:
    """Run ``target(location, name, barrier, out)`` in one spawned process per name, all
    released together; each puts (name, the job ids it took) or (name, its exception).
    Returns the ids per name; a failed process fails the test."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    start = context.Barrier(len(names))
    out = context.Queue()
    children = [context.Process(target=target, args=(location, n, start, out)) for n in names]
    try:
        for child in children:
            child.start()
        reports = [out.get(timeout=120) for _ in children]
        for child in children:
            child.join(timeout=30)
    finally:
        for child in children:
            if child.is_alive():
                child.kill()
                child.join()
    taken: dict[str, list[str]] = {}
    for name, ids in reports:
        assert isinstance(ids, list), f"{name} failed: {ids!r}"
        taken[name] = ids
    assert all(child.exitcode == 0 for child in children)
    return taken
