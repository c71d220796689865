"""The pages (GET): overview, jobs, one job, the dead letter queue, /metrics."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from starlette.responses import Response

from queuectl.models import CANCELLABLE, STATES, JobState, total_counts
from queuectl.web import chart

if TYPE_CHECKING:
    from typing import Any

    from starlette.requests import Request

    from queuectl.api import Queue
    from queuectl.models import Attempt

PAGE_SIZE = 50
HOUR = 3600.0
BUCKET = 60.0
TAIL_BYTES = 64 * 1024  # how much of a finished attempt's log file a page shows
DONE = {  # ?done= codes of the redirect after an action → what the page says
    "retried": "Sent back to pending: {n} job(s).",
    "purged": "Deleted for good: {n} job(s).",
    "cancelled": "Cancelled: {n} job(s).",
    "paused": "Paused: {n} queue(s).",
    "resumed": "Resumed: {n} queue(s).",
    "set": "Limits set: {n} queue(s).",
    "schedule-paused": "Paused: {n} schedule(s).",
    "schedule-resumed": "Resumed: {n} schedule(s).",
    "enqueued": "Enqueued now: {n} job(s).",
    "stopping": "Asked to stop: {n} worker slot(s); the process exits when its jobs end.",
}


def small_number(text: str | None, default: int, most: int) -> int:
    """A query parameter as a number in 1..most; anything else (letters, "²", a thousand
    digits) is the default."""
    if text and text.isascii() and text.isdecimal() and len(text) <= 9:
        return max(1, min(int(text), most))
    return default


def render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    done = DONE.get(request.query_params.get("done", ""))
    count = small_number(request.query_params.get("n"), 0, 1_000_000_000)
    notice = done.format(n=count) if done and count else None
    full = {"csrf": request.state.csrf, "notice": notice, "path": request.url.path, **context}
    response: Response = request.app.state.templates.TemplateResponse(
        request, name, full, status_code=status
    )
    return response


def message(request: Request, status: int, text: str) -> Response:
    return render(request, "message.html", {"status": status, "text": text}, status)


# --- overview -------------------------------------------------------------------
def _flow(queue: Queue) -> tuple[dict[str, str], set[str]]:
    """Pause and limits of each paused or limited queue, as ``status`` words them; and
    the names of the queues paused now (their row offers Resume, the others Pause)."""
    now = queue.now()
    rows = queue.flow()
    words = {q.name: q.summary(now).partition("  ")[2] for q in rows}
    return words, {q.name for q in rows if q.paused_at_time(now)}


def overview_data(queue: Queue) -> dict[str, Any]:
    """Everything the overview shows; its live part is re-rendered from this each second."""
    now = time.time()
    per_queue = queue.counts_by_queue()
    counts = total_counts(per_queue)
    flow, paused = _flow(queue)
    empty = dict.fromkeys(STATES, 0)  # a paused or limited queue without jobs still has a row
    return {
        "counts": counts,
        "total": sum(counts.values()),
        "by_queue": sorted({**dict.fromkeys(flow, empty), **per_queue}.items()),
        "flow": flow,
        "paused": paused,
        "states": STATES,
        "stats": queue.stats(now - HOUR),
        "chart": chart.build(queue.timeline(now - HOUR, BUCKET), BUCKET),
        "oldest_pending": queue.oldest_pending_age(),
        "workers": queue.workers(),
        "recent": queue.find_jobs(limit=10),
    }


async def overview(request: Request) -> Response:
    data = await request.app.state.db(overview_data)
    return render(request, "overview.html", data)


# --- jobs -----------------------------------------------------------------------
async def jobs(request: Request) -> Response:
    params = request.query_params
    state = params.get("state") or None
    if state is not None and state not in STATES:
        return message(request, 400, f"unknown state {state!r}; states: {', '.join(STATES)}")
    queue_name = params.get("queue") or None
    text = (params.get("q") or "").strip()[:200] or None
    page = small_number(params.get("page"), 1, 10_000)

    def read(queue: Queue) -> dict[str, Any]:
        found = queue.find_jobs(state, queue_name, text, PAGE_SIZE + 1, (page - 1) * PAGE_SIZE)
        return {"found": found, "queues": sorted(queue.counts_by_queue())}

    data = await request.app.state.db(read)
    filters = {"state": state or "", "queue": queue_name or "", "q": text or ""}
    return render(
        request,
        "jobs.html",
        {
            "jobs": data["found"][:PAGE_SIZE],
            "queues": data["queues"],
            "states": STATES,
            "filters": filters,
            "page": page,
            "more": len(data["found"]) > PAGE_SIZE,
            "query": {k: v for k, v in filters.items() if v},
        },
    )


def job_data(queue: Queue, job_id: str) -> dict[str, Any]:
    """A job, its attempts (newest first) and where its workers run."""
    from queuectl.identity import hostname

    job = queue.get(job_id)
    attempts = queue.attempts(job_id)
    running = next((a for a in attempts if a.finished_at is None), None)
    worker_host = None
    if running is not None:
        worker_host = next((w.host for w in queue.workers() if w.id == running.worker), None)
    return {
        "job": job,
        "attempts": attempts[::-1],
        "running": running,
        "here": worker_host == hostname(),
        "worker_host": worker_host,
        "cancellable": job.state in CANCELLABLE,
        "retryable": job.state is JobState.DEAD,
        "logs_dir": queue.logs_dir,
    }


async def job(request: Request) -> Response:
    job_id = request.path_params["job_id"]
    data = await request.app.state.db(lambda queue: job_data(queue, job_id))
    latest = next((a for a in data["attempts"] if a.finished_at is not None), None)
    output = None
    if latest is not None:
        output = await _finished_output(data["logs_dir"], latest)
    return render(request, "job.html", {**data, "latest": latest, "output": output})


async def _finished_output(logs_dir: str, attempt: Attempt) -> tuple[str, str]:
    """(text, where it came from) of an ended attempt: the end of its log file on this
    host, else the tail stored with the attempt."""
    from starlette.concurrency import run_in_threadpool

    from queuectl.logfiles import log_path, open_log
    from queuectl.logview import stored_output

    def read() -> tuple[str, str]:
        path = log_path(logs_dir, attempt.job_id, attempt.run)
        try:
            with open_log(path) as handle:  # never through a link a job planted
                size = handle.seek(0, 2)
                handle.seek(max(0, size - TAIL_BYTES))
                text = handle.read().decode("utf-8", "replace")
            cut = f"the last {TAIL_BYTES // 1024} KiB of " if size > TAIL_BYTES else ""
            return text, f"{cut}{path}"
        except FileNotFoundError:
            return stored_output(attempt, "no log file on this host")
        except OSError as exc:
            return stored_output(attempt, f"{path} is not read here ({exc.strerror})")

    return await run_in_threadpool(read)


# --- dead letter queue ------------------------------------------------------------
async def dlq(request: Request) -> Response:
    page = small_number(request.query_params.get("page"), 1, 10_000)

    def read(queue: Queue) -> dict[str, Any]:
        found = queue.find_jobs("dead", None, None, PAGE_SIZE + 1, (page - 1) * PAGE_SIZE)
        return {"found": found, "total": queue.counts()["dead"]}

    data = await request.app.state.db(read)
    return render(
        request,
        "dlq.html",
        {
            "jobs": data["found"][:PAGE_SIZE],
            "total": data["total"],
            "page": page,
            "more": len(data["found"]) > PAGE_SIZE,
            "query": {},
        },
    )


# --- /metrics -----------------------------------------------------------------------
async def metrics(request: Request) -> Response:
    from queuectl.web import metrics as prometheus

    body, content_type = await request.app.state.db(prometheus.render)
    return Response(body, media_type=content_type)
