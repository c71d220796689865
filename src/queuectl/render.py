"""Human output: plain aligned tables and detail views (JSON output is json.dumps).

Every view renders a job's parts the same way, here: its command (``Job.command_text``:
what a user would type, argv joined with shell quoting), lists of names (``names``: env
keys, tags), how many tries it had (``tries``: the running attempt counts), what its
time means (``timing``) and the word for a running attempt (``processing``, the job's
state). Tables fit the terminal (``Screen``): the command is cut first, with "…".
"""

from __future__ import annotations

import os
import time

from queuectl.limits import text as limits_text
from queuectl.timefmt import format_duration, iso

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, TextIO

    from queuectl.models import Attempt, Job, WorkerInfo

RUNNING = "processing"  # what every view calls a running attempt: its job's state
# SGR colours of states and outcomes, as the dashboard's (web/static/dashboard.css)
COLOURS = {
    "pending": "34",
    "processing": "36",
    "completed": "32",
    "succeeded": "32",
    "failed": "33",
    "timed_out": "33",
    "interrupted": "33",
    "dead": "31",
    "spawn_error": "31",
    "worker_lost": "31",
    "oom": "31",
    "cancelled": "90",
    "killed": "90",
    "blocked": "35",
}
# control characters would move the cursor or recolour the terminal: shown escaped
_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(32), 127)} | {10: "\\n", 13: "\\r", 9: "\\t"}
MIN_CUT = 8  # a cut column keeps at least this many characters


class Screen:
    """Where human output goes: its ``width`` in columns (None: unbounded, as into a pipe
    or a file) and whether states are coloured (a terminal, unless ``NO_COLOR``)."""

    __slots__ = ("colour", "width")

    def __init__(self, width: int | None = None, colour: bool = False) -> None:
        self.width = width
        self.colour = colour

    def paint(self, word: str) -> str:
        """``word`` (a state or an outcome) in its colour, if this screen has colour."""
        code = COLOURS.get(word) if self.colour else None
        return word if code is None else f"\x1b[{code}m{word}\x1b[0m"


PLAIN = Screen()


def screen(stream: TextIO) -> Screen:
    """The screen of ``stream``: a terminal's width (``$COLUMNS`` first, as everywhere) and
    colour there unless ``$NO_COLOR`` is set and not empty; a pipe or a file gets neither,
    unless ``$COLUMNS`` gives a width."""
    try:
        terminal = stream.isatty()
    except (AttributeError, ValueError):
        terminal = False
    text = os.environ.get("COLUMNS", "")
    width = int(text) if text.isdigit() and int(text) > 0 else None
    if width is None and terminal:
        try:
            width = os.get_terminal_size(stream.fileno()).columns or None
        except (OSError, ValueError):
            width = None
    return Screen(width, terminal and not os.environ.get("NO_COLOR"))


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[object]],
    on: Screen = PLAIN,
    cut: Sequence[str] = (),
    drop: Sequence[str] = (),
    painted: Sequence[str] = (),
) -> str:
    """Aligned columns under upper-case headers, fitted to ``on.width``: the columns named
    in ``cut`` give way first, in that order, down to MIN_CUT characters (their text ends
    in "…"); then the columns named in ``drop`` are left out, in that order, until the
    rest fits, those whose cells all read the same first. Cells of the columns in
    ``painted`` are coloured words (Screen.paint)."""
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    shown = list(range(len(headers)))
    if on.width is not None:
        shown = _fit(list(headers), cells, widths, on.width, cut, drop)
    paint = {headers.index(name) for name in painted if name in headers}

    def line(row: Sequence[str], header: bool = False) -> str:
        parts = []
        for i in shown:
            text = _clip(row[i], widths[i])
            pad = " " * (widths[i] - len(text))
            parts.append((on.paint(text) if i in paint and not header else text) + pad)
        return "  ".join(parts).rstrip()

    lines = [line([h.upper() for h in headers], header=True)]
    lines += [line(row) for row in cells]
    return "\n".join(lines)


def _fit(
    headers: list[str],
    cells: list[list[str]],
    widths: list[int],
    room: int,
    cut: Sequence[str],
    drop: Sequence[str],
) -> list[int]:
    """Narrow ``widths`` in place (columns of ``cut``), then choose which columns to show
    (leaving out those of ``drop``), so that a line fits ``room``; the columns shown."""
    values = [{row[i] for row in cells} for i in range(len(headers))]
    shown = list(range(len(headers)))
    natural = list(widths)

    def over() -> int:
        return sum(widths[i] for i in shown) + 2 * (len(shown) - 1) - room

    for name in cut:
        i = headers.index(name)
        widths[i] -= max(0, min(over(), widths[i] - max(MIN_CUT, len(name))))
    for name in sorted(drop, key=lambda name: len(values[headers.index(name)]) > 1):
        if over() <= 0:
            break  # columns whose every cell is the same (all in one queue) go first
        shown.remove(headers.index(name))
    for name in reversed(cut):  # what leaving columns out freed goes back, last cut first
        i = headers.index(name)
        widths[i] += max(0, min(-over(), natural[i] - widths[i]))
    return shown


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _cell(value: object) -> str:
    if value is None:
        return "-"
    return str(value).translate(_CONTROLS)


