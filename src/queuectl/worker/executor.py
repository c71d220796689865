"""Running one job's command: spawn it in its own session, signal it, reap it.

``posix_spawn`` (vfork + exec inside libc) is the cheapest way to start a process
from Python; the job gets a new session (so its whole process group can be
signalled), stdin from /dev/null, and stdout+stderr into its attempt's log file.

What the job starts can leave its process group (``setsid``, a daemon's double fork):
every process of an attempt is found by its tag, entries of the environment the worker
gave the job (fence token, job id, attempt) that its descendants inherit. A search
reads /proc/PID/environ: of the pids handed out since the job's own while the attempt
is recent (pids are handed out in increasing order, and wrap around), of every process
otherwise.
"""

from __future__ import annotations

import errno
import os
import signal
import time

from queuectl.lifecycle import SpawnError

_CD_THEN_EXEC = 'cd -- "$1" || exit 127; shift; exec "$@"'
# The environment entries that tag an attempt's processes (see tag_of).
TAG_NAMES = ("QUEUECTL_FENCE", "QUEUECTL_JOB_ID", "QUEUECTL_ATTEMPT")
# While an attempt is recent, its processes are searched among the pids handed out since
# its job's: until the kernel can have handed out every pid number once (at most
# _PID_RATE a second, threads included), those hold every process started since.
_PID_RATE = 100_000
_recent: float | None = None  # seconds, from pid_max (read once)
_PROBE = 64  # up to this many new pids are tried one by one; more: /proc is listed
_PASSES = 10  # SIGKILL passes at most: each finds what forked during the one before
# The pids this process spawned and has not reaped yet (jobs, hooks), each with the
# monotonic instant after its spawn: each is the first process of an attempt of its own,
# so never a leftover of another; the search skips them.
_roots: dict[int, float] = {}
# The last pids it reaped, oldest first, with the same instant.
# One spawned after an attempt's job, among the pids handed out since (no wrap-around
# there, see _candidates), is gone and was not handed out again: the search skips it too.
_reaped: dict[int, float] = {}
_REAPED_KEPT = 256
# Python ignores SIGPIPE and SIGXFSZ for itself; a job must get the defaults back.
_RESTORE_DEFAULT = (signal.SIGPIPE, signal.SIGXFSZ)


class SpawnFailed(Exception):
    def __init__(self, outcome: SpawnError) -> None:
        super().__init__(outcome.message)
        self.outcome = outcome


def argv_of(command: str | list[str], cwd: str | None) -> list[str]:
    """A string runs under /bin/sh -c; an array is argv. A cwd is entered by a tiny sh prelude."""
    argv = ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)
    if cwd is not None:
        argv = ["/bin/sh", "-c", _CD_THEN_EXEC, "queuectl-cwd", cwd, *argv]
    return argv


def spawn(argv: list[str], env: dict[str, str], log_fd: int) -> int:
    """Start the process; its pid is also its process group and session id."""
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_DUP2, log_fd, 1),
        (os.POSIX_SPAWN_DUP2, log_fd, 2),
    ]
    launch = os.posix_spawn if "/" in argv[0] else os.posix_spawnp
    try:
        pid = launch(
            argv[0], argv, env, file_actions=actions, setsid=True, setsigdef=_RESTORE_DEFAULT
        )
    except OSError as exc:
        code = 127 if exc.errno in (errno.ENOENT, errno.ENOTDIR) else 126
        raise SpawnFailed(SpawnError(f"cannot run {argv[0]!r}: {exc.strerror}", code)) from None
    _roots[pid] = time.monotonic()
    return pid


def tag_of(env: dict[str, str]) -> tuple[bytes, ...]:
    """The entries of a job's environment that every process of its attempt inherits."""
    return tuple(f"{name}={env[name]}".encode() for name in TAG_NAMES if name in env)


