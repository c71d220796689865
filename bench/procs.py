"""Processes the benchmark starts, and what /proc says about them.

Every process is started in a session of its own (its pid is its process group) and
recorded; ``Registry.cleanup`` ends each one by pid or process group, with its
descendants (a worker's fence watchdog runs in a session of its own), however the
run ends. Nothing is ever killed by name.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import threading
import time
from typing import IO, Any

from bench.core import log

CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- /proc ---------------------------------------------------------------------------------
def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (index 0 = state)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    return data[data.rfind(b")") + 2 :].decode().split()


def start_time(pid: int) -> str | None:
    fields = _stat_fields(pid)
    return None if fields is None else fields[19]


def alive(pid: int, started: str | None = None) -> bool:
    """Running (not a zombie), and the same process if its start time is given."""
    fields = _stat_fields(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return False
    return started is None or fields[19] == started


def children_map() -> dict[int, list[int]]:
    found: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        fields = _stat_fields(int(name))
        if fields is not None:
            found.setdefault(int(fields[1]), []).append(int(name))
    return found


def tree(pid: int) -> list[int]:
    """``pid`` and every live descendant (sessions of their own included)."""
    kids = children_map()
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(kids.get(current, []))
    return found


def cpu_ticks(pids: list[int]) -> int:
    """utime+stime of each process plus cutime+cstime (its reaped children)."""
    total = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            total += sum(int(fields[i]) for i in (11, 12, 13, 14))
    return total


def memory_kb(pid: int) -> tuple[int, int] | None:
    """(RSS, PSS) in KiB from /proc/<pid>/smaps_rollup."""
    rss = pss = None
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        return None
    if rss is None or pss is None:
        return None
    return rss, pss


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


# --- starting and ending processes -----------------------------------------------------------
class Registry:
    """Every process the run started, so that none outlives it."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[Any]] = []
        # per process started: its descendants seen while it ran, {pid: start time}
        self.descendants: dict[int, dict[int, str]] = {}

    def popen(self, argv: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        proc: subprocess.Popen[Any] = subprocess.Popen(argv, start_new_session=True, **kwargs)
        self.procs.append(proc)
        return proc

    def note_tree(self, pid: int) -> list[int]:
        """Remember the live descendants of ``pid`` (to end them by pid if need be)."""
        pids = tree(pid)
        seen = self.descendants.setdefault(pid, {})
        for child in pids[1:]:
            started = start_time(child)
            if started is not None:
                seen[child] = started
        return pids

    def stop(self, proc: subprocess.Popen[Any], grace: float = 10.0) -> int | None:
        """SIGTERM (a worker stops gracefully), then SIGKILL to its process group."""
        if proc.poll() is None:
            self.note_tree(proc.pid)
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                log(f"pid {proc.pid} ignored SIGTERM for {grace:g}s: SIGKILL")
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        self._end_descendants(proc.pid)
        return proc.returncode

    def _end_descendants(self, root: int, wait: float = 3.0) -> None:
        """Descendants of ``root`` leave by themselves (a fence sees its worker's pipe
        close); any still there after ``wait`` is killed by pid, if it is still the same
        process."""
        left = self.descendants.pop(root, {})
        deadline = time.monotonic() + wait
        while left and time.monotonic() < deadline:
            left = {p: s for p, s in left.items() if alive(p, s)}
            if left:
                time.sleep(0.02)
        for pid, started in left.items():
            if alive(pid, started):
                log(f"ending leftover pid {pid} ({cmdline(pid)})")
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)

    def cleanup(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    self.stop(proc, grace=5.0)
                except Exception as exc:  # keep ending the others
                    log(f"cleanup of pid {proc.pid}: {exc}")
        for root in list(self.descendants):
            self._end_descendants(root)
        self.procs = [p for p in self.procs if p.poll() is None]


def run_timed(
    registry: Registry,
    argv: list[str],
    env: dict[str, str],
    timeout: float,
    stdout: int | IO[Any] = subprocess.DEVNULL,
    stderr: int | IO[Any] = subprocess.DEVNULL,
) -> tuple[float, int]:
    """Run to completion; (seconds from the spawn call to its exit, exit code).

    The wait blocks in waitpid(): ``Popen.wait(timeout)`` would poll with sleeps of up
    to 50 ms and round every time up to its polling steps (31.5, 63.5, 113.5 ms …). The
    timeout is a watchdog thread that kills the process group instead.
    """
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)

    start = time.perf_counter()
    proc = registry.popen(argv, env=env, stdout=stdout, stderr=stderr)
    watchdog = threading.Timer(timeout, expire)
    watchdog.daemon = True
    watchdog.start()
    try:
        code = proc.wait()
    finally:
        watchdog.cancel()
    elapsed = time.perf_counter() - start
    registry.procs.remove(proc)
    if expired.is_set():
        raise TimeoutError(f"{' '.join(argv[:4])}… did not finish in {timeout:g}s")
    return elapsed, code


# --- a start probe: a command tells us the instant it starts -----------------------------------
class StartProbe:
    """A FIFO that a job's shell writes a line to (``echo`` is a builtin: no extra process);
    the instant the line arrives is the instant the command started, give or take one
    pipe wake-up. The same probe times a direct spawn, so the two compare exactly."""

    def __init__(self, folder: str) -> None:
        self.path = os.path.join(folder, "start.fifo")
        os.mkfifo(self.path, 0o600)
        # read+write: writers never block on open, and we never see end-of-file
        self.fd = os.open(self.path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        self._buffer = b""

    def command(self) -> str:
        """Shell for a job: writes its id (from the worker's environment) on start."""
        return f"echo \"$QUEUECTL_JOB_ID\" > '{self.path}'"

    def wait(self, timeout: float) -> tuple[str, float, float]:
        """Block until a line arrives: (line, time.time(), time.perf_counter()) on arrival."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no start signal within {timeout:g}s")
            ready, _, _ = select.select([self.fd], [], [], left)
            wall, perf = time.time(), time.perf_counter()
            if ready:
                try:
                    self._buffer += os.read(self.fd, 4096)
                except BlockingIOError:
                    continue
                if b"\n" in self._buffer:
                    line, _, self._buffer = self._buffer.partition(b"\n")
                    return line.decode(), wall, perf
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode(), time.time(), time.perf_counter()

    def close(self) -> None:
        os.close(self.fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
