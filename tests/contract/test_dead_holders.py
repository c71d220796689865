"""A holder on the rescuer's own host that is provably dead is rescued without waiting out
its lease, once its attempt's processes have ended; its output is attached to the attempt."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from queuectl.identity import hostname, process_start
from queuectl.logfiles import live_path
from queuectl.worker.orphans import ThisHost, adopt_orphans
from tests.contract.support import POLICY, add, claim, state_of
from tests.support.polling import wait_for

if TYPE_CHECKING:
    from queuectl.backends.base import Backend

LEASE = 600.0  # far longer than any test: only the proof of death can end these leases


@contextmanager
def _process(env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """A process that runs until the block ends (killed and reaped then, whatever happens)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)"],
        env={**os.environ, **(env or {})},
    )
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait(10)


def _dead_pid() -> tuple[int, str]:
    """(pid, start time) of a process that ran and is gone (reaped)."""
    with _process() as proc:
        start = process_start(proc.pid)
    assert start is not None
    return proc.pid, start


def _hold(
    backend: Backend, pid: int, start: str | None, job: str = "a", lease: float = LEASE
) -> str:
    """A worker row of this host for ``pid`` that claims ``job`` → its slot id."""
    worker = f"{hostname()}:{pid}:1"
    backend.register_workers([worker], hostname(), pid, start, None)
    add(backend, job, max_retries=0)
    claim(backend, worker, lease=lease)
    return worker


def rescue_lost_elsewhere(backend: Backend) -> list[str]:
    """A rescuer of another host (no proof of death, no files): it waits out the lease."""
    return wait_for(lambda: backend.rescue_expired(POLICY, 3600), timeout=30, interval=0.05)


def here_log(here: ThisHost, job: str, run: int) -> str:
    return os.path.join(here.logs_dir, f"{job}.{run}.log")


@pytest.fixture
def here(tmp_path: Path) -> ThisHost:
    return ThisHost(str(tmp_path / "logs"), 1024)


def test_a_dead_holder_of_this_host_is_rescued_at_once_with_its_output(
    backend: Backend, here: ThisHost
) -> None:
    pid, start = _dead_pid()
    worker = _hold(backend, pid, start)
    os.makedirs(here.logs_dir)
    with open(live_path(here.logs_dir, worker), "w") as live:
        live.write("first line\nlast line\n")

    assert backend.rescue_expired(POLICY, 3600, here) == ["a"]
    assert state_of(backend, "a") == "dead"
    (attempt,) = backend.attempts("a")
    assert attempt.outcome == "worker_lost"
    assert attempt.log_path == os.path.join(here.logs_dir, "a.1.log")
    assert attempt.log_tail == "first line\nlast line\n"
    assert not os.path.exists(live_path(here.logs_dir, worker))


def test_a_holder_whose_pid_now_belongs_to_another_process_is_dead(
    backend: Backend, here: ThisHost
) -> None:
    with _process() as stranger:
        _hold(backend, stranger.pid, "1")  # registered by a process started at another time
        assert backend.rescue_expired(POLICY, 3600, here) == ["a"]


def test_a_live_holder_of_this_host_keeps_its_job(backend: Backend, here: ThisHost) -> None:
    with _process() as holder:
        _hold(backend, holder.pid, process_start(holder.pid))
        assert backend.rescue_expired(POLICY, 3600, here) == []
        assert backend.rescue_expired(POLICY, 3600, here) == []
        assert state_of(backend, "a") == "processing"


def test_a_pid_that_runs_proves_nothing_without_a_start_time(
    backend: Backend, here: ThisHost
) -> None:
    with _process() as other:
        _hold(backend, other.pid, None)  # the worker row is gone: the pid may be reused
        assert backend.rescue_expired(POLICY, 3600, here) == []
        assert state_of(backend, "a") == "processing"


