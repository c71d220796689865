"""Human output: plain aligned tables and detail views (JSON output is json.dumps)."""

from __future__ import annotations

import json
import time

from queuectl.timefmt import format_duration, iso

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from queuectl.models import Attempt, Job, WorkerInfo


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return "\n".join(lines)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    text = str(value).replace("\n", "\\n")
    return text if len(text) <= 48 else text[:47] + "…"


def when(ts: float | None) -> str:
    """A short local-independent form: the ISO instant to the second."""
    text = iso(ts)
    return "-" if text is None else text[:19].replace("T", " ") + "Z"


def ago(ts: float | None, now: float | None = None) -> str:
    if ts is None:
        return "-"
    delta = (time.time() if now is None else now) - ts
    return format_duration(delta) + " ago" if delta >= 0 else "in " + format_duration(-delta)


def jobs_table(jobs: Sequence[Job]) -> str:
    if not jobs:
        return "no jobs"
    rows = [
        (
            j.id,
            j.state.value,
            j.queue,
            j.priority,
            f"{j.attempts}/{j.max_retries + 1}",
            j.command_text(),
            ago(j.run_at) if j.state.value in ("pending", "failed") else when(j.updated_at),
            j.last_error,
        )
        for j in jobs
    ]
    return table(("id", "state", "queue", "pri", "tries", "command", "when", "last error"), rows)


def workers_table(workers: Sequence[WorkerInfo]) -> str:
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
    return table(("worker", "host", "pid", "queues", "job", "since", "heartbeat", ""), rows)


def queues_text(queues: Sequence[str] | None) -> str:
    """A worker's queues as its ``--queue`` options name them: ``io,cpu``, ``!gpu``, or
    ``all``."""
    return ",".join(queues) if queues else "all"


def status_text(counts: dict[str, int], workers: Sequence[WorkerInfo]) -> str:
    width = max(len(state) for state in counts)
    lines = ["jobs"] + [f"  {state.ljust(width)}  {n}" for state, n in counts.items()]
    lines += ["", f"workers ({len(workers)})", workers_table(workers)]
    return "\n".join(lines)


def job_detail(job: Job, attempts: Sequence[Attempt]) -> str:
    data = job.to_dict()
    data["command"] = (
        job.command_text() if isinstance(job.command, str) else json.dumps(job.command)
    )
    width = max(len(k) for k in data)
    lines = [
        f"{key.ljust(width)}  {'-' if value is None else value}" for key, value in data.items()
    ]
    lines.append("")
    if not attempts:
        lines.append("no attempts yet")
        return "\n".join(lines)
    rows = [
        (
            a.run,
            a.outcome or "running",
            a.exit_code,
            when(a.started_at),
            format_duration(a.finished_at - a.started_at) if a.finished_at else "-",
            a.worker,
            a.error,
        )
        for a in attempts
    ]
    lines.append(table(("attempt", "outcome", "exit", "started", "took", "worker", "error"), rows))
    return "\n".join(lines)


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
    )
    return table(headers, rows)
