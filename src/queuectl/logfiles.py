"""Per-attempt log files: where they live, how the worker writes and moves them, and
how any reader opens them safely. Views over a queue (``logs``, the dashboard's live
output) are in ``logview``.

One file per attempt, ``<logs>/<job id>.<attempt>.log``, owner-only. Job ids are
validated to a safe alphabet, and every path is checked to stay inside the folder.

Jobs run as the worker's user and can write in the logs folder, so a reader (perhaps
root) never follows a link there: ``open_log`` opens without following links and
accepts only a regular file of the logs folder's owner. The worker moves a job's output
by its descriptor, never by a name the job could have replaced.

``max-log-bytes`` bounds a log: its first half and its end are kept, with a line
``[queuectl: N bytes dropped]`` between them. While the job runs, the worker frees the
middle of its file (a hole: the job's writes are not disturbed, see ``LiveLog.limit``);
when it ends the file is made whole at most ``max-log-bytes`` long.
"""

from __future__ import annotations

import errno
import os
import re
import stat

from queuectl.errors import StorageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import BinaryIO

BLOCK = 4096  # holes are punched in whole blocks
MARKER_ROOM = 64  # bytes a log cut to max-log-bytes keeps for its marker line
# a cut log: the marker starts at a whole block (after a newline of its own if needed)
MARKER = re.compile(rb"\n?\[queuectl: \d+ bytes dropped\]\n")


def dropped_line(count: int) -> bytes:
    return f"[queuectl: {count} bytes dropped]\n".encode()


