"""Who a worker process is: its host name and a start-time token that outlives pid reuse."""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    """``$QUEUECTL_HOSTNAME`` (to tell apart hosts that share a name), else the host name;
    reduced to ``A-Z a-z 0-9 . _ -``, since it becomes part of worker ids and file names."""
    name = os.environ.get("QUEUECTL_HOSTNAME") or socket.gethostname()
    return "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "-" for c in name)[:64]


def process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2 :].split()
    return fields[19].decode() if len(fields) > 19 else None


def is_alive(pid: int, start: str | None) -> bool:
    """True if ``pid`` still runs and is the same process that registered (not a reused pid)."""
    current = process_start(pid)
    if current is None:
        return False
    return start is None or current == start
