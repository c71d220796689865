"""``worker stop --now`` on one host interrupts the running jobs of a worker on another:
the request travels through the database (no signal can reach the other host)."""

from __future__ import annotations

from pathlib import Path

from tests.pg.conftest import Hosts
from tests.support.jobs import gate_wait
from tests.support.polling import wait_for


def test_worker_stop_now_on_one_host_interrupts_the_jobs_of_another_host(
    hosts: Hosts, tmp_path: Path
) -> None:
    a, b = hosts.a, hosts.b
    a.config("lease", "90")  # first: the heartbeat must stay within half of it
    a.config("heartbeat", "30s")  # the notification, not a heartbeat, must carry it
    job = a.enqueue(gate_wait(tmp_path / "never"))
    worker = b.start_worker("--count", "1")
    a.wait_state(job, "processing")
    wait_for(lambda: a.json("worker", "list"), 10, what="host-b's worker to be listed")

    stopped = a.run("worker", "stop", "--now", "--timeout", "20", check=False)

    assert stopped.returncode == 0, stopped.stderr
    assert worker.wait(10) == 0, worker.log()
    assert "interrupting running jobs" in worker.log()
    listed = a.job(job)
    assert (listed["state"], listed["attempts"]) == ("pending", 0)
    assert [h["outcome"] for h in a.history(job)] == ["interrupted"]
    assert a.json("worker", "list") == []
