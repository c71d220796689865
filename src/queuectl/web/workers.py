"""The workers page (/workers): each worker process with its queues, host, slots in use
and heartbeat age; and its one action, stopping one worker gracefully (as ``worker
stop`` does, for that process only: worker.control.stop_worker)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from queuectl.web.actions import back_to, confirmed
from queuectl.web.pages import render
from queuectl.web.security import checked_form

if TYPE_CHECKING:
    from typing import Any

    from starlette.requests import Request
    from starlette.responses import Response

    from queuectl.api import Queue
    from queuectl.models import WorkerInfo


@dataclass(frozen=True, slots=True)
class Process:
    """One worker process: the slots (worker rows) it registered, which share its host,
    pid, queues and heartbeat. ``id`` is its first slot's: what the stop button names."""

    id: str
    host: str
    pid: int
    queues: list[str] | None
    slots: int
    busy: int
    started_at: float
    heartbeat_at: float  # the stalest of its slots'
    stopping: bool


def processes(workers: list[WorkerInfo]) -> list[Process]:
    """Worker rows (Queue.workers, ordered by host and pid) grouped by process."""
    grouped: dict[tuple[str, int], list[WorkerInfo]] = {}
    for w in workers:
        grouped.setdefault((w.host, w.pid), []).append(w)
    return [
        Process(
            id=slots[0].id,
            host=host,
            pid=pid,
            queues=slots[0].queues,
            slots=len(slots),
            busy=sum(1 for w in slots if w.current_job),
            started_at=min(w.started_at for w in slots),
            heartbeat_at=min(w.heartbeat_at for w in slots),
            stopping=any(w.stop_requested for w in slots),
        )
        for (host, pid), slots in grouped.items()
    ]


def workers_data(queue: Queue) -> dict[str, Any]:
    from queuectl.identity import hostname

    return {"processes": processes(queue.workers()), "now": queue.now(), "here": hostname()}


async def page(request: Request) -> Response:
    return render(request, "workers.html", await request.app.state.db(workers_data))


async def stop(request: Request) -> Response:
    """Stop the worker process that runs slot ``worker_id``: its running jobs end first.
    It may run several slots, so the page asks first."""
    from queuectl.worker.control import stop_worker

    worker_id = request.path_params["worker_id"]
    fields = await checked_form(request)
    question = (
        f"Stop worker {worker_id}? Its process takes no new job and exits when its "
        "running jobs end."
    )
    asked = confirmed(request, fields, question, "/workers")
    if asked is not None:
        return asked
    slots = await request.app.state.db(lambda queue: stop_worker(queue, worker_id))
    return back_to("/workers", "stopping", len(slots))
