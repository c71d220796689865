"""The operator's pages (/queues, /schedules, /history, /workers) and their actions over
HTTP, on both engines: what each page shows, CSRF on every action, the token rule, a
question before stopping a worker, escaping, and reads that do not grow with the rows."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from queuectl.api import Queue
from queuectl.identity import hostname, process_start
from queuectl.lifecycle import Failed, Succeeded
from tests.contract.support import FIRST, add, claim, run_once
from tests.support.polling import wait_for
from tests.web.conftest import LOCAL, TOKEN
from tests.web.processes import worker
from tests.web.support import csrf_of

PAGES = ["/queues", "/schedules", "/history", "/workers"]
ELSEWHERE = "other-host.example"  # a worker row of another host: asked through the queue


def paused(queue: Queue) -> dict[str, tuple[str | None, float | None]]:
    """Each queue paused now: (reason, seconds until the pause ends by itself)."""
    now = queue.now()
    return {
        q.name: (q.paused_reason, None if q.paused_until is None else q.paused_until - now)
        for q in queue.queue_rows()
        if q.paused_at_time(now)
    }


def remote_worker(queue: Queue, pid: int, slots: int = 1, queues: list[str] | None = None) -> str:
    """A worker process of another host with ``slots`` rows; → its first slot's id."""
    ids = [f"{ELSEWHERE}-{pid}-{n}" for n in range(slots)]
    queue.backend.register_workers(ids, ELSEWHERE, pid, None, queues)
    return ids[0]


def stop_flags(queue: Queue) -> dict[str, bool]:
    return {w.id: w.stop_requested for w in queue.backend.workers()}


@pytest.mark.parametrize("path", PAGES)
def test_every_page_has_its_link_and_says_when_it_is_empty(client: TestClient, path: str) -> None:
    page = client.get(path)
    assert page.status_code == 200
    assert f'<a href="{path}" aria-current="page">' in page.text
    assert 'class="empty"' in page.text or path == "/history"


# --- /queues ------------------------------------------------------------------------
def test_queues_show_counts_throughput_wait_and_the_workers_that_serve_them(
    client: TestClient, queue: Queue
) -> None:
    add(queue.backend, "w1", "w2")
    add(queue.backend, "io1", queue="io")
    run_once(queue.backend, "w1", Succeeded())
    remote_worker(queue, 41, slots=2, queues=["io"])
    remote_worker(queue, 42)  # every queue
    page = client.get("/queues").text
    assert "attempts/min" in page
    default = _row(page, "default")
    assert '<td class="num">1</td>' in default  # one pending, one completed
    assert f"{ELSEWHERE}:42" in default and f"{ELSEWHERE}:41" not in default
    io = _row(page, "io")
    assert f"{ELSEWHERE}:41</a> <small>0/2</small>" in io and f"{ELSEWHERE}:42" in io
    assert "running" in io  # neither paused nor limited


def _row(page: str, name: str) -> str:
    """The HTML of a queue's row on /queues (or /history) and its controls."""
    start = page.index(f'<tr data-queue="{name}">')
    end = page.find("<tr data-queue=", start + 1)
    return page[start : end if end > 0 else len(page)]


def test_pause_for_a_while_with_a_reason_then_resume_from_the_queues_page(
    client: TestClient, queue: Queue
) -> None:
    add(queue.backend, "j1")
    csrf = csrf_of(client, "/queues")
    fields = {"csrf": csrf, "reason": "deploy", "for": "30m", "back": "/queues"}
    done = client.post("/queues/default/pause", data=fields)
    assert done.headers["location"] == "/queues?done=paused&n=1"
    reason, left = paused(queue)["default"]
    assert reason == "deploy" and left is not None and 1700 < left <= 1800
    shown = client.get(done.headers["location"]).text
    assert "Paused: 1 queue(s)." in shown
    assert "paused by dashboard (deploy) until" in shown
    assert 'action="/queues/default/resume"' in shown

    done = client.post("/queues/default/resume", data={"csrf": csrf, "back": "/queues"})
    assert done.headers["location"] == "/queues?done=resumed&n=1"
    assert paused(queue) == {}
    # a back field naming another site or page goes to the overview
    done = client.post("/queues/default/pause", data={"csrf": csrf, "back": "//evil.example"})
    assert done.headers["location"] == "/?done=paused&n=1"


