"""W8: output from any host (PostgreSQL; SQLite's readers read the log files).

- follow delay: a job prints a line with the instant it printed it (every 50 ms), on a
  worker of this machine; ``logs --follow`` as another host (``QUEUECTL_HOSTNAME``, its
  own ``QUEUECTL_HOME``: no log file of the job there) reads it from the queue's chunks.
  The figure is the median delay from the print to the follower's stdout, in ms
  (the issue's target: under 200 ms). The two-host test (tests/pg/test_netns.py) checks
  the same in network namespaces.
- claims beside a loud job: the claim + finish rate of this process (W5's
  ``claim_finish_rate``, 2 s) while a worker runs a job printing 100 MB (1 MB every
  40 ms), paired with the same rate beside the same job run by a worker of a SQLite
  queue in the same home (its output goes to its log file as well, but is not copied):
  the ratio is what the copy into the queue costs the queue's claims (target: at least
  0.9), not what the job's own writing costs. The two alternate in each repetition.
  Its note gives the most of the job's output the queue held at once, beside the bound.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from typing import TYPE_CHECKING, Any

from bench.context import Context, open_queue
from bench.core import (
    Figure,
    Limit,
    Target,
    log,
    median,
    percentile,
    queuectl_argv,
    wait_until,
)
from bench.scale import claim_finish_rate
from bench.stores import Location, Store

if TYPE_CHECKING:
    from queuectl.api import Queue

LINES = 40
STAMP = (
    "import time\nfor i in range({n}):\n"
    "    print(repr(time.time()), flush=True)\n    time.sleep(0.05)\n"
)
LOUD = (
    "import sys, time\nline = b'x' * 99 + b'\\n'\nblock = line * 10000\n"
    "for i in range(100):\n    sys.stdout.buffer.write(block)\n    sys.stdout.flush()\n"
    "    time.sleep(0.04)\n"
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
    control = tuple(r["claims_control"] for r in loud)
    ctx.add(
        Figure(
            f"w8.{store.name}.claims_loud",
            "W8 output",
            store.name,
            "claim + finish while a worker's job prints 100 MB, copied into the queue; "
            "paired with the same beside the same job run by a SQLite worker (no copy)",
            "jobs/s",
            [r["claims_copied"] for r in loud],
            Limit("w8_claims_control", "claim + finish beside the uncopied job", "jobs/s", control),
            target=Target(">=", 0.9),
            note=f"the queue held at most {max(r['held_copied'] for r in loud):,.0f} bytes of "
            f"the job's output at once (bound: live-output-bytes, {1 << 20:,})",
            paired_limits=list(control),
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
    """Repetitions of: claims beside the loud job run by a SQLite worker (its output
    written to its log file, no copy: the control) and by a PostgreSQL worker (copied
    into the queue), in alternating order."""
    runs = []
    with store.fresh() as loc, open_queue(loc) as queue:
        queue.enqueue_many({"command": "true"} for _ in range(ctx.size(CLAIM_JOBS, 20_000)))
        control = os.path.join(loc.home, "control.db")
        for rep in range(ctx.reps):
            found: dict[str, float] = {}
            for copied in (False, True) if rep % 2 == 0 else (True, False):
                beside = _claims_beside(ctx, loc, queue, loc.db if copied else control)
                found.update(
                    {f"{k}_{'copied' if copied else 'control'}": v for k, v in beside.items()}
                )
            log(
                f"W8 claims: {found['claims_control']:.0f}/s beside the job on SQLite, "
                f"{found['claims_copied']:.0f}/s beside it copied into the queue "
                f"(held at most {found['held_copied']:,.0f} B)"
            )
            runs.append(found)
    return runs


def _claims_beside(ctx: Context, loc: Location, queue: Queue, db: str) -> dict[str, float]:
    """Claim + finish on ``queue`` while a worker of the queue at ``db`` runs the loud job;
    and the most of its output the PostgreSQL queue held meanwhile."""
    from queuectl.api import Queue

    with Queue(db) as loud_queue:
        job = loud_queue.enqueue(["python3", "-c", LOUD], queue=LOUD_QUEUE)
    argv = [*queuectl_argv(), "--db", db, "worker", "start", "--burst", "--queue", LOUD_QUEUE]
    worker = ctx.registry.popen(argv, env=ctx.env(loc), stderr=subprocess.DEVNULL)
    logs = os.path.join(loc.home, "logs")  # both queues' (SQLite: beside control.db)
    held = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.05):
            held[0] = max(held[0], _held(loc, job))

    sampler = threading.Thread(target=sample, daemon=True)
    try:
        wait_until(lambda: _printing(logs), 30, 0.005, "the loud job's output")
        sampler.start()
        claims = claim_finish_rate(queue, CLAIM_JOBS, CLAIM_SECONDS)
        stop.set()
        if worker.poll() is not None:
            raise RuntimeError("the loud job ended before the claims were measured")
        worker.wait(120)
    finally:
        stop.set()
        ctx.registry.stop(worker)
    return {"claims": claims, "held": float(held[0])}


def _printing(folder: str) -> bool:
    """Some worker slot's live file in the logs ``folder`` holds output."""
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return False
    return any(
        name.startswith(".live-") and os.path.getsize(os.path.join(folder, name)) > 0
        for name in names
    )


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
