"""``Queuectl``: one test's queue, driven through the real CLI, and everything that ran
against it ended afterwards.

The queue is SQLite in ``QUEUECTL_HOME`` under the test's folder, or a PostgreSQL URL.
Every process the test starts is tracked so that ``cleanup`` (the end of a ``with``
block) can end it by process group or pid: workers (``Popen`` with
``start_new_session=True``, so their pid is their process group), detached workers (by
the pid they print), and the jobs they ran (found in ``/proc`` by this very test's
``QUEUECTL_HOME`` in their environment, which no other process on the machine has).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.support.cli import QUEUECTL, Worker, cli_env, parsed, run, succeeded
from tests.support.polling import poll, wait_for
from tests.support.processes import kill_group, kill_marked, running, start_time

# Short leases, so that losing a worker costs seconds (the heartbeat first: it must stay
# within half the lease), and a retry after a second.
FAST = (("heartbeat", "1"), ("lease", "3"), ("backoff-base", "1"))


class Queuectl:
    """One test's queue (SQLite in ``QUEUECTL_HOME`` under ``tmp_path``, or a fresh
    PostgreSQL schema), and what ran against it. ``env`` adds to every command's
    environment (e.g. ``QUEUECTL_HOSTNAME`` to play another host). As a context manager,
    it ends everything it started on the way out, pass or fail."""

    def __init__(
        self, tmp_path: Path, db: str | None = None, env: Mapping[str, str] | None = None
    ) -> None:
        self.tmp = tmp_path
        self.home = tmp_path / "home"
        extra = {"QUEUECTL_DB": db} if db is not None else {}  # None: the SQLite file in home
        self.env = cli_env(self.home, {**extra, **(env or {})})
        self.workers: list[Worker] = []
        self.detached: list[tuple[int, str | None]] = []
        self.others: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Queuectl:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cleanup()

    # --- one-shot commands ----------------------------------------------------------
    def run(
        self, *args: str, check: bool = True, timeout: float = 60, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        done = run(args, self.env, input=input, timeout=timeout, cwd=self.tmp)
        return succeeded(done) if check else done

    def json(self, *args: str) -> Any:
        return parsed(self.run(*args, "--json"))

    def enqueue(self, command: str, *flags: str) -> str:
        job_id = self.run("enqueue", "--command", command, *flags).stdout.strip()
        assert job_id, "enqueue printed no id"
        return job_id

    def enqueue_json(self, job: dict[str, Any]) -> str:
        return self.run("enqueue", json.dumps(job)).stdout.strip()

    def enqueue_file(self, jobs: Iterable[dict[str, Any]]) -> None:
        path = self.tmp / f"jobs-{time.monotonic_ns()}.jsonl"
        path.write_text("".join(json.dumps(job) + "\n" for job in jobs))
        self.run("enqueue", "--file", os.fspath(path))

    def config(self, key: str, value: str) -> None:
        self.run("config", "set", key, value)

    def fast_leases(self) -> Queuectl:
        """``FAST``: heartbeat 1 s, lease 3 s, backoff-base 1; a lost worker's job is
        rescued, and a failed one retried, within seconds."""
        for key, value in FAST:
            self.config(key, value)
        return self

    def show(self, job_id: str) -> dict[str, Any]:
        """``show ID --json``: the job object, and every attempt under ``history``."""
        found: dict[str, Any] = self.json("show", job_id)
        return found

    def history(self, job_id: str) -> list[dict[str, Any]]:
        """The job's attempts, oldest first (``show ID --json`` → ``history``)."""
        found: list[dict[str, Any]] = self.show(job_id)["history"]
        return found

    def job(self, job_id: str) -> dict[str, Any]:
        """The job object of ``list --json`` (``attempts`` = finished attempts)."""
        found = [job for job in self.jobs() if job["id"] == job_id]
        assert len(found) == 1, f"list --json has {len(found)} jobs with id {job_id}"
        return found[0]

    def state(self, job_id: str) -> str:
        return str(self.show(job_id)["state"])

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = self.json("status")["jobs"]
        return found

    def jobs(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.json("list")
        return found

    def wait_state(self, job_id: str, *states: str, timeout: float = 20.0) -> dict[str, Any]:
        """Poll ``show`` until the job is in one of ``states``; returns the job."""
        seen: list[str] = []

        def reached() -> dict[str, Any] | None:
            job = self.show(job_id)
            seen.append(job["state"])
            return job if job["state"] in states else None

        return wait_for(
            reached,
            timeout,
            what=lambda: (
                f"job {job_id} to be {'/'.join(states)} (last: {seen[-1:]}); " + self.worker_logs()
            ),
        )

    def wait_counts(self, timeout: float, interval: float = 0.1, **wanted: int) -> dict[str, int]:
        last: list[dict[str, int]] = []

        def reached() -> dict[str, int] | None:
            counts = self.counts()
            last.append(counts)
            return counts if all(counts[k] == n for k, n in wanted.items()) else None

        return wait_for(
            reached,
            timeout,
            interval,
            what=lambda: f"counts {wanted} (last: {last[-1:]}); " + self.worker_logs(),
        )

    # --- long-running processes -------------------------------------------------------
    def start_worker(
        self, *args: str, env: dict[str, str] | None = None, name: str | None = None
    ) -> Worker:
        """``worker start ARGS`` in the foreground of its own session (``env`` added to
        this queue's environment; ``name`` labels its log file and messages)."""
        return self.start_worker_command(
            [*QUEUECTL, "worker", "start", *args],
            args if name is None else (name, *args),
            env=env,
            name=name,
        )

    def start_worker_command(
        self,
        argv: list[str],
        label: tuple[str, ...],
        env: dict[str, str] | None = None,
        name: str | None = None,
    ) -> Worker:
        """Start ``argv`` (ending in ``queuectl worker start …``, perhaps behind a wrapper
        such as ``ip netns exec``) as one of this queue's workers: its log is
        ``worker-<name or number>.log`` here, and ``cleanup`` ends it. Returns once the
        worker has opened its queue (its first line, ``serving …``: a queue it creates
        exists from then on, for commands that only read) or has exited."""
        log = self.tmp / f"worker-{name or len(self.workers) + 1}.log"
        worker = Worker.start(argv, {**self.env, **(env or {})}, log, self.tmp, label)
        self.workers.append(worker)
        poll(lambda: "serving " in worker.log() or worker.proc.poll() is not None, 30, 0.01)
        return worker

    def popen(self, *args: str) -> subprocess.Popen[bytes]:
        """Any other long-running ``queuectl`` command (``logs --follow``, ``worker stop``)."""
        proc = subprocess.Popen(
            [*QUEUECTL, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.env,
            cwd=self.tmp,
            start_new_session=True,
        )
        self.others.append(proc)
        return proc

    def track_detached(self, pid: int) -> None:
        self.detached.append((pid, start_time(pid)))

    def worker_logs(self) -> str:
        return "".join(f"\n--- worker {w.args} log:\n{w.log()}" for w in self.workers)

    # --- the finalizer ---------------------------------------------------------------------
    def cleanup(self) -> None:
        """End everything this test started: by process group, by pid, then by /proc scan."""
        for worker in self.workers:
            worker.kill_group()
        for proc in self.others:
            kill_group(proc)
        for pid, start in self.detached:
            if start is not None and running(pid, start):
                os.killpg(pid, signal.SIGKILL)  # a detached worker leads its own session
        # What is left are jobs (and their children) of killed workers: they live in
        # their own sessions. Only this test's processes carry this QUEUECTL_HOME.
        left = kill_marked(f"QUEUECTL_HOME={self.home}")
        assert not left, f"could not end processes {left}"
