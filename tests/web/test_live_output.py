"""A running job's output reaches the page while the job runs (the real dashboard, a real
worker on this host, or on PostgreSQL on another host), and the stream ends with the job."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from queuectl.api import Queue
from tests.support.jobs import gate_wait
from tests.support.polling import wait_for
from tests.web.processes import dashboard, dashboard_process, worker


def test_output_of_a_running_job_streams_live(location: str, queue: Queue, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    queue.enqueue(f"echo first-line; {gate_wait(gate)}; echo '<b>second</b>'", id="talky")
    home = tmp_path / "home"
    with dashboard(home, location) as base, worker(home, location):
        assert streamed(queue, base, gate) == "first-line\n<b>second</b>\n"


@pytest.mark.parametrize("db", ["postgres"], indirect=True)
def test_a_dashboard_on_another_host_streams_the_output_too(
    location: str, queue: Queue, tmp_path: Path
) -> None:
    """Its own QUEUECTL_HOME and host name: no log file of the job there, the chunks the
    worker stores in the queue instead."""
    gate = tmp_path / "gate"
    queue.enqueue(f"echo first-line; {gate_wait(gate)}; echo '<b>second</b>'", id="talky")
    elsewhere = {"QUEUECTL_HOSTNAME": "dashboard-host"}
    with (
        dashboard_process(tmp_path / "elsewhere", location, env=elsewhere) as (_, base),
        worker(tmp_path / "home", location),
    ):
        assert streamed(queue, base, gate) == "first-line\n<b>second</b>\n"


def streamed(queue: Queue, base: str, gate: Path) -> str:
    """The output stream of job ``talky``: its first line while it runs (then ``gate`` lets
    it go on), the rest, and its end."""
    wait_for(lambda: queue.get("talky").state == "processing", timeout=30, what="the job")
    seen = ""
    with httpx.stream("GET", f"{base}/live/jobs/talky/output", timeout=30) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        deadline = time.monotonic() + 30
        lines = response.iter_lines()
        for line in lines:
            if line.startswith("data: "):
                seen += str(json.loads(line[6:]) or "")
            if "first-line" in seen:
                break
            assert time.monotonic() < deadline, "no output while the job ran"
        assert queue.get("talky").state == "processing"  # live: the job still runs
        gate.touch()
        ended = False
        for line in lines:
            if line == "event: end":
                ended = True
                break
            if line.startswith("data: "):
                seen += str(json.loads(line[6:]) or "")
        assert ended
    wait_for(lambda: queue.get("talky").state == "completed", timeout=30, what="the end")
    return seen
