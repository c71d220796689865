"""W3: how soon an idle worker starts a job, and what an idle worker costs.

Pickup: an idle ``worker start --count 2`` runs; jobs are enqueued one at a time, each
after the previous one has finished and the worker is idle again. A job's command
writes its id to a FIFO with the shell's builtin ``echo`` (no extra process), so the
instant it started is the instant the line arrives; latency = that instant minus the
job's ``created_at``. Before each job, a direct spawn writes to the same FIFO: the
limit, measured in turns with the figure (paired ratios).
Scheduled: the same, with ``delay`` 0.3 s; latency = start minus the job's ``run_at``.
Idle CPU: utime+stime (and reaped children's) of the worker's whole process tree over
10 s, every repetition of both backends side by side, each on a queue of its own.
"""

from __future__ import annotations

import functools
import time
from contextlib import ExitStack
from typing import Any

from bench.context import Context, Worker, open_queue
from bench.core import Figure, Target, log, percentile, wait_until
from bench.limits import direct_spawn_ms
from bench.procs import CLK_TCK, StartProbe, cpu_ticks
from bench.stores import Store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from queuectl.api import Queue
    from queuectl.models import Job

TERMINAL = ("completed", "failed", "dead", "cancelled")
DELAY = 0.3
# issue 18's "must reach", as ratios to a direct spawn (its stretch: 1.5x and 1.3x)
PICKUP_TARGETS = {"sqlite": 1.8, "postgres": 2.2}
SCHEDULED_TARGET = 1.6


def run_store(ctx: Context, store: Store) -> dict[str, Any]:
    pickups = ctx.size(50, 8)
    scheduled = ctx.size(15, 3)
    reps: list[dict[str, Any]] = []
    for rep in range(ctx.reps):
        log(f"W3 pickup {store.label}, rep {rep + 1}/{ctx.reps}")
        with store.fresh() as loc, open_queue(loc) as queue, ctx.worker(loc, 2) as worker:
            probe = StartProbe(loc.home)
            try:
                worker.wait_ready(queue)
                created, after_return, direct = _pickups(ctx, queue, probe, pickups, worker, None)
                due, _, direct_due = _pickups(ctx, queue, probe, scheduled, worker, DELAY)
            finally:
                probe.close()
        found = {
            "from_created": created,
            "from_enqueue_return": after_return,
            "due": due,
            "direct": direct,
            "direct_due": direct_due,
        }
        if store.name == "sqlite":
            found["relaxed"], found["direct_relaxed"] = _relaxed_pickups(ctx, store, pickups)
        reps.append(found)

    def stat(kind: str, q: float) -> list[float]:
        return [percentile(r[kind], q) for r in reps]

    b = store.name
    p50, p95 = ctx.limit("spawn_latency_p50"), ctx.limit("spawn_latency_p95")
    ctx.add(
        Figure(
            f"w3.{b}.pickup_p50",
            "W3 latency",
            b,
            f"pickup by an idle worker, created_at → command running, p50 ({pickups} jobs)",
            "ms",
            stat("from_created", 50),
            p50,
            Target("<=", PICKUP_TARGETS[b]),
            note="paired: direct spawns in turns with the jobs",
            paired_limits=stat("direct", 50),
        )
    )
    ctx.add(
        Figure(
            f"w3.{b}.pickup_p95",
            "W3 latency",
            b,
            "pickup, p95",
            "ms",
            stat("from_created", 95),
            p95,
            paired_limits=stat("direct", 95),
        )
    )
    ctx.add(
        Figure(
            f"w3.{b}.scheduled_p50",
            "W3 latency",
            b,
            f"scheduled job (`delay` {DELAY:g} s), run_at → command running, p50 "
            f"({scheduled} jobs)",
            "ms",
            stat("due", 50),
            p50,
            Target("<=", SCHEDULED_TARGET),
            paired_limits=stat("direct_due", 50),
        )
    )
    ctx.add(
        Figure(
            f"w3.{b}.scheduled_p95",
            "W3 latency",
            b,
            "scheduled job, p95",
            "ms",
            stat("due", 95),
            p95,
            paired_limits=stat("direct_due", 95),
        )
    )
    if all("relaxed" in r for r in reps):
        ctx.add(
            Figure(
                f"w3.{b}.pickup_relaxed_p50",
                "W3 latency",
                b,
                "pickup p50 as above, with `config set durability normal` (an enqueue "
                "commits without waiting for its fsync)",
                "ms",
                stat("relaxed", 50),
                p50,
                note="what the enqueue's own fsync adds to the pickup above",
                paired_limits=stat("direct_relaxed", 50),
            )
        )
    return {
        "pickup_jobs": pickups,
        "scheduled_jobs": scheduled,
        "delay_s": DELAY,
        "probe": 'job command: echo "$QUEUECTL_JOB_ID" > FIFO (shell builtin)',
        "reps": [
            {
                "pickup_p50_ms": percentile(r["from_created"], 50),
                "pickup_p95_ms": percentile(r["from_created"], 95),
                "pickup_from_enqueue_return_p50_ms": percentile(r["from_enqueue_return"], 50),
                "pickup_from_enqueue_return_p95_ms": percentile(r["from_enqueue_return"], 95),
                "scheduled_p50_ms": percentile(r["due"], 50),
                "scheduled_p95_ms": percentile(r["due"], 95),
                "direct_spawn_p50_ms": percentile(r["direct"], 50),
                "direct_spawn_p95_ms": percentile(r["direct"], 95),
                "pickup_ms": r["from_created"],
                "scheduled_ms": r["due"],
                "direct_spawn_ms": r["direct"] + r["direct_due"],
            }
            for r in reps
        ],
    }