@pytest.mark.parametrize("duration", ["soon", "0", "-5m"])
def test_a_bad_pause_duration_is_refused_and_nothing_is_paused(
    client: TestClient, queue: Queue, duration: str
) -> None:
    add(queue.backend, "j1")
    refused = client.post(
        "/queues/default/pause", data={"csrf": csrf_of(client, "/queues"), "for": duration}
    )
    assert refused.status_code == 400
    assert paused(queue) == {}


def test_limits_are_set_and_lifted_as_queue_set_does(client: TestClient, queue: Queue) -> None:
    add(queue.backend, "j1", queue="io")
    csrf = csrf_of(client, "/queues")
    done = client.post("/queues/io/set", data={"csrf": csrf, "concurrency": "3", "rate": "5/s"})
    assert done.headers["location"] == "/queues?done=set&n=1"
    (row,) = queue.queue_rows()
    assert (row.concurrency, row.rate_n, row.rate_period) == (3, 5, 1.0)
    page = client.get("/queues").text
    assert "Limits set: 1 queue(s)." not in page  # only after the redirect
    assert "concurrency 0/3 · rate 5/s" in _row(page, "io")
    assert 'name="concurrency" size="5" value="3"' in page and 'value="5/s"' in page

    client.post("/queues/io/set", data={"csrf": csrf, "concurrency": "", "rate": "5/s"})
    (row,) = queue.queue_rows()
    assert (row.concurrency, row.rate_n) == (None, 5)
    client.post("/queues/io/set", data={"csrf": csrf, "rate": "none"})  # concurrency not sent
    assert queue.queue_rows() == []  # no limit left: the queue has no row of its own


@pytest.mark.parametrize(
    "fields", [{"concurrency": "0"}, {"concurrency": "many"}, {"rate": "5/day"}, {}]
)
def test_bad_limits_are_refused_and_nothing_changes(
    client: TestClient, queue: Queue, fields: dict[str, str]
) -> None:
    queue.set_queue("io", {"concurrency": 2})
    refused = client.post("/queues/io/set", data={"csrf": csrf_of(client, "/queues"), **fields})
    assert refused.status_code == 400
    assert [(q.name, q.concurrency, q.rate_n) for q in queue.queue_rows()] == [("io", 2, None)]


# --- /schedules ----------------------------------------------------------------------
def test_schedules_show_next_runs_and_pause_resume_run_now(
    client: TestClient, queue: Queue
) -> None:
    queue.add_schedule("hourly", {"command": "true", "queue": "io"}, every="1h")
    page = client.get("/schedules").text
    row = page[page.index('data-schedule="hourly"') :]
    assert "every 1h" in row and "io" in row
    nxt = queue.schedule("hourly").next_at
    assert nxt is not None
    assert row.count(":00:00Z</span>") >= 3  # three next runs, on the hour
    csrf = csrf_of(client, "/schedules")

    done = client.post("/schedules/hourly/pause", data={"csrf": csrf})
    assert done.headers["location"] == "/schedules?done=schedule-paused&n=1"
    assert queue.schedule("hourly").paused
    shown = client.get(done.headers["location"]).text
    assert "Paused: 1 schedule(s)." in shown and 'action="/schedules/hourly/resume"' in shown

    done = client.post("/schedules/hourly/resume", data={"csrf": csrf})
    assert done.headers["location"] == "/schedules?done=schedule-resumed&n=1"
    assert not queue.schedule("hourly").paused

    done = client.post("/schedules/hourly/run-now", data={"csrf": csrf})
    assert done.headers["location"] == "/schedules?done=enqueued&n=1"
    (job,) = queue.find_jobs(limit=10)
    assert job.id.startswith("hourly@now-") and job.queue == "io"
    assert queue.schedule("hourly").next_at == nxt  # its slots stay as they were


