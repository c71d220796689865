"""The dashboard as a Starlette application: routes, templates, one shared queue."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from queuectl.api import Queue
from queuectl.errors import InvalidInput, NotFound, QueuectlError, StorageError
from queuectl.location import DASHBOARD
from queuectl.web import actions, history, live, pages, queues, schedules, workers
from queuectl.web.security import Guard

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar

    from starlette.requests import Request
    from starlette.responses import Response

    T = TypeVar("T")

HERE = Path(__file__).parent


class Db:
    """The dashboard's one queue. Its connection serves one caller at a time, so every
    use runs in a worker thread (the event loop never waits on the database) under a lock."""

    def __init__(self, location: str | None) -> None:
        self.queue = Queue(location, role=DASHBOARD).open()
        self.lock = threading.Lock()

    def _locked(self, work: Callable[[Queue], T]) -> T:
        with self.lock:
            return work(self.queue)

    async def __call__(self, work: Callable[[Queue], T]) -> T:
        return await run_in_threadpool(self._locked, work)


def templates() -> Jinja2Templates:
    """Every value is HTML-escaped unless a template says otherwise (none does)."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    from queuectl.web.filters import FILTERS

    env = Environment(
        loader=FileSystemLoader(HERE / "templates"), autoescape=True, undefined=StrictUndefined
    )
    env.filters.update(FILTERS)
    return Jinja2Templates(env=env)


# a queue that cannot be reached is the server's trouble (503), a refused action a conflict
_STATUS = ((NotFound, 404), (InvalidInput, 400), (StorageError, 503))


async def _queuectl_error(request: Request, exc: Exception) -> Response:
    status = next((code for kind, code in _STATUS if isinstance(exc, kind)), 409)
    return pages.message(request, status, str(exc))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return pages.message(request, exc.status_code, exc.detail)


def create_app(
    location: str | None,
    token: str | None,
    stream_seconds: float = 300.0,
    max_streams: int = live.MAX_STREAMS,
    max_client_streams: int = live.MAX_CLIENT_STREAMS,
) -> Any:
    """The dashboard of the queue at ``location``; with ``token``, only for those who have it.

    ``stream_seconds``: how long one live stream stays open before the browser reconnects
    (tests use 0: a stream sends its first update and ends). ``max_streams``,
    ``max_client_streams``: live streams open at once, in all and per client address."""
    app = Starlette(
        routes=[
            Route("/", pages.overview),
            Route("/jobs", pages.jobs),
            Route("/jobs/{job_id}", pages.job),
            Route("/jobs/{job_id}/output", pages.output_file),
            Route("/dlq", pages.dlq),
            Route("/metrics", pages.metrics),
            Route("/login", actions.login, methods=["POST"]),
            Route("/jobs/{job_id}/cancel", actions.cancel, methods=["POST"]),
            Route("/jobs/{job_id}/retry", actions.retry_job, methods=["POST"]),
            Route("/jobs/{job_id}/rerun", actions.rerun_job, methods=["POST"]),
            Route("/jobs/{job_id}/run-now", actions.run_now, methods=["POST"]),
            Route("/jobs/{job_id}/edit", actions.edit_job, methods=["POST"]),
            Route("/jobs/bulk", actions.bulk, methods=["POST"]),
            Route("/dlq/retry", actions.dlq_retry, methods=["POST"]),
            Route("/dlq/purge", actions.dlq_purge, methods=["POST"]),
            Route("/queues/{name}/pause", actions.pause_queue, methods=["POST"]),
            Route("/queues/{name}/resume", actions.resume_queue, methods=["POST"]),
            Route("/queues", queues.page),
            Route("/queues/{name}/set", queues.set_limits, methods=["POST"]),
            Route("/schedules", schedules.page),
            Route("/schedules/{name}/pause", schedules.pause, methods=["POST"]),
            Route("/schedules/{name}/resume", schedules.resume, methods=["POST"]),
            Route("/schedules/{name}/run-now", schedules.run_now, methods=["POST"]),
            Route("/history", history.page),
            Route("/workers", workers.page),
            Route("/workers/{worker_id}/stop", workers.stop, methods=["POST"]),
            Route("/live/overview", live.overview),
            Route("/live/jobs", live.jobs),
            Route("/live/jobs/{job_id}", live.job),
            Route("/live/jobs/{job_id}/output", live.output),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ],
        exception_handlers={QueuectlError: _queuectl_error, HTTPException: _http_error},
    )
    app.state.db = Db(location)
    app.state.templates = templates()
    app.state.stream_seconds = stream_seconds
    app.state.streams = live.Streams(max_streams, max_client_streams)
    app.state.overview = live.Snapshot()
    app.add_middleware(Guard, token=token)
    return app
