"""W7: task-spooler (``tsp``, C), measured live in this run, beside queuectl.

The peer closest to queuectl on one host: a server process with N slots that runs
commands in order. Measured as W2 and W3 measure queuectl, against the same limits:

- drain: 900 ``sh -c true`` jobs (its queue holds about 1,000), ``tsp -S 2``, queued
  behind a gate job while one slot is open; timed from the call that opens the second
  slot (the gate is released right after) to the end of the last job, paired with a
  2-process spawn rate measured just before each repetition;
- pickup: one ``sh -c 'echo … > FIFO'`` job at a time on an idle server, from just before
  the ``tsp`` call to the line's arrival (the StartProbe of W3), over the direct spawn
  latency measured in the same run;
- CLI: the median ``tsp`` call that queues a job.

Each repetition has a server of its own (``TS_SOCKET`` in a temporary folder), ended
with ``tsp -K``. Without ``tsp`` on the PATH the workload reports why it is missing; the
full run first tries Debian's package (``apt-get install task-spooler``) when root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from typing import Any

from bench.context import Context
from bench.core import Figure, log, median, percentile, temp_dir
from bench.limits import spawn_rate
from bench.procs import StartProbe

TSP = "tsp"
# task-spooler keeps the last 1,000 finished jobs unless told otherwise; a gate job and
# the jobs of a drain must all stay listed until the end is read.
_KEPT = "5000"
# Each job waiting in task-spooler's queue is a client process holding a connection to
# its server, and the server takes at most about 1,000 (a compile-time bound that
# TS_MAXCONN can only lower): the 995th queued job's call blocks. So its drain queues 900
# jobs where W2 queues 2,000; a rate in jobs/s compares as well.
DRAIN_JOBS = 900


def available(ctx: Context) -> str | None:
    """None when ``tsp`` can be run, else why not (after one try to install it)."""
    if shutil.which(TSP):
        return None
    if not ctx.quick and os.geteuid() == 0 and shutil.which("apt-get"):
        log("W7: installing task-spooler (apt-get)")
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "task-spooler"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
            timeout=600,
        )
    return None if shutil.which(TSP) else "tsp (Debian package task-spooler) is not installed"


class Spooler:
    """A task-spooler server of its own, in a short folder of /tmp: tsp copies its socket's
    and output files' paths into fixed buffers, and a long path crashes it."""

    def __init__(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="tsp-", dir="/tmp")
        self.env = dict(
            os.environ,
            TS_SOCKET=os.path.join(self.folder, "socket"),
            TS_MAXFINISHED=_KEPT,
            TMPDIR=self.folder,  # where it keeps each job's output
        )

    def call(self, *args: str) -> str:
        done = subprocess.run(
            [TSP, *args], env=self.env, capture_output=True, text=True, timeout=60, check=True
        )
        return done.stdout.strip()

    def close(self) -> None:
        subprocess.run([TSP, "-K"], env=self.env, capture_output=True, timeout=60, check=False)
        shutil.rmtree(self.folder, ignore_errors=True)


def drain_once(ctx: Context, jobs: int) -> dict[str, float]:
    """One repetition: its paired limit, jobs/s, and the median ``tsp`` call in ms."""
    with temp_dir(ctx.tmp, "tsp-") as folder:
        gate = os.path.join(folder, "gate")
        os.mkfifo(gate, 0o600)
        spooler = Spooler()
        try:
            spooler.call("-S", "1")
            spooler.call("sh", "-c", f"read line < '{gate}'")
            calls, last = [], ""
            for _ in range(jobs):
                start = time.perf_counter()
                last = spooler.call("sh", "-c", "true")
                calls.append(time.perf_counter() - start)
            limit = spawn_rate(ctx, 2, 0.4 if ctx.quick else 1.0)
            # the second slot opens, then the gate job's read returns (a FIFO: at once)
            start = time.perf_counter()
            spooler.call("-S", "2")
            fd = os.open(gate, os.O_WRONLY)
            os.write(fd, b"go\n")
            os.close(fd)
            spooler.call("-w", last)
            elapsed = time.perf_counter() - start
            listing = spooler.call("-l")
        finally:
            _release(gate)  # after a failure: the gate job must not wait forever
            spooler.close()
    finished = sum(1 for line in listing.splitlines() if " finished " in line)
    if finished != jobs + 1:
        raise RuntimeError(f"{finished - 1} of {jobs} jobs finished when the last one had")
    return {"limit": limit, "rate": jobs / elapsed, "cli_ms": median(calls) * 1000}


def _release(gate: str) -> None:
    """Let the gate job's ``read`` return, if it still waits (nothing if it does not)."""
    try:
        fd = os.open(gate, os.O_WRONLY | os.O_NONBLOCK)  # ENXIO: no reader is left
    except OSError:
        return
    try:
        os.write(fd, b"go\n")
    finally:
        os.close(fd)


def pickups(ctx: Context, samples: int) -> list[float]:
    """Milliseconds from just before each ``tsp`` call to its job's first line."""
    found = []
    with temp_dir(ctx.tmp, "tsp-pickup-") as folder:
        probe = StartProbe(folder)
        spooler = Spooler()
        try:
            spooler.call("-S", "2")
            for n in range(samples):
                time.sleep(0.02)  # from idle, as W3 does
                start = time.perf_counter()
                spooler.call("sh", "-c", f"echo {n} > '{probe.path}'")
                line, _, arrived = probe.wait(30)
                if line != str(n):
                    raise RuntimeError(f"job {n} wrote {line!r}")
                found.append((arrived - start) * 1000)
        finally:
            spooler.close()
            probe.close()
    return found


def run(ctx: Context) -> dict[str, Any]:
    missing = available(ctx)
    if missing is not None:
        return {"missing": missing}
    jobs = ctx.size(DRAIN_JOBS, 100)
    reps = [drain_once(ctx, jobs) for _ in range(ctx.reps)]
    for rep in reps:
        log(f"W7 task-spooler drain: {rep['rate']:.0f} jobs/s (limit {rep['limit']:.0f})")
    ctx.add(
        Figure(
            "w7.tsp.drain",
            "W7 task-spooler",
            "task-spooler",
            f"{jobs:,} jobs, `tsp -S 2` (C), live in this run",
            "jobs/s",
            [r["rate"] for r in reps],
            ctx.limit("spawn_2proc"),
            note="paired as W2: the peer queuectl's drain must lead",
            paired_limits=[r["limit"] for r in reps],
        )
    )
    samples = ctx.size(60, 10)
    p50s, p95s = [], []
    for _ in range(ctx.reps):
        found = pickups(ctx, samples)
        p50s.append(percentile(found, 50))
        p95s.append(percentile(found, 95))
    for key, values, limit in (
        ("pickup_p50", p50s, "spawn_latency_p50"),
        ("pickup_p95", p95s, "spawn_latency_p95"),
    ):
        ctx.add(
            Figure(
                f"w7.tsp.{key}",
                "W7 task-spooler",
                "task-spooler",
                f"pickup {key[-3:]}, from just before the `tsp` call",
                "ms",
                values,
                ctx.limit(limit),
            )
        )
    ctx.add(
        Figure(
            "w7.tsp.cli",
            "W7 task-spooler",
            "task-spooler",
            "`tsp sh -c true`, one call per job",
            "ms",
            [r["cli_ms"] for r in reps],
            ctx.limit("sh_c_true_ms"),
        )
    )
    return {"reps": reps, "pickup_p50_ms": p50s, "pickup_p95_ms": p95s}
