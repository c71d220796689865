"""The dashboard's tests: an app per test over a fresh queue of each engine, and the
browser (Debian's Chromium, installed here when missing)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from queuectl.api import Queue
from queuectl.web.app import create_app

CHROMIUM = "/usr/bin/chromium"
TOKEN = "s3cret-token"
LOCAL = "http://127.0.0.1:8700"  # without a token the dashboard answers only to localhost


def app_client(location: str, token: str | None = None) -> TestClient:
    """The dashboard in-process; live streams send their first update and end."""
    return TestClient(
        create_app(location, token, stream_seconds=0),
        base_url=LOCAL,
        follow_redirects=False,
    )


@pytest.fixture
def client(location: str, queue: Queue) -> Iterator[TestClient]:
    with app_client(location) as opened:
        yield opened


@pytest.fixture
def token_client(location: str, queue: Queue) -> Iterator[TestClient]:
    with app_client(location, TOKEN) as opened:
        yield opened


def apt_install_chromium() -> None:
    """``apt-get install chromium``, quietly; whether it worked shows in ``CHROMIUM``."""
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "chromium"],
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        capture_output=True,
        timeout=900,
        check=False,
    )


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium; installed with apt-get when missing. Without it the browser test
    skips on a developer's machine and fails under CI=true."""
    if not os.path.exists(CHROMIUM) and shutil.which("apt-get"):
        apt_install_chromium()
        if not os.path.exists(CHROMIUM):  # a fresh machine may not know the package yet
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, timeout=600)
            apt_install_chromium()
    if not os.path.exists(CHROMIUM):
        message = f"no {CHROMIUM}, and apt-get could not install it"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message + " (with CI=true this fails)")
    return CHROMIUM
