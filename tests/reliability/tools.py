"""Helpers of the reliability tests: workers with a marker in their environment, their
fences, the runs a job recorded, and a TCP proxy that can cut a worker off from
PostgreSQL without closing its connections."""

from __future__ import annotations

import os
import select
import socket
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from tests.support.cli import Worker
from tests.support.harness import Queuectl
from tests.support.jobs import Run
from tests.support.polling import wait_for
from tests.support.processes import environ_of, pids_with_env, running, state

# Every process a marked worker starts (its jobs and what they start) inherits this.
MARK = "QUEUECTL_RELIABILITY_WORKER"


def start_marked_worker(
    qc: Queuectl, mark: str, *args: str, env: dict[str, str] | None = None
) -> Worker:
    """``worker start ARGS`` like ``qc.start_worker``, with ``MARK=<mark>-<random>`` (and
    ``env``) in its environment, so its jobs can be told from other workers' jobs in
    /proc, also from those of the same test run at the same time elsewhere on the machine.
    It is tracked by ``qc``, whose clean-up ends it."""
    unique = f"{mark}-{uuid.uuid4().hex[:8]}"
    return qc.start_worker(*args, env={MARK: unique, **(env or {})}, name=unique)


def jobs_of(worker: Worker) -> list[int]:
    """The live processes that carry the worker's mark, the worker itself excluded."""
    entry = f"{MARK}={worker.args[0]}"
    return [pid for pid in pids_with_env(entry) if pid != worker.pid and running(pid)]


def wait_jobs_of(worker: Worker, at_least: int, timeout: float = 10.0) -> list[int]:
    """Wait until the worker's jobs count at least ``at_least`` processes; their pids."""
    found: list[int] = []

    def enough() -> bool:
        found[:] = jobs_of(worker)
        return len(found) >= at_least

    wait_for(enough, timeout, what=lambda: f"{at_least} job processes (have {found})")
    return found


def wait_gone(pids: list[int], timeout: float) -> float:
    """Poll until none of ``pids`` runs (a zombie has ended); the wall-clock instant."""
    wait_for(
        lambda: not any(running(pid) for pid in pids),
        timeout,
        interval=0.002,
        what=f"processes {pids} to end",
    )
    return time.time()


def fences_of(worker: Worker) -> list[tuple[int, str]]:
    """The worker's fences (children running fence.sh, one unless it is replacing it):
    pid and token of each."""
    found = []
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                stat = handle.read()
            with open(f"/proc/{name}/cmdline", "rb") as handle:
                argv = handle.read().split(b"\0")
        except (OSError, ValueError):
            continue
        parent = int(stat[stat.rfind(b")") + 2 :].split()[1])
        if parent == worker.pid and len(argv) > 2 and argv[1].endswith(b"fence.sh"):
            found.append((int(name), argv[2].decode()))
    return found


def fence_of(worker: Worker) -> tuple[int, str]:
    """The worker's fence: its pid and its token."""
    found = wait_for(lambda: fences_of(worker), 10, what=f"the fence of worker {worker.pid}")
    return found[0]


def processes_report(worker: Worker) -> str:
    """For a failure message: the worker's job processes (state, fence token, command),
    its fences (state, token) and its log."""
    lines = []
    for pid in jobs_of(worker):
        token = environ_of(pid).get("QUEUECTL_FENCE")
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                argv = handle.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            argv = "?"
        lines.append(f"job process {pid} state {state(pid) or 'gone'} token {token}: {argv[:80]}")
    for pid, token in fences_of(worker):
        lines.append(f"fence {pid} state {state(pid) or 'gone'} token {token}")
    return "\n".join(lines) + f"\nworker log:\n{worker.log()}"


# --- what a job recorded ------------------------------------------------------------------
def timed_job(side: Path, seconds: float) -> str:
    """A job that records its start and end (attempt, wall-clock time, its pid)."""
    f = side.as_posix()
    return (
        f"echo start $QUEUECTL_ATTEMPT $(date +%s.%N) $$ >> {f}; sleep {seconds:g}; "
        f"echo end $QUEUECTL_ATTEMPT $(date +%s.%N) >> {f}"
    )


