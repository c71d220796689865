"""An acknowledged enqueue survives a SIGKILL of the enqueuing process right after it.

A child process enqueues with the Python API, writes "ok" to a pipe and blocks; the
test SIGKILLs it the moment it reads "ok"; a fresh process must see the job. On SQLite
this runs with the default durability (``full``). A crash of the operating system or
a power loss cannot be tested here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from tests.support.harness import Queuectl

CHILD = """
import sys
from queuectl import Queue

queue = Queue()
job_id = queue.enqueue(["true"], id=sys.argv[1])
sys.stdout.write("ok " + job_id + "\\n")
sys.stdout.flush()
sys.stdin.read()  # block until killed
"""


@pytest.mark.timeout(120)
def test_an_acknowledged_enqueue_survives_a_sigkill_right_after_it(qc: Queuectl) -> None:
    if "QUEUECTL_DB" not in qc.env:
        qc.run("config", "unset", "max-retries")  # creates the queue: a read would not
        assert qc.run("config", "get", "durability").stdout.strip() == "full"
    ids = [f"durable-{n:02d}" for n in range(20)]
    for job_id in ids:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, job_id],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=qc.env,
            cwd=qc.tmp,
            start_new_session=True,
        )
        try:
            assert child.stdout is not None
            said = child.stdout.readline()
            os.kill(child.pid, signal.SIGKILL)
        finally:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGKILL)
            _, err = child.communicate(timeout=10)
        assert said == f"ok {job_id}\n".encode(), err.decode(errors="replace")
        assert child.returncode == -signal.SIGKILL

    # a fresh process sees every one of them
    jobs = qc.jobs()
    assert sorted(job["id"] for job in jobs) == ids
    assert {job["state"] for job in jobs} == {"pending"}
    assert {tuple(job["command"]) for job in jobs} == {("true",)}