def test_a_dead_holders_job_is_not_taken_while_its_processes_run(
    backend: Backend, here: ThisHost
) -> None:
    pid, start = _dead_pid()
    _hold(backend, pid, start)
    # what the fence has not killed yet: a process of that very attempt
    with _process({"QUEUECTL_JOB_ID": "a", "QUEUECTL_ATTEMPT": "1"}):  # a straggler
        assert backend.rescue_expired(POLICY, 3600, here) == []
        assert state_of(backend, "a") == "processing"
    assert backend.rescue_expired(POLICY, 3600, here) == ["a"]


def test_a_holder_of_another_host_is_never_judged_from_here(
    backend: Backend, here: ThisHost
) -> None:
    pid, start = _dead_pid()
    worker = f"elsewhere:{pid}:1"
    backend.register_workers([worker], "elsewhere", pid, start, None)
    add(backend, "a")
    claim(backend, worker, lease=LEASE)
    assert backend.rescue_expired(POLICY, 3600, here) == []
    assert state_of(backend, "a") == "processing"


# --- a worker's start: the live files dead workers of this host left -----------------
def _live_file(here: ThisHost, worker: str, text: str) -> str:
    os.makedirs(here.logs_dir, exist_ok=True)
    path = live_path(here.logs_dir, worker)
    with open(path, "w") as live:
        live.write(text)
    return path


def test_at_start_an_empty_live_file_of_a_dead_worker_is_removed(
    backend: Backend, here: ThisHost
) -> None:
    pid, _ = _dead_pid()
    path = _live_file(here, f"{hostname()}:{pid}:1", "")  # its last job printed nothing
    assert adopt_orphans(backend, here, []) == 0
    assert not os.path.exists(path)


def test_at_start_the_output_of_a_rescued_attempt_is_attached(
    backend: Backend, here: ThisHost
) -> None:
    pid, start = _dead_pid()
    worker = _hold(backend, pid, start, lease=0.5)
    path = _live_file(here, worker, "its output\n")
    assert backend.rescue_expired(POLICY, 3600) == []  # another host's rescuer: watches
    assert rescue_lost_elsewhere(backend) == ["a"]  # … and takes it, without the file
    assert backend.attempts("a")[0].log_path is None

    assert adopt_orphans(backend, here, []) == 1
    (attempt,) = backend.attempts("a")
    assert (attempt.log_path, attempt.log_tail) == (here_log(here, "a", 1), "its output\n")
    assert not os.path.exists(path)


def test_at_start_live_files_of_live_workers_and_running_attempts_stay(
    backend: Backend, here: ThisHost
) -> None:
    with _process() as holder:
        running = _live_file(here, _hold(backend, holder.pid, process_start(holder.pid)), "x\n")
        pid, start = _dead_pid()
        unrescued = _live_file(here, _hold(backend, pid, start, job="b"), "y\n")
        assert adopt_orphans(backend, here, []) == 0
        assert Path(running).read_text() == "x\n"  # its worker runs: it writes there
        assert Path(unrescued).read_text() == "y\n"  # still processing: the rescue adopts it


def test_a_retention_pass_removes_stale_live_files_no_attempt_of_this_queue_wants(
    backend: Backend, here: ThisHost
) -> None:
    """A dead worker's file of an attempt this queue does not know (its job purged, or
    another queue's that shares the logs folder) stays at start; once untouched for
    ``stale_after`` a retention pass removes it. A live worker's file always stays."""
    pid, _ = _dead_pid()
    stale = _live_file(here, f"{hostname()}:{pid}:1", "left behind\n")
    fresh = _live_file(here, f"{hostname()}:{pid}:2", "recent\n")
    with _process() as holder:
        live = _live_file(here, f"{hostname()}:{holder.pid}:1", "running\n")
        day_ago = time.time() - 86400
        for path in (stale, live):
            os.utime(path, (day_ago, day_ago))
        assert adopt_orphans(backend, here, []) == 0
        assert os.path.exists(stale), "at start: kept, another queue may adopt it"
        assert adopt_orphans(backend, here, [], stale_after=3600) == 0
        assert not os.path.exists(stale)
        assert Path(fresh).read_text() == "recent\n"
        assert Path(live).read_text() == "running\n"
