"""The jobs console in a real browser (Debian's Chromium driven by Playwright), as a
person uses it: tick three dead jobs and retry them, rerun a completed job from its page,
watch a row change state on /jobs without a reload, download a job's whole output and
find it the same as ``queuectl logs`` prints."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from queuectl.api import Queue
from tests.contract.support import make_completed, make_dead
from tests.support.cli import QUEUECTL, cli_env
from tests.web.processes import dashboard, worker
from tests.web.support import accept_dialogs
from tests.web.test_browser import browser, page

__all__ = ["browser", "page"]  # the browser and its page, as the other browser test has them

pytestmark = pytest.mark.timeout(1500)  # the first use may install Chromium with apt-get


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def queue(home: Path) -> Iterator[Queue]:
    opened = Queue(str(home / "queue.db")).open()
    yield opened
    opened.close()


def test_bulk_retry_of_three_ticked_dead_jobs(page: Page, home: Path, queue: Queue) -> None:
    make_dead(queue.backend, "d1", "d2", "d3", "d4")
    with dashboard(home, queue.location) as base:
        page.goto(f"{base}/jobs?state=dead")
        expect(page.locator("#connection")).to_have_text("live")
        for job_id in ("d1", "d2", "d4"):
            page.get_by_label(f"select {job_id}").check()
        page.get_by_role("button", name="Retry").click()
        expect(page.locator(".confirm p")).to_have_text("Retry: 3 jobs?")
        assert [queue.get(j).state for j in ("d1", "d2", "d3", "d4")] == ["dead"] * 4
        page.get_by_role("button", name="Yes, go ahead").click()
        expect(page.locator(".notice")).to_have_text("Sent back to pending: 3 job(s).")
        expect(page.locator("tr[data-job]")).to_have_count(1)  # the list still shows dead
        assert [queue.get(j).state for j in ("d1", "d2", "d3", "d4")] == [
            "pending",
            "pending",
            "dead",
            "pending",
        ]


def test_rerun_a_completed_job_from_its_page(page: Page, home: Path, queue: Queue) -> None:
    make_completed(queue.backend, "nightly")
    with dashboard(home, queue.location) as base:
        page.goto(f"{base}/jobs/nightly")
        expect(page.locator("h1 .state")).to_have_text("completed")
        asked = accept_dialogs(page)
        page.get_by_role("button", name="Rerun").click()
        expect(page.locator(".notice")).to_have_text("Run again: 1 job(s).")
        expect(page.locator("h1 .state")).to_have_text("pending")
        assert asked == ["Run job nightly again? Its attempts are kept."]
        assert queue.get("nightly").state == "pending"


def test_a_row_changes_state_on_jobs_without_a_reload(page: Page, home: Path, queue: Queue) -> None:
    db = queue.location
    with dashboard(home, db) as base:
        page.goto(f"{base}/jobs")
        expect(page.locator("#connection")).to_have_text("live", timeout=30_000)
        page.evaluate("window.loadedOnce = true")  # gone if the page were reloaded
        queue.enqueue("echo watched", id="watched")
        row = page.locator('tr[data-job="watched"]')
        expect(row.locator(".state")).to_have_text("pending", timeout=30_000)
        row.get_by_label("select watched").check()
        with worker(home, db) as burst:
            expect(row.locator(".state")).to_have_text("completed", timeout=60_000)
            burst.wait(timeout=60)
        expect(row.get_by_label("select watched")).to_be_checked()  # kept across updates
        assert page.evaluate("window.loadedOnce") is True


def test_the_download_is_what_logs_prints(page: Page, home: Path, queue: Queue) -> None:
    db = queue.location
    lines = "".join(f"line {n}: é ✓\\n" for n in range(2000))
    queue.enqueue(f"printf '{lines}'; printf 'no newline at the end'", id="talker")
    with worker(home, db) as burst:
        burst.wait(timeout=60)
    assert queue.get("talker").state == "completed"
    run = queue.attempts("talker")[-1].run
    with dashboard(home, db) as base:
        page.goto(f"{base}/jobs/talker")
        with page.expect_download() as started:
            page.get_by_role("link", name="download the whole output").click()
        downloaded = Path(started.value.path()).read_bytes()
    printed = subprocess.run(
        [*QUEUECTL, "--db", db, "logs", "talker", "--attempt", str(run)],
        env=cli_env(home),
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    assert downloaded == printed
    assert printed.startswith(b"line 0: \xc3\xa9 \xe2\x9c\x93\n")
    assert printed.endswith(b"line 1999: \xc3\xa9 \xe2\x9c\x93\nno newline at the end")
