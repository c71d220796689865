"""Per-attempt log files: where they live, the tail kept in the database, ``logs``.

One file per attempt, ``<logs>/<job id>.<attempt>.log``, owner-only. Job ids are
validated to a safe alphabet, and every path is checked to stay inside the folder.
"""

from __future__ import annotations

import os
import re
import sys
import time

from queuectl.errors import NotFound, StorageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TextIO

    from queuectl.api import Queue
    from queuectl.models import Attempt


def log_path(logs_dir: str, job_id: str, run: int) -> str:
    path = os.path.join(logs_dir, f"{job_id}.{run}.log")
    if os.path.dirname(os.path.normpath(path)) != os.path.normpath(logs_dir):
        raise StorageError(f"job id {job_id!r} would write outside {logs_dir}")
    return path


def open_log(logs_dir: str, job_id: str, run: int) -> tuple[str, int]:
    """Create (or truncate) an attempt's log file, 0600 in a 0700 folder → (path, fd)."""
    if not os.path.isdir(logs_dir):
        os.makedirs(logs_dir, mode=0o700, exist_ok=True)
    path = log_path(logs_dir, job_id, run)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW
    return path, os.open(path, flags, 0o600)


def close_log(path: str, tail_bytes: int) -> tuple[str | None, str | None]:
    """After an attempt: (path, tail) to store; an empty log is deleted → (None, None)."""
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size == 0:
                os.unlink(path)
                return None, None
            handle.seek(max(0, size - tail_bytes))
            tail = handle.read(tail_bytes)
    except OSError:
        return None, None
    return path, tail.decode("utf-8", "replace") if tail_bytes else None


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
    if not follow or chosen.finished_at is not None:
        return _print_finished(path, chosen, out)
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
        pass
    if chosen.log_tail:
        sys.stderr.write(
            f"(no log file here: showing the last {len(chosen.log_tail.encode())} bytes "
            "stored with the attempt)\n"
        )
        out.write(chosen.log_tail)
    elif chosen.finished_at is not None:
        sys.stderr.write(f"(attempt {chosen.run} printed nothing)\n")
    return 0


def _follow(queue: Queue, path: str, chosen: Attempt, out: TextIO) -> int:
    """Stream the file as it grows; stop once the attempt has ended and the rest is out."""
    position = 0
    checked = 0.0
    ended = False
    while True:
        try:
            with open(path, "rb") as handle:
                handle.seek(position)
                data = handle.read()
        except FileNotFoundError:
            data = b""
        if data:
            position += len(data)
            out.write(data.decode("utf-8", "replace"))
            out.flush()
        if ended:
            return 0
        if time.monotonic() - checked > 0.3:
            checked = time.monotonic()
            current = [a for a in queue.attempts(chosen.job_id) if a.run == chosen.run]
            ended = not current or current[0].finished_at is not None
            if ended:
                continue  # one more read for what the job wrote last
        time.sleep(0.05)