def test_the_last_run_and_its_state(client: TestClient, queue: Queue) -> None:
    """A slot fired by a worker's heartbeat shows as the last run, with its job's state."""
    queue.add_schedule("often", {"command": "true"}, every=1)
    wait_for(lambda: queue.backend.now() > (queue.schedule("often").next_at or 0), timeout=10)
    queue.backend.fire_schedules()
    last = queue.schedule("often").last_job
    assert last is not None and last.startswith("often@")
    row = client.get("/schedules").text.split('data-schedule="often"')[1]
    assert f">{last}</a>" in row  # a link to its job
    assert '<span class="state state-pending">pending</span>' in row


@pytest.mark.parametrize("verb", ["pause", "resume", "run-now"])
def test_an_unknown_schedule_is_a_404(client: TestClient, queue: Queue, verb: str) -> None:
    queue.add_schedule("other", {"command": "true"}, every="1h")
    csrf = csrf_of(client, "/schedules")
    answer = client.post(f"/schedules/nothing/{verb}", data={"csrf": csrf})
    assert answer.status_code == 404 and "no schedule" in answer.text


# --- /workers -------------------------------------------------------------------------
def test_workers_show_queues_host_slots_and_heartbeat(client: TestClient, queue: Queue) -> None:
    remote_worker(queue, 7, slots=3, queues=["io", "mail"])
    add(queue.backend, "busy")
    claim(queue.backend, f"{ELSEWHERE}-7-1")
    page = client.get("/workers").text
    row = page[page.index(f'data-worker="{ELSEWHERE}-7-0"') :]
    assert f"<td>{ELSEWHERE}</td>" in row and "<td>7</td>" in row
    assert "io, mail" in row
    assert '<td class="num">1/3</td>' in row  # slots in use
    assert "s ago</td>" in row  # the heartbeat's age


def test_stopping_a_worker_of_another_host_asks_first_then_flags_only_its_slots(
    client: TestClient, queue: Queue
) -> None:
    chosen = remote_worker(queue, 7, slots=2)
    remote_worker(queue, 8)
    csrf = csrf_of(client, "/workers")
    asked = client.post(f"/workers/{chosen}/stop", data={"csrf": csrf})
    assert asked.status_code == 200 and "Are you sure?" in asked.text
    assert f"Stop worker {chosen}?" in asked.text
    assert not any(stop_flags(queue).values())

    done = client.post(f"/workers/{chosen}/stop", data={"csrf": csrf, "confirm": "yes"})
    assert done.headers["location"] == "/workers?done=stopping&n=2"
    assert stop_flags(queue) == {
        f"{ELSEWHERE}-7-0": True,
        f"{ELSEWHERE}-7-1": True,
        f"{ELSEWHERE}-8-0": False,
    }
    page = client.get(done.headers["location"]).text
    assert "Asked to stop: 2 worker slot(s)" in page
    assert "stopping</span>" in page.split(f'data-worker="{chosen}"')[1].split("</tr>")[0]


