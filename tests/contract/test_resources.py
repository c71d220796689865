"""Resources on every engine: a job's and its queue's limits, and what each attempt used
(issue 16, parts 1 and 2)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from queuectl.lifecycle import Finished, OutOfMemory, Succeeded, Usage, decide
from queuectl.queues import limiting
from tests.contract.support import LEASE, POLICY, add, claim

if TYPE_CHECKING:
    from queuectl.backends.base import Backend

MIB = 1 << 20


def _end(backend: Backend, job_id: str, usage: Usage | None, outcome: object = None) -> None:
    job = claim(backend)
    assert job.id == job_id
    done = outcome if outcome is not None else Succeeded()
    step = decide(job, done, POLICY, backend.now())  # type: ignore[arg-type]
    ended = Finished(job, "w1", step, done.name, None, None, usage)  # type: ignore[attr-defined]
    (held,), _ = backend.exchange([ended], [], None, LEASE)
    assert held


def test_an_attempt_keeps_what_it_used(backend: Backend) -> None:
    add(backend, "a", "b")
    _end(backend, "a", Usage(1.25, 0.5, 204_800))
    _end(backend, "b", None)  # not measured (e.g. the worker could not tell)
    (used,) = backend.attempts("a")
    assert (used.cpu_user_s, used.cpu_sys_s, used.max_rss_kb) == (1.25, 0.5, 204_800)
    assert used.to_dict()["max_rss_kb"] == 204_800
    (unknown,) = backend.attempts("b")
    assert (unknown.cpu_user_s, unknown.cpu_sys_s, unknown.max_rss_kb) == (None, None, None)


def test_an_attempt_killed_at_its_memory_limit_is_oom(backend: Backend) -> None:
    add(backend, "hog", max_retries=0, limits={"mem": 50 * MIB})
    _end(backend, "hog", Usage(0.1, 0.1, 51_200), OutOfMemory(50 * MIB))
    job = backend.get("hog")
    assert job is not None
    assert (job.state, job.last_error) == ("dead", "killed at its memory limit (mem=50M)")
    assert [a.outcome for a in backend.attempts("hog")] == ["oom"]


def test_a_job_keeps_its_limits(backend: Backend) -> None:
    add(backend, "a", limits={"mem": 2 << 30, "cpu": 1.5, "pids": 256, "nofile": 4096})
    add(backend, "b")
    job = backend.get("a")
    assert job is not None
    assert job.limits == {"mem": 2 << 30, "cpu": 1.5, "pids": 256, "nofile": 4096}
    assert job.to_dict()["limits"] == job.limits
    other = backend.get("b")
    assert other is not None and other.limits is None


def test_a_claimed_job_runs_under_the_smaller_of_its_limits_and_its_queues(
    backend: Backend,
) -> None:
    """Per key the smaller wins; a key only one of them has applies as it is. The job as
    stored keeps its own limits."""
    backend.queue_change(["io"], limiting({"limits": {"mem": 64 * MIB, "nofile": 32}}))
    add(backend, "a", queue="io", limits={"nofile": 16, "pids": 50, "mem": 128 * MIB})
    add(backend, "b", queue="io")
    add(backend, "c", queue="other", limits={"cpu": 0.5})
    claimed = {job.id: job.limits for job in (claim(backend), claim(backend), claim(backend))}
    assert claimed == {
        "a": {"mem": 64 * MIB, "pids": 50, "nofile": 16},
        "b": {"mem": 64 * MIB, "nofile": 32},
        "c": {"cpu": 0.5},
    }
    stored = backend.get("a")
    assert stored is not None and stored.limits == {"mem": 128 * MIB, "pids": 50, "nofile": 16}


def test_queue_limits_are_listed_and_removed_with_none(backend: Backend) -> None:
    backend.queue_change(["io"], limiting({"limits": {"mem": 64 * MIB}}))
    (row,) = [q for q in backend.queue_rows() if q.name == "io"]
    assert row.limits == {"mem": 64 * MIB}
    assert "limit mem=64M" in row.summary(backend.now())
    backend.queue_change(["io"], limiting({"limits": None}))
    assert [q for q in backend.queue_rows() if q.name == "io"] == []  # nothing left to keep


def test_stats_give_resource_percentiles_per_queue(backend: Backend) -> None:
    add(backend, *(f"j{n}" for n in range(1, 5)))
    for n, (cpu, rss) in enumerate([(1.0, 1000), (2.0, 2000), (3.0, None), (4.0, 4000)], 1):
        _end(backend, f"j{n}", Usage(cpu, 0.0, rss))
    found = backend.attempt_resources(None, 100)
    assert sorted((u.queue, u.cpu, u.max_rss_kb) for u in found) == [
        ("default", 1.0, 1000),
        ("default", 2.0, 2000),
        ("default", 3.0, None),
        ("default", 4.0, 4000),
    ]
    assert len(backend.attempt_resources(None, 2)) == 2  # the newest only
    assert backend.attempt_resources(backend.now() + 60, 100) == []
