"""The history page (/history): finished attempts, failures and duration percentiles
over the last hour, day and week, per queue. Each window is one Queue.stats read, which
counts the rolled-up minutes (backends.retention) and only the attempts not rolled up
yet one by one, so its cost does not grow with the queue's age."""

from __future__ import annotations

from typing import TYPE_CHECKING

from queuectl.web.pages import HOUR, render

if TYPE_CHECKING:
    from typing import Any

    from starlette.requests import Request
    from starlette.responses import Response

    from queuectl.api import Queue

WINDOWS = (("hour", HOUR), ("day", 24 * HOUR), ("week", 7 * 24 * HOUR))


def history_data(queue: Queue) -> dict[str, Any]:
    now = queue.now()
    windows = [(label, queue.stats(now - seconds)) for label, seconds in WINDOWS]
    names = sorted({name for _, stats in windows for name in stats["queues"]})
    return {"windows": windows, "names": names}


async def page(request: Request) -> Response:
    return render(request, "history.html", await request.app.state.db(history_data))