def signal_attempt(pid: int, tag: tuple[bytes, ...], spawned: float, sig: int) -> None:
    """``sig`` to the job's process group and to every process that carries the attempt's
    ``tag`` (``spawned``: the monotonic instant before the job's spawn). A SIGKILL looks
    again until a pass finds nothing new: what forked meanwhile is found the next time."""
    signal_group(pid, sig)
    done = {pid}
    for _ in range(_PASSES):
        found = [other for other in tagged(tag, pid, spawned) if other not in done]
        for other in found:
            try:
                # a SIGTERM reaches the group's members once (a second one may mean
                # "hurry" to them); a SIGKILL also what joined the group since killpg
                if sig == signal.SIGKILL or os.getpgid(other) != pid:
                    os.kill(other, sig)
            except (ProcessLookupError, PermissionError):
                pass
        if not found or sig != signal.SIGKILL:
            return
        done.update(found)


def tagged(tag: tuple[bytes, ...], first: int, spawned: float) -> list[int]:
    """The processes whose environment holds every entry of ``tag``, among those that
    can be the attempt's: started after its job (pid ``first``), and not the first process
    of another attempt (``_roots``: in a busy worker, most pids handed out since)."""
    if not tag:
        return []
    needles = [b"\0" + entry + b"\0" for entry in tag]
    found = []
    candidates = _candidates(first, time.monotonic() - spawned < _recent_for())
    since = isinstance(candidates, range)  # only the pids handed out since the job's
    for pid in candidates:
        if pid in _roots or (since and _reaped.get(pid, spawned) > spawned):
            continue
        environ = environ_of(pid)
        if environ is not None and all(needle in environ for needle in needles):
            found.append(pid)
    return found


def environ_of(pid: int) -> bytes | None:
    """A process's environment as ``\\0NAME=value\\0…\\0`` (every entry between NULs, so
    ``\\0NAME=`` finds a whole name); None if it is gone or not ours to read."""
    try:
        return b"\0" + _read(f"/proc/{pid}/environ") + b"\0"
    except OSError:
        return None


def _read(path: str) -> bytes:
    """A whole small file, in as few system calls as can be (no buffer, no tty check)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        parts = []
        while part := os.read(fd, 65536):
            parts.append(part)
        return b"".join(parts)
    finally:
        os.close(fd)


def _candidates(first: int, recent: bool) -> range | list[int]:
    """Pids that may belong to processes started since ``first`` was. When the attempt is
    recent, only those handed out since ``first`` (up to the last one, with wrap-around)."""
    last = _last_pid() if recent else None
    if last is not None and first <= last <= first + _PROBE:
        return range(first + 1, last + 1)
    me = os.getpid()
    pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    if last is None:
        return [pid for pid in pids if pid not in (first, me)]
    if first <= last:
        return [pid for pid in pids if first < pid <= last and pid != me]
    return [pid for pid in pids if (pid > first or pid <= last) and pid != me]


def _recent_for() -> float:
    """How long an attempt counts as recent (0.33 s with 32,768 pids, 42 s with 4 M)."""
    global _recent
    if _recent is None:
        try:
            with open("/proc/sys/kernel/pid_max", "rb") as handle:
                pid_max = int(handle.read())
        except (OSError, ValueError):
            pid_max = 32768  # the least Linux has
        _recent = pid_max / _PID_RATE
    return _recent


def _last_pid() -> int | None:
    """The pid the kernel handed out last (in this pid namespace), if it says."""
    try:
        return int(_read("/proc/sys/kernel/ns_last_pid"))
    except (OSError, ValueError):
        return None


def signal_group(pid: int, sig: int) -> None:
    """Signal the job's whole process group (grandchildren included)."""
    if pid <= 0:
        return  # no job (0 would be the worker's own group)
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def reap(pid: int, tag: tuple[bytes, ...], spawned: float) -> int | None:
    """The exit status if the job's process has ended, else None.

    Peeks first (WNOWAIT) so the group still exists, and the pid is not reused, while we
    kill what the job left behind (``signal_attempt``); only then is the process reaped.
    """
    if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
        return None
    signal_attempt(pid, tag, spawned, signal.SIGKILL)
    status = os.waitpid(pid, 0)[1]
    _reaped[pid] = _roots.pop(pid, 0.0)
    if len(_reaped) > _REAPED_KEPT:
        del _reaped[next(iter(_reaped))]
    return status
