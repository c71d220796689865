"""Live updates as server-sent events: re-rendered HTML fragments (escaped on the
server like every page) that static/live.js swaps in, and a running job's output."""

from __future__ import annotations

import json
import time

import anyio
from starlette.responses import StreamingResponse

from queuectl.errors import QueuectlError
from queuectl.web.pages import job_data, overview_data

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Generator
    from typing import Any

    from starlette.requests import Request

    from queuectl.api import Queue
    from queuectl.models import Attempt

TICK = 1.0  # seconds between two looks at the queue
OUTPUT_TICK = 0.2
OUTPUT_START = 64 * 1024  # a running job's page starts with at most this much of its output


def event(name: str, data: object) -> bytes:
    """One SSE message; its data is JSON, so it is always one line."""
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


def _stream(events: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(
        events,
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )


async def _fragments(
    request: Request, target: str, template: str, read: Callable[[], Awaitable[dict[str, Any]]]
) -> AsyncIterator[bytes]:
    """The fragment ``template`` for element ``target``, sent whenever it changes, until the
    stream's time is up (the browser then reconnects) or the page is closed."""
    ends = time.monotonic() + request.app.state.stream_seconds
    page = request.app.state.templates.get_template(template)
    last = None
    yield b"retry: 1000\n\n"
    while True:
        try:
            context = {**await read(), "csrf": request.state.csrf}
        except QueuectlError:  # the job was purged, the queue went away: end this stream
            yield event("end", {})
            return
        html = page.render(context)
        if html != last:
            last = html
            yield event("fragment", {"id": target, "html": html})
        if time.monotonic() >= ends or await request.is_disconnected():
            return
        await anyio.sleep(TICK)


async def overview(request: Request) -> StreamingResponse:
    db = request.app.state.db

    async def read() -> dict[str, Any]:
        data: dict[str, Any] = await db(overview_data)
        return data

    return _stream(_fragments(request, "live", "_overview_live.html", read))


async def job(request: Request) -> StreamingResponse:
    db, job_id = request.app.state.db, request.path_params["job_id"]
    await db(lambda queue: queue.get(job_id))  # 404 before the stream starts

    async def read() -> dict[str, Any]:
        data: dict[str, Any] = await db(lambda queue: job_data(queue, job_id))
        return data

    return _stream(_fragments(request, "live", "_job_live.html", read))


async def output(request: Request) -> StreamingResponse:
    """The running attempt's output as it is written (when it runs on this host), then,
    if nothing could be read here, the tail stored with it once it ends; then "end"."""
    from queuectl.logs import stream_output

    db, job_id = request.app.state.db, request.path_params["job_id"]
    attempts: list[Attempt] = await db(lambda queue: queue.attempts(job_id))
    running = next((a for a in attempts if a.finished_at is None), None)

    async def events() -> AsyncIterator[bytes]:
        if running is None:
            yield event("end", {})
            return
        follow = None

        def step(queue: Queue) -> tuple[str, Attempt | None, bool]:
            nonlocal follow
            if follow is None:
                follow = stream_output(queue, running, last=OUTPUT_START)
            return _advance(follow)

        while True:
            try:
                chunk, ended, done = await db(step)
            except QueuectlError:  # purged meanwhile, or the queue went away
                yield event("end", {})
                return
            if chunk:
                yield event("output", chunk)
            if done:
                if ended is not None and ended.log_tail:
                    yield event("output", ended.log_tail)
                yield event("end", {})
                return
            if not chunk:
                if await request.is_disconnected():
                    return
                await anyio.sleep(OUTPUT_TICK)

    return _stream(events())


def _advance(
    follow: Generator[str, None, Attempt | None],
) -> tuple[str, Attempt | None, bool]:
    """(chunk, the ended attempt if only its stored tail is left, finished)."""
    try:
        return next(follow), None, False
    except StopIteration as stop:
        return "", stop.value, True