def names(values: Sequence[str] | None) -> str:
    """A list of names (env keys, tags) as a person reads it: ``A, B``, or ``-``."""
    return ", ".join(values) if values else "-"


def tries(job: Job) -> str:
    """Attempts made of those allowed, the running one included: ``1/4`` while the first
    attempt of a job with 3 retries runs, and once it has ended."""
    started = job.attempts + (job.state.value == RUNNING)
    return f"{started}/{job.max_retries + 1}"


def when(ts: float | None) -> str:
    """A short local-independent form: the ISO instant to the second."""
    text = iso(ts)
    return "-" if text is None else text[:19].replace("T", " ") + "Z"


def ago(ts: float | None, now: float | None = None) -> str:
    if ts is None:
        return "-"
    delta = (time.time() if now is None else now) - ts
    return format_duration(delta) + " ago" if delta >= 0 else "in " + format_duration(-delta)


def span(seconds: float) -> str:
    """A length of time, rounded, in its largest unit, for narrow columns: ``45s``,
    ``12m``, ``3h``, ``2d``."""
    seconds = max(seconds, 0.0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{round(seconds / size)}{unit}"
    return f"{round(seconds)}s"


def timing(job: Job, now: float) -> str:
    """What the time of a job is, and how far from now: the WHEN column of ``list``.
    ``queued 5m ago`` (ready, waiting for a worker), ``runs in 2h`` (scheduled),
    ``retry in 8s`` (failed, in its backoff), ``started 12s ago``, ``finished 3m ago``,
    ``cancelled 1h ago``."""
    state = job.state.value
    if state in ("pending", "failed"):
        if job.run_at > now:
            return f"{'runs' if state == 'pending' else 'retry'} in {span(job.run_at - now)}"
        if state == "failed":
            return f"retry due {span(now - job.run_at)} ago"
        return f"queued {span(now - max(job.run_at, job.created_at))} ago"
    if state == RUNNING:
        return f"started {span(now - (job.started_at or job.updated_at))} ago"
    if state == "blocked":
        return f"blocked for {span(now - job.created_at)}"
    verb = "cancelled" if state == "cancelled" else "finished"
    return f"{verb} {span(now - (job.finished_at or job.updated_at))} ago"


JOB_HEADERS = ("id", "state", "queue", "pri", "tries", "command", "when", "last error")


def jobs_table(jobs: Sequence[Job], on: Screen = PLAIN, now: float | None = None) -> str:
    """``list`` and ``dlq list``. On a narrow screen the command is cut first, then the
    last error; then the priority, the queue, the last error and the tries are left out."""
    if not jobs:
        return "no jobs"
    now = time.time() if now is None else now
    rows = [
        (
            j.id,
            j.state.value,
            j.queue,
            j.priority,
            tries(j),
            j.command_text(),
            timing(j, now),
            j.last_error,
        )
        for j in jobs
    ]
    return table(
        JOB_HEADERS,
        rows,
        on,
        cut=("command", "last error"),
        drop=("pri", "queue", "last error", "tries"),
        painted=("state",),
    )


def workers_table(workers: Sequence[WorkerInfo], on: Screen = PLAIN) -> str:
    if not workers:
        return "no workers running"
    rows = [
        (
            w.id,
            w.host,
            w.pid,
            queues_text(w.queues),
            w.current_job,
            ago(w.started_at),
            ago(w.heartbeat_at),
            "stopping" if w.stop_requested else "",
        )
        for w in workers
    ]
    return table(("worker", "host", "pid", "queues", "job", "since", "heartbeat", ""), rows, on)


def queues_text(queues: Sequence[str] | None) -> str:
    """A worker's queues as its ``--queue`` options name them: ``io,cpu``, ``!gpu``, or
    ``all``."""
    return ",".join(queues) if queues else "all"


def status_text(
    counts: dict[str, int],
    workers: Sequence[WorkerInfo],
    on: Screen = PLAIN,
    flow: Sequence[str] = (),
) -> str:
    """``flow``: a line per paused or limited queue (QueueInfo.summary)."""
    width = max(len(state) for state in counts)
    lines = ["jobs"]
    lines += [
        f"  {on.paint(state)}{' ' * (width - len(state))}  {n}" for state, n in counts.items()
    ]
    if flow:
        lines += ["", "paused or limited queues", *(f"  {line}" for line in flow)]
    lines += ["", f"workers ({len(workers)})", workers_table(workers, on)]
    return "\n".join(lines)


def job_detail(
    job: Job,
    attempts: Sequence[Attempt],
    on: Screen = PLAIN,
    edges: Sequence[tuple[str, str, str | None]] = (),
) -> str:
    """``show``: the job's fields, one a line, then its attempts. ``edges``: its
    dependencies and dependents (Queue.dependencies), each shown with its state."""
    data = {key: _cell(value) for key, value in job.to_dict().items()}
    data.update(
        command=_cell(job.command_text()),
        state=on.paint(job.state.value),
        attempts=tries(job),
        env_keys=names(sorted(job.env or ())),
        clean_env="yes: PATH, HOME, LANG, TZ of the worker" if job.clean_env else "no",
        tags=_cell(names(job.tags)),
        after=names([edge_text(e, on) for e in edges if e[0] == "after"]),
        blocked_by=_cell(names(job.blocked_by)),
        dependents=names([edge_text(e, on) for e in edges if e[0] == "dependent"]),
        limits=limits_text(job.limits),
    )
    width = max(len(k) for k in data)
    lines = [f"{key.ljust(width)}  {value}" for key, value in data.items()]
    lines.append("")
    if not attempts:
        lines.append("no attempts yet")
        return "\n".join(lines)
    rows = [
        (
            a.run,
            a.outcome or RUNNING,
            a.exit_code,
            when(a.started_at),
            format_duration(a.finished_at - a.started_at) if a.finished_at else "-",
            cpu_text(a.cpu_user_s),
            cpu_text(a.cpu_sys_s),
            kib_text(a.max_rss_kb),
            a.worker,
            a.error,
        )
        for a in attempts
    ]
    headers = (
        "attempt", "outcome", "exit", "started", "took", "user", "sys", "max rss", "worker", "error"
    )  # fmt: skip
    lines.append(table(headers, rows, on, cut=("error",), painted=("outcome",)))
    return "\n".join(lines)


def cpu_text(seconds: float | None) -> str:
    """CPU seconds of an attempt: ``1.02s``, ``-`` where not measured."""
    return "-" if seconds is None else f"{seconds:.2f}s"


def kib_text(kib: float | None) -> str:
    """A memory figure in KiB as ``812K``, ``195.3M``, ``2.1G``; ``-`` where not measured."""
    if kib is None:
        return "-"
    if kib < 1024:
        return f"{kib:.0f}K"
    if kib < 1024 * 1024:
        return f"{kib / 1024:.1f}M"
    return f"{kib / 1024 / 1024:.1f}G"


def edge_text(edge: tuple[str, str, str | None], on: Screen = PLAIN) -> str:
    """One dependency or dependent of ``show``: ``build (completed)``; a purged one is
    ``build (gone)``."""
    _side, job_id, state = edge
    return f"{_cell(job_id)} ({on.paint(state) if state else 'gone'})"


def settings_table(rows: Sequence[Sequence[object]], on: Screen = PLAIN) -> str:
    """``config list``: the meaning is cut only where the screen is too narrow for it."""
    return table(("key", "value", "default", "meaning"), rows, on, cut=("meaning",))


def stats_table(figures: dict[str, Any]) -> str:
    """`queuectl stats`: one row per queue, then every queue together as ``(all)``."""
    groups = [*figures["queues"].items(), ("(all)", figures["total"])]
    rows = []
    for name, s in groups:
        rate, per_min = s["success_rate"], s["throughput_per_min"]
        rows.append(
            (
                name,
                s["finished"],
                s["succeeded"],
                s["failed"],
                None if rate is None else f"{rate * 100:.1f}%",
                None if per_min is None else f"{per_min:.2f}",
                *(
                    None if s[key] is None else format_duration(s[key])
                    for key in ("duration_p50", "duration_p95", "duration_max")
                ),
                *(None if s.get(key) is None else cpu_text(s[key]) for key in CPU_KEYS),
                *(kib_text(s.get(key)) if s.get(key) is not None else None for key in RSS_KEYS),
            )
        )
    headers = (
        "queue",
        "finished",
        "succeeded",
        "failed",
        "success",
        "per min",
        "p50",
        "p95",
        "max",
        "cpu p50",
        "cpu p95",
        "rss p50",
        "rss p95",
    )
    return table(headers, rows)


CPU_KEYS, RSS_KEYS = ("cpu_p50", "cpu_p95"), ("max_rss_kb_p50", "max_rss_kb_p95")
