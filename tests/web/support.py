"""Helpers of the dashboard tests: the CSRF field of a page, server-sent events."""

from __future__ import annotations

import json
import re

from starlette.testclient import TestClient

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
