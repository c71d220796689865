"""``queuectl status --watch``: the queue's counts and live workers, redrawn until Ctrl+C.

On a terminal the view is drawn with rich (imported here only, so no other command pays
for it) and redrawn in place. Into a pipe or a file it prints a plain snapshot per turn,
which a log or a test can read. Ctrl+C or SIGTERM ends it quietly with exit 0: the
signal only sets a flag, so a query in flight is never cut in half.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time
from typing import TYPE_CHECKING, Any, NamedTuple

from queuectl.errors import QueuectlError
from queuectl.models import STATES, total_counts
from queuectl.render import ago, table, when
from queuectl.timefmt import format_duration

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType
    from typing import TextIO

    from queuectl.api import Queue
    from queuectl.models import WorkerInfo

ALL = "(all)"  # no queue can be named so (see jobspec.QUEUE_PATTERN)


class Snapshot(NamedTuple):
    at: float
    queues: dict[str, dict[str, int]]  # every queue with jobs, then ALL
    workers: list[WorkerInfo]
    oldest_wait: float | None
    flow: tuple[str, ...] = ()  # a line per paused or limited queue (QueueInfo.summary)


def take(queue: Queue) -> Snapshot:
    """One reading of the queue: counts per queue and state (summed into ALL, so the
    totals always match the rows), live workers, and the oldest ready job's wait."""
    per_queue = dict(sorted(queue.counts_by_queue().items()))
    total = total_counts(per_queue)
    rows = {name: {s: counts.get(s, 0) for s in STATES} for name, counts in per_queue.items()}
    rows[ALL] = total
    now = queue.now()
    flow = tuple(q.summary(now) for q in queue.flow())
    return Snapshot(time.time(), rows, queue.workers(), queue.oldest_pending_age(), flow)


def _worker_rows(snap: Snapshot) -> list[tuple[object, ...]]:
    return [
        (
            w.id,
            w.host,
            w.pid,
            w.current_job or "idle",
            None
            if w.job_started_at is None
            else format_duration(max(snap.at - w.job_started_at, 0)),
            ago(w.heartbeat_at, snap.at),
        )
        for w in snap.workers
    ]


WORKER_HEADERS = ("worker", "host", "pid", "job", "running for", "heartbeat")


def _waiting(snap: Snapshot) -> str:
    if snap.oldest_wait is None:
        return "no job is waiting to run"
    return f"oldest ready job has waited {format_duration(snap.oldest_wait)}"


def _flow_lines(snap: Snapshot) -> list[str]:
    if not snap.flow:
        return []
    return ["", "paused or limited queues", *(f"  {line}" for line in snap.flow)]


def plain(snap: Snapshot, interval: float) -> str:
    """A snapshot as plain text (output that is not a terminal)."""
    counts = [
        (name, *counts.values(), sum(counts.values())) for name, counts in snap.queues.items()
    ]
    lines = [
        f"queuectl status at {when(snap.at)} (every {interval:g}s, Ctrl+C to stop)",
        table(("queue", *STATES, "total"), counts),
        _waiting(snap),
        *_flow_lines(snap),
        "",
        f"workers ({len(snap.workers)})",
        table(WORKER_HEADERS, _worker_rows(snap)) if snap.workers else "no workers running",
    ]
    return "\n".join(lines) + "\n\n"


