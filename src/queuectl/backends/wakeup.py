"""Wake an idle worker the moment the SQLite queue changes, without polling.

Every commit to a WAL database writes the ``-wal`` file; inotify on the folder
reports it within microseconds. The enqueuer pays nothing for this. Where inotify
is missing, workers fall back to polling at ``poll_interval``.
"""

from __future__ import annotations

import ctypes
import os
import struct

_IN_MODIFY = 0x002
_IN_CREATE = 0x100
_IN_MOVED_TO = 0x080
_IN_NONBLOCK = 0o4000
_IN_CLOEXEC = 0o2000000
_HEADER = struct.Struct("iIII")


class DbWatcher:
    """A readable fd that fires when the database file or its WAL is written: by any
    process, the watching worker's own commits included (it tells only of "jobs")."""

    jobs_only = True

    def __init__(self, db_path: str) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        self._fd: int = libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        folder = os.path.dirname(db_path).encode()
        mask = _IN_MODIFY | _IN_CREATE | _IN_MOVED_TO
        if libc.inotify_add_watch(self._fd, folder, mask) < 0:
            os.close(self._fd)
            raise OSError(ctypes.get_errno(), "inotify_add_watch failed")
        self._prefix = os.path.basename(db_path).encode()

    def fileno(self) -> int:
        fd: int = self._fd
        return fd

    def drain(self) -> set[str]:
        """Consume pending events: {"jobs"} if one was about the database."""
        relevant = False
        while True:
            try:
                data = os.read(self._fd, 65536)
            except BlockingIOError:
                return {"jobs"} if relevant else set()
            offset = 0
            while offset < len(data):
                _, _, _, size = _HEADER.unpack_from(data, offset)
                name = data[offset + _HEADER.size : offset + _HEADER.size + size].rstrip(b"\0")
                relevant = relevant or name.startswith(self._prefix)
                offset += _HEADER.size + size

    def close(self) -> None:
        os.close(self._fd)
