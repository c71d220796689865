"""The fence: a tiny watchdog process per worker that kills the worker's jobs when
the worker dies (SIGKILL), freezes (SIGSTOP) or can no longer renew its leases.

The worker cannot do this itself in those cases, so a separate process in its own
session does (see fence.sh). It costs nothing per job: jobs are found by a token in
their environment. Without bash, the worker runs unfenced and says so.

A fence whose time ran out has fired, or is firing, even while its process still runs
(it scans /proc, which takes a while on a busy machine): a job given its token then
would run unfenced once it exits. So the worker keeps the fence's deadline in its own
clock and counts the fence as live only before it (``live``).
"""

from __future__ import annotations

import os
import shutil
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

SCRIPT = os.path.join(os.path.dirname(__file__), "fence.sh")
ENV = "QUEUECTL_FENCE"
# bash reads a renewal a byte at a time and checks its timer between bytes: a line
# written just before the timer runs out may be read too late. The worker stops
# counting on a fence this share of its limit (at most MARGIN_MAX s) before it runs out.
MARGIN = 0.1
MARGIN_MAX = 1.0


class Fence:
    def __init__(self, limit: float, clock: Callable[[], float] = time.monotonic) -> None:
        """Start the watchdog; jobs die if no renewal is reported within ``limit`` seconds.
        ``clock`` is the worker's monotonic clock (a test's fake one)."""
        self._clock = clock
        self.token = os.urandom(12).hex()
        bash = shutil.which("bash")
        if bash is None:
            raise OSError("bash not found")
        read_end, self._write_end = os.pipe()  # both close-on-exec: jobs never hold them
        # bash's timer starts after it has started: it cannot fire before this deadline
        self.deadline = _deadline(clock(), limit)
        try:
            self.pid = os.posix_spawn(
                bash,
                [bash, SCRIPT, self.token, _seconds(limit)],
                {"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                file_actions=[
                    (os.POSIX_SPAWN_DUP2, read_end, 0),
                    (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                    (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
                ],
                setsid=True,  # not in the worker's process group: survives a kill of it
            )
        finally:
            os.close(read_end)

    def renewed(self, limit: float) -> bool:
        """Leases were just renewed: jobs may run ``limit`` more seconds without news.
        False, and nothing written, if the fence is not live (its time ran out, or its
        process is gone): close it and start a new one."""
        sent = self._clock()  # before the write: bash's new timer starts after it
        if not self.live(sent):
            return False
        try:
            os.write(self._write_end, (_seconds(limit) + "\n").encode())
        except OSError:
            return False
        self.deadline = _deadline(sent, limit)
        return self.alive()

    def live(self, now: float | None = None) -> bool:
        """True while the watchdog runs and cannot have fired: before the deadline of the
        last limit it was given. Only then may a new job carry its token."""
        return (self._clock() if now is None else now) < self.deadline and self.alive()

    def alive(self) -> bool:
        """The watchdog's process has not exited (it may have fired all the same)."""
        try:
            return os.waitpid(self.pid, os.WNOHANG) == (0, 0)
        except ChildProcessError:
            return False

    def close(self) -> None:
        """Normal exit: the watchdog sees end of file, kills leftovers and exits."""
        try:
            os.close(self._write_end)
        except OSError:
            pass
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass


def _seconds(limit: float) -> str:
    return f"{max(limit, 0.1):.3f}"


def _deadline(start: float, limit: float) -> float:
    """The instant (``start``'s clock) until which a fence told ``limit`` at ``start`` is
    live: what bash is told (``_seconds``), less the margin."""
    told = float(_seconds(limit))
    return start + told - min(told * MARGIN, MARGIN_MAX)
