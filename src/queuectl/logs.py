"""Per-attempt log files: where they live, the tail kept in the database, ``logs``.

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

import codecs
import errno
import os
import re
import stat
import sys
import time

from queuectl.errors import NotFound, StorageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Generator
    from typing import BinaryIO, TextIO

    from queuectl.api import Queue
    from queuectl.models import Attempt

BLOCK = 4096  # holes are punched in whole blocks
MARKER_ROOM = 64  # bytes a log cut to max-log-bytes keeps for its marker line
# a cut log: the marker starts at a whole block (after a newline of its own if needed)
_MARKER = re.compile(rb"\n?\[queuectl: \d+ bytes dropped\]\n")


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


def read_at(handle: BinaryIO, position: int, size: int) -> tuple[int, bytes]:
    """(bytes skipped, data) read at ``position``: a hole punched by max-log-bytes is
    skipped (its length is the first value), not read as zeros."""
    fd = handle.fileno()
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


def remove_logs(logs_dir: str, job_id: str) -> None:
    pattern = re.compile(re.escape(job_id) + r"\.\d+\.log")
    try:
        names = os.listdir(logs_dir)
    except OSError:
        return
    for name in names:
        if pattern.fullmatch(name):
            try:
                os.unlink(os.path.join(logs_dir, name))
            except OSError:
                pass


def show_logs(queue: Queue, job_id: str, attempt: int | None, follow: bool, out: TextIO) -> int:
    """Print an attempt's output (the latest by default); --follow streams until it ends."""
    job = queue.get(job_id)
    chosen = _pick(queue, job_id, attempt, wait=follow)
    path = log_path(queue.logs_dir, job.id, chosen.run)
    if chosen.finished_at is not None:
        return _print_finished(path, chosen, out)
    if not follow:
        return _print_finished(live_path(queue.logs_dir, chosen.worker), chosen, out)
    return _follow(queue, path, chosen, out)


def _pick(queue: Queue, job_id: str, attempt: int | None, wait: bool) -> Attempt:
    from queuectl.models import JobState

    while True:
        attempts = queue.attempts(job_id)
        if attempt is not None:
            for found in attempts:
                if found.run == attempt:
                    return found
            raise NotFound(f"job {job_id!r} has no attempt {attempt} (it has {len(attempts)})")
        if attempts:
            return attempts[-1]
        state = queue.get(job_id).state
        if not wait or state in (JobState.COMPLETED, JobState.DEAD, JobState.CANCELLED):
            raise NotFound(f"job {job_id!r} has not run yet (it is {state.value})")
        time.sleep(0.1)


def _print_finished(path: str, chosen: Attempt, out: TextIO) -> int:
    try:
        with open_log(path) as handle:
            decoder = codecs.getincrementaldecoder("utf-8")("replace")
            position, last = 0, b"\n"
            while True:
                skipped, data = read_at(handle, position, READ_CHUNK)
                if skipped:  # a running job's log, past max-log-bytes
                    out.write(decoder.decode(b"", True))
                    out.write(_dropped_note(skipped, last))
                    position += skipped
                if not data:
                    break
                position, last = position + len(data), data[-1:]
                out.write(decoder.decode(data))
            out.write(decoder.decode(b"", True))
        return 0
    except FileNotFoundError:
        why = "no log file here"
    except OSError as exc:
        why = f"cannot read {path}: {exc.strerror}"
    text, note = stored_output(chosen, why)
    note = note or (why if chosen.finished_at is None and why != "no log file here" else "")
    if note:
        sys.stderr.write(f"({note})\n")
    out.write(text)
    return 0


def stored_output(chosen: Attempt, why: str) -> tuple[str, str]:
    """(text, what it is) of an attempt whose log file cannot be read here (``why``):
    the tail stored with it in the queue, if any; the CLI and the dashboard say the same."""
    if chosen.log_tail:
        size = len(chosen.log_tail.encode())
        return chosen.log_tail, f"{why}: the tail stored with the attempt (its last {size} bytes)"
    if chosen.finished_at is not None and chosen.log_path is None:
        return "", f"attempt {chosen.run} printed nothing"
    if chosen.finished_at is not None:
        return "", f"{why}, and no output was stored with the attempt"
    return "", ""


def _follow(queue: Queue, final: str, chosen: Attempt, out: TextIO) -> int:
    stream = stream_output(queue, chosen)
    while True:
        try:
            chunk = next(stream)
        except StopIteration as ended:
            return 0 if ended.value is None else _print_finished(final, ended.value, out)
        if chunk:
            out.write(chunk)
            out.flush()
        else:
            time.sleep(0.05)


READ_CHUNK = 64 * 1024  # output is read (and held) this much at a time


def stream_output(
    queue: Queue, chosen: Attempt, last: int | None = None
) -> Generator[str, None, Attempt | None]:
    """A running attempt's output as it is written on this host: chunks of text, and ""
    whenever nothing new came (the caller waits a little, or gives up), until it ends.
    ``last``: start with at most this many bytes of what was already written.

    The worker slot's live file is read as it grows; once the attempt has ended, what is
    left is in the attempt's own file (the live file is renamed to it). Returns the ended
    attempt when nothing at all could be read here (it ran on another host: its stored
    tail is all there is), else None."""
    live = live_path(queue.logs_dir, chosen.worker)
    final = log_path(queue.logs_dir, chosen.job_id, chosen.run)
    position = 0
    checked = 0.0
    path = live
    text = codecs.getincrementaldecoder("utf-8")("replace")  # a character may span two reads
    refused, skipped, before = False, 0, b"\n"
    while True:
        try:
            with open_log(path) as handle:
                size = os.fstat(handle.fileno()).st_size
                if last is not None and position == 0:
                    position = max(0, size - last)
                elif size < position:  # cut to max-log-bytes as the job ended
                    position = _kept_end(handle, size)
                skipped, data = read_at(handle, position, READ_CHUNK)
        except UnsafeLog:
            refused, data = True, b""
        except FileNotFoundError:
            data = b""
        if skipped:
            yield text.decode(b"", True) + _dropped_note(skipped, before)
            position += skipped
            skipped = 0
        if data:
            position += len(data)
            before = data[-1:]
            yield text.decode(data)
            if len(data) == READ_CHUNK:
                continue  # more is waiting: read it before looking at anything else
        if path == final:
            if refused:  # what is there is not read: the stored tail is shown instead
                ended = [a for a in queue.attempts(chosen.job_id) if a.run == chosen.run]
                return ended[0] if ended else None
            if position == 0 and chosen.log_tail is None:
                ended = [a for a in queue.attempts(chosen.job_id) if a.run == chosen.run]
                if ended and not os.path.exists(final):
                    return ended[0]
            return None
        if time.monotonic() - checked > 0.3:
            checked = time.monotonic()
            current = [a for a in queue.attempts(chosen.job_id) if a.run == chosen.run]
            if not current or current[0].finished_at is not None:
                path = final  # one more read, from the attempt's own file
                continue
        if not data:
            yield ""


def _dropped_note(count: int, before: bytes) -> str:
    """What a reader prints where a running job's output was dropped (a hole)."""
    return ("" if before == b"\n" else "\n") + dropped_line(count).decode()


def _kept_end(handle: BinaryIO, size: int) -> int:
    """Where a follower goes on in a log that was cut while it read: the marker line
    after the kept head (at a whole block), else the start."""
    fd = handle.fileno()
    for offset in range(BLOCK, min(size, size // 2 + 2 * BLOCK), BLOCK):
        if _MARKER.match(os.pread(fd, MARKER_ROOM, offset)):
            return offset
    return 0
