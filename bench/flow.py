"""W6: flow control. Drains of a limited queue and of a chain of dependencies, timed
like W2 (spawn of ``worker start --count N --burst`` to its exit) and paired like W2
with a 2-process spawn rate measured just before each repetition.

- limited: jobs of ``true`` in a queue set to ``--concurrency 2`` (with ``queue set``),
  drained by 4 worker slots, so the queue's limit bounds the drain, not the slots; read
  next to W2's unlimited ``--count 2`` drain of the same run.
- chain: each job ``--after`` the one before it, drained by 2 slots; one job runs at a
  time, so its ratio measures the hand-over from a job's end to its dependent's start.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from typing import Any

from bench.context import Context, open_queue
from bench.core import Figure, fmt_number, log, median, queuectl_argv
from bench.drain import HEADLINE, Drain, drain_once
from bench.stores import Location, Store

LIMITED_QUEUE = "limited"
LIMITED_SLOTS = 4
CHAIN_SLOTS = 2


def fill_limited(ctx: Context, loc: Location, jobs: int) -> None:
    """``jobs`` jobs of ``true`` in a queue the CLI limits to 2 running at once."""
    argv = [*queuectl_argv(), "queue", "set", LIMITED_QUEUE, "--concurrency", "2"]
    done = subprocess.run(argv, env=ctx.env(loc), capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"queue set exited with {done.returncode}: {done.stderr.strip()}")
    with open_queue(loc) as queue:
        queue.enqueue_many({"command": "true", "queue": LIMITED_QUEUE} for _ in range(jobs))


def fill_chain(ctx: Context, loc: Location, jobs: int) -> None:
    """A chain of ``jobs`` jobs of ``true``, each after the one before it."""
    with open_queue(loc) as queue:
        previous: str | None = None
        for _ in range(jobs):
            after = [previous] if previous else None
            previous = queue.enqueue("true", after=after)


def run_store(ctx: Context, store: Store, drains: Drain) -> dict[str, Any]:
    jobs = ctx.size(400, 40)
    limited = _reps(ctx, store, LIMITED_SLOTS, jobs, fill_limited)
    chain = _reps(ctx, store, CHAIN_SLOTS, jobs, fill_chain)
    limit = ctx.limit("spawn_2proc")
    unlimited = drains.runs.get(store.name, {}).get(HEADLINE, [])
    beside = "W2's unlimited `--count 2` drain was not measured in this run"
    if unlimited:
        beside = (
            f"beside W2's unlimited `--count 2` drain of this run: "
            f"{fmt_number(median([r['rate'] for r in unlimited]))} jobs/s "
            f"({fmt_number(median([r['rate'] / r['limit'] for r in unlimited]))}×)"
        )
    ctx.add(
        Figure(
            f"w6.{store.name}.limited",
            "W6 flow",
            store.name,
            f"{jobs:,} jobs in a queue with `queue set {LIMITED_QUEUE} --concurrency 2`, "
            f"`worker start --count {LIMITED_SLOTS} --burst`",
            "jobs/s",
            [r["rate"] for r in limited],
            limit,
            note=f"ratio paired as W2's; the queue's limit, not the slots, bounds it; {beside}",
            paired_limits=[r["limit"] for r in limited],
        )
    )
    ctx.add(
        Figure(
            f"w6.{store.name}.chain",
            "W6 flow",
            store.name,
            f"a chain of {jobs:,} jobs, each `--after` the one before, "
            f"`worker start --count {CHAIN_SLOTS} --burst`",
            "jobs/s",
            [r["rate"] for r in chain],
            limit,
            note="ratio paired as W2's; one job runs at a time, so a chain reaches at most "
            "the 1-process spawn rate (about half the limit): the rest is the hand-over from "
            "a job's end to its dependent's claim and spawn",
            paired_limits=[r["limit"] for r in chain],
        )
    )
    return {"jobs": jobs, "limited": limited, "chain": chain}


def _reps(
    ctx: Context,
    store: Store,
    count: int,
    jobs: int,
    fill: Callable[[Context, Location, int], None],
) -> list[dict[str, float]]:
    runs = []
    for _ in range(ctx.reps):
        result = drain_once(ctx, store, count, jobs, fill=fill)
        log(
            f"W6 {store.label} {fill.__name__.removeprefix('fill_')} --count {count}: "
            f"{result['rate']:.0f} jobs/s "
            f"(limit {result['limit']:.0f})"
        )
        runs.append(result)
    return runs
