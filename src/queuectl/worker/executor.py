"""Running one job's command: spawn it in its own session, reap it, name the outcome.

``posix_spawn`` (vfork + exec inside libc) is the cheapest way to start a process
from Python; the job gets a new session (so its whole process group can be
signalled), stdin from /dev/null, and stdout+stderr into its attempt's log file.
"""

from __future__ import annotations

import errno
import os
import signal

from queuectl.lifecycle import (
    Cancelled,
    Failed,
    Interrupted,
    Killed,
    Outcome,
    SpawnError,
    Succeeded,
    TimedOut,
    WorkerLost,
)

_CD_THEN_EXEC = 'cd -- "$1" || exit 127; shift; exec "$@"'
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
        return launch(
            argv[0], argv, env, file_actions=actions, setsid=True, setsigdef=_RESTORE_DEFAULT
        )
    except OSError as exc:
        code = 127 if exc.errno in (errno.ENOENT, errno.ENOTDIR) else 126
        raise SpawnFailed(SpawnError(f"cannot run {argv[0]!r}: {exc.strerror}", code)) from None


def signal_group(pid: int, sig: int) -> None:
    """Signal the job's whole process group (grandchildren included)."""
    if pid <= 0:
        return  # no job (0 would be the worker's own group)
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def reap(pid: int) -> int | None:
    """The exit status if the job's process has ended, else None.

    Peeks first (WNOWAIT) so the group still exists while we kill what the job left
    behind in it; only then is the process reaped and its pid free for reuse.
    """
    if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
        return None
    signal_group(pid, signal.SIGKILL)
    return os.waitpid(pid, 0)[1]


def outcome_of(status: int, stop_reason: str | None, timeout: float) -> Outcome:
    """What an attempt ended with, given its exit status and why (if) we stopped it."""
    if stop_reason == "revoked":
        return Cancelled()
    if stop_reason == "fenced":
        return WorkerLost()
    if stop_reason == "interrupt":
        return Interrupted()
    if stop_reason == "timeout":
        return TimedOut(timeout)
    code = os.waitstatus_to_exitcode(status)
    if code == 0:
        return Succeeded()
    if code > 0:
        return Failed(code)
    return Killed(-code)
