"""W5: does the queue slow down as its table grows? With 1,000 and with 1,000,000 jobs
in the table: the claim-and-finish rate (the queue's part of running a job, no process
spawned) and the time of ``status`` and ``list --state pending --limit 50``. And as its
history grows: ``/metrics`` with 1,000 and 1,000,000 finished attempts (bench.history).

The big table is filled through the API batch (``enqueue_many`` in chunks of 50,000,
one transaction each), and its rate reported. Only if that would not fit in the time
budget (judged from W1's batch rate) is it filled by direct SQL instead: copies of one
API-enqueued job, made by the database in one INSERT … SELECT. The figure says which.

Limits are paired: the engine's commit rate measured right before each repetition,
and a fresh interpreter's one-row insert run in turns with the CLI calls.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from bench import history, pages
from bench.context import Context, open_queue
from bench.core import Figure, Limit, Target, log, median, queuectl_argv, temp_dir
from bench.limits import alternate_ms, commit_rate, insert_program
from bench.stores import Location, PostgresStore, SQLiteStore, Store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from queuectl.api import Queue

CHUNK = 50_000
WORKER = "bench-host:1:1"
LEASE = 30.0
TEMPLATE = "bench-template"


def fill_api(queue: Queue, size: int) -> float:
    """Insert ``size`` pending ``true`` jobs through the API; returns jobs/s."""
    start = time.perf_counter()
    for first in range(0, size, CHUNK):
        queue.enqueue_many({"command": "true"} for _ in range(min(CHUNK, size - first)))
    return size / (time.perf_counter() - start)


def fill_sql(store: Store, loc: Location, queue: Queue, size: int) -> float:
    """Insert ``size`` copies of one API-enqueued job by direct SQL (ids ``big-N``); jobs/s.
    Columns are read from the live schema, so a new column is copied too. The counts per
    queue and state count them too (a trigger on PostgreSQL; by hand on SQLite)."""
    queue.enqueue("true", id=TEMPLATE)
    start = time.perf_counter()
    if isinstance(store, PostgresStore):
        with store.connect(loc.db) as conn:
            cols = [
                r[0]
                for r in conn.execute(
                    "SELECT column_name FROM information_schema.columns WHERE "
                    "table_schema = 'queuectl' AND table_name = 'jobs' AND column_name <> 'seq' "
                    "ORDER BY ordinal_position"
                )
            ]
            picks = ", ".join("'big-' || g" if c == "id" else f"t.{c}" for c in cols)
            conn.execute(
                f"INSERT INTO queuectl.jobs ({', '.join(cols)}) SELECT {picks} "
                "FROM queuectl.jobs AS t, generate_series(1, %s) AS g WHERE t.id = %s",
                (size - 1, TEMPLATE),
            )
    else:
        conn = sqlite3.connect(loc.db, isolation_level=None, timeout=30)
        try:
            cols = [r[1] for r in conn.execute("PRAGMA table_info(jobs)") if r[1] != "seq"]
            picks = ", ".join("'big-' || n.i" if c == "id" else f"t.{c}" for c in cols)
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
                f"INSERT INTO jobs ({', '.join(cols)}) SELECT {picks} "
                "FROM n, jobs AS t WHERE t.id = ?",
                (size - 1, TEMPLATE),
            )
            # SQLite's counts per queue and state see no insert (migration 0017): the
            # backend adds an API batch's jobs; these are added here, in the same commit
            conn.execute(
                "UPDATE queue_counts SET n = n + ? WHERE queue = ? AND state = 'pending'",
                (size - 1, queue.get(TEMPLATE).queue),
            )
            conn.execute("COMMIT")
        finally:
            conn.close()
    return size / (time.perf_counter() - start)


def claim_finish_rate(queue: Queue, jobs: int, seconds: float) -> float:
    """Claim a job, decide its success, finish it (two write transactions a job: a turn
    that only claims, then one that only writes the result), for ``jobs`` jobs or
    ``seconds``, whichever comes first."""
    from queuectl.lifecycle import Finished, Policy, Succeeded, decide

    backend, policy = queue.backend, Policy()
    done, start = 0, time.perf_counter()
    while done < jobs and (done < 3 or time.perf_counter() - start < seconds):
        claimed = backend.exchange([], [WORKER], None, LEASE).claimed
        if not claimed:
            raise RuntimeError("the queue ran out of pending jobs")
        job = claimed[0]
        step = decide(job, Succeeded(), policy, backend.now())
        ended = Finished(job, WORKER, step, Succeeded.name)
        if not backend.exchange([ended], [], None, LEASE).held[0]:
            raise RuntimeError(f"finish of {job.id} was refused")
        done += 1
    return done / (time.perf_counter() - start)


def exchange_rate(queue: Queue, jobs: int, seconds: float) -> float | None:
    """The same through ``Backend.exchange`` (finish the last job and claim the next in
    one transaction), where the backend has it; None where it does not."""
    from queuectl import lifecycle

    exchange = getattr(queue.backend, "exchange", None)
    finished_type = getattr(lifecycle, "Finished", None)
    if exchange is None or finished_type is None:
        return None
    backend, policy = queue.backend, lifecycle.Policy()
    finished: list[Any] = []
    done, start = 0, time.perf_counter()
    while True:
        more = done < jobs and (done < 3 or time.perf_counter() - start < seconds)
        _, claimed = exchange(finished, [WORKER] if more else [], None, LEASE)
        if not more:
            break
        if not claimed:
            raise RuntimeError("the queue ran out of pending jobs")
        finished = [
            finished_type(
                job,
                WORKER,
                lifecycle.decide(job, lifecycle.Succeeded(), policy, backend.now()),
                lifecycle.Succeeded.name,
            )
            for job in claimed
        ]
        done += len(claimed)
    return done / (time.perf_counter() - start)


@contextmanager
def sqlite_beside(ctx: Context, size: int) -> Iterator[dict[str, str]]:
    """The environment of a SQLite queue holding ``size`` pending jobs, for a PostgreSQL
    command timed in turns with the same command on SQLite (same run, same load)."""
    with SQLiteStore(ctx.tmp).fresh() as loc, open_queue(loc) as queue:
        fill_api(queue, size)
        yield ctx.env(loc)


def _api_fill_fits(ctx: Context, backend: str, size: int) -> bool:
    """Would an API fill of ``size`` jobs fit in its share of the time left? Estimated from
    W1's 10,000-job batch rate, doubled: the rate falls as the table and its indexes grow."""
    batch = next((f for f in ctx.figures if f.id == f"w1.{backend}.api_batch"), None)
    rate = median(batch.reps) if batch and batch.reps else 20_000.0
    return 2 * size / rate <= max(15.0, min(60.0, ctx.budget.left() / 5))


