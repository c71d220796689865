"""The reads and writes the dashboard's console pages added to every backend: the oldest
ready job of each queue, and a stop request for some worker rows only."""

from __future__ import annotations

import pytest

from queuectl.backends.base import Backend
from queuectl.lifecycle import Failed
from tests.contract.support import add, claim, end


def test_oldest_ready_by_queue_is_oldest_ready_per_queue(backend: Backend) -> None:
    assert backend.oldest_ready_by_queue() == {}
    add(backend, "later", delay="1h")
    add(backend, "later-io", delay="1h", queue="io")
    assert backend.oldest_ready_by_queue() == {}  # scheduled, not waiting yet
    add(backend, "a1", "a2")
    add(backend, "io1", "io2", queue="io")
    run_at = {i: job.run_at for i in ("a1", "io1", "io2") if (job := backend.get(i))}
    found = backend.oldest_ready_by_queue()
    assert found == {"default": pytest.approx(run_at["a1"]), "io": pytest.approx(run_at["io1"])}
    assert min(found.values()) == pytest.approx(backend.oldest_ready())
    claim(backend, queues=["io"])  # io1 runs: io2 waits the longest there
    assert backend.oldest_ready_by_queue()["io"] == pytest.approx(run_at["io2"])


def test_a_job_in_backoff_waits_in_no_queue(backend: Backend) -> None:
    add(backend, "x", queue="io")
    assert end(backend, claim(backend), Failed(1))  # failed, waiting for its retry
    assert backend.oldest_ready_by_queue() == {}


def test_request_stop_of_some_rows_flags_only_them(backend: Backend) -> None:
    backend.register_workers(["a-0", "a-1"], "host-a", 4242, None, None)
    backend.register_workers(["b-0"], "host-b", 4343, None, ["io"])
    assert backend.request_stop(ids=["a-0", "a-1"]) == 2
    assert {w.id: w.stop_requested for w in backend.workers()} == {
        "a-0": True,
        "a-1": True,
        "b-0": False,
    }
    assert backend.request_stop(ids=["gone"]) == 0
    assert backend.request_stop(ids=[]) == 0
