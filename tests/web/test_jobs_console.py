"""The jobs console over HTTP, on both engines: bulk actions (asked first, with how many
jobs they change), run-now, rerun and edit, the scheduled and retries views, filters and
order, a job's attempts, its output download, "stopping…", no caching, and pages read
in a bounded number of statements."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from starlette.testclient import TestClient

from queuectl.api import Queue
from queuectl.lifecycle import Failed
from queuectl.logview import show_logs
from tests.contract.support import add, claim, end, make_completed, make_dead, state_of
from tests.web.conftest import LOCAL
from tests.web.support import csrf_of, events

XSS = "<script>alert(1)</script>"

NEW_ACTIONS = [
    ("/jobs/bulk", {"action": "retry", "id": "dead-1", "confirm": "yes"}),
    ("/jobs/done/rerun", {}),
    ("/jobs/later/run-now", {}),
    ("/jobs/later/edit", {"priority": "9"}),
]


@pytest.fixture
def jobs(queue: Queue) -> Queue:
    """A dead job, a completed one and one due in an hour."""
    make_dead(queue.backend, "dead-1")
    make_completed(queue.backend, "done")
    queue.enqueue("echo later", id="later", delay="1h")
    return queue


def states(queue: Queue, *ids: str) -> list[str | None]:
    return [state_of(queue.backend, job_id) for job_id in ids]


@pytest.mark.parametrize(("path", "fields"), NEW_ACTIONS)
def test_a_new_action_without_the_right_csrf_field_changes_nothing(
    client: TestClient, jobs: Queue, path: str, fields: dict[str, str]
) -> None:
    before = jobs.get("later")
    csrf_of(client, "/jobs")
    assert client.post(path, data=fields).status_code == 403
    assert client.post(path, data={**fields, "csrf": "0" * 64}).status_code == 403
    other = TestClient(client.app, base_url=LOCAL)
    assert client.post(path, data={**fields, "csrf": csrf_of(other, "/jobs")}).status_code == 403
    assert states(jobs, "dead-1", "done", "later") == ["dead", "completed", "pending"]
    assert jobs.get("later") == before


@pytest.mark.parametrize(("path", "fields"), NEW_ACTIONS)
def test_with_a_token_a_new_action_needs_it(
    token_client: TestClient, jobs: Queue, path: str, fields: dict[str, str]
) -> None:
    assert token_client.post(path, data={**fields, "csrf": "0" * 64}).status_code == 401
    assert token_client.get("/jobs/done/output").status_code == 401
    assert token_client.get("/live/jobs").status_code == 401
    assert states(jobs, "dead-1", "done", "later") == ["dead", "completed", "pending"]


def test_bulk_retry_of_three_ticked_dead_jobs_asks_with_the_count(
    client: TestClient, queue: Queue
) -> None:
    make_dead(queue.backend, "d1", "d2", "d3", "d4")
    make_completed(queue.backend, "ok")
    csrf = csrf_of(client, "/jobs?state=dead")
    form = {"csrf": csrf, "action": "retry", "state": "dead", "id": ["d1", "d2", "d3", "ok"]}
    asked = client.post("/jobs/bulk", data=form)
    assert asked.status_code == 200
    assert "Retry: 3 jobs? 1 of the 4 chosen, not dead, stay as they are." in asked.text
    for job_id in ("d1", "d2", "d3", "ok"):
        assert f'<input type="hidden" name="id" value="{job_id}">' in asked.text
    assert 'href="/jobs?state=dead">No, go back' in asked.text
    assert states(queue, "d1", "d2", "d3", "d4") == ["dead"] * 4
    done = client.post("/jobs/bulk", data={**form, "confirm": "yes"})
    assert done.status_code == 303
    assert done.headers["location"] == "/jobs?state=dead&done=retried&n=3"
    assert states(queue, "d1", "d2", "d3", "d4", "ok") == [*["pending"] * 3, "dead", "completed"]
    assert "Sent back to pending: 3 job(s)." in client.get(done.headers["location"]).text


def test_bulk_on_all_jobs_matching_the_filter(client: TestClient, queue: Queue) -> None:
    add(queue.backend, "a1", "a2", queue="alpha", tags=["nightly"])
    add(queue.backend, "a3", queue="alpha")
    add(queue.backend, "b1", queue="beta", tags=["nightly"])
    csrf = csrf_of(client, "/jobs")
    form = {"csrf": csrf, "action": "cancel", "all": "yes", "queue": "alpha", "tag": "nightly"}
    asked = client.post("/jobs/bulk", data=form)
    assert "Cancel: 2 jobs?" in asked.text
    assert '<input type="hidden" name="all" value="yes">' in asked.text
    done = client.post("/jobs/bulk", data={**form, "confirm": "yes"})
    assert done.headers["location"] == "/jobs?queue=alpha&tag=nightly&done=cancelled&n=2"
    assert states(queue, "a1", "a2", "a3", "b1") == ["cancelled", "cancelled", "pending", "pending"]


def test_bulk_rerun_purge_and_run_now_call_the_queue_verbs(
    client: TestClient, queue: Queue
) -> None:
    make_completed(queue.backend, "c1", "c2")
    make_dead(queue.backend, "x1")
    queue.enqueue("true", id="soon", delay="1h")
    csrf = csrf_of(client, "/jobs")

    def act(action: str, *ids: str) -> str:
        form = {"csrf": csrf, "action": action, "confirm": "yes", "id": list(ids)}
        done = client.post("/jobs/bulk", data=form)
        assert done.status_code == 303, done.text
        return str(done.headers["location"])

    assert act("rerun", "c1", "soon").endswith("done=rerun&n=1")
    assert states(queue, "c1", "soon") == ["pending", "pending"]
    assert act("purge", "c2", "x1", "soon").endswith("done=purged&n=2")
    assert states(queue, "c2", "x1") == [None, None]
    assert queue.get("soon").run_at > queue.now() + 3000
    assert act("run-now", "soon").endswith("done=run-now&n=1")
    assert queue.get("soon").run_at <= queue.now()
    # nothing the verb takes: nothing is called, and the page says 0
    assert act("retry", "soon").endswith("done=retried&n=0")


def test_bulk_refuses_bad_requests_and_writes_nothing(client: TestClient, jobs: Queue) -> None:
    csrf = csrf_of(client, "/jobs")
    assert client.post("/jobs/bulk", data={"csrf": csrf, "action": "retry"}).status_code == 400
    unknown = client.post("/jobs/bulk", data={"csrf": csrf, "action": "explode", "id": "dead-1"})
    assert unknown.status_code == 400
    bad = {"csrf": csrf, "action": "retry", "all": "yes", "since": "soon", "confirm": "yes"}
    assert client.post("/jobs/bulk", data=bad).status_code == 400
    assert states(jobs, "dead-1") == ["dead"]


def test_run_now_from_the_scheduled_view(client: TestClient, jobs: Queue) -> None:
    page = client.get("/jobs?view=scheduled").text
    assert 'data-job="later"' in page and 'data-job="done"' not in page
    assert 'formaction="/jobs/later/run-now"' in page
    done = client.post(
        "/jobs/later/run-now",
        data={"csrf": csrf_of(client, "/jobs"), "back": "/jobs?view=scheduled"},
    )
    assert done.headers["location"] == "/jobs?view=scheduled&done=run-now&n=1"
    assert 'data-job="later"' not in client.get("/jobs?view=scheduled").text
    assert client.post("/jobs/done/run-now", data={"csrf": csrf_of(client)}).status_code == 409
    elsewhere = client.post(
        "/jobs/dead-1/run-now", data={"csrf": csrf_of(client, "/jobs"), "back": "//evil.example/"}
    )
    assert elsewhere.status_code == 409  # a dead job is not waiting


def test_run_now_goes_back_only_to_this_dashboard(client: TestClient, queue: Queue) -> None:
    queue.enqueue("true", id="w", delay="1h")
    done = client.post(
        "/jobs/w/run-now", data={"csrf": csrf_of(client, "/jobs"), "back": "//evil.example/"}
    )
    assert done.headers["location"] == "/jobs/w?done=run-now&n=1"


def test_the_retries_view_shows_failed_jobs_waiting_for_their_backoff(
    client: TestClient, queue: Queue
) -> None:
    add(queue.backend, "flaky", max_retries=3)
    add(queue.backend, "calm")
    assert end(queue.backend, claim(queue.backend), Failed(3))
    page = client.get("/jobs?view=retries").text
    assert 'data-job="flaky"' in page and 'data-job="calm"' not in page
    assert 'formaction="/jobs/flaky/run-now"' in page


def test_filters_and_order(client: TestClient, queue: Queue) -> None:
    add(queue.backend, "low", priority=1, tags=["t1"])
    add(queue.backend, "high", priority=9, tags=["t1"])
    add(queue.backend, "mid", priority=5)
    page = client.get("/jobs?tag=t1").text
    assert 'data-job="low"' in page and 'data-job="high"' in page and 'data-job="mid"' not in page
    by_priority = client.get("/jobs?sort=priority&order=desc").text
    assert by_priority.index('data-job="high"') < by_priority.index('data-job="mid"')
    assert by_priority.index('data-job="mid"') < by_priority.index('data-job="low"')
    assert 'aria-sort="descending"' in by_priority
    assert 'href="/jobs?sort=priority&amp;order=asc"' in by_priority  # a click turns it
    newest = client.get("/jobs").text
    assert newest.index('data-job="mid"') < newest.index('data-job="low"')
    assert 'data-job="low"' in client.get("/jobs?since=1h").text
    for bad in ("since=soon", "sort=state", "order=up", "view=nope", "state=odd", "tag=a%20b"):
        assert client.get(f"/jobs?{bad}").status_code == 400, bad
        assert client.get(f"/live/jobs?{bad}").status_code == 400, bad


def test_the_jobs_stream_sends_the_table_of_the_filter(client: TestClient, jobs: Queue) -> None:
    response = client.get("/live/jobs?view=scheduled")
    assert response.headers["cache-control"] == "no-store"
    (name, data), *_ = events(response.text)
    assert name == "fragment" and isinstance(data, dict) and data["id"] == "live"
    assert 'data-job="later"' in data["html"] and 'data-job="done"' not in data["html"]


def test_rerun_a_completed_job_from_its_page(client: TestClient, jobs: Queue) -> None:
    page = client.get("/jobs/done").text
    assert 'action="/jobs/done/rerun"' in page
    done = client.post("/jobs/done/rerun", data={"csrf": csrf_of(client, "/jobs/done")})
    assert done.headers["location"] == "/jobs/done?done=rerun&n=1"
    assert states(jobs, "done") == ["pending"]
    assert client.post("/jobs/done/rerun", data={"csrf": csrf_of(client)}).status_code == 409
    assert client.post("/jobs/nope/rerun", data={"csrf": csrf_of(client)}).status_code == 404


def test_edit_changes_the_fields_given_and_refuses_bad_values(
    client: TestClient, jobs: Queue
) -> None:
    page = client.get("/jobs/later").text
    assert 'action="/jobs/later/edit"' in page
    csrf = csrf_of(client, "/jobs/later")
    before = jobs.get("later")
    same_command = {
        "csrf": csrf,
        "command": "echo later",
        "priority": "7",
        "queue": "",
        "delay": "",
    }
    done = client.post("/jobs/later/edit", data=same_command)
    assert done.headers["location"] == "/jobs/later?done=edited&n=1"
    after = jobs.get("later")
    assert (after.priority, after.command, after.queue) == (7, before.command, before.queue)
    bad = client.post("/jobs/later/edit", data={"csrf": csrf, "priority": "high"})
    assert bad.status_code == 400 and "priority" in bad.text
    assert client.post("/jobs/later/edit", data={"csrf": csrf, "timeout": "-3"}).status_code == 400
    assert jobs.get("later") == after
    assert client.post("/jobs/done/edit", data={"csrf": csrf, "priority": "1"}).status_code == 409
    assert 'action="/jobs/done/edit"' not in client.get("/jobs/done").text


def test_job_page_links_dependencies_and_explains_a_waiting_job(
    client: TestClient, queue: Queue
) -> None:
    queue.enqueue("true", id="first", delay="1h")
    queue.enqueue("true", id="second", after=["first"])
    first, second = client.get("/jobs/first").text, client.get("/jobs/second").text
    assert '<a href="/jobs/second">second</a>' in first  # a dependent
    assert '<a href="/jobs/first">first</a>' in second  # a dependency
    assert 'data-code="scheduled"' in first or 'data-code="waiting"' in first
    assert '<li data-code="blocked">' in second


def test_every_attempt_has_its_output_and_the_download_is_what_logs_prints(
    client: TestClient, queue: Queue
) -> None:
    add(queue.backend, "twice", max_retries=2)
    assert end(queue.backend, claim(queue.backend), Failed(3), log_tail="first <b>run</b>\n")
    queue.run_now(["twice"])
    assert end(queue.backend, claim(queue.backend), Failed(4), log_tail="second run\n")
    runs = [a.run for a in queue.attempts("twice")]
    page = client.get(f"/jobs/twice?attempt={runs[0]}").text
    assert "first &lt;b&gt;run&lt;/b&gt;" in page and "second run" not in page
    assert f'data-attempt="{runs[0]}" aria-current="true"' in page
    assert "exit 3" in page
    assert "second run" in client.get("/jobs/twice").text  # the latest by default
    for run in runs:
        response = client.get(f"/jobs/twice/output?attempt={run}")
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        assert response.headers["cache-control"] == "no-store"
        assert f'filename="twice.{run}.log"' in response.headers["content-disposition"]
        printed = io.StringIO()
        show_logs(queue, "twice", run, printed)
        assert response.content == printed.getvalue().encode()
    assert client.get("/jobs/twice/output?attempt=99").status_code == 404
    assert client.get("/jobs/twice/output?attempt=x").status_code == 400
    assert client.get("/jobs/twice?attempt=99").status_code == 404


def test_a_cancelled_job_whose_process_still_runs_says_stopping(
    client: TestClient, queue: Queue
) -> None:
    add(queue.backend, "long")
    claim(queue.backend)
    assert queue.cancel(["long"]).cancelled == ["long"]
    page = client.get("/jobs/long").text
    assert "stopping…" in page
    assert '<span class="state state-cancelled">cancelled</span>' not in page
    assert 'class="state state-processing"' not in page


def test_dlq_newest_death_first_with_the_last_lines_of_output(
    client: TestClient, queue: Queue
) -> None:
    add(queue.backend, "old", "new", max_retries=0)
    tail = "".join(f"line {n}\n" for n in range(1, 11))
    assert end(queue.backend, claim(queue.backend), Failed(1), log_tail=f"{XSS}\nold output\n")
    assert end(queue.backend, claim(queue.backend), Failed(2), log_tail=tail)
    page = client.get("/dlq").text
    assert page.index('data-job="new"') < page.index('data-job="old"')
    assert "line 6\nline 7\nline 8\nline 9\nline 10</pre>" in page and "line 5\n" not in page
    assert XSS not in page and "&lt;script&gt;alert(1)&lt;/script&gt;\nold output" in page


def test_values_are_escaped_on_new_pages_and_the_confirmation(
    client: TestClient, queue: Queue
) -> None:
    add(queue.backend, "xss", command=f"echo '{XSS}'")
    csrf = csrf_of(client, "/jobs")
    for path in (f"/jobs?q={XSS}", "/jobs/xss", "/live/jobs?q=script"):
        body = client.get(path).text
        assert "<script>alert" not in body, path
    asked = client.post("/jobs/bulk", data={"csrf": csrf, "action": "cancel", "id": '"><b>x'})
    assert "<b>x" not in asked.text and "&#34;&gt;&lt;b&gt;x" in asked.text


@pytest.mark.parametrize(
    "path", ["/", "/jobs", "/jobs?view=retries", "/jobs/done", "/dlq", "/jobs/missing"]
)
def test_pages_with_job_data_are_never_cached(client: TestClient, jobs: Queue, path: str) -> None:
    assert client.get(path).headers["cache-control"] == "no-store"


@contextmanager
def reads(client: TestClient) -> Iterator[list[str]]:
    """The names of the statements the dashboard's queue reads meanwhile."""
    backend: Any = client.app.state.db.queue.backend  # type: ignore[attr-defined]
    seen: list[str] = []
    real = backend._rows

    def counted(name: str, params: Any = None) -> Any:
        seen.append(name)
        return real(name, params)

    backend._rows = counted
    try:
        yield seen
    finally:
        del backend._rows


@pytest.mark.parametrize("path", ["/jobs", "/jobs?view=scheduled", "/dlq", "/jobs/d0"])
def test_pages_read_as_many_statements_for_many_jobs_as_for_few(
    client: TestClient, queue: Queue, path: str
) -> None:
    client.get("/")  # statements composed on first use, settings read

    def measured() -> list[str]:
        with reads(client) as seen:
            assert client.get(path).status_code == 200
        return seen

    make_dead(queue.backend, "d0", "d1")
    queue.enqueue("true", id="s0", delay="1h", after=["d0"])
    few = measured()
    make_dead(queue.backend, *[f"d{n}" for n in range(2, 40)])
    for n in range(1, 30):
        queue.enqueue("true", id=f"s{n}", delay="1h", after=["d0"])
    assert measured() == few
