"""What a reader sees of an attempt's output, through a ``Queue``: ``queuectl logs``
(with ``--follow``) and the dashboard's live output. The files themselves, and how they
are opened safely, are ``logfiles``'.
"""

from __future__ import annotations

import codecs
import os
import sys
import time
from typing import TYPE_CHECKING

from queuectl.errors import NotFound
from queuectl.logfiles import (
    BLOCK,
    MARKER,
    MARKER_ROOM,
    UnsafeLog,
    dropped_line,
    live_path,
    log_path,
    open_log,
    read_at,
)
from queuectl.models import FINAL, JobState
from queuectl.waiting import exit_code

if TYPE_CHECKING:
    from collections.abc import Generator
    from typing import BinaryIO, TextIO

    from queuectl.api import Queue
    from queuectl.models import Attempt, Job
    from queuectl.waiting import Pace


def show_logs(queue: Queue, job_id: str, attempt: int | None, out: TextIO) -> int:
    """Print an attempt's output (the latest by default); a running one's as written so far."""
    job = queue.get(job_id)
    chosen = _pick(queue.attempts(job_id), job, attempt)
    if chosen.finished_at is not None:
        return _print_finished(log_path(queue.logs_dir, job.id, chosen.run), chosen, out)
    return _print_finished(live_path(queue.logs_dir, chosen.worker), chosen, out)


def follow_logs(queue: Queue, job_id: str, attempt: int | None, out: TextIO, pace: Pace) -> int:
    """Stream an attempt's output (the latest by default, awaited if the job has not run
    yet), then every later attempt's as it runs, until the job is final: → 0 if it ended
    completed, 1 otherwise (waiting.exit_code). A line on stderr announces each further
    attempt, and how a job that did not complete ended. ``pace``: when to look again
    while no attempt runs, and the deadline (TimedOut)."""
    shown: int | None = None  # the run of the last attempt printed
    while True:
        job = queue.get(job_id)  # before the attempts: any attempt it ran is among them
        attempts = queue.attempts(job_id)
        chosen: Attempt | None = None  # None: wait for the next attempt, or the end
        if shown is not None:
            chosen = next((a for a in attempts if a.run > shown), None)
        elif _reached(attempts, job, attempt):
            chosen = _pick(attempts, job, attempt)
        if chosen is None:
            if job.state in FINAL:
                if job.state is not JobState.COMPLETED:
                    why = f": {job.last_error}" if job.last_error not in (None, "cancelled") else ""
                    sys.stderr.write(f"--- job {job.id} ended {job.state.value}{why} ---\n")
                return exit_code([job])
            pace.wait()
            continue
        if shown is not None:
            sys.stderr.write(f"--- attempt {chosen.run} of job {job.id}, on {chosen.worker} ---\n")
            sys.stderr.flush()
        final = log_path(queue.logs_dir, job.id, chosen.run)
        if chosen.finished_at is not None:
            _print_finished(final, chosen, out)
        else:
            _follow(queue, final, chosen, out, pace)
        out.flush()
        shown = chosen.run
        pace.changed()


def _reached(attempts: list[Attempt], job: Job, attempt: int | None) -> bool:
    """Whether the attempt to follow first has started (attempt ``attempt``, or any for
    None), or never will: the job is final."""
    if job.state in FINAL:
        return True
    return any(attempt is None or found.run >= attempt for found in attempts)


def _pick(attempts: list[Attempt], job: Job, attempt: int | None) -> Attempt:
    """Attempt number ``attempt`` of ``job`` (None: its latest); NotFound if it has none."""
    if attempt is not None:
        for found in attempts:
            if found.run == attempt:
                return found
        raise NotFound(f"job {job.id!r} has no attempt {attempt} (it has {len(attempts)})")
    if attempts:
        return attempts[-1]
    raise NotFound(f"job {job.id!r} has not run yet (it is {job.state.value})")


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


def _follow(queue: Queue, final: str, chosen: Attempt, out: TextIO, pace: Pace) -> int:
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
            pace.sleep(0.05)


READ_CHUNK = 64 * 1024  # output is read (and held) this much at a time


def stream_output(
    queue: Queue, chosen: Attempt, last: int | None = None
) -> Generator[str, None, Attempt | None]:
    """A running attempt's output as it is written on this host: chunks of text, and ""
    whenever nothing new came (the caller waits a little, or gives up), until it ends.
    ``last``: start with at most this many bytes of what was already written, from the
    start of a line (unless a line is longer than that).

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
    refused, skipped, before, align = False, 0, b"\n", False
    while True:
        try:
            with open_log(path) as handle:
                size = os.fstat(handle.fileno()).st_size
                if last is not None and position == 0:
                    position = max(0, size - last)
                    align = position > 0
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
        if data and align:  # started in the middle of a line: from the next one on
            align = False
            cut = data.find(b"\n") + 1
            if cut > 0:
                position, data = position + cut, data[cut:]
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
        if MARKER.match(os.pread(fd, MARKER_ROOM, offset)):
            return offset
    return 0
