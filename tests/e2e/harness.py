"""The end-to-end harness: the real ``queuectl`` CLI in subprocesses, one queue per test.

Every process a test starts is tracked so the ``qc`` fixture's finalizer can end it
by pid or process group: workers (``Popen`` with ``start_new_session=True``, so
their pid is their process group), detached workers (by the pid they print), and
the jobs they ran (found in ``/proc`` by the ``QUEUECTL_HOME`` of this very test in
their environment, which no other process on the machine has).
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from scripts.chaos import pids_with_env

T = TypeVar("T")

QUEUECTL = (sys.executable, "-m", "queuectl")
_INHERITED = ("QUEUECTL_DB", "QUEUECTL_DB_PATH", "QUEUECTL_HOME", "XDG_DATA_HOME")


def wait_until(
    predicate: Callable[[], T | None],
    timeout: float,
    interval: float = 0.05,
    what: str | Callable[[], str] = "",
) -> T:
    """Poll ``predicate`` until it returns something truthy (returned) or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            detail = what() if callable(what) else what
            raise AssertionError(
                f"timed out after {timeout:g}s waiting for {detail or predicate.__name__}"
            )
        time.sleep(interval)


def ts(text: str | None) -> float:
    """An ISO 8601 ``…Z`` timestamp of the JSON output → epoch seconds."""
    assert text is not None, "expected a timestamp, got null"
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text[:-1] + "+00:00").timestamp()


def q(path: Path | str) -> str:
    """A path quoted for a job's ``sh -c`` command."""
    return shlex.quote(os.fspath(path))


def gate_wait(gate: Path) -> str:
    """Shell that blocks until ``gate`` exists: a job that runs exactly as long as a test wants."""
    return f"while [ ! -e {q(gate)} ]; do sleep 0.02; done"


# --- processes in /proc ----------------------------------------------------------------
def _stat(pid: int) -> tuple[str, str] | None:
    """(state letter, start time) of a process, or None if there is no such pid."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2 :].split()
    return fields[0].decode(), fields[19].decode()


def running(pid: int, start: str | None = None) -> bool:
    """True while ``pid`` runs (a zombie has ended: this VM's init reaps orphans only
    every few seconds). With ``start``, a reused pid does not count as the same process."""
    found = _stat(pid)
    if found is None or found[0] in ("Z", "X"):
        return False
    return start is None or found[1] == start


def start_time(pid: int) -> str | None:
    found = _stat(pid)
    return None if found is None else found[1]


def read_pid(path: Path) -> int | None:
    """A pid a job wrote to ``path``, once it is completely written."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    return int(text) if text.endswith("\n") and text.strip().isdigit() else None


def wait_for_pid(path: Path, timeout: float = 10.0) -> int:
    """Wait for a job to write its pid (``echo $$ > path``) and return it."""
    return wait_until(lambda: read_pid(path), timeout, what=f"a pid in {path}")


# --- the CLI ---------------------------------------------------------------------------
class Worker:
    """A ``queuectl worker start`` process in its own session; stderr goes to a file."""

    def __init__(self, proc: subprocess.Popen[bytes], log: Path, args: tuple[str, ...]) -> None:
        self.proc = proc
        self.log_path = log
        self.args = args

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for_log(self, *texts: str, timeout: float = 10.0) -> None:
        """Wait until the worker's stderr holds one of ``texts``."""
        wait_until(
            lambda: any(text in self.log() for text in texts),
            timeout,
            what=lambda: f"one of {texts} in the log of worker {self.args}:\n{self.log()}",
        )

    def send(self, sig: int) -> None:
        """A signal to the worker process itself (as a terminal's Ctrl+C or `kill` would)."""
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"worker {self.args} still running after {timeout:g}s; its log:\n{self.log()}"
            ) from None

    def kill_group(self) -> None:
        """SIGKILL to the worker's whole process group (its jobs are in their own sessions)."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(10)


class Queuectl:
    """One test's queue (SQLite in ``QUEUECTL_HOME`` under ``tmp_path``, or a fresh
    PostgreSQL schema), and what ran against it. ``env`` adds to every command's
    environment (e.g. ``QUEUECTL_HOSTNAME`` to play another host)."""

    def __init__(
        self, tmp_path: Path, db: str | None = None, env: Mapping[str, str] | None = None
    ) -> None:
        self.tmp = tmp_path
        self.home = tmp_path / "home"
        self.env = {k: v for k, v in os.environ.items() if k not in _INHERITED}
        self.env["QUEUECTL_HOME"] = os.fspath(self.home)
        if db is not None:  # a PostgreSQL URL; None = the default SQLite file in home
            self.env["QUEUECTL_DB"] = db
        self.env["PYTHONDONTWRITEBYTECODE"] = "1"
        self.env.update(env or {})
        self.workers: list[Worker] = []
        self.detached: list[tuple[int, str | None]] = []
        self.others: list[subprocess.Popen[bytes]] = []

    # --- one-shot commands ----------------------------------------------------------
    def run(
        self, *args: str, check: bool = True, timeout: float = 60, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*QUEUECTL, *args],
            input=input,
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.tmp,
            timeout=timeout,
            check=False,
        )
        if check:
            assert done.returncode == 0, (
                f"queuectl {shlex.join(args)} exited {done.returncode}\n"
                f"stdout: {done.stdout}\nstderr: {done.stderr}"
            )
        return done

    def json(self, *args: str) -> Any:
        out = self.run(*args, "--json").stdout
        try:
            return json.loads(out)
        except ValueError:
            raise AssertionError(f"queuectl {shlex.join(args)} --json printed {out!r}") from None

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

        return wait_until(
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

        return wait_until(
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
        log = self.tmp / f"worker-{name or len(self.workers) + 1}.log"
        with open(log, "wb") as err:
            proc = subprocess.Popen(
                [*QUEUECTL, "worker", "start", *args],
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
                env={**self.env, **(env or {})},
                cwd=self.tmp,
                start_new_session=True,
            )
        worker = Worker(proc, log, args if name is None else (name, *args))
        self.workers.append(worker)
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
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            proc.communicate(timeout=10)
        for pid, start in self.detached:
            if start is not None and running(pid, start):
                os.killpg(pid, signal.SIGKILL)  # a detached worker leads its own session
        # What is left are jobs (and their children) of killed workers: they live in
        # their own sessions. Only this test's processes carry this QUEUECTL_HOME.
        marker = f"QUEUECTL_HOME={self.home}"
        deadline = time.monotonic() + 10
        while True:
            left = [pid for pid in pids_with_env(marker) if running(pid)]
            if not left or time.monotonic() > deadline:
                break
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)
        assert not left, f"could not end processes {left}"


@contextmanager
def fresh_queue(tmp_path: Path, db: str | None = None) -> Iterator[Queuectl]:
    """A ``Queuectl`` for the ``qc`` fixtures; everything it started is ended on the way
    out (``cleanup``), pass or fail."""
    queue = Queuectl(tmp_path, db)
    try:
        yield queue
    finally:
        queue.cleanup()
