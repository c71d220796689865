"""W2: drain a queue of ``true`` jobs with ``queuectl worker start --count N --burst``,
timed from the spawn of the worker to its exit.

Each repetition is paired with a 2-process spawn rate measured just before it (the
machine's load drifts, and other work may share it): its ratio is drain / that limit.
The headline is 2 workers; 1, 4 and 8 are chart points, measured with what is left of
the time budget.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from bench.context import Context, open_queue
from bench.core import Figure, Target, log, median, queuectl_argv
from bench.limits import spawn_rate
from bench.procs import run_timed
from bench.stores import Location, Store

COUNTS = (1, 2, 4, 8)
HEADLINE = 2
# issue 18's "must reach" (its stretch: 0.9x and 0.6x); task-spooler drains about 0.59x
TARGETS = {"sqlite": 0.65, "postgres": 0.45}


def fill_plain(ctx: Context, loc: Location, jobs: int) -> None:
    """``jobs`` jobs of ``true`` in the default queue, no limits."""
    with open_queue(loc) as queue:
        queue.enqueue_many({"command": "true"} for _ in range(jobs))


def drain_once(
    ctx: Context,
    store: Store,
    count: int,
    jobs: int,
    paired: bool = True,
    fill: Callable[[Context, Location, int], None] = fill_plain,
) -> dict[str, float]:
    """One repetition: its paired limit, jobs/s and seconds. ``fill`` puts the ``jobs``
    jobs in the fresh queue (untimed)."""
    with store.fresh() as loc:
        fill(ctx, loc, jobs)
        limit = spawn_rate(ctx, 2, 0.4 if ctx.quick else 1.0) if paired else 0.0
        argv = [*queuectl_argv(), "worker", "start", "--count", str(count), "--burst"]
        with open(os.path.join(loc.home, "worker.log"), "wb") as log_file:
            elapsed, code = run_timed(
                ctx.registry, argv, ctx.env(loc), timeout=600, stderr=log_file
            )
        if code != 0:
            raise RuntimeError(f"worker --burst exited with {code}")
        with open_queue(loc) as queue:
            done = queue.counts().get("completed", 0)
        if done != jobs:
            raise RuntimeError(f"{done} of {jobs} jobs completed after the burst worker exited")
    return {"limit": limit, "rate": jobs / elapsed, "seconds": elapsed}


class Drain:
    """Repetitions per (backend, count), kept across the two phases of the run."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.jobs = ctx.size(2000, 100)
        self.runs: dict[str, dict[int, list[dict[str, float]]]] = {}
        self.errors: dict[str, str] = {}

    def measure(self, store: Store, count: int) -> None:
        try:
            result = drain_once(self.ctx, store, count, self.jobs)
        except Exception as exc:
            self.errors[f"{store.name}/{count}"] = f"{type(exc).__name__}: {exc}"
            log(f"W2 {store.label} --count {count}: {exc}")
            return
        self.runs.setdefault(store.name, {}).setdefault(count, []).append(result)
        log(
            f"W2 {store.label} --count {count}: {result['rate']:.0f} jobs/s "
            f"(limit {result['limit']:.0f})"
        )

    def headline(self) -> None:
        """The figure of the table: 2 workers, every repetition (after an untimed drain of
        a few jobs that fills the bytecode cache of the worker's modules)."""
        for store in self.ctx.stores:
            try:
                drain_once(self.ctx, store, HEADLINE, 20, paired=False)
            except Exception as exc:
                log(f"W2 {store.label} warm-up: {exc}")
            for _ in range(self.ctx.reps):
                self.measure(store, HEADLINE)

    def chart_points(self) -> None:
        """1, 4 and 8 workers: one repetition each first, then more while time allows."""
        counts = [c for c in COUNTS if c != HEADLINE]
        if self.ctx.quick:
            counts = [1]
        for wanted in range(1, self.ctx.reps + 1):
            for store in self.ctx.stores:
                for count in counts:
                    done = len(self.runs.get(store.name, {}).get(count, []))
                    if done >= wanted:
                        continue
                    cost = self._estimate(store.name, count)
                    if self.ctx.budget.left() < cost + 5:
                        log(f"W2 chart: no time left for {store.label} --count {count}")
                        return
                    self.measure(store, count)

    def _estimate(self, backend: str, count: int) -> float:
        """Seconds one more repetition should take, from what was measured so far."""
        seen = [r["seconds"] for runs in self.runs.get(backend, {}).values() for r in runs]
        base = max(seen) if seen else 30.0
        return base * (2.0 if count == 1 else 1.2) + 3.0

    def report(self) -> dict[str, Any]:
        for store in self.ctx.stores:
            runs = self.runs.get(store.name, {}).get(HEADLINE, [])
            if not runs:
                continue
            self.ctx.add(
                Figure(
                    f"w2.{store.name}.count{HEADLINE}",
                    "W2 drain",
                    store.name,
                    f"{self.jobs:,} jobs, `worker start --count {HEADLINE} --burst`",
                    "jobs/s",
                    [r["rate"] for r in runs],
                    self.ctx.limit("spawn_2proc"),
                    Target(">=", TARGETS[store.name]),
                    note="ratio paired with a 2-process spawn rate measured just before each rep",
                    paired_limits=[r["limit"] for r in runs],
                )
            )
        chart: dict[str, Any] = {}
        for backend, by_count in self.runs.items():
            chart[backend] = {
                str(count): {
                    "reps": len(runs),
                    "rate": median([r["rate"] for r in runs]),
                    "min": min(r["rate"] for r in runs),
                    "max": max(r["rate"] for r in runs),
                    "ratio": median([r["rate"] / r["limit"] for r in runs]),
                    "seconds": [r["seconds"] for r in runs],
                    "paired_limits": [r["limit"] for r in runs],
                }
                for count, runs in sorted(by_count.items())
            }
        return {"jobs": self.jobs, "by_count": chart, "errors": self.errors}
