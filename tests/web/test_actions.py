"""Every action over HTTP, on both engines: CSRF first, a confirmation where destructive."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from queuectl.api import Queue
from tests.contract.support import add, make_dead, state_of
from tests.web.conftest import LOCAL
from tests.web.support import csrf_of

ACTIONS = [
    ("/dlq/retry", {"id": "dead-1"}),
    ("/dlq/retry", {"all": "yes", "confirm": "yes"}),
    ("/dlq/purge", {"id": "dead-1", "confirm": "yes"}),
    ("/jobs/dead-1/retry", {}),
    ("/jobs/wait/cancel", {"confirm": "yes"}),
]


@pytest.mark.parametrize(("path", "fields"), ACTIONS)
def test_an_action_without_the_right_csrf_field_is_refused(
    client: TestClient, queue: Queue, path: str, fields: dict[str, str]
) -> None:
    make_dead(queue.backend, "dead-1")
    add(queue.backend, "wait")
    csrf_of(client)  # the browser has its CSRF cookie
    assert client.post(path, data=fields).status_code == 403
    assert client.post(path, data={**fields, "csrf": "0" * 64}).status_code == 403
    other = TestClient(client.app, base_url=LOCAL)  # another browser's field does not fit
    assert client.post(path, data={**fields, "csrf": csrf_of(other)}).status_code == 403
    assert (state_of(queue.backend, "dead-1"), state_of(queue.backend, "wait")) == (
        "dead",
        "pending",
    )


def test_retry_one_dead_job_from_the_dlq(client: TestClient, queue: Queue) -> None:
    make_dead(queue.backend, "dead-1", "dead-2")
    done = client.post("/dlq/retry", data={"id": "dead-1", "csrf": csrf_of(client, "/dlq")})
    assert done.status_code == 303
    assert done.headers["location"] == "/dlq?done=retried&n=1"
    assert state_of(queue.backend, "dead-1") == "pending"
    assert state_of(queue.backend, "dead-2") == "dead"
    assert "Sent back to pending: 1 job(s)." in client.get(done.headers["location"]).text


def test_retry_all_asks_first(client: TestClient, queue: Queue) -> None:
    make_dead(queue.backend, "dead-1", "dead-2")
    csrf = csrf_of(client, "/dlq")
    asked = client.post("/dlq/retry", data={"all": "yes", "csrf": csrf})
    assert asked.status_code == 200
    assert "Retry every job in the dead letter queue?" in asked.text
    assert '<input type="hidden" name="confirm" value="yes">' in asked.text
    assert '<input type="hidden" name="all" value="yes">' in asked.text
    assert state_of(queue.backend, "dead-1") == "dead"
    done = client.post("/dlq/retry", data={"all": "yes", "confirm": "yes", "csrf": csrf})
    assert done.status_code == 303
    assert [state_of(queue.backend, j) for j in ("dead-1", "dead-2")] == ["pending", "pending"]


def test_purge_one_and_all_ask_first(client: TestClient, queue: Queue) -> None:
    make_dead(queue.backend, "dead-1", "dead-2", "dead-3")
    csrf = csrf_of(client, "/dlq")
    asked = client.post("/dlq/purge", data={"id": "dead-1", "csrf": csrf})
    assert "Delete job dead-1 for good" in asked.text
    assert state_of(queue.backend, "dead-1") == "dead"
    done = client.post("/dlq/purge", data={"id": "dead-1", "confirm": "yes", "csrf": csrf})
    assert done.headers["location"] == "/dlq?done=purged&n=1"
    assert state_of(queue.backend, "dead-1") is None
    assert "every job in the dead letter queue" in (
        client.post("/dlq/purge", data={"all": "yes", "csrf": csrf}).text
    )
    assert state_of(queue.backend, "dead-2") == "dead"
    client.post("/dlq/purge", data={"all": "yes", "confirm": "yes", "csrf": csrf})
    assert queue.counts()["dead"] == 0
    assert client.post("/dlq/purge", data={"csrf": csrf, "confirm": "yes"}).status_code == 400


def test_cancel_from_the_job_page_asks_first(client: TestClient, queue: Queue) -> None:
    add(queue.backend, "wait")
    csrf = csrf_of(client, "/jobs/wait")
    asked = client.post("/jobs/wait/cancel", data={"csrf": csrf})
    assert asked.status_code == 200 and "Cancel job wait?" in asked.text
    assert state_of(queue.backend, "wait") == "pending"
    done = client.post("/jobs/wait/cancel", data={"csrf": csrf, "confirm": "yes"})
    assert done.headers["location"] == "/jobs/wait?done=cancelled&n=1"
    assert state_of(queue.backend, "wait") == "cancelled"
    again = client.post("/jobs/wait/cancel", data={"csrf": csrf, "confirm": "yes"})
    assert again.status_code == 409  # a cancelled job cannot be cancelled again


def test_retry_from_the_job_page(client: TestClient, queue: Queue) -> None:
    make_dead(queue.backend, "dead-1")
    page = client.get("/jobs/dead-1").text
    assert 'action="/jobs/dead-1/retry"' in page
    csrf = csrf_of(client, "/jobs/dead-1")
    done = client.post("/jobs/dead-1/retry", data={"csrf": csrf})
    assert done.headers["location"] == "/jobs/dead-1?done=retried&n=1"
    assert state_of(queue.backend, "dead-1") == "pending"
    assert 'action="/jobs/dead-1/retry"' not in client.get("/jobs/dead-1").text
    assert client.post("/jobs/missing/retry", data={"csrf": csrf}).status_code == 404
