"""What a hostile neighbour can try: a re-pointed host name (DNS rebinding), odd query
values, foreign cookies, a redirect to another site, a job purged under a live stream."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from queuectl.api import Queue
from queuectl.errors import NotFound
from queuectl.web import live
from tests.contract.support import make_dead, state_of
from tests.web.conftest import TOKEN, app_client
from tests.web.support import csrf_of


@pytest.mark.parametrize("host", ["attacker.example:8700", "attacker.example", "10.0.0.5:8700"])
def test_without_a_token_only_localhost_names_are_answered(client: TestClient, host: str) -> None:
    """A page of attacker.example re-pointed at 127.0.0.1 is same-origin with it, but its
    requests name attacker.example: they are refused, reads and actions alike."""
    assert client.get("/", headers={"host": host}).status_code == 421
    assert client.get("/metrics", headers={"host": host}).status_code == 421
    assert client.post("/dlq/retry", headers={"host": host}).status_code == 421


@pytest.mark.parametrize("host", ["127.0.0.1:8700", "localhost:8700", "LOCALHOST", "[::1]:8700"])
def test_localhost_names_are_answered(client: TestClient, host: str) -> None:
    assert client.get("/", headers={"host": host}).status_code == 200


def test_a_post_from_another_origin_is_refused(client: TestClient, queue: Queue) -> None:
    make_dead(queue.backend, "dead-1")
    fields = {"id": "dead-1", "csrf": csrf_of(client, "/dlq")}
    refused = client.post("/dlq/retry", data=fields, headers={"origin": "http://evil.example"})
    assert refused.status_code == 421
    assert state_of(queue.backend, "dead-1") == "dead"
    sent = client.post("/dlq/retry", data=fields, headers={"origin": "http://127.0.0.1:8700"})
    assert sent.status_code == 303
    assert state_of(queue.backend, "dead-1") == "pending"


@pytest.mark.parametrize("value", ["%C2%B2", "9" * 5000, "-1", "abc", "0"])
def test_odd_page_numbers_show_a_page(client: TestClient, value: str) -> None:
    for path in ("/jobs", "/dlq"):
        assert client.get(f"{path}?page={value}").status_code == 200
    assert client.get(f"/?done=retried&n={value}").status_code == 200


def test_a_foreign_cookie_breaks_neither_the_session_nor_the_csrf_check(
    location: str, queue: Queue
) -> None:
    make_dead(queue.backend, "dead-1")
    with app_client(location, TOKEN) as client:
        client.cookies.set("prefs", '{"theme":"dark"}')
        assert client.post("/login", data={"token": TOKEN}).status_code == 303
        assert client.get("/metrics").status_code == 200
        fields = {"id": "dead-1", "csrf": csrf_of(client, "/dlq")}
        assert client.post("/dlq/retry", data=fields).status_code == 303
    assert state_of(queue.backend, "dead-1") == "pending"


def test_the_token_link_never_redirects_to_another_site(location: str, queue: Queue) -> None:
    with app_client(location, TOKEN) as client:
        sent = client.get(f"/%2F%2Fevil.example?token={TOKEN}")
        assert sent.status_code == 303
        assert sent.headers["location"] == "/"


def test_a_live_stream_whose_job_is_purged_ends_quietly(
    client: TestClient, queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The job exists when the stream opens and is gone at its first look: the stream
    says "end" (the page stops asking) instead of failing after its headers were sent."""
    make_dead(queue.backend, "dead-1")

    def purged(opened: Queue, job_id: str) -> dict[str, object]:
        opened.dlq_purge([job_id])
        raise NotFound(f"no job {job_id!r}")

    monkeypatch.setattr(live, "job_data", purged)
    with client.stream("GET", "/live/jobs/dead-1") as opened:
        assert opened.status_code == 200
        body = b"".join(opened.iter_bytes())
    assert b"event: end" in body
    assert b"event: fragment" not in body
    assert client.get("/jobs/dead-1").status_code == 404
