"""What a worker tells its operator: one timestamped line on stderr per event."""

from __future__ import annotations

import sys
import time


def say(message: str) -> None:
    """One line, flushed at once: a detached worker's log is read while it runs."""
    sys.stderr.write(f"{time.strftime('%H:%M:%S')} {message}\n")
    sys.stderr.flush()
