"""Processes in ``/proc``: alive or not, found by their environment, ended, frozen.

A worker's jobs lead sessions of their own, so killing a worker's process group does
not reach them; they are found instead by a variable only one test's processes carry
(its ``QUEUECTL_HOME``, or a marker), which no other process on the machine has.
"""

from __future__ import annotations

import os
import platform
import signal
import subprocess
import time

from tests.support.polling import poll, wait_for


def _stat(pid: int) -> tuple[str, str] | None:
    """(state letter, start time) of a process, or None if there is no such pid."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2 :].split()
    return fields[0].decode(), fields[19].decode()


def state(pid: int) -> str | None:
    """The state letter of a process (``R``, ``S``, ``T``, ``Z`` …), None once it is gone."""
    found = _stat(pid)
    return None if found is None else found[0]


def running(pid: int, start: str | None = None) -> bool:
    """True while ``pid`` runs (a zombie has ended: this VM's init reaps orphans only
    every few seconds). With ``start``, a reused pid does not count as the same process."""
    found = _stat(pid)
    if found is None or found[0] in ("Z", "X"):
        return False
    return start is None or found[1] == start


def start_time(pid: int) -> str | None:
    """When the process started (clock ticks since boot): with its pid, its identity."""
    found = _stat(pid)
    return None if found is None else found[1]


def pids_with_env(entry: str) -> list[int]:
    """Processes whose environment holds exactly ``entry`` (``NAME=value``)."""
    wanted = os.fsencode(entry)
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as handle:
                environ = handle.read()
        except OSError:
            continue
        if wanted in environ.split(b"\0"):
            found.append(int(name))
    return found


def environ_of(pid: int) -> dict[str, str]:
    """The environment a process was started with ({} once it is gone)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            entries = handle.read().split(b"\0")
    except OSError:
        return {}
    pairs = (entry.decode(errors="replace").partition("=") for entry in entries if entry)
    return {key: value for key, _, value in pairs}


# --- ending processes ---------------------------------------------------------------------
def kill_pids(pids: list[int], sig: int = signal.SIGKILL) -> None:
    """``sig`` to each of ``pids``; one already gone is no error."""
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def kill_marked(entry: str, timeout: float = 10.0) -> list[int]:
    """SIGKILL every process whose environment holds ``entry``, again and again (a dying
    job may still start a child) until none runs or ``timeout`` passes; those left."""
    left: list[int] = []

    def none_left() -> bool:
        left[:] = [pid for pid in pids_with_env(entry) if running(pid)]
        kill_pids(left)
        return not left

    poll(none_left, timeout)
    return left


def kill_group(proc: subprocess.Popen[bytes] | subprocess.Popen[str], timeout: float = 10) -> None:
    """SIGKILL to the process group a ``start_new_session`` child leads, then reap it."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.communicate(timeout=timeout)


def end_group(proc: subprocess.Popen[bytes] | subprocess.Popen[str], grace: float = 15) -> None:
    """SIGTERM to the process group a ``start_new_session`` child leads (a graceful
    stop), SIGKILL if it is still there after ``grace`` seconds; reaped either way."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=grace)


# --- freezing a worker --------------------------------------------------------------------
# epoll_wait, epoll_pwait, epoll_pwait2: the worker's select() loop, between transactions
_IDLE_SYSCALLS = {"x86_64": {232, 281, 441}, "aarch64": {22, 441}}


def freeze_idle(pid: int, timeout: float = 10.0) -> float:
    """SIGSTOP the worker while it waits in its select() loop, never in the middle of a
    transaction: a SQLite writer frozen with the write lock would stall every worker,
    and a PostgreSQL transaction frozen open would keep its rows locked from rescue.
    Returns the wall-clock instant of the freeze."""
    idle = _IDLE_SYSCALLS.get(platform.machine())
    deadline = time.monotonic() + timeout
    while True:
        frozen_at = time.time()
        os.kill(pid, signal.SIGSTOP)
        wait_for(lambda: state(pid) == "T", 5, interval=0.001, what=f"pid {pid} to stop")
        with open(f"/proc/{pid}/syscall") as handle:
            call = handle.read().split()[0]
        if idle is None or (call.isdigit() and int(call) in idle):
            return frozen_at
        os.kill(pid, signal.SIGCONT)
        assert time.monotonic() < deadline, f"pid {pid} never seen idle in select()"
        time.sleep(0.013)


def thaw(pid: int) -> None:
    os.kill(pid, signal.SIGCONT)
