"""W8: output from any host (PostgreSQL; SQLite's readers read the log files).

- follow delay: a job prints a line with the instant it printed it (every 50 ms), on a
  worker of this machine; ``logs --follow`` as another host (``QUEUECTL_HOSTNAME``, its
  own ``QUEUECTL_HOME``: no log file of the job there) reads it from the queue's chunks.
  The figure is the median delay from the print to the follower's stdout, in ms
  (the issue's target: under 200 ms). The two-host test (tests/pg/test_netns.py) checks
  the same in network namespaces.
- claims beside a loud job: the claim + finish rate of this process (W5's
  ``claim_finish_rate``) while another worker runs a job printing 100 MB (1 MB every
  0.1 s, so the job's own CPU is small), paired with the same rate measured just before
  with that worker idle: the ratio is what the output's copy into the queue costs the
  queue's claims (target: at least 0.9). Its note gives the most of the job's output the
  queue held at once, beside the bound.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from typing import Any

from bench.context import Context, open_queue
from bench.core import Figure, Target, log, median, percentile, queuectl_argv, wait_until
from bench.scale import claim_finish_rate
from bench.stores import Location, Store

LINES = 40
STAMP = (
    "import time\nfor i in range({n}):\n"
    "    print(repr(time.time()), flush=True)\n    time.sleep(0.05)\n"
)
LOUD = (
    "import sys, time\nline = b'x' * 99 + b'\\n'\nblock = line * 10000\n"
    "for i in range(100):\n    sys.stdout.buffer.write(block)\n    sys.stdout.flush()\n"
    "    time.sleep(0.1)\n"
)
LOUD_QUEUE = "loud"
CLAIM_JOBS = 200_000
CLAIM_SECONDS = 2.0


def run_store(ctx: Context, store: Store) -> dict[str, Any]:
    if store.name != "postgres":
        return {"skipped": "SQLite stores no output in the queue: its readers read the files"}
    delays = [_follow_delay(ctx, store) for _ in range(ctx.reps)]
    p50s = [median(d) for d in delays]
    ctx.add(
        Figure(
            f"w8.{store.name}.follow_delay",
            "W8 output",
            store.name,
            f"`logs --follow` on another host: a job's line ({LINES} lines, one every 50 ms) "
            "from its print to the follower's stdout, p50",
            "ms",
            p50s,
            None,
            target=Target("<=", 200.0, on="value"),
            note="p95 of each repetition: "
            + ", ".join(f"{percentile(d, 95):.0f}" for d in delays)
            + " ms",
        )
    )
    loud = _claims_beside_loud_job(ctx, store)
    ctx.add(
        Figure(
            f"w8.{store.name}.claims_loud",
            "W8 output",
            store.name,
            "claim + finish while another worker's job prints 100 MB, "
            "paired with the same just before (that worker idle)",
            "jobs/s",
            [r["loud"] for r in loud],
            None,
            target=Target(">=", 0.9),
            note=f"the queue held at most {max(r['held'] for r in loud):,} bytes of the job's "
            f"output (bound: live-output-bytes, {loud[0]['bound']:,})",
            paired_limits=[r["quiet"] for r in loud],
        )
    )
    return {"follow_delays_ms": delays, "claims_loud": loud}


def _follow_delay(ctx: Context, store: Store) -> list[float]:
    with store.fresh() as loc, open_queue(loc) as queue:
        job = queue.enqueue(["python3", "-c", STAMP.format(n=LINES)])
        elsewhere = os.path.join(loc.home, "elsewhere")
        os.makedirs(elsewhere, exist_ok=True)
        env = {**ctx.env(loc), "QUEUECTL_HOSTNAME": "elsewhere", "QUEUECTL_HOME": elsewhere}
        follow = ctx.registry.popen(
            [*queuectl_argv(), "--db", loc.db, "logs", "--follow", job],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        arrived: list[tuple[float, bytes]] = []

        def read() -> None:
            assert follow.stdout is not None
            for line in iter(follow.stdout.readline, b""):
                arrived.append((time.time(), line))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        with ctx.worker(loc, 1):
            wait_until(lambda: len(arrived) >= LINES, 60, 0.05, "the followed lines")
        follow.wait(30)
        reader.join(5)
        delays = [1000 * (at - float(line)) for at, line in arrived]
        log(f"W8 follow delay: p50 {median(delays):.0f} ms, max {max(delays):.0f} ms")
        return delays


def _claims_beside_loud_job(ctx: Context, store: Store) -> list[dict[str, float]]:
    return [_claims_once(ctx, store) for _ in range(ctx.reps)]


def _claims_once(ctx: Context, store: Store) -> dict[str, float]:
    with store.fresh() as loc, open_queue(loc) as queue:
        queue.enqueue_many({"command": "true"} for _ in range(ctx.size(CLAIM_JOBS, 20_000)))
        argv = [*queuectl_argv(), "worker", "start", "--queue", LOUD_QUEUE]
        worker = ctx.registry.popen(argv, env=ctx.env(loc), stderr=subprocess.DEVNULL)
        try:
            wait_until(lambda: queue.workers(), 30, 0.05, "the loud queue's worker")
            quiet = claim_finish_rate(queue, CLAIM_JOBS, CLAIM_SECONDS)
            job = queue.enqueue(["python3", "-c", LOUD], queue=LOUD_QUEUE)
            wait_until(lambda: _held(loc, job) > 0, 30, 0.01, "the loud job's output")
            held = [0]
            sampling = threading.Event()

            def sample() -> None:
                while not sampling.wait(0.05):
                    held[0] = max(held[0], _held(loc, job))

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            loud = claim_finish_rate(queue, CLAIM_JOBS, CLAIM_SECONDS)
            sampling.set()
            sampler.join(5)
            printing = queue.get(job).state.value == "processing"
            bound = queue.settings.output_bound
        finally:
            ctx.registry.stop(worker)
    if not printing:
        raise RuntimeError("the loud job ended before the claims were measured")
    log(f"W8 claims: {quiet:.0f}/s quiet, {loud:.0f}/s beside the loud job ({held[0]:,} B)")
    return {"quiet": quiet, "loud": loud, "held": float(held[0]), "bound": float(bound)}


def _held(loc: Location, job_id: str) -> int:
    """Bytes of ``job_id``'s output in the queue now (its chunks), read with SQL."""
    import psycopg

    from queuectl.location import locate

    where = locate(loc.db)
    schema = where.schema or "queuectl"
    with psycopg.connect(where.target, autocommit=True) as conn:
        row = conn.execute(
            f'SELECT coalesce(sum(length(data)), 0) FROM "{schema}".output_chunks'
            " WHERE job_id = %s",
            (job_id,),
        ).fetchone()
    return int(row[0]) if row else 0
