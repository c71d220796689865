"""A running job's page shows the output written so far at once, from the start of a
line, and its stream starts at that same line (the real dashboard and a real worker on
this host, on both engines)."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import httpx

from queuectl.api import Queue
from queuectl.web.live import OUTPUT_START
from tests.support.jobs import gate_wait
from tests.support.polling import wait_for
from tests.web.processes import dashboard, worker

LINES = 12_000  # "line 00001 <x>\n" and on: about 180 KB, past OUTPUT_START


def test_a_running_job_page_shows_its_output_from_a_line_start(
    location: str, queue: Queue, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    printing = f"i=1; while [ $i -le {LINES} ]; do printf 'line %05d <x>\\n' $i; i=$((i+1)); done"
    queue.enqueue(f"{printing}; {gate_wait(gate)}", id="chatty")
    home = tmp_path / "home"
    with dashboard(home, location) as base, worker(home, location):
        wait_for(lambda: queue.get("chatty").state == "processing", timeout=30, what="the job")
        last = f"line {LINES:05d} <x>\n"

        def shown() -> str:
            page = httpx.get(f"{base}/jobs/chatty", timeout=30).text
            found = re.search(r'<pre class="output" id="output"[^>]*>(.*?)</pre>', page, re.S)
            assert found, "no output on the page"
            return html.unescape(found.group(1))

        wait_for(lambda: shown().endswith(last), timeout=60, what="the output so far")
        first = shown()
        assert len(first.encode()) <= OUTPUT_START
        assert re.fullmatch(r"(line \d{5} <x>\n)+", first), first[:80]  # whole lines only
        assert first.startswith("line ") and not first.startswith("line 00001")
        with httpx.stream("GET", f"{base}/live/jobs/chatty/output", timeout=30) as response:
            for line in response.iter_lines():
                if line.startswith("data: "):
                    streamed = str(json.loads(line[6:]))
                    break
        assert streamed.split("\n", 1)[0] == first.split("\n", 1)[0]
        gate.touch()
        wait_for(lambda: queue.get("chatty").state == "completed", timeout=60, what="the end")
