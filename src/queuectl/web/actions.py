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


def _back(to: str, done: str, count: int) -> Response:
    return RedirectResponse(f"{to}?{urlencode({'done': done, 'n': count})}", status_code=303)


def _confirm(request: Request, fields: dict[str, str], question: str) -> Response | None:
    """None when confirmed; else the page that asks (and re-posts the same fields)."""
    if fields.get("confirm") == "yes":
        return None
    kept = {k: v for k, v in fields.items() if k not in ("csrf", "confirm")}
    return render(
        request,
        "confirm.html",
        {
            "question": question,
            "action": request.url.path,
            "fields": kept,
            "back": "/dlq"
            if request.url.path.startswith("/dlq")
            else request.url.path.rsplit("/", 1)[0],
        },
    )


async def cancel(request: Request) -> Response:
    job_id = request.path_params["job_id"]
    fields = await checked_form(request)
    asked = _confirm(request, fields, f"Cancel job {job_id}? A running job is stopped.")
    if asked is not None:
        return asked
    done = await request.app.state.db(lambda queue: queue.cancel([job_id]))
    for left in done.left:
        raise done.refusal(left)  # 404 or 409, as for the other actions
    return _back(f"/jobs/{job_id}", "cancelled", len(done.cancelled))


async def retry_job(request: Request) -> Response:
    job_id = request.path_params["job_id"]
    await checked_form(request)
    done = await request.app.state.db(lambda queue: queue.dlq_retry([job_id]))
    return _back(f"/jobs/{job_id}", "retried", len(done))


async def dlq_retry(request: Request) -> Response:
    fields = await checked_form(request)
    ids = _chosen(fields)
    if ids is None:
        asked = _confirm(request, fields, "Retry every job in the dead letter queue?")
        if asked is not None:
            return asked
    done = await request.app.state.db(lambda queue: queue.dlq_retry(ids))
    return _back("/dlq", "retried", len(done))


async def dlq_purge(request: Request) -> Response:
    fields = await checked_form(request)
    ids = _chosen(fields)
    what = "every job in the dead letter queue" if ids is None else f"job {ids[0]}"
    asked = _confirm(request, fields, f"Delete {what} for good, with its attempts and logs?")
    if asked is not None:
        return asked

    def purge(queue: Queue) -> list[str]:
        return queue.dlq_purge(ids)

    done = await request.app.state.db(purge)
    return _back("/dlq", "purged", len(done))


MAX_REASON = 200  # characters of a pause's reason typed on the overview
PAUSED_BY = "dashboard"  # the paused_by of a pause made here, as queue list shows it


async def pause_queue(request: Request) -> Response:
    """Pause one queue, with the optional ``reason`` field; not destructive, so no question."""
    from starlette.exceptions import HTTPException

    name = request.path_params["name"]
    fields = await checked_form(request)
    reason = fields.get("reason", "").strip() or None
    if reason is not None and len(reason) > MAX_REASON:
        raise HTTPException(400, f"the reason is longer than {MAX_REASON} characters")

    def pause(queue: Queue) -> list[str]:
        return queue.pause([name], reason=reason, by=PAUSED_BY)

    done = await request.app.state.db(pause)
    return _back("/", "paused", len(done))


async def resume_queue(request: Request) -> Response:
    name = request.path_params["name"]
    await checked_form(request)
    done = await request.app.state.db(lambda queue: queue.resume([name]))
    return _back("/", "resumed", len(done))


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