def drawn(snap: Snapshot, interval: float, problem: str | None = None) -> Any:
    """A snapshot as a rich renderable (a terminal)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    header = Text.assemble(
        ("queuectl status", "bold"),
        f"  {when(snap.at)}  every {interval:g}s  ",
        ("Ctrl+C to quit", "dim"),
    )
    if problem:
        header.append(f"\ncannot read the queue: {problem} (showing the last reading)", "red")
    jobs = Table(title="jobs", title_justify="left", title_style="bold")
    jobs.add_column("queue")
    for state in (*STATES, "total"):
        jobs.add_column(state, justify="right")
    for index, (name, counts) in enumerate(snap.queues.items()):
        cells = [str(n) for n in (*counts.values(), sum(counts.values()))]
        last_queue = index == len(snap.queues) - 2  # a rule above the (all) row
        jobs.add_row(name, *cells, style="bold" if name == ALL else None, end_section=last_queue)
    workers = Table(
        title=f"workers ({len(snap.workers)})", title_justify="left", title_style="bold"
    )
    for column in WORKER_HEADERS:
        workers.add_column(column, justify="right" if column == "pid" else "left")
    for row in _worker_rows(snap):
        workers.add_row(*("-" if cell is None else str(cell) for cell in row))
    parts: list[Any] = [header, jobs, Text(_waiting(snap))]
    if snap.flow:
        parts.append(Text("\n".join(_flow_lines(snap)).lstrip("\n")))
    parts.append(workers if snap.workers else Text("no workers running", style="dim"))
    return Group(*parts)


def watch(queue: Queue, interval: float, out: TextIO | None = None) -> int:
    """Redraw the queue every ``interval`` seconds until SIGINT or SIGTERM; exit code 0.

    A reading that fails after the first (the database restarting, say) keeps the last
    view on screen with the error named, and the next turn tries again.
    """
    stream = out if out is not None else sys.stdout
    with _StopSignals() as stopped:
        snap = take(queue)  # a queue that cannot be read at all: the usual one-line error
        if stream.isatty() and _has_rich():
            _watch_live(queue, interval, stream, stopped, snap)
        else:
            _watch_plain(queue, interval, stream, stopped, snap)
    return 0


def _has_rich() -> bool:
    """rich comes with the ``web`` extra; without it a terminal gets the plain snapshots."""
    import importlib.util

    if importlib.util.find_spec("rich") is not None:
        return True
    sys.stderr.write("(pip install 'queuectl[web]' for a view redrawn in place)\n")
    return False


def _watch_plain(
    queue: Queue, interval: float, out: TextIO, stopped: _StopSignals, snap: Snapshot
) -> None:
    while True:
        out.write(plain(snap, interval))
        out.flush()
        if stopped.wait(interval):
            return
        try:
            snap = take(queue)
        except QueuectlError as exc:
            out.write(f"cannot read the queue: {exc}\n")


def _watch_live(
    queue: Queue, interval: float, out: TextIO, stopped: _StopSignals, snap: Snapshot
) -> None:
    from rich.console import Console
    from rich.live import Live

    console = Console(file=out)
    with Live(drawn(snap, interval), console=console, auto_refresh=False) as live:
        live.refresh()
        while not stopped.wait(interval):
            problem = None
            try:
                snap = take(queue)
            except QueuectlError as exc:
                problem = str(exc)
            live.update(drawn(snap, interval, problem), refresh=True)


class _StopSignals:
    """Inside: SIGINT and SIGTERM set a flag instead of raising; the handlers that were
    there before come back afterwards.

    The handler writes to a pipe that ``wait`` selects on, rather than setting a
    threading.Event: a handler runs in the main thread between any two bytecodes, maybe
    while that thread holds the Event's own lock (deadlock)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __enter__(self) -> _StopSignals:
        self.stopped = False
        self.read_end, self.write_end = os.pipe()
        os.set_blocking(self.write_end, False)

        def handler(signum: int, frame: FrameType | None) -> None:
            self.stopped = True
            try:
                os.write(self.write_end, b"!")
            except OSError:  # the pipe is full: a wake-up is already waiting
                pass

        self.previous: list[Callable[[int, FrameType | None], Any] | int | None] = [
            signal.signal(sig, handler) for sig in self.SIGNALS
        ]
        return self

    def wait(self, timeout: float) -> bool:
        """Sleep up to ``timeout`` seconds or until a signal came; True once one has."""
        if not self.stopped:
            select.select([self.read_end], [], [], timeout)
        return self.stopped

    def __exit__(self, *exc: object) -> None:
        # Once asked to stop, a second Ctrl+C while the process ends is ignored: it would
        # turn a clean exit into exit 130, or a death by signal during interpreter exit.
        for sig, before in zip(self.SIGNALS, self.previous, strict=True):
            signal.signal(sig, signal.SIG_IGN if self.stopped else before)
        os.close(self.read_end)
        os.close(self.write_end)
