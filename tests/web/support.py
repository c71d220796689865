"""Helpers of the dashboard tests: the CSRF field of a page, server-sent events, the app
served in-process."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from starlette.testclient import TestClient

from tests.support.polling import wait_for

CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


def csrf_of(client: TestClient, path: str = "/dlq") -> str:
    """The CSRF field of a page, as a browser that loaded it would post it."""
    found = CSRF.search(client.get(path).text)
    assert found, f"no CSRF field on {path}"
    return found.group(1)


def events(text: str) -> list[tuple[str, object]]:
    """(event name, decoded data) of an SSE body."""
    found = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            found.append((fields["event"], json.loads(fields["data"])))
    return found


@contextmanager
def served(app: Any) -> Iterator[str]:
    """``app`` served by uvicorn on a free loopback port, on a thread of this process (so
    a test can look inside it while real clients hold streams open); yields its base URL.
    The server is stopped, and its thread joined, on the way out."""
    import socket
    import threading

    import uvicorn

    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.bind(("127.0.0.1", 0))
    listening.listen(128)
    config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, timeout=30, what="the dashboard to listen")
        yield f"http://127.0.0.1:{listening.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listening.close()
        assert not thread.is_alive(), "the dashboard did not stop"


def accept_dialogs(page: Any) -> list[str]:
    """Answer yes to the page's confirmation dialogs (a form's data-confirm); → the list
    their questions are added to, as they are asked."""
    asked: list[str] = []

    def answer(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.on("dialog", answer)
    return asked
