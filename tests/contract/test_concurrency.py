"""Many OS processes claiming from one queue at once: every job is claimed exactly once."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from queuectl.backends import open_backend
from queuectl.lifecycle import Succeeded, decide
from tests.contract.support import POLICY, add, in_processes, take, write_end

if TYPE_CHECKING:
    from multiprocessing.queues import Queue
    from multiprocessing.synchronize import Barrier

    from queuectl.backends.base import Backend

JOBS = 300
PROCESSES = 4


def _claim_until_empty(location: str, worker: str, start: Barrier, out: Queue[object]) -> None:
    """Child process: claim and finish jobs until none is left; report the ids claimed."""
    try:
        backend = open_backend(location)
        start.wait(timeout=60)
        claimed: list[str] = []
        while (job := take(backend, worker, None, 60)) is not None:
            claimed.append(job.id)
            time.sleep(0.001)  # the job's "work": lets the other processes reach the lock
            step = decide(job, Succeeded(), POLICY, backend.now())
            if not write_end(backend, job, worker, step, "succeeded"):
                raise AssertionError(f"{worker} could not finish its own job {job.id}")
        backend.close()
        out.put((worker, claimed))
    except BaseException as exc:
        out.put((worker, exc))
        raise


def test_processes_claim_every_job_exactly_once(backend: Backend, location: str) -> None:
    ids = [f"job-{n:03d}" for n in range(JOBS)]
    add(backend, *ids)
    claimed = in_processes(_claim_until_empty, location, [f"w{n}" for n in range(PROCESSES)])
    every = [job_id for taken in claimed.values() for job_id in taken]
    assert len(every) == JOBS, "a job was claimed twice or not at all"
    assert sorted(every) == ids
    assert backend.counts()["completed"] == JOBS
    for job_id in ids:
        attempts = backend.attempts(job_id)
        assert len(attempts) == 1
        assert attempts[0].outcome == "succeeded"
