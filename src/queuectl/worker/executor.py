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

What an attempt used comes from the kernel: ``wait4`` gives the job's CPU time and peak
RSS, its own and those of every descendant it waited for. The worker is a child
subreaper (``become_subreaper``), so what a job left running becomes the worker's child
when its parent ends: the leftovers killed at the attempt's end are reaped and counted
with it (``reap``), and those that end earlier are reaped by ``reap_strangers``.
"""

from __future__ import annotations

import errno
import os
import signal
import time
from resource import RUSAGE_SELF, getrusage

from queuectl.lifecycle import SpawnError, Usage

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Collection
    from resource import struct_rusage

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


def argv_of(command: str | list[str], cwd: str | None, prelude: str = "") -> list[str]:
    """A string runs under /bin/sh -c; an array is argv. A cwd is entered by a tiny sh
    prelude, which also runs ``prelude`` first (a limited job's: worker.confine)."""
    argv = ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)
    if prelude:
        if cwd is not None:
            return ["/bin/sh", "-c", f"{prelude}; {_CD_THEN_EXEC}", "queuectl-cwd", cwd, *argv]
        return ["/bin/sh", "-c", f'{prelude}; exec "$@"', "queuectl-limits", *argv]
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


def signal_attempt(pid: int, tag: tuple[bytes, ...], spawned: float, sig: int) -> set[int]:
    """``sig`` to the job's process group and to every process that carries the attempt's
    ``tag`` (``spawned``: the monotonic instant before the job's spawn). A SIGKILL looks
    again until a pass finds nothing new: what forked meanwhile is found the next time.
    → the tagged processes signalled (the job's own pid and its group's members that
    carry no tag aside). The first search comes before the group is signalled: a process
    that has died is a zombie whose environment cannot be read, and its use is counted
    only if it is known (``reap``)."""
    done = {pid}
    search = tagged(tag, pid, spawned)
    signal_group(pid, sig)
    for _ in range(_PASSES):
        found = [other for other in search if other not in done]
        for other in found:
            try:
                # a SIGTERM reaches the group's members once (a second one may mean
                # "hurry" to them); a SIGKILL also what joined the group since killpg
                if sig == signal.SIGKILL or os.getpgid(other) != pid:
                    os.kill(other, sig)
            except (ProcessLookupError, PermissionError):
                pass
        done.update(found)
        if not found or sig != signal.SIGKILL:
            break
        search = tagged(tag, pid, spawned)
    done.discard(pid)
    return done


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
    """The pid the kernel handed out last (in this pid namespace), if it says. Read at
    every reap: the file stays open and is read again from its start (one pread instead
    of an open, two reads and a close: a tenth of the time)."""
    global _last_pid_fd
    try:
        if _last_pid_fd is None:
            _last_pid_fd = os.open("/proc/sys/kernel/ns_last_pid", os.O_RDONLY | os.O_CLOEXEC)
        return int(os.pread(_last_pid_fd, 32, 0))
    except (OSError, ValueError):
        return None


_last_pid_fd: int | None = None


def signal_group(pid: int, sig: int) -> None:
    """Signal the job's whole process group (grandchildren included)."""
    if pid <= 0:
        return  # no job (0 would be the worker's own group)
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def reap(
    pid: int, tag: tuple[bytes, ...], spawned: float, known: Collection[int] = ()
) -> tuple[int, Usage] | None:
    """(the exit status, what the attempt used) if the job's process has ended, else None.

    Peeks first (WNOWAIT) so the group still exists, and the pid is not reused, while we
    kill what the job left behind (``signal_attempt``); only then is the process reaped.
    The leftovers killed are reaped too, as they become the worker's (a subreaper's)
    children, and their use is added; one that outlasts LEFTOVER_WAIT is left to
    ``reap_strangers``. ``known``: the worker's other children (``reap_strangers``).
    """
    if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
        return None
    left = signal_attempt(pid, tag, spawned, signal.SIGKILL)
    _, status, used = os.wait4(pid, 0)
    _reaped[pid] = _roots.pop(pid, 0.0)
    if len(_reaped) > _REAPED_KEPT:
        del _reaped[next(iter(_reaped))]
    usage = Usage(used.ru_utime, used.ru_stime, _own_peak(used.ru_maxrss))
    if left:
        usage = _gather(left, usage, time.monotonic() + LEFTOVER_WAIT)
    for _, _, orphan in reap_strangers(known, session=pid):  # ended as the job did
        usage = add_usage(usage, orphan)
    return status, usage


