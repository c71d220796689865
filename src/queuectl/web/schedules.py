"""The schedules page (/schedules): every schedule with its next runs, its last run and
that run's state, and the actions of ``schedule pause/resume/run-now`` (Queue.*_schedule)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from queuectl.web.actions import back_to
from queuectl.web.pages import render
from queuectl.web.security import checked_form

if TYPE_CHECKING:
    from typing import Any

    from starlette.requests import Request
    from starlette.responses import Response

    from queuectl.api import Queue
    from queuectl.schedules import Schedule

NEXT_RUNS = 3  # slots shown ahead


def next_runs(schedule: Schedule) -> list[float]:
    """The slots it fires next: its stored next one, then those after it (none paused)."""
    if schedule.paused or schedule.next_at is None:
        return []
    return [schedule.next_at, *schedule.timing.preview(schedule.next_at, NEXT_RUNS - 1)]


def schedules_data(queue: Queue) -> dict[str, Any]:
    """One read: the schedules carry their last jobs' states (Backend.schedules)."""
    found = queue.schedules()
    return {"schedules": [(s, next_runs(s)) for s in found]}


async def page(request: Request) -> Response:
    return render(request, "schedules.html", await request.app.state.db(schedules_data))


async def pause(request: Request) -> Response:
    name = request.path_params["name"]
    await checked_form(request)
    await request.app.state.db(lambda queue: queue.pause_schedule(name))
    return back_to("/schedules", "schedule-paused", 1)


async def resume(request: Request) -> Response:
    """Fires again from its next slot; the slots of the pause are not run."""
    name = request.path_params["name"]
    await checked_form(request)
    await request.app.state.db(lambda queue: queue.resume_schedule(name))
    return back_to("/schedules", "schedule-resumed", 1)


async def run_now(request: Request) -> Response:
    """Enqueue the schedule's job once now; its slots stay as they are."""
    name = request.path_params["name"]
    await checked_form(request)
    await request.app.state.db(lambda queue: queue.run_schedule_now(name))
    return back_to("/schedules", "enqueued", 1)