def _relaxed_pickups(ctx: Context, store: Store, n: int) -> tuple[list[float], list[float]]:
    """Pickups on a queue whose enqueues skip the fsync: the job is visible as soon as
    it is written, so the difference with the durable figure is the enqueue's fsync."""
    with store.fresh() as loc:
        with open_queue(loc) as setup:
            setup.config_set("durability", "normal")
        with open_queue(loc) as queue, ctx.worker(loc, 2) as worker:
            probe = StartProbe(loc.home)
            try:
                worker.wait_ready(queue)
                created, _, direct = _pickups(ctx, queue, probe, n, worker, None)
            finally:
                probe.close()
    return created, direct


def _pickups(
    ctx: Context, queue: Queue, probe: StartProbe, n: int, worker: Worker, delay: float | None
) -> tuple[list[float], list[float], list[float]]:
    """Latencies in ms: from the job's created_at (or run_at), from enqueue's return, and
    of a direct spawn just before each job."""
    from_db, from_return, direct = [], [], []
    for _ in range(n):
        direct.append(direct_spawn_ms(ctx, probe))
        time.sleep(0.02)
        job_id = queue.enqueue(probe.command(), delay=delay)
        returned = time.time()
        try:
            line, started, _ = probe.wait(10.0 + (delay or 0))
        except TimeoutError:
            raise TimeoutError(
                f"job did not start within 10 s; worker log:\n{worker.log()}"
            ) from None
        if line != job_id:
            raise RuntimeError(f"expected job {job_id} to start, got {line!r}")
        finished = functools.partial(_finished, queue, job_id)
        job = wait_until(finished, 10.0, 0.005, f"job {job_id} to end")
        mark = job.run_at if delay else job.created_at
        from_db.append((started - mark) * 1000)
        from_return.append((started - returned) * 1000)
        time.sleep(0.05)  # the worker records the result and goes idle again
    return from_db, from_return, direct


def _finished(queue: Queue, job_id: str) -> Job | None:
    job = queue.get(job_id)
    return job if job.state.value in TERMINAL else None


def idle_cpu(ctx: Context) -> dict[str, Any]:
    """% of one core used by idle ``worker start --count 2`` trees over the window."""
    window = 1.0 if ctx.quick else 10.0
    found: dict[str, Any] = {}
    with ExitStack() as stack:
        workers: list[tuple[Store, Worker]] = []
        for store in ctx.stores:
            for _ in range(ctx.reps):
                loc = stack.enter_context(store.fresh(separate=True))
                queue = stack.enter_context(open_queue(loc))
                worker = stack.enter_context(ctx.worker(loc, 2, "idle"))
                worker.wait_ready(queue, settle=0)
                workers.append((store, worker))
        time.sleep(1.0)
        log(f"W3 idle CPU: {len(workers)} idle workers side by side for {window:g} s")
        trees = [ctx.registry.note_tree(w.pid) for _, w in workers]
        before = [cpu_ticks(t) for t in trees]
        start = time.monotonic()
        time.sleep(window)
        wall = time.monotonic() - start
        after = [cpu_ticks(ctx.registry.note_tree(w.pid)) for _, w in workers]
        for (store, _), tree, t0, t1 in zip(workers, trees, before, after, strict=True):
            entry = found.setdefault(store.name, {"percent": [], "processes": []})
            entry["percent"].append((t1 - t0) / CLK_TCK / wall * 100)
            entry["processes"].append(len(tree))
    for store in ctx.stores:
        if store.name in found:
            ctx.add(
                Figure(
                    f"w3.{store.name}.idle_cpu",
                    "W3 latency",
                    store.name,
                    f"idle `worker start --count 2`, CPU over {window:g} s (whole process tree)",
                    "% of a core",
                    found[store.name]["percent"],
                    None,
                    Target("<=", 1.0, on="value"),
                    note=f"clock tick = {1000 / CLK_TCK:g} ms",
                )
            )
    return {"window_s": window, **found}
