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
    """303 to ``to`` (which may have a query of its own) saying what was done."""
    path, _, query = to.partition("?")
    news = urlencode({"done": done, "n": count})
    return RedirectResponse(f"{path}?{query + '&' if query else ''}{news}", status_code=303)


def confirmed(
    request: Request,
    fields: dict[str, str],
    question: str,
    back: str | None = None,
    kept: list[tuple[str, str]] | None = None,
) -> Response | None:
    """None when confirmed; else the page that asks (and re-posts the same fields, or
    ``kept``: a form's every value, a field named several times included); its "no" goes
    to ``back`` (by default the page the action's path names)."""
    if fields.get("confirm") == "yes":
        return None
    if kept is None:
        kept = list(fields.items())
    if back is None:
        path = request.url.path
        back = "/dlq" if path.startswith("/dlq") else path.rsplit("/", 1)[0]
    return render(
        request,
        "confirm.html",
        {
            "question": question,
            "action": request.url.path,
            "fields": [(k, v) for k, v in kept if k not in ("csrf", "confirm")],
            "back": back,
        },
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


async def rerun_job(request: Request) -> Response:
    """A completed, dead or cancelled job runs again (``queuectl rerun``), history kept."""
    job_id = request.path_params["job_id"]
    await checked_form(request)
    done = await request.app.state.db(lambda queue: queue.rerun([job_id]))
    for refused in done.refused.values():
        raise refused
    return back_to(f"/jobs/{job_id}", "rerun", len(done.done))


async def run_now(request: Request) -> Response:
    """A job waiting for its time or its backoff becomes due now (``queuectl run-now``);
    back to the page it was asked from (``back``, a path of this dashboard)."""
    job_id = request.path_params["job_id"]
    fields = await checked_form(request)
    done = await request.app.state.db(lambda queue: queue.run_now([job_id]))
    for refused in done.refused.values():
        raise refused
    return back_to(_local(fields.get("back"), f"/jobs/{job_id}"), "run-now", len(done.done))


EDIT_FIELDS = ("command", "priority", "queue", "run_at", "delay", "max_retries", "timeout")


async def edit_job(request: Request) -> Response:
    """``queuectl edit``: the fields filled in change, the empty ones stay; the command
    only when its text was changed (a job given as argv keeps its argv otherwise)."""
    job_id = request.path_params["job_id"]
    fields = await checked_form(request)
    given: dict[str, object] = {n: fields.get(n, "").strip() or None for n in EDIT_FIELDS}
    for name in ("priority", "max_retries"):  # numbers, as the CLI's flags parse them
        given[name] = _whole(name, given[name])

    def edit(queue: Queue) -> int:
        if given["command"] == queue.get(job_id).command_text():
            given["command"] = None
        queue.edit(job_id, **given)  # type: ignore[arg-type]  # text, checked as the CLI's
        return 1

    done = await request.app.state.db(edit)
    return back_to(f"/jobs/{job_id}", "edited", done)


async def bulk(request: Request) -> Response:
    """One verb (``action``) on the jobs chosen on /jobs: those ticked (``id``, repeated)
    or, with ``all=yes``, every job matching the filters sent along (at most BULK_MAX).
    Always asks first, saying how many jobs it changes; then calls the Queue verb the
    CLI calls with the ids of those jobs that are in a state the verb takes."""
    from starlette.exceptions import HTTPException

    from queuectl.web.listing import VERBS, Listing, chosen, touched

    fields = await checked_form(request)
    form = await request.form()
    pairs = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    verb = VERBS.get(fields.get("action", ""))
    if verb is None:
        raise HTTPException(400, f"unknown action; actions: {', '.join(VERBS)}")
    shown = Listing.parse(fields)  # the list the action was asked from, and its filters
    listing = shown if fields.get("all") == "yes" else None
    ids = [v for k, v in pairs if k == "id"]
    if listing is None and not ids:
        raise HTTPException(400, "choose at least one job, or all matching the filter")
    back = "/jobs?" + urlencode(shown.query())

    def pick(queue: Queue) -> tuple[int, list[str]]:
        jobs = chosen(queue, listing, ids)
        return len(jobs), touched(verb, jobs)

    count, changed = await request.app.state.db(pick)
    if fields.get("confirm") != "yes":
        left = count - len(changed)
        question = f"{verb.label}: {len(changed)} job{'' if len(changed) == 1 else 's'}?"
        if left:
            which = " or ".join(verb.states)
            question += f" {left} of the {count} chosen, not {which}, stay as they are."
        asked = confirmed(request, fields, question, back, pairs)
        assert asked is not None
        return asked
    done = await request.app.state.db(lambda queue: verb.act(queue, changed)) if changed else 0
    return back_to(back, verb.done, done)


def _whole(name: str, text: object) -> int | None:
    """A form's whole number (None when left empty); InvalidInput (400) otherwise."""
    import re

    from queuectl.errors import InvalidInput

    if text is None:
        return None
    if not isinstance(text, str) or not re.fullmatch(r"-?[0-9]{1,18}", text):
        raise InvalidInput(f"{name.replace('_', ' ')} must be a whole number, got {text!r}")
    return int(text)


def _local(path: str | None, default: str) -> str:
    """``path`` when it is a path of this dashboard, else ``default``: never a redirect
    to another site ("//evil.example", "https://…")."""
    if path and path.startswith("/") and not path.startswith("//") and "\\" not in path:
        return path
    return default


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
