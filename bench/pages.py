"""W5 pages: how long each dashboard page takes to render at a table size, in-process
(the Starlette app through its test client: no network, no browser), median of a few
GETs after one warm-up each. The figure is the slowest page's time."""

from __future__ import annotations

import time
from typing import Any

from bench.core import median

# every page of the dashboard that lists or counts jobs; JOB is replaced by a job's id
PAGES = (
    "/",
    "/jobs",
    "/jobs?view=scheduled",
    "/jobs?view=retries",
    "/jobs?state=pending&sort=priority",
    "/jobs/JOB",
    "/dlq",
    "/queues",
    "/schedules",
    "/workers",
    "/history",
)


def page_times(db: str, job_id: str, calls: int) -> dict[str, float]:
    """Milliseconds per page (median of ``calls`` GETs, each after one warm-up)."""
    from starlette.testclient import TestClient  # the test client the web tests use

    from queuectl.web.app import create_app

    found = {}
    with TestClient(create_app(db, None, stream_seconds=0), base_url="http://127.0.0.1") as web:
        for page in PAGES:
            path = page.replace("JOB", job_id)
            if web.get(path).status_code != 200:
                raise RuntimeError(f"GET {path}: {web.get(path).status_code}")
            times = []
            for _ in range(calls):
                start = time.perf_counter()
                web.get(path)
                times.append((time.perf_counter() - start) * 1000)
            found[page] = median(times)
    return found


def slowest(times: dict[str, float]) -> tuple[str, float]:
    page = max(times, key=lambda key: times[key])
    return page, times[page]


def summary(reps: list[dict[str, float]]) -> dict[str, Any]:
    """Each page's median over the repetitions, slowest first."""
    pages = {page: median([rep[page] for rep in reps]) for page in reps[0]}
    return dict(sorted(pages.items(), key=lambda item: -item[1]))
