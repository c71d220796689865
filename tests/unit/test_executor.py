"""Finding every process of an attempt by its tag: what left the job's process group
(setsid, a daemon's double fork) is found whether the attempt is young (the pids handed
out since its job's) or old (every process), and nothing without the tag is touched."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from queuectl.worker import executor
from tests.support.jobs import q, wait_for_pid
from tests.support.polling import wait_for
from tests.support.processes import running

# a child that leaves the job's process group, and a daemon whose parent exits at once
ESCAPES = (
    "setsid sleep 300 & echo $! > {folder}/setsid; "
    "(setsid sh -c 'echo $$ > {folder}/daemon; exec sleep 300' &); sleep 300"
)


@pytest.fixture
def started() -> Iterator[list[int]]:
    """Pids a test starts; whatever still runs is killed (and reaped if ours) after it."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


def run_job(folder: Path, env: dict[str, str], started: list[int]) -> tuple[int, list[int]]:
    """A job like the worker's: its pid, and the pids of the two processes it set loose."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        job = executor.spawn(
            ["/bin/sh", "-c", ESCAPES.format(folder=q(folder))], {**os.environ, **env}, devnull
        )
    finally:
        os.close(devnull)
    started.append(job)
    loose = [wait_for_pid(folder / name) for name in ("setsid", "daemon")]
    started.extend(loose)
    return job, loose


def attempt_env(job_id: str) -> dict[str, str]:
    return {"QUEUECTL_FENCE": "f00d", "QUEUECTL_JOB_ID": job_id, "QUEUECTL_ATTEMPT": "1"}


@pytest.mark.parametrize("age", ["young", "old", "pids wrapped around"])
def test_sigkill_reaches_every_process_of_the_attempt_and_nothing_else(
    tmp_path: Path, started: list[int], age: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = attempt_env("ours")
    spawned = time.monotonic()
    (tmp_path / "ours").mkdir()
    (tmp_path / "other").mkdir()
    job, loose = run_job(tmp_path / "ours", env, started)
    _, bystanders = run_job(tmp_path / "other", attempt_env("other"), started)
    tag = executor.tag_of({**os.environ, **env})
    assert len(tag) == 3
    if age == "old":
        spawned -= 60  # every process is searched
    else:  # the pids handed out since the job's are searched
        monkeypatch.setattr(executor, "_recent", 60.0)  # however slow this machine is
        if age == "pids wrapped around":
            monkeypatch.setattr(executor, "_last_pid", lambda: 1)

    executor.signal_attempt(job, tag, spawned, signal.SIGKILL)

    wait_for(
        lambda: not any(running(pid) for pid in [job, *loose]),
        5,
        interval=0.01,
        what=lambda: f"the attempt's processes to end: {[p for p in loose if running(p)]}",
    )
    assert all(running(pid) for pid in bystanders), "another attempt's processes were hit"


def test_an_empty_tag_matches_nothing() -> None:
    assert executor.tagged((), os.getpid(), time.monotonic() - 60) == []
