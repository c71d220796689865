"""The actions (POST): retry, purge, cancel, pause and resume a queue, log in. Each
checks the CSRF field first; destructive ones also need ``confirm=yes``, else they answer
with a confirmation page."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode

from starlette.responses import RedirectResponse, Response

from queuectl.web.pages import message, render
from queuectl.web.security import SESSION_COOKIE, checked_form, cookie_header, guard_of

if TYPE_CHECKING:
    from starlette.requests import Request

    from queuectl.api import Queue


def back_to(to: str, done: str, count: int) -> Response:
    return RedirectResponse(f"{to}?{urlencode({'done': done, 'n': count})}", status_code=303)


def confirmed(
    request: Request, fields: dict[str, str], question: str, back: str | None = None
) -> Response | None:
    """None when confirmed; else the page that asks (and re-posts the same fields);
    its "no" goes to ``back`` (by default the page the action's path names)."""
    if fields.get("confirm") == "yes":
        return None
    kept = {k: v for k, v in fields.items() if k not in ("csrf", "confirm")}
    if back is None:
        path = request.url.path
        back = "/dlq" if path.startswith("/dlq") else path.rsplit("/", 1)[0]
    return render(
        request,
        "confirm.html",
        {"question": question, "action": request.url.path, "fields": kept, "back": back},
    )


async def cancel(request: Request) -> Response:
    job_id = request.path_params["job_id"]
    fields = await checked_form(request)
    asked = confirmed(request, fields, f"Cancel job {job_id}? A running job is stopped.")
    if asked is not None:
        return asked
    done = await request.app.state.db(lambda queue: queue.cancel([job_id]))
    for left in done.left:
        raise done.refusal(left)  # 404 or 409, as for the other actions
    return back_to(f"/jobs/{job_id}", "cancelled", len(done.cancelled))


async def retry_job(request: Request) -> Response:
    job_id = request.path_params["job_id"]
    await checked_form(request)
    done = await request.app.state.db(lambda queue: queue.dlq_retry([job_id]))
    return back_to(f"/jobs/{job_id}", "retried", len(done))


async def dlq_retry(request: Request) -> Response:
    fields = await checked_form(request)
    ids = _chosen(fields)
    if ids is None:
        asked = confirmed(request, fields, "Retry every job in the dead letter queue?")
        if asked is not None:
            return asked
    done = await request.app.state.db(lambda queue: queue.dlq_retry(ids))
    return back_to("/dlq", "retried", len(done))


async def dlq_purge(request: Request) -> Response:
    fields = await checked_form(request)
    ids = _chosen(fields)
    what = "every job in the dead letter queue" if ids is None else f"job {ids[0]}"
    asked = confirmed(request, fields, f"Delete {what} for good, with its attempts and logs?")
    if asked is not None:
        return asked

    def purge(queue: Queue) -> list[str]:
        return queue.dlq_purge(ids)

    done = await request.app.state.db(purge)
    return back_to("/dlq", "purged", len(done))


MAX_REASON = 200  # characters of a pause's reason typed on the overview
PAUSED_BY = "dashboard"  # the paused_by of a pause made here, as queue list shows it


QUEUE_PAGES = ("/", "/queues")  # where a pause or resume came from, and goes back to


async def pause_queue(request: Request) -> Response:
    """Pause one queue, with the optional ``reason`` and ``for`` (a duration, as ``queue
    pause --for``) fields; not destructive, so no question."""
    from starlette.exceptions import HTTPException

    from queuectl.timefmt import parse_duration

    name = request.path_params["name"]
    fields = await checked_form(request)
    reason = fields.get("reason", "").strip() or None
    if reason is not None and len(reason) > MAX_REASON:
        raise HTTPException(400, f"the reason is longer than {MAX_REASON} characters")
    duration = None
    if fields.get("for", "").strip():
        duration = parse_duration(fields["for"], "pause for")
        if duration <= 0:
            raise HTTPException(400, "pause for: expected a duration above 0, e.g. 30m")

    def pause(queue: Queue) -> list[str]:
        return queue.pause([name], duration, reason=reason, by=PAUSED_BY)

    done = await request.app.state.db(pause)
    return back_to(_queue_page(fields), "paused", len(done))


async def resume_queue(request: Request) -> Response:
    name = request.path_params["name"]
    fields = await checked_form(request)
    done = await request.app.state.db(lambda queue: queue.resume([name]))
    return back_to(_queue_page(fields), "resumed", len(done))


def _queue_page(fields: dict[str, str]) -> str:
    """The page named by the form's ``back`` field, when it is one of QUEUE_PAGES."""
    back = fields.get("back", "/")
    return back if back in QUEUE_PAGES else "/"


def _chosen(fields: dict[str, str]) -> list[str] | None:
    """One job (``id``) or all of them (``all=yes``); anything else is a bad request."""
    from starlette.exceptions import HTTPException

    if fields.get("all") == "yes":
        return None
    if fields.get("id"):
        return [fields["id"]]
    raise HTTPException(400, "name a job (id) or choose all")


async def login(request: Request) -> Response:
    """The login form: the right token sets the session cookie."""
    form = await request.form()
    token = form.get("token")
    guard = guard_of(request)
    if not isinstance(token, str) or not guard.login_ok(token) or guard.session is None:
        return message(request, 401, "wrong token")
    response = RedirectResponse("/", status_code=303)
    response.raw_headers.append((b"set-cookie", cookie_header(SESSION_COOKIE, guard.session)))
    return response
