"""``worker start``: run the claim loop in the foreground, or detach it into the background."""

from __future__ import annotations

import os
import subprocess
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from queuectl.location import Location


def start(
    db: str | None,
    count: int,
    queues: Sequence[str] | None,
    burst: bool,
    detach: bool,
    log_format: str = "text",
) -> int:
    from queuectl.api import Queue
    from queuectl.location import WORKER, locate

    where = locate(db)
    if detach:
        return _detach(where, count, queues, burst, log_format)
    from queuectl.worker.messages import event
    from queuectl.worker.port import QueueAdapter
    from queuectl.worker.runner import Runner

    with Queue(where, role=WORKER).open() as queue:
        runner = Runner(QueueAdapter(queue), count, queues, burst, log_format=log_format)
        # the first line: a worker started on the wrong queue shows it at once, and how
        # it holds jobs to their limits (worker.confine)
        mode = runner.confinement.mode
        event(
            "serving", f"serving {where.shown}, limits: {mode}", location=where.shown, limits=mode
        )
        return runner.run()


def _detach(
    where: Location, count: int, queues: Sequence[str] | None, burst: bool, log_format: str
) -> int:
    """Start the same command without --detach in a new session; print its pid and log,
    which is named after that pid (the worker's own)."""
    from queuectl.api import Queue
    from queuectl.errors import StorageError
    from queuectl.files import private_dirs

    with Queue(where).open():  # fail here, in the foreground, if the queue is unusable
        logs_dir, location = where.logs_dir, where.target
    stamp = time.strftime("%Y%m%dT%H%M%S")
    log = os.path.join(logs_dir, f"worker-{stamp}-starting-{os.getpid()}.log")
    # The location travels in the environment: a command line is readable by every
    # user of the machine (ps), and a PostgreSQL URL may hold a password.
    env = {**os.environ, "QUEUECTL_DB": location}
    if where.schema is not None:
        env["QUEUECTL_SCHEMA"] = where.schema  # the URL given to the driver has none
    argv = [sys.executable, "-m", "queuectl", "worker", "start", "--count", str(count)]
    for name in queues or ():
        argv += ["--queue", name]
    if burst:
        argv.append("--burst")
    argv += ["--log-format", log_format]
    try:
        private_dirs(logs_dir)
        # a new file, never one planted at this name (a link would redirect what we write)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC
        fd = os.open(log, flags, 0o600)
    except OSError as exc:
        raise StorageError(f"cannot create the worker's log {log}: {exc.strerror}") from None
    try:
        child = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=fd, stderr=fd, env=env, start_new_session=True
        )
    finally:
        os.close(fd)
    log = _named_after(log, os.path.join(logs_dir, f"worker-{stamp}-{child.pid}.log"))
    print(f"pid {child.pid}")
    print(f"log {log}")
    return 0


def _named_after(log: str, name: str) -> str:
    """The worker's log renamed ``name`` (its pid is known only once it runs; it keeps
    writing to the same file). A file already there keeps its name, and the log its own."""
    try:
        os.link(log, name)  # never replaces a file: rename would
    except OSError:
        return log
    os.unlink(log)
    return name