LEFTOVER_WAIT = 0.5  # seconds the killed leftovers of an attempt are awaited at its end
_worker_peak = [0]  # the worker's own peak RSS (KiB) as last read: it only grows


def _own_peak(reported: int) -> int | None:
    """The job's peak RSS from its reported one, None where it cannot be told: exec
    records the peak of the memory the job shared with the worker until then (vfork),
    so a figure no larger than the worker's own peak says nothing of the job
    (DECISIONS.md §25). The worker's peak is read again only when it could matter."""
    if reported <= _worker_peak[0]:
        return None
    _worker_peak[0] = getrusage(RUSAGE_SELF).ru_maxrss
    return reported if reported > _worker_peak[0] else None


def child_ended() -> bool:
    """Whether some child of the worker has ended and waits to be reaped (one
    ``waitid(WNOWAIT)``: nothing is reaped)."""
    try:
        return os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return False


def add_usage(usage: Usage, used: struct_rusage | Usage) -> Usage:
    """Two uses together: CPU adds up, the peak is the larger one."""
    if isinstance(used, Usage):
        user, system, peak = used
    else:
        user, system, peak = used.ru_utime, used.ru_stime, used.ru_maxrss
    if usage.max_rss_kb is not None and (peak is None or peak < usage.max_rss_kb):
        peak = usage.max_rss_kb
    return Usage(usage.cpu_user_s + user, usage.cpu_sys_s + system, peak)


def _gather(pids: set[int], usage: Usage, deadline: float) -> Usage:
    """Reap the killed ``pids`` as they become the worker's children (a parent killed
    with them hands them over when it dies), adding what they used; until ``deadline``.
    One that is gone without being ours was reaped by its parent, which counted it."""
    left = set(pids)
    while left:
        for pid in list(left):
            try:
                got, _, used = os.wait4(pid, os.WNOHANG)
            except ChildProcessError:
                if not os.path.exists(f"/proc/{pid}"):
                    left.discard(pid)
                continue
            if got:
                usage = add_usage(usage, used)
                left.discard(pid)
        if not left or time.monotonic() >= deadline:
            break
        time.sleep(0.001)
    return usage


def become_subreaper() -> bool:
    """Make the worker the child subreaper of what its jobs start (PR_SET_CHILD_SUBREAPER):
    an orphaned descendant becomes its child, not init's, so its use can be counted. →
    whether the kernel agreed."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


_PR_SET_CHILD_SUBREAPER = 36


def reap_strangers(
    known: Collection[int], session: int | None = None
) -> list[tuple[int, int, struct_rusage]]:
    """Reap the worker's children that are none of ``known`` (its jobs, hooks and fence):
    descendants of jobs handed to the worker as their subreaper. → (pid, session id,
    use) of each; the session names the job it came from (0: unknown). Stops at the first
    known child that has ended (its owner reaps it, and the rest wait for the next call),
    and with ``session``, at the first of another session."""
    found = []
    while True:
        try:
            ended = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            break
        if ended is None or ended.si_pid in known:
            break
        pid = ended.si_pid
        of = _session_of(pid)
        if session is not None and of != session:
            break
        try:
            got, _, used = os.wait4(pid, os.WNOHANG)
        except ChildProcessError:
            break
        if not got:
            break
        found.append((pid, of, used))
    return found


def _session_of(pid: int) -> int:
    """The session id of a process (a zombie's too), 0 if it cannot be read."""
    try:
        text = _read(f"/proc/{pid}/stat")
    except OSError:
        return 0
    fields = text[text.rfind(b")") + 2 :].split()
    try:
        return int(fields[3])  # state, ppid, pgrp, session
    except (IndexError, ValueError):
        return 0
