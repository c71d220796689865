"""The pages (GET): overview, jobs, one job, the dead letter queue, /metrics."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from starlette.responses import Response

from queuectl.errors import InvalidInput, NotFound
from queuectl.models import (
    CANCELLABLE,
    EDITABLE,
    RERUNNABLE,
    STATES,
    WAITING,
    JobState,
    total_counts,
)
from queuectl.web import chart

if TYPE_CHECKING:
    from typing import Any

    from starlette.requests import Request

    from queuectl.api import Queue
    from queuectl.models import Attempt
    from queuectl.web.listing import Listing

PAGE_SIZE = 50
NO_STORE = {"cache-control": "no-store"}  # pages show jobs as they are now: never from a cache
DLQ_LINES = 5  # lines of a dead job's last output on the DLQ page
HOUR = 3600.0
BUCKET = 60.0
TAIL_BYTES = 64 * 1024  # how much of a finished attempt's log file a page shows
DONE = {  # ?done= codes of the redirect after an action → what the page says
    "retried": "Sent back to pending: {n} job(s).",
    "rerun": "Run again: {n} job(s).",
    "run-now": "Due now: {n} job(s).",
    "edited": "Changed: {n} job(s).",
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
        request, name, full, status_code=status, headers=NO_STORE
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
def jobs_data(queue: Queue, listing: Listing) -> dict[str, Any]:
    """A page of /jobs; its live part (the table) is re-rendered from this each second."""
    found, more = listing.page_of(queue)
    return {"jobs": found, "more": more, "listing": listing, "now": queue.now()}


async def jobs(request: Request) -> Response:
    from queuectl.web.listing import VERBS, VIEWS, Listing

    listing = Listing.parse(request.query_params)

    def read(queue: Queue) -> dict[str, Any]:
        return {**jobs_data(queue, listing), "queues": sorted(queue.counts_by_queue())}

    data = await request.app.state.db(read)
    return render(request, "jobs.html", {**data, "states": STATES, "views": VIEWS, "verbs": VERBS})


def attempt_of(request: Request) -> int | None:
    """``?attempt=N`` (None without it); InvalidInput (400) when it is not a number."""
    text = request.query_params.get("attempt") or None
    if text is not None and not (text.isascii() and text.isdecimal() and len(text) <= 9):
        raise InvalidInput(f"attempt must be a number, got {text!r}")
    return None if text is None else int(text)


def job_data(queue: Queue, job_id: str) -> dict[str, Any]:
    """A job, its attempts (newest first), where its workers run, the jobs it waits for
    and those that wait for it, and (when it is not running) why it is where it is."""
    from queuectl.explain import explain
    from queuectl.identity import hostname

    job = queue.get(job_id)
    attempts = queue.attempts(job_id)
    running = next((a for a in attempts if a.finished_at is None), None)
    worker_host = None
    if running is not None:
        worker_host = next((w.host for w in queue.workers() if w.id == running.worker), None)
    edges = queue.dependencies(job_id)
    return {
        "job": job,
        "attempts": attempts[::-1],
        "running": running,
        "here": worker_host == hostname(),
        "worker_host": worker_host,
        "cancellable": job.state in CANCELLABLE,
        "retryable": job.state is JobState.DEAD,
        "rerunnable": job.state in RERUNNABLE,
        "editable": job.state in EDITABLE,
        "runnable_now": job.state in WAITING,
        "after": [(i, state) for side, i, state in edges if side == "after"],
        "dependents": [(i, state) for side, i, state in edges if side == "dependent"],
        "reasons": [] if running is not None else explain(queue, job_id)[1],
        "logs_dir": queue.logs_dir,
    }


async def job(request: Request) -> Response:
    from queuectl.web.live import first_output

    job_id = request.path_params["job_id"]
    wanted = attempt_of(request)

    def read(queue: Queue) -> dict[str, Any]:
        data = job_data(queue, job_id)
        running = data["running"]
        shown = running if wanted is None else None
        if wanted is not None:
            shown = next((a for a in data["attempts"] if a.run == wanted), None)
            if shown is None:
                raise NotFound(f"job {job_id!r} has no attempt {wanted}")
        elif running is None:
            shown = next((a for a in data["attempts"] if a.finished_at is not None), None)
        first = first_output(queue, running) if shown is not None and shown is running else ""
        return {**data, "shown": shown, "first": first}

    data = await request.app.state.db(read)
    shown = data["shown"]
    output = None
    if shown is not None and shown.finished_at is not None:
        output = await _finished_output(data["logs_dir"], shown)
    return render(request, "job.html", {**data, "output": output})


async def output_file(request: Request) -> Response:
    """The whole stored output of an attempt (the latest without ``?attempt=N``) as plain
    text: what ``queuectl logs ID --attempt N`` prints, byte for byte."""
    import io

    from queuectl.logview import show_logs

    job_id = request.path_params["job_id"]
    wanted = attempt_of(request)

    def read(queue: Queue) -> str:
        out = io.StringIO()
        show_logs(queue, job_id, wanted, out)
        return out.getvalue()

    text = await request.app.state.db(read)
    name = f"{job_id}.log" if wanted is None else f"{job_id}.{wanted}.log"
    return Response(
        text.encode("utf-8"),
        media_type="text/plain; charset=utf-8",
        headers={**NO_STORE, "content-disposition": f'attachment; filename="{name}"'},
    )


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
def last_lines(text: str | None, count: int = DLQ_LINES) -> str:
    """The last ``count`` lines of an attempt's stored tail."""
    return "\n".join((text or "").rstrip("\n").split("\n")[-count:])


async def dlq(request: Request) -> Response:
    """Dead jobs, the last to die first, each with the end of its last attempt's output:
    two reads per page, whatever its length."""
    page = small_number(request.query_params.get("page"), 1, 10_000)

    def read(queue: Queue) -> dict[str, Any]:
        offset = (page - 1) * PAGE_SIZE
        found = queue.jobs("dead", None, PAGE_SIZE + 1, sort="updated", reverse=True, offset=offset)
        tried = queue.attempts_of_jobs([job.id for job in found[:PAGE_SIZE]])
        tails = {i: last_lines(runs[-1].log_tail) for i, runs in tried.items() if runs}
        return {"found": found, "tails": tails, "total": queue.counts()["dead"]}

    data = await request.app.state.db(read)
    return render(
        request,
        "dlq.html",
        {
            "jobs": data["found"][:PAGE_SIZE],
            "tails": data["tails"],
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
