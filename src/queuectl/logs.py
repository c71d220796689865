"""Per-attempt log files: where they live, the tail kept in the database, ``logs``.

One file per attempt, ``<logs>/<job id>.<attempt>.log``, owner-only. Job ids are
validated to a safe alphabet, and every path is checked to stay inside the folder.
"""

from __future__ import annotations

import codecs
import os
import re
import sys
import time

from queuectl.errors import NotFound, StorageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Generator
    from typing import TextIO

    from queuectl.api import Queue
    from queuectl.models import Attempt


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

    def fileno(self) -> int:
        """An empty file at offset 0 for the next job (created on first use)."""
        if self.fd < 0:
            if not os.path.isdir(self.logs_dir):
                os.makedirs(self.logs_dir, mode=0o700, exist_ok=True)
            flags = os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW
            self.fd = os.open(self.path, flags, 0o600)
        return self.fd

    def keep(self, job_id: str, run: int, tail_bytes: int) -> tuple[str | None, str | None]:
        """After a job: (path, tail) of its output, moved to its attempt's own file; an
        empty output leaves the file in place for the next job → (None, None)."""
        if self.fd < 0:
            return None, None
        try:
            size = os.fstat(self.fd).st_size
            if size == 0:
                os.lseek(self.fd, 0, os.SEEK_SET)  # a job may have seeked; start clean
                return None, None
            kept = _move_output(self.fd, size, self.path, self.logs_dir, job_id, run, tail_bytes)
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


def _move_output(
    fd: int, size: int, source: str, logs_dir: str, job_id: str, run: int, tail_bytes: int
) -> tuple[str, str | None]:
    """The ``size`` bytes of output in ``fd`` (the file ``source``) become the attempt's
    own log file → (its path, its last ``tail_bytes`` as text, to store). OSError if not."""
    tail = _tail(fd, size, tail_bytes)
    path = log_path(logs_dir, job_id, run)
    os.rename(source, path)
    return path, tail


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
        with open(path, encoding="utf-8", errors="replace") as handle:
            for chunk in iter(lambda: handle.read(65536), ""):
                out.write(chunk)
        return 0
    except FileNotFoundError:
        why = "no log file here"
    except OSError as exc:
        why = f"cannot read {path}: {exc.strerror}"
    text, note = stored_output(chosen, why)
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
    while True:
        try:
            with open(path, "rb") as handle:
                if last is not None and position == 0:
                    position = max(0, os.fstat(handle.fileno()).st_size - last)
                handle.seek(position)
                data = handle.read(READ_CHUNK)
        except FileNotFoundError:
            data = b""
        if data:
            position += len(data)
            yield text.decode(data)
            if len(data) == READ_CHUNK:
                continue  # more is waiting: read it before looking at anything else
        if path == final:
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
