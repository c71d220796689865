"""Every page over HTTP, on both engines: what an operator sees."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from queuectl.api import Queue
from queuectl.lifecycle import Failed
from queuectl.web import pages
from tests.contract.support import add, claim, end, make_completed, make_dead
from tests.web.support import events

XSS = "<script>alert(1)</script>"


def test_overview_shows_counts_queues_chart_and_latest_jobs(
    client: TestClient, queue: Queue
) -> None:
    make_completed(queue.backend, "done-1", "done-2")
    make_dead(queue.backend, "dead-1")
    add(queue.backend, "wait-1", queue="io")
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert (
        '<a class="card card-completed" href="/jobs?state=completed" data-state="completed">'
        in html
    )
    assert '<span class="count">2</span><span class="label">completed</span>' in html
    assert '<span class="count">1</span><span class="label">dead</span>' in html
    assert 'href="/jobs?queue=io"' in html  # the per-queue table
    assert "<svg" in html and "2 succeeded" in html and "1 failed" in html
    assert 'id="oldest-pending"' in html
    for job_id in ("done-1", "dead-1", "wait-1"):
        assert f'href="/jobs/{job_id}"' in html
    assert "No worker is running" in html


def test_overview_lists_live_workers_and_their_jobs(client: TestClient, queue: Queue) -> None:
    from queuectl.identity import hostname, process_start

    add(queue.backend, "busy")
    queue.backend.register_workers(["w1"], hostname(), os_pid(), process_start(os_pid()), None)
    claim(queue.backend, "w1")
    html = client.get("/").text
    assert '<td class="mono">w1</td>' in html
    assert 'href="/jobs/busy"' in html
    assert "1 live" in html


def os_pid() -> int:
    import os

    return os.getpid()


def test_the_overview_stream_sends_the_live_part_rendered(client: TestClient, queue: Queue) -> None:
    add(queue.backend, "fresh")
    response = client.get("/live/overview")
    assert response.headers["content-type"].startswith("text/event-stream")
    (name, data), *_ = events(response.text)
    assert name == "fragment"
    assert isinstance(data, dict) and data["id"] == "live"
    assert '<span class="count">1</span><span class="label">pending</span>' in data["html"]
    assert 'href="/jobs/fresh"' in data["html"]


def test_jobs_filter_by_state_queue_and_text(client: TestClient, queue: Queue) -> None:
    make_completed(queue.backend, "build-1")
    add(queue.backend, "build-2", command="make all", queue="ci")
    add(queue.backend, "deploy-1", command=["rsync", "-a", "site/", "host:/srv"])

    def shown(query: str) -> set[str]:
        html = client.get(f"/jobs?{query}").text
        return {j for j in ("build-1", "build-2", "deploy-1") if f'data-job="{j}"' in html}

    assert shown("") == {"build-1", "build-2", "deploy-1"}
    assert shown("state=completed") == {"build-1"}
    assert shown("queue=ci") == {"build-2"}
    assert shown("q=build") == {"build-1", "build-2"}  # part of the id
    assert shown("q=make+a") == {"build-2"}  # part of the command
    assert shown("q=host%3A%2Fsrv") == {"deploy-1"}  # part of an argv word
    assert shown("state=pending&queue=ci&q=nothing") == set()
    assert "No job matches." in client.get("/jobs?q=nothing").text
    assert client.get("/jobs?state=bogus").status_code == 400


def test_jobs_are_paged_newest_first(
    client: TestClient, queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pages, "PAGE_SIZE", 2)
    add(queue.backend, "j1", "j2", "j3", "j4", "j5")
    first = client.get("/jobs").text
    assert first.index('data-job="j5"') < first.index('data-job="j4"')
    assert 'data-job="j3"' not in first
    assert 'href="/jobs?page=2" rel="next"' in first
    second = client.get("/jobs?page=2").text
    assert 'data-job="j3"' in second and 'data-job="j2"' in second
    assert 'rel="prev"' in second
    last = client.get("/jobs?page=3&q=j").text
    assert 'data-job="j1"' in last and 'rel="next"' not in last
    assert 'href="/jobs?q=j&amp;page=2" rel="prev"' in last  # filters kept across pages


def test_job_page_shows_attempts_errors_and_the_log_tail(client: TestClient, queue: Queue) -> None:
    add(queue.backend, "flaky", max_retries=1, command="./flaky.sh")
    job = claim(queue.backend)
    assert end(queue.backend, job, Failed(7), log_tail="first try\nboom\n")
    html = client.get("/jobs/flaky").text
    assert '<span class="state state-failed">failed</span>' in html
    assert "./flaky.sh" in html
    assert '<span class="outcome outcome-failed">failed</span>' in html
    assert "<td>7</td>" in html  # the exit code
    assert "exit code 7" in html  # the error
    assert "the tail stored with the attempt" in html  # no log file on this host
    assert "first try\nboom" in html
    assert "/jobs/flaky/cancel" in html  # a failed job waiting to retry can be cancelled
    assert client.get("/jobs/missing").status_code == 404
    assert client.get("/jobs/bad..id").status_code in (400, 404)


def test_job_stream_and_output_stream_of_a_finished_job(client: TestClient, queue: Queue) -> None:
    make_completed(queue.backend, "done")
    (name, data), *_ = events(client.get("/live/jobs/done").text)
    assert name == "fragment" and isinstance(data, dict)
    assert '<span class="state state-completed">completed</span>' in data["html"]
    assert events(client.get("/live/jobs/done/output").text) == [("end", {})]
    assert client.get("/live/jobs/missing").status_code == 404


def test_dlq_page_lists_dead_jobs_with_their_actions(client: TestClient, queue: Queue) -> None:
    assert "The dead letter queue is empty." in client.get("/dlq").text
    make_dead(queue.backend, "dead-1", "dead-2")
    make_completed(queue.backend, "alive")
    html = client.get("/dlq").text
    assert 'data-job="dead-1"' in html and 'data-job="dead-2"' in html
    assert 'data-job="alive"' not in html
    assert "2 jobs" in html
    assert 'action="/dlq/retry"' in html and 'action="/dlq/purge"' in html


def test_metrics_is_prometheus_text(client: TestClient, queue: Queue) -> None:
    make_completed(queue.backend, "done")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "# TYPE queuectl_" in response.text


def test_commands_and_output_are_shown_as_text(client: TestClient, queue: Queue) -> None:
    add(queue.backend, "xss", command=f"echo '{XSS}'", queue="q")
    job = claim(queue.backend)
    assert end(queue.backend, job, Failed(1), log_tail=f"{XSS}\n<img src=x onerror=alert(2)>\n")
    for path in ("/", "/jobs", "/jobs?q=script", "/jobs/xss", "/live/overview", "/live/jobs/xss"):
        body = client.get(path).text
        assert "<script>alert" not in body, path
        assert "<img src=x" not in body, path
    page = client.get("/jobs/xss").text
    assert "echo &#39;&lt;script&gt;alert(1)&lt;/script&gt;&#39;" in page  # the command
    assert "&lt;script&gt;alert(1)&lt;/script&gt;\n&lt;img src=x onerror=alert(2)&gt;" in page
    live = client.get("/live/jobs/xss").text
    assert "\\u003cscript" not in live  # escaped as HTML before it became JSON
    assert "&lt;script&gt;" in live
