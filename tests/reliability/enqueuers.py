"""An enqueuing process of the contention test (a module of its own: ``multiprocessing``
with the spawn method imports its target by name in a fresh interpreter)."""

from __future__ import annotations

import os
import sys
import time
import traceback
from multiprocessing.synchronize import Event


def enqueue_one_by_one(location: str, count: int, report: str, go: Event) -> None:
    """``count`` calls of ``Queue.enqueue`` (one job, one transaction each), started on
    ``go``. Everything this process prints goes to ``report``.log, the ids it got to
    ``report``.ids; any exception is printed there and ends it with exit code 1."""
    log = os.open(report + ".log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    try:
        from queuectl import Queue

        ids = []
        with Queue(location) as queue:
            go.wait(60)
            began = time.monotonic()
            for _ in range(count):
                ids.append(queue.enqueue(["true"]))
            took = time.monotonic() - began
        with open(report + ".ids", "w") as out:
            out.write("".join(f"{job_id}\n" for job_id in ids))
        with open(report + ".time", "w") as out:
            out.write(f"{took}\n")
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)
