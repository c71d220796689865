"""W5, the history figure: does a ``/metrics`` scrape slow down as the queue's history
grows? With 1,000 and with 1,000,000 finished attempts in it (quick: 20,000).

A queue that has run for months under retention: the last 1,000 jobs are stored, their
attempts recent (not rolled up yet); the older ones were rolled up by
``Backend.roll_up`` (what live workers do) and then deleted (what retention does). The
history is made by direct SQL: copies of one finished job and its attempt, made by the
database in one INSERT … SELECT each; the old jobs and attempts are deleted by direct SQL
too, after the roll-up (a purge would roll up nothing more: their attempts are rolled up
already; it is only slower, 200 jobs per transaction), and on PostgreSQL the tables are
vacuumed, as autovacuum does after a purge. The scrape is what the dashboard's
``/metrics`` page renders (``web.metrics.render``), in-process.

The figure's limit is the same scrape with 1,000 attempts, measured in the same run.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from bench.context import Context, open_queue
from bench.core import Figure, Limit, Target, log, median
from bench.stores import Location, PostgresStore, Store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from queuectl.api import Queue

RECENT = 1_000  # jobs still stored, their attempts not rolled up yet
ROLL_UP_CALL = 100_000  # attempts per roll_up call while filling (a worker's are smaller)
SCRAPES = 10  # per repetition; their median is the repetition's value

# Job n of a history of :size: queue "io" for every fourth, else "default"; every tenth
# failed; durations of 50 ms to 2 s in 40 steps (jobs of a queue take similar times);
# the old ones ended a quarter of a second apart until a day ago, the recent ones a
# tenth of a second apart until a second ago.
_ENDED = (
    "CASE WHEN i < :size - :recent THEN :now - 86400 - (:size - :recent - i) * 0.25 "
    "ELSE :now - 1 - (:size - i) * 0.1 END"
)
_TOOK = "(0.05 + (i % 40) * 0.05)"
_JOB = (
    "jobs (id, command, state, attempts, max_retries, priority, queue, run_at, created_at,"
    " updated_at, started_at, finished_at, exit_code, worker, runs)",
    "CASE WHEN i < :size - :recent THEN 'old-' ELSE 'new-' END || i, '\"true\"', "
    "CASE WHEN i % 10 = 0 THEN 'dead' ELSE 'completed' END, 1, 0, 0, "
    "CASE WHEN i % 4 = 0 THEN 'io' ELSE 'default' END, {ended} - {took} - 1, "
    "{ended} - {took} - 1, {ended}, {ended} - {took}, {ended}, "
    "CASE WHEN i % 10 = 0 THEN 1 ELSE 0 END, 'bench-host:1:1', 1",
)
# Each attempt measured as a worker measures one since issue 16 (CPU a fifth of its time,
# 2 to 11 MB): the statistics the planner keeps of a real history.
_ATTEMPT = (
    "attempts (job_id, run, worker, started_at, finished_at, outcome, exit_code,"
    " cpu_user_s, cpu_sys_s, max_rss_kb)",
    "CASE WHEN i < :size - :recent THEN 'old-' ELSE 'new-' END || i, 1, 'bench-host:1:1', "
    "{ended} - {took}, {ended}, CASE WHEN i % 10 = 0 THEN 'failed' ELSE 'succeeded' END, "
    "CASE WHEN i % 10 = 0 THEN 1 ELSE 0 END, {took} * 0.15, {took} * 0.05, 2048 + (i % 10) * 1024",
)
_FORGET = (  # what retention deletes, once rolled up
    "DELETE FROM {schema}attempts WHERE job_id LIKE 'old-%'",
    "DELETE FROM {schema}jobs WHERE id LIKE 'old-%'",
)


def fill(store: Store, loc: Location, queue: Queue, size: int) -> None:
    """``size`` finished attempts: all but the last RECENT rolled up and deleted."""
    from queuectl.stats import ROLL_UP_AFTER

    params = {"size": size, "recent": min(RECENT, size), "now": queue.now()}
    inserts = [
        (table, columns.format(ended=_ENDED, took=_TOOK)) for table, columns in (_JOB, _ATTEMPT)
    ]
    if isinstance(store, PostgresStore):
        with store.connect(loc.db) as conn, conn.transaction():
            for table, columns in inserts:
                sql = (
                    f"INSERT INTO queuectl.{table} SELECT {columns} "
                    "FROM generate_series(0, :size - 1) AS n(i)"
                ).replace("%", "%%")
                for name in params:
                    sql = sql.replace(f":{name}", f"%({name})s")
                conn.execute(sql, params)
    else:
        conn = sqlite3.connect(loc.db, isolation_level=None, timeout=30)
        try:
            conn.execute("BEGIN IMMEDIATE")
            for table, columns in inserts:
                conn.execute(
                    "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n "
                    f"WHERE i < :size - 1) INSERT INTO {table} SELECT {columns} FROM n",
                    params,
                )
            conn.execute("COMMIT")
        finally:
            conn.close()
    before = queue.now() - ROLL_UP_AFTER
    while queue.backend.roll_up(before, ROLL_UP_CALL) >= ROLL_UP_CALL:
        pass
    if isinstance(store, PostgresStore):
        with store.connect(loc.db) as conn, conn.transaction():
            for sql in _FORGET:
                conn.execute(sql.format(schema="queuectl.").replace("%", "%%"))
        with store.connect(loc.db) as conn:  # what autovacuum does after a purge
            conn.execute("VACUUM ANALYZE queuectl.jobs")
            conn.execute("VACUUM ANALYZE queuectl.attempts")
    else:
        conn = sqlite3.connect(loc.db, isolation_level=None, timeout=30)
        try:
            conn.execute("BEGIN IMMEDIATE")
            for sql in _FORGET:
                conn.execute(sql.format(schema=""))
            conn.execute("COMMIT")
        finally:
            conn.close()


def scrape_ms(queue: Queue) -> float:
    """The median of SCRAPES renders of /metrics, in milliseconds."""
    from queuectl.web.metrics import render

    times = []
    for _ in range(SCRAPES):
        start = time.perf_counter()
        render(queue)
        times.append((time.perf_counter() - start) * 1000)
    return median(times)


def run_store(ctx: Context, store: Store) -> dict[str, Any]:
    b = store.name
    sizes = (1_000, ctx.size(1_000_000, 20_000))
    found: dict[str, Any] = {}
    for size in sizes:
        key = "1k" if size == 1_000 else "big"
        label = f"{size:,} finished attempts in the history"
        with store.fresh() as loc, open_queue(loc) as queue:
            log(f"W5 {store.label}: a history of {label}")
            start = time.perf_counter()
            fill(store, loc, queue, size)
            filled = time.perf_counter() - start
            counted = queue.outcome_counts().values()
            total = sum(n for outcomes in counted for n in outcomes.values())
            if total != size:
                raise RuntimeError(f"/metrics counts {total} attempts of {size}")
            scrape_ms(queue)  # warm: the first read of each table
            reps = [scrape_ms(queue) for _ in range(ctx.reps)]
        found[key] = {"size": size, "fill_s": filled, "scrape_ms": reps}
        ctx.add(
            Figure(
                f"w5.{b}.{key}.metrics",
                "W5 scale",
                b,
                f"`/metrics` scrape (in-process render), {label}"
                + (f" ({size - RECENT:,} rolled up and purged)" if size > RECENT else ""),
                "ms",
                reps,
                None,
                note=f"median of {SCRAPES} scrapes per rep; the last {RECENT:,} jobs stored",
            )
        )
    if "1k" in found and "big" in found:
        size = found["big"]["size"]
        small = found["1k"]["scrape_ms"]
        ctx.add(
            Figure(
                f"w5.{b}.metrics_growth",
                "W5 scale",
                b,
                f"`/metrics` scrape time with {size:,} finished attempts in the history, "
                "over the same with 1,000",
                "ms",
                found["big"]["scrape_ms"],
                Limit(f"w5_{b}_metrics_1k", "the same with 1,000 attempts", "ms", tuple(small)),
                Target("<=", 2.0),
            )
        )
    return found
