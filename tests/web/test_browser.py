"""A real browser (Debian's Chromium driven by Playwright) on the real dashboard: a job
goes from pending to completed on the overview without a reload, and a dead job is sent
back to pending from its page. A screenshot is kept under tests/web/artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from queuectl.api import Queue
from tests.web.processes import dashboard, worker
from tests.web.support import accept_dialogs

ARTIFACTS = Path(__file__).parent / "artifacts"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    opened = browser.new_page(viewport={"width": 1280, "height": 900})
    opened.set_default_timeout(30_000)
    yield opened
    opened.close()


# the first use may install Chromium with apt-get (minutes on a fresh machine)
@pytest.mark.timeout(1500)
def test_a_job_runs_live_and_a_dead_job_is_retried(page: Page, tmp_path: Path) -> None:
    home = tmp_path / "home"
    db = str(home / "queue.db")
    queue = Queue(db)
    with dashboard(home, db) as base:
        page.goto(f"{base}/")
        expect(page.locator("#connection")).to_have_text("live")
        page.evaluate("window.loadedOnce = true")  # gone if the page were reloaded

        queue.enqueue("echo hello from the browser test", id="watched")
        row = page.locator('tr[data-job="watched"]')
        expect(row.locator(".state")).to_have_text("pending")
        expect(page.locator('.card[data-state="pending"] .count')).to_have_text("1")
        with worker(home, db) as burst:
            expect(row.locator(".state")).to_have_text("completed")
            burst.wait(timeout=60)
        expect(page.locator('.card[data-state="completed"] .count')).to_have_text("1")
        assert page.evaluate("window.loadedOnce") is True

        queue.enqueue("echo doomed >&2; exit 4", id="doomed", max_retries=0)
        with worker(home, db) as burst:
            burst.wait(timeout=60)
        assert queue.get("doomed").state == "dead"
        page.goto(f"{base}/jobs/doomed")
        expect(page.locator("h1 .state")).to_have_text("dead")
        expect(page.locator("pre.output")).to_contain_text("doomed")
        asked = accept_dialogs(page)
        page.get_by_role("button", name="Retry").click()
        expect(page.locator("h1 .state")).to_have_text("pending")
        assert asked == ["Run job doomed again from attempt 0?"]
        expect(page.locator(".notice")).to_contain_text("Sent back to pending: 1 job(s).")
        assert queue.get("doomed").state == "pending"

        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "browser-job-retried.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"screenshot: {shot}")
    queue.close()
