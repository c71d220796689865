"""Shell for the jobs tests enqueue, and what those jobs leave behind.

A job that blocks on a gate runs exactly as long as a test wants; a job that writes its
pid lets a test watch (or kill) it; a run's start and end lines in a side file tell
what really ran, whatever the queue recorded.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from tests.support.polling import wait_for


def q(path: Path | str) -> str:
    """A path quoted for a job's ``sh -c`` command."""
    return shlex.quote(os.fspath(path))


def gate_wait(gate: Path) -> str:
    """Shell that blocks until ``gate`` exists: a job that runs exactly as long as a test wants."""
    return f"while [ ! -e {q(gate)} ]; do sleep 0.02; done"


def read_pid(path: Path) -> int | None:
    """A pid a job wrote to ``path``, once it is completely written."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    return int(text) if text.endswith("\n") and text.strip().isdigit() else None


def wait_for_pid(path: Path, timeout: float = 10.0) -> int:
    """Wait for a job to write its pid (``echo $$ > path``) and return it."""
    return wait_for(lambda: read_pid(path), timeout, what=f"a pid in {path}")


@dataclass
class Run:
    """One run of one job, as its side effects recorded it (no ``end``: it was killed)."""

    attempt: int
    start: float
    pid: int
    end: float | None = None


def stamped(out: Path, work: str) -> str:
    """Shell that runs ``work`` between a ``start ID T`` and an ``end ID T`` line in ``out``
    (T: the job's own clock, epoch seconds): what ran when, whatever the queue recorded."""
    stamp = f"$QUEUECTL_JOB_ID $(date +%s.%N) >> {q(out)}"
    return f"echo start {stamp}; {work}; echo end {stamp}"


def spans(out: Path) -> list[tuple[float, float]]:
    """(start, end) of every job that ended, from the lines ``stamped`` jobs wrote."""
    starts: dict[str, float] = {}
    found = []
    for line in out.read_text().splitlines():
        kind, job_id, when = line.split()
        if kind == "start":
            starts[job_id] = float(when)
        else:
            found.append((starts[job_id], float(when)))
    return found


def most_at_once(ran: list[tuple[float, float]]) -> int:
    """The most of these (start, end) spans that overlap at any instant."""
    return max(sum(1 for b, e in ran if b <= start < e) for start, _ in ran)
