"""The queues page (/queues): every queue as ``queue list`` sees it (Queue.queues: its
pause, limits and jobs per state), with its throughput of the last hour (Queue.stats),
the wait of its oldest ready job, and the worker processes that serve it; and the one
action of its own, changing a queue's limits as ``queue set`` does. Pause and resume
are the overview's actions (web.actions), sent back here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from queuectl.models import STATES
from queuectl.web.actions import back_to
from queuectl.web.pages import HOUR, render
from queuectl.web.security import checked_form
from queuectl.web.workers import processes

if TYPE_CHECKING:
    from typing import Any

    from starlette.requests import Request
    from starlette.responses import Response

    from queuectl.api import Queue

LIMITS = ("concurrency", "rate")  # the fields of the limits form, as queue set's flags


def queues_data(queue: Queue) -> dict[str, Any]:
    """Five reads, however many queues and workers there are."""
    from queuectl.queues import format_rate, serves

    now = queue.now()
    found = queue.queues()
    running = processes(queue.workers())
    hour = queue.stats(now - HOUR)["queues"]
    waiting = queue.oldest_ready_age_by_queue()
    rows = [
        {
            "info": info,
            "counts": {state: (info.counts or {}).get(state, 0) for state in STATES},
            "flow": info.summary(now).partition("  ")[2],
            "paused": info.paused_at_time(now),
            "rate": format_rate(info.rate_n, info.rate_period) or "",
            "throughput": hour.get(info.name, {}).get("throughput_per_min"),
            "oldest": waiting.get(info.name),
            "workers": [p for p in running if serves(p.queues, info.name)],
        }
        for info in found
    ]
    return {"rows": rows, "states": STATES}


async def page(request: Request) -> Response:
    return render(request, "queues.html", await request.app.state.db(queues_data))


async def set_limits(request: Request) -> Response:
    """``queue set NAME --concurrency C --rate R`` from the form: a field left empty or
    ``none`` lifts that limit; a field not sent stays as it is. One queue: no question."""
    from queuectl.errors import InvalidInput
    from queuectl.queues import parse_concurrency, parse_rate

    name = request.path_params["name"]
    fields = await checked_form(request)
    parse = {"concurrency": parse_concurrency, "rate": parse_rate}
    changes = {key: parse[key](fields[key].strip() or "none") for key in LIMITS if key in fields}
    if not changes:
        raise InvalidInput("give a concurrency or a rate (empty or none: no limit)")
    await request.app.state.db(lambda queue: queue.set_queue(name, changes))
    return back_to("/queues", "set", 1)
