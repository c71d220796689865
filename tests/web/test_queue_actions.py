"""Pause and resume a queue from the overview, on both engines: CSRF first, no question."""

from __future__ import annotations

from starlette.testclient import TestClient

from queuectl.api import Queue
from tests.contract.support import add
from tests.web.conftest import LOCAL
from tests.web.support import csrf_of


def paused(queue: Queue) -> dict[str, tuple[str | None, str | None]]:
    """Each queue paused now: (paused_by, paused_reason)."""
    now = queue.now()
    return {
        q.name: (q.paused_by, q.paused_reason) for q in queue.queue_rows() if q.paused_at_time(now)
    }


def test_pause_with_a_reason_then_resume(client: TestClient, queue: Queue) -> None:
    add(queue.backend, "j1")  # a job in queue "default"
    page = client.get("/").text
    assert 'action="/queues/default/pause"' in page
    csrf = csrf_of(client, "/")
    done = client.post("/queues/default/pause", data={"csrf": csrf, "reason": " deploy "})
    assert done.status_code == 303
    assert done.headers["location"] == "/?done=paused&n=1"
    assert paused(queue) == {"default": ("dashboard", "deploy")}
    shown = client.get(done.headers["location"]).text
    assert "Paused: 1 queue(s)." in shown
    assert "paused by dashboard (deploy)" in shown
    assert 'action="/queues/default/resume"' in shown
    assert 'action="/queues/default/pause"' not in shown

    done = client.post("/queues/default/resume", data={"csrf": csrf})
    assert done.headers["location"] == "/?done=resumed&n=1"
    assert paused(queue) == {}
    shown = client.get(done.headers["location"]).text
    assert "Resumed: 1 queue(s)." in shown
    assert 'action="/queues/default/pause"' in shown


def test_a_paused_queue_without_jobs_keeps_its_resume_button(
    client: TestClient, queue: Queue
) -> None:
    queue.pause(["idle"], by="ops")
    assert 'action="/queues/idle/resume"' in client.get("/").text


def test_pause_without_a_reason(client: TestClient, queue: Queue) -> None:
    add(queue.backend, "j1")
    client.post("/queues/default/pause", data={"csrf": csrf_of(client, "/"), "reason": ""})
    assert paused(queue) == {"default": ("dashboard", None)}


def test_pause_and_resume_without_the_right_csrf_field_are_refused(
    client: TestClient, queue: Queue
) -> None:
    add(queue.backend, "j1")
    csrf_of(client, "/")  # the browser has its CSRF cookie
    other = TestClient(client.app, base_url=LOCAL)  # another browser's field does not fit
    for wrong in ({}, {"csrf": "0" * 64}, {"csrf": csrf_of(other, "/")}):
        assert client.post("/queues/default/pause", data=wrong).status_code == 403
    assert paused(queue) == {}
    queue.pause(["default"], by="ops")
    for wrong in ({}, {"csrf": "0" * 64}, {"csrf": csrf_of(other, "/")}):
        assert client.post("/queues/default/resume", data=wrong).status_code == 403
    assert paused(queue) == {"default": ("ops", None)}


def test_html_in_a_queue_name_or_reason_is_escaped(client: TestClient, queue: Queue) -> None:
    add(queue.backend, "j1")
    csrf = csrf_of(client, "/")
    refused = client.post("/queues/%3Cb%20id%3Dx%3E/pause", data={"csrf": csrf})
    assert refused.status_code == 400  # not a queue name; nothing changes
    assert "<b id=x>" not in refused.text and "&lt;b id=x&gt;" in refused.text
    assert paused(queue) == {}
    client.post("/queues/default/pause", data={"csrf": csrf, "reason": "<script>x()</script>"})
    page = client.get("/").text
    assert "<script>x()</script>" not in page
    assert "&lt;script&gt;x()&lt;/script&gt;" in page


def test_a_reason_too_long_is_refused(client: TestClient, queue: Queue) -> None:
    add(queue.backend, "j1")
    too_long = {"csrf": csrf_of(client, "/"), "reason": "x" * 201}
    assert client.post("/queues/default/pause", data=too_long).status_code == 400
    assert paused(queue) == {}
