"""A command that glances at a PostgreSQL queue reads it through libpq alone
(backends.pgread, location.GLANCE): every read it can make gives what the full backend
gives through psycopg, on a queue that holds something of every kind (jobs in each
state, finished attempts, a dependency, a paused and limited queue, a schedule, live
workers). A read whose column type the libpq reader cannot decode fails here."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import psycopg
import pytest

from queuectl.api import Queue
from queuectl.errors import StorageError
from queuectl.location import COMMAND, GLANCE
from tests.contract.support import add, claim, finish_some, make_dead

if TYPE_CHECKING:
    from collections.abc import Callable


def _reads(queue: Queue) -> dict[str, Any]:
    """Every read of the queue a glancing command makes whose result the clock does not
    move, by name; the others are made once each (their columns are decoded all the same)."""
    job_ids = [job.id for job in queue.jobs()]
    found: dict[str, Callable[[], Any]] = {
        "jobs": lambda: queue.jobs(),
        "jobs_failed": lambda: queue.jobs(state="failed"),
        "get": lambda: [queue.get(job_id) for job_id in job_ids],
        "blockers": lambda: queue.with_blockers(queue.jobs()),
        "dependencies": lambda: queue.dependencies("child"),
        "attempts": lambda: queue.attempts_of_jobs(job_ids),
        "counts": queue.counts,
        "counts_by_queue": queue.counts_by_queue,
        "workers": lambda: sorted(w.id for w in queue.workers()),
        "dlq": queue.dlq,
        "config": queue.config_list,
        "queues": queue.queues,
        "flow": queue.flow,
        "schedules": queue.schedules,
        "outcomes": queue.outcome_counts,
        "histogram": lambda: queue.duration_histogram([0.1, 1.0]),
        "export": lambda: list(queue.export(history=True)),
    }
    reads = {name: read() for name, read in found.items()}
    queue.stats()
    queue.resources()
    queue.timeline(queue.now() - 600, 60)
    queue.oldest_pending_age()
    queue.oldest_ready_age_by_queue()
    return reads


def test_a_glance_reads_what_the_full_backend_reads(pg_url: str) -> None:
    with Queue(pg_url) as queue:
        backend = queue.backend
        finish_some(backend)
        make_dead(backend, "gone")
        add(backend, "parent")
        queue.enqueue("true", id="child", after=["parent"])
        add(backend, "running", queue="io")
        claim(backend, "vm:1:1")
        backend.register_workers(["vm:1:1", "vm:1:2"], "vm", 1, None, ["default", "io"])
        queue.pause(["io"], reason="maintenance")
        queue.set_queue("io", {"concurrency": 2})
        queue.add_schedule("nightly", {"command": "true"}, cron="30 1 * * *")
        full = _reads(queue)
    with Queue(pg_url, role=GLANCE) as glance:
        assert type(glance.backend).__name__ == "PostgresReader"
        assert _reads(glance) == full


@pytest.mark.parametrize("role", [GLANCE, COMMAND], ids=["libpq", "psycopg"])
def test_a_read_inside_a_snapshot_whose_connection_was_lost_fails(pg_url: str, role: Any) -> None:
    """A read that needs one snapshot (export) never goes on over a new connection: that
    would see another state of the queue."""
    with Queue(pg_url) as setup:
        add(setup.backend, "a")
    with Queue(pg_url, role=role) as queue, queue.backend.snapshot():
        with psycopg.connect(pg_url, autocommit=True) as admin:  # ends the queue's one
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        with pytest.raises(StorageError):
            queue.jobs()  # the connection is found broken
        with pytest.raises(StorageError, match="needed one snapshot"):
            queue.jobs()  # a new one would read another state