@pytest.fixture
def local_process(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A process of this host standing in for a worker: it writes a file on SIGUSR1 (a
    graceful stop request). Ended by its pid."""
    got = tmp_path / "got-usr1"
    process = subprocess.Popen(
        ["sh", "-c", f"trap 'echo stop > {got}' USR1; while :; do sleep 0.05; done"],
        start_new_session=True,
    )
    try:
        wait_for(lambda: process_start(process.pid) is not None, timeout=10)
        yield process.pid, got
    finally:
        process.kill()
        process.wait(timeout=10)


def test_a_worker_of_this_host_is_also_signalled(
    client: TestClient, queue: Queue, local_process: tuple[int, Path]
) -> None:
    pid, got = local_process
    queue.backend.register_workers(["here-0"], hostname(), pid, process_start(pid), None)
    done = client.post(
        "/workers/here-0/stop", data={"csrf": csrf_of(client, "/workers"), "confirm": "yes"}
    )
    assert done.status_code == 303
    wait_for(got.exists, timeout=10, what="the worker process to get SIGUSR1")
    assert stop_flags(queue) == {"here-0": True}


def test_a_real_worker_of_another_host_stops_through_the_queue_alone(
    client: TestClient, queue: Queue, location: str, tmp_path: Path
) -> None:
    """No signal can reach it: it sees its rows' stop flag (at once on PostgreSQL, by the
    control notification; at its next heartbeat on SQLite) and exits by itself."""
    other = {"QUEUECTL_HOSTNAME": "host-b"}
    with worker(tmp_path / "host-b", location, burst=False, env=other) as running:
        found = wait_for(lambda: [w for w in queue.workers() if w.host == "host-b"],
                         timeout=60, what="the worker of host-b to register")  # fmt: skip
        done = client.post(
            f"/workers/{found[0].id}/stop",
            data={"csrf": csrf_of(client, "/workers"), "confirm": "yes"},
        )
        assert done.headers["location"] == "/workers?done=stopping&n=1"
        assert running.wait(timeout=60) == 0
    assert queue.workers() == []


def test_stopping_an_unknown_worker_is_a_404(client: TestClient, queue: Queue) -> None:
    remote_worker(queue, 7)
    answer = client.post(
        "/workers/nobody/stop", data={"csrf": csrf_of(client, "/workers"), "confirm": "yes"}
    )
    assert answer.status_code == 404


# --- /history -------------------------------------------------------------------------
def test_history_counts_attempts_per_queue_and_window_also_once_rolled_up(
    client: TestClient, queue: Queue
) -> None:
    add(queue.backend, "ok1", "ok2")
    add(queue.backend, "bad", queue="io", max_retries=5)
    run_once(queue.backend, "ok1", Succeeded())
    run_once(queue.backend, "ok2", Succeeded())
    run_once(queue.backend, "bad", Failed(1))  # one failed attempt; the job retries later

    def figures() -> list[str]:
        page = client.get("/history").text
        assert page.count("<th>attempts/min</th>") == 3
        return [
            _cells(_row(section, name))
            for label in ("hour", "day", "week")
            for section in [page.split(f'data-window="{label}"')[1].split("</section>")[0]]
            for name in ("default", "io")
        ]

    before = figures()
    assert before[0].startswith("2 ") and before[1].startswith("1 1 100.0%")
    assert before[0:2] == before[2:4] == before[4:6]  # all of them ended this hour
    # the attempts summed up and deleted from the attempts table: the same figures
    queue.backend.roll_up(queue.backend.now() + 1, 1000)
    assert [f.split()[0] for f in figures()] == [f.split()[0] for f in before]


def _cells(row: str) -> str:
    """The attempts, failed and failed % cells of a /history row, space-separated."""
    import re

    cells = re.findall(r'<td class="num">([^<]*)</td>', row)
    return " ".join([cells[0], cells[2], cells[3]])


# --- every action: CSRF and the token rule; escaping -------------------------------------
ACTIONS = [
    ("/queues/io/set", {"concurrency": "2"}),
    ("/queues/io/pause", {"for": "5m", "back": "/queues"}),
    ("/schedules/hourly/pause", {}),
    ("/schedules/hourly/run-now", {}),
    (f"/workers/{ELSEWHERE}-7-0/stop", {"confirm": "yes"}),
]


def _state(queue: Queue) -> tuple[object, ...]:
    return (
        queue.queue_rows(),
        queue.schedule("hourly").paused,
        queue.find_jobs(limit=10),
        stop_flags(queue),
    )


def _prepared(queue: Queue) -> tuple[object, ...]:
    """A schedule and a worker for the actions to act on; → what they may change."""
    queue.add_schedule("hourly", {"command": "true"}, every="1h")
    remote_worker(queue, 7)
    return _state(queue)


@pytest.mark.parametrize(("path", "fields"), ACTIONS)
def test_an_action_without_the_right_csrf_field_changes_nothing(
    client: TestClient, queue: Queue, path: str, fields: dict[str, str]
) -> None:
    before = _prepared(queue)
    csrf_of(client, "/schedules")  # the browser has its CSRF cookie
    other = TestClient(client.app, base_url=LOCAL)
    for wrong in ({}, {"csrf": "0" * 64}, {"csrf": csrf_of(other, "/schedules")}):
        assert client.post(path, data={**fields, **wrong}).status_code == 403
    assert _state(queue) == before


@pytest.mark.parametrize(("path", "fields"), ACTIONS)
def test_with_a_token_an_action_needs_it_and_the_csrf_field(
    token_client: TestClient, queue: Queue, path: str, fields: dict[str, str]
) -> None:
    before = _prepared(queue)
    assert token_client.post(path, data=fields).status_code == 401
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    page = token_client.get("/schedules", headers=bearer)
    csrf = csrf_of_text(page.text)
    assert token_client.post(path, data={**fields, "csrf": csrf}).status_code == 401
    assert _state(queue) == before
    done = token_client.post(path, data={**fields, "csrf": csrf}, headers=bearer)
    assert done.status_code == 303
    assert _state(queue) != before


def csrf_of_text(text: str) -> str:
    from tests.web.support import CSRF

    found = CSRF.search(text)
    assert found
    return found.group(1)


@pytest.mark.parametrize("path", PAGES)
def test_with_a_token_every_page_needs_it(token_client: TestClient, path: str) -> None:
    assert token_client.get(path).status_code == 401
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert token_client.get(path, headers=bearer).status_code == 200


def test_html_in_reasons_hosts_and_ids_is_escaped(client: TestClient, queue: Queue) -> None:
    add(queue.backend, "j1")
    queue.pause(["default"], reason="<script>x()</script>", by="<i>ops</i>")
    evil = "<b>h</b>"
    queue.backend.register_workers(['"><img src=x>'], evil, 9, None, ["<q>"])
    queue.add_schedule("s1", {"command": "true", "queue": "default"}, every="1h")
    for path in PAGES:
        page = client.get(path).text
        for raw in ("<script>x()</script>", "<i>ops</i>", evil, "<img src=x>", "<q>"):
            assert raw not in page, (path, raw)
    assert "&lt;script&gt;x()&lt;/script&gt;" in client.get("/queues").text
    workers = client.get("/workers").text
    assert "&lt;b&gt;h&lt;/b&gt;" in workers and "&lt;q&gt;" in workers
    assert "&#34;&gt;&lt;img src=x&gt;" in workers


# --- bounded reads --------------------------------------------------------------------------
@pytest.mark.parametrize("path", PAGES)
def test_a_page_reads_as_often_with_many_rows_as_with_one(
    client: TestClient, queue: Queue, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = client.app.state.db.queue.backend  # type: ignore[attr-defined]
    reads: list[str] = []
    rows = backend._rows

    def counted(name: str, params: dict[str, object] | None = None) -> object:
        reads.append(name)
        return rows(name, params)

    monkeypatch.setattr(backend, "_rows", counted)

    def grow(n: int) -> list[str]:
        for i in range(n):
            add(queue.backend, f"{n}-{i}", queue=f"q{n}-{i}", priority=FIRST)
            run_once(queue.backend, f"{n}-{i}", Succeeded())
            add(queue.backend, f"{n}-{i}-next", queue=f"q{n}-{i}")
            queue.set_queue(f"q{n}-{i}", {"concurrency": 2})
            queue.add_schedule(f"s{n}-{i}", {"command": "true"}, every="1h")
            remote_worker(queue, 1000 * n + i, slots=2)
        reads.clear()
        assert client.get(path).status_code == 200
        return sorted(reads)

    one = grow(1)
    assert grow(30) == one
