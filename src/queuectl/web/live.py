"""Live updates as server-sent events: re-rendered HTML fragments (escaped on the
server like every page) that static/live.js swaps in, and a running job's output.

Streams are bounded (``Streams``: in total and per client address; past the bound a
429 or 503 answer, and the page polls slowly instead), and every overview stream
shows one shared ``Snapshot``, read from the queue at most once a tick however many
streams are open."""

from __future__ import annotations

import json
import math
import time
from typing import TYPE_CHECKING

import anyio
from starlette.responses import PlainTextResponse, Response, StreamingResponse

from queuectl.errors import QueuectlError
from queuectl.web.pages import job_data, jobs_data, overview_data

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Generator
    from typing import Any

    from starlette.requests import Request
    from starlette.types import Receive, Scope, Send

    from queuectl.api import Queue
    from queuectl.models import Attempt
    from queuectl.web.app import Db

TICK = 1.0  # seconds between two looks at the queue
OUTPUT_TICK = 0.2
OUTPUT_START = 64 * 1024  # a running job's page starts with at most this much of its output
MAX_STREAMS = 64  # open live streams of the whole dashboard
MAX_CLIENT_STREAMS = 16  # of one client address (a browser holds 1 or 2 per open page)
# The shared overview is read again after max(TICK, SHARE times the time its last reading
# took): on a queue where reading it is slow, it holds the queue's one connection at
# most a fifth of the time, and pages and actions stay quick.
SHARE = 5.0
RETRY_AFTER = 30  # seconds a refused page waits before it asks for a stream again


def event(name: str, data: object) -> bytes:
    """One SSE message; its data is JSON, so it is always one line."""
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


class Streams:
    """How many live streams are open, in total and per client address. Used from the
    event loop only, so plain counters suffice."""

    def __init__(self, total: int = MAX_STREAMS, per_client: int = MAX_CLIENT_STREAMS) -> None:
        self.total = total
        self.per_client = per_client
        self.open: dict[str, int] = {}

    def refusal(self, client: str) -> Response | None:
        """None when one more stream of ``client`` fits (it is then counted); else the
        answer: 429 past the client's bound, 503 past the dashboard's."""
        if self.open.get(client, 0) >= self.per_client:
            status, text = 429, f"at most {self.per_client} live views per client"
        elif sum(self.open.values()) >= self.total:
            status, text = 503, f"at most {self.total} live views on this dashboard"
        else:
            self.open[client] = self.open.get(client, 0) + 1
            return None
        return PlainTextResponse(
            f"{status}: {text}; this page is not updated live, reload it for news\n",
            status_code=status,
            headers={"retry-after": str(RETRY_AFTER), "cache-control": "no-store"},
        )

    def closed(self, client: str) -> None:
        left = self.open.get(client, 0) - 1
        if left > 0:
            self.open[client] = left
        else:
            self.open.pop(client, None)


class _Counted(StreamingResponse):
    """A stream that gives its place back when it ends, however it ends."""

    def __init__(self, events: AsyncIterator[bytes], done: Callable[[], None]) -> None:
        super().__init__(
            events,
            media_type="text/event-stream",
            headers={"cache-control": "no-store", "x-accel-buffering": "no"},
        )
        self.done = done

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.done()


def _stream(request: Request, events: AsyncIterator[bytes]) -> Response:
    streams: Streams = request.app.state.streams
    client = request.client.host if request.client else ""
    refused = streams.refusal(client)
    if refused is not None:
        return refused
    return _Counted(events, lambda: streams.closed(client))


class Snapshot:
    """The overview, shared by every stream that shows it: read from the queue when a
    stream asks and the last reading is older than its period; meanwhile (and while
    one stream reads) the others wait for that reading and share it. A failed reading
    is shared the same way."""

    def __init__(self) -> None:
        self._lock: anyio.Lock | None = None
        self._at = -math.inf
        self._period = TICK
        self._value: dict[str, Any] | QueuectlError = {}

    async def latest(self, db: Db) -> dict[str, Any]:
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:
            if time.monotonic() - self._at >= self._period:
                self._value, took = await db(_timed_overview)
                self._at = time.monotonic()
                self._period = max(TICK, SHARE * took)
        if isinstance(self._value, QueuectlError):
            raise self._value
        return self._value


def _timed_overview(queue: Queue) -> tuple[dict[str, Any] | QueuectlError, float]:
    start = time.monotonic()
    try:
        value: dict[str, Any] | QueuectlError = overview_data(queue)
    except QueuectlError as exc:
        value = exc
    return value, time.monotonic() - start


async def _fragments(
    request: Request, target: str, template: str, read: Callable[[], Awaitable[dict[str, Any]]]
) -> AsyncIterator[bytes]:
    """The fragment ``template`` for element ``target``, sent whenever it changes, until the
    stream's time is up (the browser then reconnects) or the page is closed."""
    ends = time.monotonic() + request.app.state.stream_seconds
    page = request.app.state.templates.get_template(template)
    last = None
    shown: dict[str, Any] | None = None
    yield b"retry: 1000\n\n"
    while True:
        try:
            data = await read()
        except QueuectlError:  # the job was purged, the queue went away: end this stream
            yield event("end", {})
            return
        if data is not shown:  # (a shared snapshot not read again since: nothing to do)
            shown = data
            html = page.render({**data, "csrf": request.state.csrf})
            if html != last:
                last = html
                yield event("fragment", {"id": target, "html": html})
        if time.monotonic() >= ends or await request.is_disconnected():
            return
        await anyio.sleep(TICK)


async def overview(request: Request) -> Response:
    db, snapshot = request.app.state.db, request.app.state.overview

    async def read() -> dict[str, Any]:
        data: dict[str, Any] = await snapshot.latest(db)
        return data

    return _stream(request, _fragments(request, "live", "_overview_live.html", read))


async def jobs(request: Request) -> Response:
    """/jobs' table with the page's own filters, order and page (its query string)."""
    from queuectl.web.listing import Listing

    db, listing = request.app.state.db, Listing.parse(request.query_params)

    async def read() -> dict[str, Any]:
        data: dict[str, Any] = await db(lambda queue: jobs_data(queue, listing))
        return data

    return _stream(request, _fragments(request, "live", "_jobs_live.html", read))


async def job(request: Request) -> Response:
    db, job_id = request.app.state.db, request.path_params["job_id"]
    await db(lambda queue: queue.get(job_id))  # 404 before the stream starts

    async def read() -> dict[str, Any]:
        data: dict[str, Any] = await db(lambda queue: job_data(queue, job_id))
        return data

    return _stream(request, _fragments(request, "live", "_job_live.html", read))


async def output(request: Request) -> Response:
    """The running attempt's output as it is written (when it runs on this host), then,
    if nothing could be read here, the tail stored with it once it ends; then "end"."""
    from queuectl.logview import stream_output

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

    return _stream(request, events())


def first_output(queue: Queue, running: Attempt) -> str:
    """What a running attempt has written so far (its last OUTPUT_START bytes, from the
    start of a line), for the page's first view before its stream connects: the same
    reading the stream starts with. On another host: what its worker stored in the queue
    (PostgreSQL), else nothing."""
    from queuectl.logview import stream_output

    shown = []
    for chunk in stream_output(queue, running, last=OUTPUT_START):
        if not chunk:
            break
        shown.append(chunk)
    return "".join(shown)


def _advance(
    follow: Generator[str, None, Attempt | None],
) -> tuple[str, Attempt | None, bool]:
    """(chunk, the ended attempt if only its stored tail is left, finished)."""
    try:
        return next(follow), None, False
    except StopIteration as stop:
        return "", stop.value, True
