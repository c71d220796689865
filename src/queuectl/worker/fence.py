"""The fence: a tiny watchdog process per worker that kills the worker's jobs when
the worker dies (SIGKILL), freezes (SIGSTOP) or can no longer renew its leases.

The worker cannot do this itself in those cases, so a separate process in its own
session does (see fence.sh). It costs nothing per job: jobs are found by a token in
their environment. Without bash, the worker runs unfenced and says so.
"""

from __future__ import annotations

import os
import shutil

SCRIPT = os.path.join(os.path.dirname(__file__), "fence.sh")
ENV = "QUEUECTL_FENCE"


class Fence:
    def __init__(self, limit: float) -> None:
        """Start the watchdog; jobs die if no renewal is reported within ``limit`` seconds."""
        self.token = os.urandom(12).hex()
        bash = shutil.which("bash")
        if bash is None:
            raise OSError("bash not found")
        read_end, self._write_end = os.pipe()  # both close-on-exec: jobs never hold them
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
        False if the watchdog is gone (it fired, or was killed): start a new one."""
        try:
            os.write(self._write_end, (_seconds(limit) + "\n").encode())
        except OSError:
            return False
        return self.alive()

    def alive(self) -> bool:
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
