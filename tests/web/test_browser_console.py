"""The operator's pages in a real browser (Debian's Chromium driven by Playwright) beside a
real worker: a queue paused on /queues starts none of its jobs while the worker runs
another queue's; resumed, they run; then the worker is stopped from /workers. A
screenshot of /queues is kept under tests/web/artifacts/."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from queuectl.api import Queue
from tests.support.polling import wait_for
from tests.web.processes import dashboard, worker
from tests.web.support import accept_dialogs
from tests.web.test_browser import ARTIFACTS, browser, page

__all__ = ["browser", "page"]  # the browser and its page, as the other browser test has them


def states(queue: Queue, ids: list[str]) -> list[str]:
    return [queue.get(i).state.value for i in ids]


@pytest.mark.timeout(1500)  # the first use may install Chromium with apt-get
def test_a_paused_queue_starts_no_job_until_resumed(page: Page, tmp_path: Path) -> None:
    home = tmp_path / "home"
    db = str(home / "queue.db")
    queue = Queue(db)
    queue.enqueue("true", id="warm-up", queue="io")  # the queue exists, with a row on /queues
    with dashboard(home, db) as base, worker(home, db, "--count", "2", burst=False) as running:
        wait_for(lambda: states(queue, ["warm-up"]) == ["completed"], timeout=60,
                 what="the worker to run the first job of io")  # fmt: skip

        page.goto(f"{base}/queues")
        io = page.locator('tr[data-controls="io"]')
        io.get_by_placeholder("reason (optional)").fill("<b>deploy</b>")
        io.get_by_placeholder("for (e.g. 30m)").fill("1h")
        io.get_by_role("button", name="Pause").click()
        expect(page.locator(".notice")).to_have_text("Paused: 1 queue(s).")
        flow = page.locator('tr[data-queue="io"] .flow')
        expect(flow).to_contain_text("paused by dashboard (<b>deploy</b>) until")

        held = [queue.enqueue(f"echo held {n}", queue="io") for n in range(3)]
        # the worker is claiming: a job of another queue enqueued after them runs and ends
        other = queue.enqueue("true", queue="default")
        wait_for(lambda: states(queue, [other]) == ["completed"], timeout=60,
                 what="the worker to run the job of the open queue")  # fmt: skip
        assert states(queue, held) == ["pending"] * 3
        assert all(not queue.attempts(i) for i in held)
        page.reload()
        expect(page.locator('tr[data-queue="io"] td.num').first).to_have_text("3")  # pending

        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "browser-queue-paused.png"), full_page=True)
        page.locator('tr[data-controls="io"]').get_by_role("button", name="Resume").click()
        expect(page.locator(".notice")).to_have_text("Resumed: 1 queue(s).")
        wait_for(lambda: states(queue, held) == ["completed"] * 3, timeout=60,
                 what="the resumed queue's jobs to run")  # fmt: skip

        page.goto(f"{base}/workers")
        asked = accept_dialogs(page)
        page.get_by_role("button", name="Stop").click()
        expect(page.locator(".notice")).to_contain_text("Asked to stop: 2 worker slot(s)")
        assert asked and asked[0].startswith("Stop worker ")
        assert running.wait(timeout=60) == 0  # the worker exits by itself, gracefully
    queue.close()