def run_store(ctx: Context, store: Store) -> dict[str, Any]:
    sizes = (1_000, ctx.size(1_000_000, 20_000))
    claims, seconds = ctx.size(150, 50), 0.5 if ctx.quick else 1.5
    calls = ctx.size(5, 2)
    b = store.name
    commit = ctx.limit("sqlite_commit_full" if b == "sqlite" else "pg_commit")
    startup = ctx.limit("python_sqlite_insert" if b == "sqlite" else "python_pg_insert")
    # a job costs two commits (claim, finish): the limit is half the commit rate
    pair = (
        None
        if commit is None
        else Limit(
            f"{commit.key}_half",
            f"{commit.name} ÷ 2 (claim and finish are two commits)",
            "jobs/s",
            tuple(v / 2 for v in commit.reps),
        )
    )
    found: dict[str, Any] = {}
    for size in sizes:
        label = f"{size:,} jobs in the table"
        key = "1k" if size == 1_000 else "big"
        with (
            store.fresh() as loc,
            open_queue(loc) as queue,
            temp_dir(ctx.tmp, "w5-raw-") as raw,
            ExitStack() as beside,
        ):
            # PostgreSQL's `status` is also timed in turns with SQLite's (issue 18's target)
            sqlite_env = (
                beside.enter_context(sqlite_beside(ctx, size))
                if b == "postgres" and size == 1_000
                else None
            )
            method = "api" if size <= CHUNK or _api_fill_fits(ctx, b, size) else "sql"
            log(f"W5 {store.label}: filling {label} ({method})")
            fill_rate = (
                fill_api(queue, size) if method == "api" else fill_sql(store, loc, queue, size)
            )
            env = ctx.env(loc)
            insert = insert_program(store, raw)
            status = [*queuectl_argv(), "status"]
            listing = [*queuectl_argv(), "list", "--state", "pending", "--limit", "50"]
            runs: dict[str, list[float]] = {
                k: []
                for k in (
                    "claim_finish",
                    "exchange",
                    "exchange_limit",
                    "commit_limit",
                    "status_ms",
                    "list_ms",
                    "insert_ms_status",
                    "insert_ms_list",
                    "status_ms_paired",
                    "sqlite_status_ms",
                )
            }
            one_job = queue.jobs(limit=1)[0].id
            page_reps: list[dict[str, float]] = []
            for rep in range(ctx.reps):
                log(f"W5 {store.label} {label}, rep {rep + 1}/{ctx.reps}")
                runs["commit_limit"].append(commit_rate(store, raw, 0.5))
                runs["claim_finish"].append(claim_finish_rate(queue, claims, seconds))
                try:
                    rate = exchange_rate(queue, claims, seconds)
                    if rate is not None:
                        runs["exchange"].append(rate)
                        runs["exchange_limit"].append(runs["commit_limit"][-1])
                except Exception as exc:  # an API in flux must not sink the rest
                    log(f"W5 exchange: {exc}")
                limit_ms, cli_ms = alternate_ms(ctx, insert, status, calls, env)
                runs["insert_ms_status"].append(limit_ms)
                runs["status_ms"].append(cli_ms)
                if sqlite_env is not None:
                    limit_ms, cli_ms = alternate_ms(ctx, status, status, calls, env, sqlite_env)
                    runs["sqlite_status_ms"].append(limit_ms)
                    runs["status_ms_paired"].append(cli_ms)
                limit_ms, cli_ms = alternate_ms(ctx, insert, listing, calls, env)
                runs["insert_ms_list"].append(limit_ms)
                runs["list_ms"].append(cli_ms)
                page_reps.append(pages.page_times(loc.db, one_job, calls))
        found[key] = {"size": size, "fill_method": method, "fill_jobs_per_s": fill_rate, **runs}
        found[key]["pages_ms"] = pages.summary(page_reps)
        worst = [pages.slowest(rep) for rep in page_reps]
        ctx.add(
            Figure(
                f"w5.{b}.{key}.pages",
                "W5 scale",
                b,
                f"the slowest dashboard page, {label} (in-process; each page's median: "
                f"{', '.join(f'{p} {ms:.0f}' for p, ms in found[key]['pages_ms'].items())} ms)",
                "ms",
                [ms for _, ms in worst],
                None,
                Target("<=", 100.0, on="value") if size != 1_000 else None,
                note=f"median of {calls} GETs a page per rep, after a warm-up",
            )
        )
        halves = [v / 2 for v in runs["commit_limit"]]
        ctx.add(
            Figure(
                f"w5.{b}.{key}.claim_finish",
                "W5 scale",
                b,
                f"claim + finish, {label} (in-process, up to {claims} jobs or {seconds:g} s)",
                "jobs/s",
                runs["claim_finish"],
                pair,
                paired_limits=halves,
            )
        )
        if runs["exchange"]:
            ctx.add(
                Figure(
                    f"w5.{b}.{key}.exchange",
                    "W5 scale",
                    b,
                    f"finish + claim in one transaction (`Backend.exchange`), {label}",
                    "jobs/s",
                    runs["exchange"],
                    commit,
                    paired_limits=runs["exchange_limit"],
                )
            )
        commands = {
            "status": "`queuectl status`",
            "list": "`queuectl list --state pending --limit 50`",
        }
        for what, argv_name in commands.items():
            ctx.add(
                Figure(
                    f"w5.{b}.{key}.{what}",
                    "W5 scale",
                    b,
                    f"{argv_name}, {label}",
                    "ms",
                    runs[f"{what}_ms"],
                    startup,
                    note=f"median of {calls} calls per rep, in turns with the limit's",
                    paired_limits=runs[f"insert_ms_{what}"],
                )
            )
        if runs["sqlite_status_ms"]:
            ctx.add(
                Figure(
                    f"w5.{b}.{key}.status_vs_sqlite",
                    "W5 scale",
                    b,
                    f"`queuectl status`, {label}, over SQLite's `status` with as many jobs",
                    "ms",
                    runs["status_ms_paired"],
                    Limit(
                        "w5_sqlite_status_beside",
                        "SQLite `status`, in turns with it",
                        "ms",
                        tuple(runs["sqlite_status_ms"]),
                    ),
                    Target("<=", 2.0),
                    note=f"median of {calls} calls per rep, in turns with SQLite's",
                    paired_limits=runs["sqlite_status_ms"],
                )
            )
        if size != 1_000:
            how = (
                f"`enqueue_many` in chunks of {CHUNK:,}"
                if method == "api"
                else "direct SQL: copies of one job in one INSERT … SELECT (API fill too slow)"
            )
            ctx.add(
                Figure(
                    f"w5.{b}.{key}.fill",
                    "W5 scale",
                    b,
                    f"filling the table to {size:,} jobs: {how}",
                    "jobs/s",
                    [fill_rate],
                    ctx.limit("sqlite_bulk" if b == "sqlite" else "pg_bulk"),
                    note="one fill per run (not repeated)",
                )
            )
    _size_targets(ctx, b, found)
    found["history"] = history.run_store(ctx, store)
    return found


