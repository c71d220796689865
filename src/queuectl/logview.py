"""What a reader sees of an attempt's output, through a ``Queue``: ``queuectl logs``
(with ``--follow``) and the dashboard's live output. The files themselves, and how they
are opened safely, are ``logfiles``'.
"""

from __future__ import annotations

import codecs
import os
import select
import sys
import time
from typing import TYPE_CHECKING

from queuectl.errors import NotFound, QueuectlError
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
    from queuectl.backends.base import SharedOutput, Watcher
    from queuectl.models import Attempt, Job
    from queuectl.waiting import Pace


def show_logs(queue: Queue, job_id: str, attempt: int | None, out: TextIO) -> int:
    """Print an attempt's output (the latest by default); a running one's as written so far."""
    job = queue.get(job_id)
    chosen = _pick(queue.attempts(job_id), job, attempt)
    if not queue.output_here(chosen):  # PostgreSQL: another host ran it
        return _print_shared(queue, chosen, out)
    if chosen.finished_at is not None:
        return _print_finished(log_path(queue.logs_dir, job.id, chosen.run), chosen, out)
    return _print_finished(live_path(queue.logs_dir, chosen.worker), chosen, out)


def follow_logs(queue: Queue, job_id: str, attempt: int | None, out: TextIO, pace: Pace) -> int:
    """Stream an attempt's output (the latest by default, awaited if the job has not run
    yet), then every later attempt's as it runs, until the job is final: → 0 if it ended
    completed, 1 otherwise (waiting.exit_code). A line on stderr announces each further
    attempt, and how a job that did not complete ended. ``pace``: when to look again
    while no attempt runs, and the deadline (TimedOut)."""
    with Nap(queue, pace) as nap:
        return _follow_job(queue, job_id, attempt, out, pace, nap)


def _follow_job(
    queue: Queue, job_id: str, attempt: int | None, out: TextIO, pace: Pace, nap: Nap
) -> int:
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
            _follow(queue, final, chosen, out, nap)
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
    return _print_stored(chosen, why, out)


def _print_stored(chosen: Attempt, why: str, out: TextIO) -> int:
    """What the queue stored of an attempt whose output cannot be read here (``why``)."""
    text, note = stored_output(chosen, why)
    note = note or (why if chosen.finished_at is None and why != "no log file here" else "")
    if note:
        sys.stderr.write(f"({note})\n")
    out.write(text)
    return 0


def _print_shared(queue: Queue, chosen: Attempt, out: TextIO) -> int:
    """An attempt of another host (PostgreSQL): its output stored in the queue so far (the
    whole of it with keep-output full), else the tail stored with it."""
    stream = stream_output(queue, chosen)
    while True:
        try:
            chunk = next(stream)
        except StopIteration as ended:
            if ended.value is not None:
                return _print_stored(ended.value, "it ran on another host", out)
            return 0
        if not chunk:  # running: nothing more for now
            return 0
        out.write(chunk)


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