def cap_shape(max_bytes: int) -> tuple[int, int]:
    """(head, tail): the bytes of output a log cut to ``max_bytes`` keeps at its start
    (whole blocks, about half) and at its end; with the marker they fit in max_bytes."""
    head = max(BLOCK, max_bytes // 2 // BLOCK * BLOCK)
    return head, max_bytes - head - MARKER_ROOM


def log_path(logs_dir: str, job_id: str, run: int) -> str:
    path = os.path.join(logs_dir, f"{job_id}.{run}.log")
    if os.path.dirname(os.path.normpath(path)) != os.path.normpath(logs_dir):
        raise StorageError(f"job id {job_id!r} would write outside {logs_dir}")
    return path


def live_path(logs_dir: str, worker_id: str) -> str:
    """Where a worker slot's running job writes: one file per slot, reused while jobs
    print nothing, so a silent job costs no file creation."""
    return os.path.join(logs_dir, f".live-{worker_id}.log")


class LiveLog:
    """The output file of one worker slot (see live_path)."""

    def __init__(self, logs_dir: str, worker_id: str) -> None:
        self.logs_dir = logs_dir
        self.path = live_path(logs_dir, worker_id)
        self.fd = -1
        self.punched = 0  # where the hole in the running job's output ends (-1: cannot punch)

    def fileno(self) -> int:
        """An empty file at offset 0 for the next job (created on first use)."""
        if self.fd < 0:
            if not os.path.isdir(self.logs_dir):
                from queuectl.files import private_dirs

                private_dirs(self.logs_dir)
            flags = os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW
            try:
                self.fd = os.open(self.path, flags, 0o600)
            except OSError as exc:
                if exc.errno != errno.ELOOP:
                    raise
                os.unlink(self.path)  # a link planted at our name: never written through
                self.fd = os.open(self.path, flags | os.O_EXCL, 0o600)
        return self.fd

    def limit(self, max_bytes: int) -> None:
        """While a job runs: keep the disk its output uses near ``max_bytes`` (0: no
        limit). Past it, the middle of the output is freed as a hole (fallocate
        PUNCH_HOLE): the file keeps its size, so the job writes on undisturbed and
        nothing is lost or miscounted; readers skip the hole (``read_at``). The file is
        made whole at ``keep``. On a file system without holes, only ``keep`` cuts."""
        if self.fd < 0 or not max_bytes or self.punched < 0:
            return
        head, tail = cap_shape(max_bytes)
        start = max(head, self.punched)
        try:
            end = (os.fstat(self.fd).st_size - tail) // BLOCK * BLOCK
            if end - start < max_bytes // 2:
                return  # not yet worth a system call
            _punch_hole(self.fd, start, end - start)
        except OSError:
            self.punched = -1
            return
        self.punched = end

    def keep(
        self, job_id: str, run: int, tail_bytes: int, max_bytes: int = 0
    ) -> tuple[str | None, str | None]:
        """After a job: (path, tail) of its output, moved to its attempt's own file and
        cut to ``max_bytes`` (0: whole); an empty output leaves the file in place for
        the next job → (None, None)."""
        if self.fd < 0:
            return None, None
        self.punched = 0
        try:
            size = os.fstat(self.fd).st_size
            if size == 0:
                os.lseek(self.fd, 0, os.SEEK_SET)  # a job may have seeked; start clean
                return None, None
            kept = _move_output(
                self.fd, size, self.path, self.logs_dir, job_id, run, tail_bytes, max_bytes
            )
        except OSError:
            self.close()
            return None, None
        self.close()
        return kept

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def remove(self) -> None:
        self.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass


_fallocate: list[Callable[[int, int, int, int], int]] = []


def _punch_hole(fd: int, offset: int, length: int) -> None:
    """Free ``length`` bytes of a file from ``offset``; its size stays (reads give zeros,
    SEEK_DATA skips them). Loaded on first use: most workers never need it."""
    import ctypes

    if not _fallocate:
        function = ctypes.CDLL(None, use_errno=True).fallocate
        function.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
        function.restype = ctypes.c_int
        _fallocate.append(function)
    punch_hole_keep_size = 0x02 | 0x01  # FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
    if _fallocate[0](fd, punch_hole_keep_size, offset, length) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


# --- reading ------------------------------------------------------------------------------
class UnsafeLog(OSError):
    """A log file that is not read: a link, or not a regular file of the folder's owner."""


def open_log(path: str) -> BinaryIO:
    """Open a log file (in its logs folder) for reading without following a link at its
    name or the folder's: jobs can write there, and the reader may be root. Only a
    regular file owned by the logs folder's owner is opened; UnsafeLog otherwise."""
    folder, name = os.path.split(path)
    nofollow = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        folder_fd = os.open(folder, nofollow | os.O_DIRECTORY)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise UnsafeLog(exc.errno, "the logs folder is a symbolic link; not followed") from None
        raise
    try:
        owner = os.fstat(folder_fd).st_uid
        try:
            fd = os.open(name, nofollow | os.O_NONBLOCK, dir_fd=folder_fd)  # a fifo: no wait
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise UnsafeLog(exc.errno, "it is a symbolic link; not followed") from None
            raise
    finally:
        os.close(folder_fd)
    found = os.fstat(fd)
    why = ""
    if not stat.S_ISREG(found.st_mode):
        why = "it is not a regular file"
    elif found.st_uid != owner:
        why = f"it belongs to uid {found.st_uid}, not to the owner of the logs folder"
    if why:
        os.close(fd)
        raise UnsafeLog(errno.EPERM, why + "; not read")
    return os.fdopen(fd, "rb")


def read_at(handle: BinaryIO | int, position: int, size: int) -> tuple[int, bytes]:
    """(bytes skipped, data) read at ``position`` of a file (or descriptor): a hole
    punched by max-log-bytes is skipped (its length is the first value), not read as
    zeros."""
    fd = handle if isinstance(handle, int) else handle.fileno()
    try:
        start = os.lseek(fd, position, os.SEEK_DATA)
        size = min(size, os.lseek(fd, start, os.SEEK_HOLE) - start)  # up to the next hole
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # at or past the end
            return 0, b""
        start = position  # no SEEK_DATA here: there are no holes either
    return start - position, os.pread(fd, size, start)


def _move_output(
    fd: int,
    size: int,
    source: str,
    logs_dir: str,
    job_id: str,
    run: int,
    tail_bytes: int,
    max_bytes: int = 0,
) -> tuple[str, str | None]:
    """The ``size`` bytes of output in ``fd`` (the file ``source``) become the attempt's
    own log file, cut to ``max_bytes`` (0: whole) → (its path, its last ``tail_bytes``
    as text, to store). OSError if not."""
    if max_bytes and size > max_bytes:
        size = _cut(fd, size, max_bytes)
    tail = _tail(fd, size, tail_bytes)
    path = log_path(logs_dir, job_id, run)
    _move_to(fd, source, path)
    return path, tail


def _cut(fd: int, size: int, max_bytes: int) -> int:
    """Head, marker, tail: the output's middle dropped, in place; returns the new size."""
    head, tail = cap_shape(max_bytes)
    dropped = size - head - tail  # > MARKER_ROOM, since size > max_bytes
    newline = os.pread(fd, 1, head - 1) == b"\n"
    marker = (b"" if newline else b"\n") + dropped_line(dropped)
    source, target = size - tail, head + len(marker)
    while source < size:  # forwards: the target is always before the source
        chunk = os.pread(fd, min(1 << 20, size - source), source)
        if not chunk:
            break
        os.pwrite(fd, chunk, target)
        source, target = source + len(chunk), target + len(chunk)
    os.pwrite(fd, marker, head)
    os.ftruncate(fd, target)
    return target


def _move_to(fd: int, source: str, path: str) -> None:
    """Give the file ``fd`` the attempt's name ``path``. ``source`` is renamed only while
    it still names that file, and what lands at ``path`` is checked to be it: the job
    (running as this user) may have replaced the live name with a link to another
    file. Otherwise ``path`` gets a copy of the file."""
    ours = os.fstat(fd)
    try:
        if os.path.samestat(os.lstat(source), ours):
            os.rename(source, path)
            if os.path.samestat(os.lstat(path), ours):
                return
    except FileNotFoundError:
        pass
    for name in (path, source):  # whatever stands at either name is not ours
        try:
            os.unlink(name)
        except FileNotFoundError:
            pass
    _copy_to(fd, path)


def _copy_to(fd: int, path: str) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    out = os.open(path, flags, 0o600)
    try:
        offset, size = 0, os.fstat(fd).st_size
        while offset < size:
            sent = os.sendfile(out, fd, offset, size - offset)
            if not sent:
                break
            offset += sent
    finally:
        os.close(out)


def _tail(fd: int, size: int, tail_bytes: int) -> str | None:
    if not tail_bytes:
        return None
    return os.pread(fd, tail_bytes, max(0, size - tail_bytes)).decode("utf-8", "replace")


def adopt_output(
    logs_dir: str, worker_id: str, job_id: str, run: int, tail_bytes: int
) -> tuple[str | None, str | None]:
    """What the job of a dead worker slot printed into the slot's live file, moved to the
    attempt's own log file → (path, tail). An empty live file is removed → (None, None).
    If an earlier adoption already moved it, the attempt's file is read instead. Only for
    a slot whose worker is dead: a live worker reuses its file for its next job."""
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW
    live = live_path(logs_dir, worker_id)
    source = live
    try:
        fd = os.open(source, flags)
    except FileNotFoundError:
        source = log_path(logs_dir, job_id, run)
        try:
            fd = os.open(source, flags)
        except OSError:
            return None, None
    except OSError:
        return None, None
    try:
        size = os.fstat(fd).st_size
        if source != live:
            return (source, _tail(fd, size, tail_bytes)) if size else (None, None)
        if size == 0:
            os.unlink(live)
            return None, None
        return _move_output(fd, size, live, logs_dir, job_id, run, tail_bytes)
    except OSError:
        return None, None
    finally:
        os.close(fd)


def remove_if_empty(path: str) -> None:
    """Remove ``path`` if it is an empty file (a dead worker slot's live file whose last
    job printed nothing: there is nothing to keep)."""
    try:
        if os.stat(path, follow_symlinks=False).st_size == 0:
            os.unlink(path)
    except OSError:
        pass


def remove_attempt_logs(logs_dir: str, attempts: Iterable[tuple[str, int]]) -> int:
    """Remove the log files of these (job id, attempt) pairs, purged from the queue:
    each by its own name in ``logs_dir`` (never a listing of the folder, which may hold
    a million files) → how many were there. A name the queue made up wrong (log_path
    refuses it) is skipped."""
    removed = 0
    for job_id, run in attempts:
        try:
            os.unlink(log_path(logs_dir, job_id, run))
            removed += 1
        except (OSError, StorageError):
            pass  # gone already, or not a name of this folder
    return removed