def runs_of(side: Path) -> dict[int, Run]:
    """The runs ``timed_job`` recorded, by attempt number (a run without an end was killed)."""
    runs: dict[int, Run] = {}
    try:
        text = side.read_text()
    except FileNotFoundError:
        return runs
    for line in text.splitlines():
        kind, attempt, when, *rest = line.split()
        if kind == "start":
            assert int(attempt) not in runs, f"attempt {attempt} started twice:\n{text}"
            runs[int(attempt)] = Run(int(attempt), float(when), int(rest[0]))
        else:
            assert kind == "end", line
            run = runs[int(attempt)]
            assert run.end is None, f"attempt {attempt} ended twice:\n{text}"
            run.end = float(when)
    return runs


def ends(side: Path) -> list[str]:
    return [line for line in side.read_text().splitlines() if line.startswith("end ")]


# --- a proxy in front of PostgreSQL ---------------------------------------------------------
def via(url: str, port: int) -> str:
    """``url`` with its host and port replaced by 127.0.0.1:``port``."""
    parts = urlsplit(url)
    user = parts.netloc.rpartition("@")[0]
    netloc = f"{user}@127.0.0.1:{port}" if user else f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


class PausableProxy:
    """A TCP proxy on 127.0.0.1:<free port> to ``target``, in threads of the test process.

    ``pause()`` stops forwarding in both directions and holds every connection open: the
    client's bytes are accepted (acknowledged by this host's kernel) and then sit in the
    proxy, so the client's queries hang instead of failing, as behind a black hole that
    still acknowledges. ``pause_after(trigger)`` pauses right after forwarding the first
    client→server chunk for which ``trigger(chunk)`` is true. ``resume()`` forwards again.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.flowing = threading.Event()
        self.flowing.set()
        self.closed = threading.Event()
        self.paused_at: float | None = None
        self._trigger: Callable[[bytes], bool] | None = None
        self._lock = threading.Lock()  # held while a chunk is forwarded
        self._sockets: list[socket.socket] = []
        self.upstream_ports: list[int] = []  # local ports of our connections to the target
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def pause(self) -> None:
        with self._lock:  # a chunk being forwarded is forwarded completely
            self.flowing.clear()
            self.paused_at = time.time()

    def pause_after(self, trigger: Callable[[bytes], bool]) -> None:
        self._trigger = trigger

    def resume(self) -> None:
        self.flowing.set()

    def close(self) -> None:
        self.closed.set()
        self.flowing.set()
        self.listener.close()
        for sock in self._sockets:
            try:
                sock.close()
            except OSError:
                pass
        for thread in self._threads:
            thread.join(5)

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                ready, _, _ = select.select([self.listener], [], [], 0.05)
                if not ready:
                    continue
                client, _ = self.listener.accept()
            except (OSError, ValueError):  # closed under us by close()
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            self._sockets += [client, upstream]
            self.upstream_ports.append(upstream.getsockname()[1])
            for src, dst, watch in ((client, upstream, True), (upstream, client, False)):
                thread = threading.Thread(target=self._pump, args=(src, dst, watch), daemon=True)
                self._threads.append(thread)
                thread.start()

    def _pump(self, src: socket.socket, dst: socket.socket, client_side: bool) -> None:
        try:
            while not self.closed.is_set():
                if not self.flowing.wait(0.05):
                    continue  # paused: leave the bytes where they are
                ready, _, _ = select.select([src], [], [], 0.05)
                if not ready:
                    continue
                with self._lock:
                    if not self.flowing.is_set():
                        continue
                    data = src.recv(65536)
                    if not data:
                        break
                    dst.sendall(data)
                    trigger = self._trigger
                    if client_side and trigger is not None and trigger(data):
                        self._trigger = None
                        self.flowing.clear()
                        self.paused_at = time.time()
        except (OSError, ValueError):  # the peer went away, or close() closed the socket
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