def _follow(queue: Queue, final: str, chosen: Attempt, out: TextIO, nap: Nap) -> int:
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
            nap(0.05)


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
    tail is all there is), else None.

    On PostgreSQL an attempt of another host is read from the chunks its worker stores in
    the queue instead (``_stream_chunks``)."""
    shared = queue.shared_output()
    if shared is not None and not queue.output_here(chosen):
        return (yield from _stream_chunks(queue, shared, chosen, last))
    live = live_path(queue.logs_dir, chosen.worker)
    final = log_path(queue.logs_dir, chosen.job_id, chosen.run)
    position = 0
    checked = 0.0
    path = live
    text = codecs.getincrementaldecoder("utf-8")("replace")  # a character may span two reads
    refused, skipped, before, align = False, 0, b"\n", False
    inode = 0  # the live file's, once opened: another one there means the attempt ended
    while True:
        try:
            with open_log(path) as handle:
                found = os.fstat(handle.fileno())
                if path == live and found.st_ino != (inode := inode or found.st_ino):
                    path = final  # the slot's next job has a new live file: ours moved
                    continue
                size = found.st_size
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


def _stream_chunks(
    queue: Queue, shared: SharedOutput, chosen: Attempt, last: int | None
) -> Generator[str, None, Attempt | None]:
    """``stream_output`` of an attempt that runs (or ran) on another host: the chunks its
    worker stored, in order, with a ``[queuectl: N bytes dropped]`` line where the bound
    or the flush rate left a gap, until the attempt has ended and its last chunks are
    read. Returns the ended attempt when no chunk at all was there (its stored tail is
    what there is), else None."""
    text = codecs.getincrementaldecoder("utf-8")("replace")
    position, before, seen = 0, b"\n", False
    ended = chosen.finished_at is not None
    checked = time.monotonic()
    while True:
        chunks = shared.output(chosen.job_id, chosen.run, position)
        align = False
        if last is not None and chunks:  # at most ``last`` bytes, from the start of a line
            position = max(chunks[0][0], chunks[-1][0] + len(chunks[-1][1]) - last)
            align, last = position > 0, None
        got = []
        for start, data in chunks:
            if start > position:
                got.append(text.decode(b"", True) + _dropped_note(start - position, before))
                position = start
            piece = data[position - start :]
            if align and piece:
                align = False
                cut = piece.find(b"\n") + 1
                position, piece = position + cut, piece[cut:]
            if piece:
                got.append(text.decode(piece))
                before, position, seen = piece[-1:], start + len(data), True
        if got:
            yield "".join(got)
        if ended:
            if not seen:
                found = [a for a in queue.attempts(chosen.job_id) if a.run == chosen.run]
                return found[0] if found else None
            tail = text.decode(b"", True)
            if tail:
                yield tail
            return None
        if time.monotonic() - checked > 0.3:
            checked = time.monotonic()
            current = [a for a in queue.attempts(chosen.job_id) if a.run == chosen.run]
            ended = not current or current[0].finished_at is not None
            continue  # one more read: what was stored before it ended
        if not got:
            yield ""


NAP_GAP = 0.05  # seconds between two wakes of a follower on notifications, at least


class Nap:
    """How a follower waits for more output: on PostgreSQL, until any host's worker
    stores some (a notification on the output channel) or ``seconds`` pass; elsewhere a
    short sleep before the files are read again. ``pace`` keeps the deadline."""

    def __init__(self, queue: Queue, pace: Pace) -> None:
        self.pace = pace
        self.shared = queue.shared_output()
        self.watcher: Watcher | None = None
        self.woken = 0.0

    def __enter__(self) -> Nap:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __call__(self, seconds: float) -> None:
        if self.shared is not None and self.watcher is None:
            try:
                self.watcher = self.shared.output_watcher()
            except QueuectlError:
                self.shared = None  # no notifications: read again after a sleep
        if self.watcher is None:
            self.pace.sleep(seconds)
            return
        self.pace.check()
        # every attempt followed is read again after a wake: at most 1 / NAP_GAP times a
        # second, however many attempts print (each notifies up to 10 times a second)
        time.sleep(max(0.0, self.woken + NAP_GAP - time.monotonic()))
        deadline = self.pace.deadline
        wait = max(5 * seconds, 0.25)  # a notification ends it early
        if deadline is not None:
            wait = max(0.0, min(wait, deadline - time.monotonic()))
        try:
            if select.select([self.watcher.fileno()], [], [], wait)[0]:
                self.watcher.drain()
        except (QueuectlError, OSError):
            self.close()
        self.woken = time.monotonic()
        self.pace.check()

    def close(self) -> None:
        if self.watcher is not None:
            self.watcher.close()
            self.watcher = None


PREFIX_LINE = 64 * 1024  # `--all`: a line longer than this is printed in pieces
LOOK = 0.25  # `--all`: seconds between two looks for attempts that started


def follow_all(queue: Queue, queue_name: str | None, out: TextIO, pace: Pace) -> int:
    """``logs --follow --all``: every running attempt's output (of ``queue_name`` only, if
    given) as it is written, each line prefixed ``[ID#ATTEMPT]``, attempts that start
    later too, until interrupted or the pace's deadline (TimedOut). Each attempt is read
    as ``logs --follow`` reads it (``stream_output``): files on its host, chunks in the
    queue on another (PostgreSQL)."""
    streams: dict[tuple[str, int], _Lines] = {}
    ended: set[tuple[str, int]] = set()
    looked = 0.0
    with Nap(queue, pace) as nap:
        while True:
            if time.monotonic() - looked >= LOOK:
                looked = time.monotonic()
                running = queue.jobs(state="processing", queue=queue_name)
                ended &= {(job.id, job.runs) for job in running}
                for job in running:
                    key = (job.id, job.runs)
                    if key not in streams and key not in ended:
                        streams[key] = _Lines(queue, job)
            wrote = False
            for key, lines in list(streams.items()):
                wrote = lines.pump(out) or wrote
                if lines.done:
                    del streams[key]
                    ended.add(key)
            if wrote:
                out.flush()
            else:
                nap(0.05)


class _Lines:
    """One attempt's output for ``follow_all``: whole lines, each with its prefix."""

    def __init__(self, queue: Queue, job: Job) -> None:
        self.prefix = f"[{job.id}#{job.runs}] "
        self.partial = ""
        self.done = False
        self.stream: Generator[str, None, Attempt | None] | None = None
        try:
            found = [a for a in queue.attempts(job.id) if a.run == job.runs]
        except NotFound:  # purged meanwhile
            found = []
        if found and found[0].finished_at is None:
            self.stream = stream_output(queue, found[0])
        else:
            self.done = True

    def pump(self, out: TextIO) -> bool:
        """Print the complete lines written since; → whether anything was printed."""
        wrote = False
        while self.stream is not None:
            try:
                chunk = next(self.stream)
            except StopIteration as stop:  # the attempt ended
                if stop.value is not None and stop.value.log_tail:
                    self.partial += stop.value.log_tail  # chunks gone: its stored tail
                self.stream, self.done = None, True
            except NotFound:  # purged meanwhile
                self.stream, self.done = None, True
            else:
                if not chunk:
                    return wrote
                self.partial += chunk
            *lines, self.partial = self.partial.split("\n")
            if self.done and self.partial:
                lines.append(self.partial)
                self.partial = ""
            while len(self.partial) > PREFIX_LINE:
                lines.append(self.partial[:PREFIX_LINE])
                self.partial = self.partial[PREFIX_LINE:]
            for line in lines:
                out.write(f"{self.prefix}{line}\n")
                wrote = True
        return wrote


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