def _size_targets(ctx: Context, backend: str, found: dict[str, Any]) -> None:
    """The issue's two scale targets: the claim rate and `status` at the big size, each
    over the same figure at 1,000 jobs. The claim rate is first divided by the commit
    rate measured beside it in the same repetition: claim and finish commit with an
    fsync each, and the disk's fsync time drifts more between repetitions than the
    table's size moves the rate."""
    if "1k" not in found or "big" not in found:
        return
    size = found["big"]["size"]

    def per_commit(key: str) -> list[float]:
        runs = found[key]
        pairs = zip(runs["claim_finish"], runs["commit_limit"], strict=True)
        return [rate / commit for rate, commit in pairs if commit]

    def status(key: str) -> list[float]:
        return list(found[key]["status_ms"])

    for what, measure, unit, target, text in (
        (
            "claim_finish",
            per_commit,
            "× commit rate",
            Target(">=", 0.9),
            "claim + finish rate (÷ the commit rate of its repetition)",
        ),
        ("status_ms", status, "ms", Target("<=", 2.0), "`queuectl status` time"),
    ):
        small, big = measure("1k"), measure("big")
        if not small or not big:
            continue
        ctx.add(
            Figure(
                f"w5.{backend}.{what}_growth",
                "W5 scale",
                backend,
                f"{text} with {size:,} jobs in the table, over the same with 1,000",
                unit,
                big,
                # the repetitions of the two sizes are not side by side: median over median
                Limit(f"w5_{backend}_{what}_1k", "the same with 1,000 jobs", unit, tuple(small)),
                target,
            )
        )
