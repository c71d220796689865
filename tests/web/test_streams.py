"""Live streams cost the queue one overview reading per tick however many are open, and
their number is bounded per client and in all (past it: 429 or 503, and the page polls
slowly instead). Real clients on a real server, in this process so that the readings
can be counted."""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack
from typing import Any

import httpx
import pytest

from queuectl.api import Queue
from queuectl.web import live
from queuectl.web.app import create_app
from tests.support.polling import wait_for
from tests.web.support import events, served

PER_CLIENT = 16  # the documented bound of one client's live streams


def test_many_overview_streams_share_one_reading_per_tick(
    location: str, queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue.enqueue("true", id="shown")
    app = create_app(location, None, stream_seconds=3)
    watched: Queue = app.state.db.queue
    readings: list[float] = []
    real_stats = watched.stats

    def counted_stats(since: float | None = None) -> dict[str, Any]:
        readings.append(time.monotonic())
        return real_stats(since)

    monkeypatch.setattr(watched, "stats", counted_stats)  # one call per overview reading
    bodies: list[str] = []

    def watch(base: str) -> None:
        with httpx.stream("GET", f"{base}/live/overview", timeout=60) as response:
            assert response.status_code == 200
            bodies.append(response.read().decode())

    streams = 10
    with served(app) as base:
        start = time.monotonic()
        threads = [threading.Thread(target=watch, args=(base,)) for _ in range(streams)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        elapsed = time.monotonic() - start
    assert len(bodies) == streams  # every stream ran to its end (3 s) ...
    for body in bodies:  # ... and showed the overview
        assert any(name == "fragment" and "shown" in str(data) for name, data in events(body))
    ticks = elapsed / live.TICK
    assert len(readings) <= ticks + 1, (
        f"{len(readings)} overview readings for {streams} streams in {elapsed:.1f}s"
    )


def _open(stack: ExitStack, base: str, path: str, source: str = "127.0.0.1") -> httpx.Response:
    """A stream held open until ``stack`` closes (its status and headers are known)."""
    client = stack.enter_context(
        httpx.Client(transport=httpx.HTTPTransport(local_address=source), timeout=30)
    )
    return stack.enter_context(client.stream("GET", f"{base}{path}"))


def test_a_client_past_its_bound_is_refused_with_429(location: str, queue: Queue) -> None:
    queue.enqueue("true", id="watched")
    app = create_app(location, None, stream_seconds=120)
    with served(app) as base, ExitStack() as held:
        paths = ["/live/overview", "/live/jobs/watched"]
        for n in range(PER_CLIENT):
            assert _open(held, base, paths[n % 2]).status_code == 200
        refused = _open(held, base, "/live/overview")
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "30"
        assert "not updated live" in refused.read().decode()
        assert httpx.get(f"{base}/jobs", timeout=30).status_code == 200  # pages still answer


def test_the_dashboards_bound_answers_503_and_closed_streams_free_their_place(
    location: str, queue: Queue
) -> None:
    app = create_app(location, None, stream_seconds=120, max_streams=3, max_client_streams=2)
    with served(app) as base, ExitStack() as held:
        first = ExitStack()
        held.callback(first.close)
        assert _open(first, base, "/live/overview").status_code == 200
        assert _open(held, base, "/live/overview").status_code == 200
        assert _open(held, base, "/live/overview").status_code == 429  # this client's 3rd
        assert _open(held, base, "/live/overview", "127.0.0.2").status_code == 200
        assert _open(held, base, "/live/overview", "127.0.0.3").status_code == 503  # 4th in all
        first.close()  # the page is closed: its place is free again

        def admitted() -> bool:
            with ExitStack() as probe:
                return _open(probe, base, "/live/overview", "127.0.0.3").status_code == 200

        wait_for(admitted, timeout=30, interval=0.1, what="the closed stream's place")
