"""Take the dashboard's screenshots in docs/: every page of a busy queue (completed,
failed, dead, pending and scheduled jobs in three queues, two workers busy, a queue
paused, a limit, a schedule), in Debian's Chromium via Playwright.

    .venv/bin/python scripts/dashboard_screenshot.py [FOLDER]

docs/dashboard.png is the overview; docs/dashboard-PAGE.png each other page (PAGES).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

from queuectl.api import Queue

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# file name → the page's path; "job" is a running job's page, with its output
PAGES = {
    "dashboard": "/",
    "dashboard-jobs": "/jobs",
    "dashboard-scheduled": "/jobs?view=scheduled",
    "dashboard-job": "/jobs/deploy-web",
    "dashboard-dlq": "/dlq",
    "dashboard-queues": "/queues",
    "dashboard-schedules": "/schedules",
    "dashboard-workers": "/workers",
    "dashboard-history": "/history",
}


def fill(queue: Queue) -> None:
    for n in range(14):
        queue.enqueue(f"sleep 0.{n % 4 + 1}; echo built part {n}", id=f"build-{n}", queue="ci")
    for n in range(6):
        queue.enqueue(f"echo resize img-{n}.png", id=f"thumb-{n}", queue="media")
    queue.enqueue("./backup.sh --verify", id="backup-verify", max_retries=0)
    queue.enqueue("exit 3", id="sync-mirror", max_retries=0, queue="ci")
    queue.enqueue("test -e /nonexistent", id="flaky-check", max_retries=4, queue="ci")
    queue.enqueue("sleep 300", id="nightly-report", priority=-5)
    queue.enqueue("sleep 300", id="reindex-search", priority=-5, queue="media")
    for n in range(4):
        queue.enqueue(f"echo later {n}", id=f"digest-{n}", delay="2h", queue="media")
    deploy = 'for step in fetch build test package upload; do echo "== $step"; sleep 0.3; done'
    queue.enqueue(f"{deploy}; sleep 300", id="deploy-web", priority=5, queue="ci")
    queue.set_queue("ci", {"concurrency": 2})
    queue.pause(["media"], reason="disk full on the image host", by="ops")
    queue.add_schedule("nightly-backup", {"command": "./backup.sh"}, cron="30 2 * * *")
    queue.add_schedule("heartbeat", {"command": "curl -fsS localhost/ping"}, every="5m")


def main() -> None:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "docs")
    home = Path(tempfile.mkdtemp(prefix="queuectl-shot-"))
    env = {**os.environ, "QUEUECTL_HOME": str(home)}
    env.pop("QUEUECTL_DB", None)
    with Queue(str(home / "queuectl.db")) as queue:
        queue.config_set("backoff-base", "30")
        fill(queue)
    started = []
    try:
        worker = subprocess.Popen(
            [sys.executable, "-m", "queuectl", "worker", "start", "--count", "2"],
            env=env,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        started.append(worker)
        board = subprocess.Popen(
            [sys.executable, "-m", "queuectl", "dashboard", "--port", "0"],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        started.append(board)
        port = re.search(r":(\d+)/", board.stderr.readline()).group(1)  # type: ignore[union-attr]
        with Queue(str(home / "queuectl.db")) as queue:
            deadline = time.monotonic() + 60
            while queue.counts()["processing"] < 2 or queue.counts()["completed"] < 14:
                assert time.monotonic() < deadline, queue.counts()
                time.sleep(0.2)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            for name, path in PAGES.items():
                page.goto(f"http://127.0.0.1:{port}{path}")
                with contextlib.suppress(PlaywrightTimeout):  # pages without a live view
                    page.wait_for_selector("#connection:not([hidden])", timeout=3000)
                out = folder / f"{name}.png"
                page.screenshot(path=str(out), full_page=True)
                print(out)
            browser.close()
    finally:
        for process in started:  # each by its own pid (its process group)
            os.killpg(process.pid, signal.SIGTERM)
        for process in started:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


if __name__ == "__main__":
    main()
