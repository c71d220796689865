"""The run's shared state, and a ``worker start`` process under the benchmark's control."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

from bench.core import Budget, Figure, Limit, child_env, log, queuectl_argv, wait_until
from bench.procs import Registry
from bench.stores import Location, Store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from queuectl.api import Queue


@dataclass
class Context:
    quick: bool
    reps: int
    budget: Budget
    registry: Registry
    tmp: str  # the run's own temporary folder
    pycache: str  # PYTHONPYCACHEPREFIX of every interpreter the run starts
    stores: list[Store]
    missing: dict[str, str]  # backend → why it is not measured
    limits: dict[str, Limit] = field(default_factory=dict)
    figures: list[Figure] = field(default_factory=list)

    def env(self, loc: Location | None = None) -> dict[str, str]:
        if loc is None:
            return child_env(self.pycache)
        return child_env(self.pycache, loc.env, loc.home)

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        return figure

    def limit(self, key: str) -> Limit | None:
        return self.limits.get(key)

    def size(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    def worker(self, loc: Location, count: int, tag: str = "worker") -> Worker:
        return Worker(self, loc, count, tag)


class Worker:
    """``queuectl worker start --count N`` in a session of its own; stderr to a file."""

    def __init__(self, ctx: Context, loc: Location, count: int, tag: str) -> None:
        self.ctx = ctx
        self.loc = loc
        self.count = count
        self.log_path = os.path.join(loc.home, f"{tag}-{time.monotonic_ns()}.log")
        self.proc: subprocess.Popen[Any] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> Worker:
        argv = [*queuectl_argv(), "worker", "start", "--count", str(self.count)]
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop)
        self.proc = self.ctx.registry.popen(
            argv, env=self.ctx.env(self.loc), stdout=subprocess.DEVNULL, stderr=self._log
        )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def wait_ready(self, queue: Queue, timeout: float = 30.0, settle: float = 0.5) -> None:
        """Until the worker's rows are in the queue, then ``settle`` seconds more (its first
        heartbeat and claim are done: it is idle in its wait)."""

        def registered() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{self.log()}")
            return any(w.pid == self.pid for w in queue.workers())

        wait_until(registered, timeout, 0.02, f"worker {self.pid} to register")
        time.sleep(settle)

    def log(self) -> str:
        try:
            with open(self.log_path, errors="replace") as handle:
                return handle.read()[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None:
            code = self.ctx.registry.stop(self.proc)
            if code not in (0, None):
                log(f"worker {self.proc.pid} exited with {code}: {self.log()[-500:]}")
            if self.proc in self.ctx.registry.procs:
                self.ctx.registry.procs.remove(self.proc)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Worker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def open_queue(loc: Location) -> Iterator[Queue]:
    from queuectl.api import Queue

    queue = Queue(loc.db).open()  # opened here, outside what a figure times
    try:
        yield queue
    finally:
        queue.close()
