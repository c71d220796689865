"""W0: this machine's own limits, measured in this run; every other figure is a ratio to one.

- spawn rate of ``sh -c true`` from 1 and from 2 Python processes (``subprocess.run`` in a
  loop); the 2-process rate is the drain limit of a 2-slot worker
- a direct spawn's latency: from the Popen call to the command running, timed by the
  same FIFO probe that times a queued job's start (W3)
- SQLite single-row commits (WAL, synchronous FULL and NORMAL), rows/s in one transaction
- PostgreSQL single-row commits over loopback (psycopg), rows/s in one transaction (COPY)
- interpreter start-up: ``python -c pass``, a fresh interpreter that inserts one row into
  a WAL SQLite file and commits with FULL, and one that inserts a row into PostgreSQL
- an idle Python interpreter's RSS and PSS
"""

from __future__ import annotations

import os
import select
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from bench.context import Context
from bench.core import Limit, log, median, percentile, temp_dir, timed
from bench.procs import StartProbe, memory_kb, run_timed
from bench.stores import PostgresStore, Store

# Prints "ready", waits for the go (a byte on stdin), then spawns for argv[1] seconds.
_SPAWN_LOOP = """
import subprocess, sys, time
duration = float(sys.argv[1])
print("ready", flush=True)
sys.stdin.read(1)
start = time.perf_counter()
end, n = start + duration, 0
while time.perf_counter() < end:
    subprocess.run(["sh", "-c", "true"])
    n += 1
print(n, time.perf_counter() - start, flush=True)
"""

_PY_SQLITE_INSERT = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA journal_mode=WAL")
conn.execute("PRAGMA synchronous=FULL")
conn.execute("BEGIN IMMEDIATE")
conn.execute("INSERT INTO t (payload) VALUES ('true')")
conn.execute("COMMIT")
conn.close()
"""

_PY_PG_INSERT = """
import sys, psycopg
with psycopg.connect(sys.argv[1], autocommit=True) as conn:
    conn.execute("INSERT INTO bench_t (payload) VALUES ('true')")
"""


def spawn_rate(ctx: Context, processes: int, duration: float) -> float:
    """``sh -c true`` spawned per second by ``processes`` Python processes at once (each
    starts its loop on the same go, once all are up)."""
    procs = [
        ctx.registry.popen(
            [sys.executable, "-c", _SPAWN_LOOP, repr(duration)],
            env=ctx.env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    rate = 0.0
    try:
        for proc in procs:
            assert proc.stdout is not None
            ready, _, _ = select.select([proc.stdout], [], [], 30)
            if not ready or proc.stdout.readline().strip() != "ready":
                raise RuntimeError("a spawn loop did not start")
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("g")
            proc.stdin.close()
        for proc in procs:
            proc.wait(timeout=duration + 30)
            assert proc.stdout is not None
            count, elapsed = proc.stdout.read().split()
            if int(count) == 0:
                raise RuntimeError("a spawn loop spawned nothing")
            rate += int(count) / float(elapsed)
    finally:
        for proc in procs:
            ctx.registry.stop(proc, grace=1.0)
            ctx.registry.procs.remove(proc)
    return rate


def direct_spawn_ms(ctx: Context, probe: StartProbe) -> float:
    """Milliseconds from the Popen call to ``sh -c`` writing its line to the probe's FIFO."""
    argv = ["/bin/sh", "-c", f"echo direct > '{probe.path}'"]
    begin = time.perf_counter()
    proc = ctx.registry.popen(argv, env=ctx.env())
    try:
        line, _, arrived = probe.wait(10.0)
    finally:
        proc.wait(10)
        ctx.registry.procs.remove(proc)
    if line != "direct":
        raise RuntimeError(f"unexpected line {line!r} on the start probe")
    return (arrived - begin) * 1000


def spawn_latencies(ctx: Context, samples: int) -> list[float]:
    found = []
    with temp_dir(ctx.tmp, "spawn-") as folder:
        probe = StartProbe(folder)
        try:
            for _ in range(samples):
                time.sleep(0.02)  # start from idle, as a queued job does
                found.append(direct_spawn_ms(ctx, probe))
        finally:
            probe.close()
    return found


def _sqlite_db(folder: str, sync: str) -> sqlite3.Connection:
    conn = sqlite3.connect(os.path.join(folder, f"raw-{sync}.db"), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={sync}")
    conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, payload TEXT)")
    return conn


def sqlite_commits(folder: str, sync: str, duration: float) -> float:
    """Single-row write transactions per second (BEGIN IMMEDIATE, as queuectl writes)."""
    conn = _sqlite_db(folder, sync)
    try:
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < duration:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO t (payload) VALUES ('true')")
            conn.execute("COMMIT")
            n += 1
        return n / (time.perf_counter() - start)
    finally:
        conn.close()


def sqlite_bulk(folder: str, rows: int) -> float:
    """Rows per second inserted in one transaction (executemany, synchronous FULL)."""
    conn = _sqlite_db(folder, "FULL")
    data = [("true",)] * rows
    try:

        def insert() -> None:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT INTO t (payload) VALUES (?)", data)
            conn.execute("COMMIT")

        return rows / timed(insert)
    finally:
        conn.close()


def _pg_table(conn: Any) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS bench_t (id bigserial PRIMARY KEY, payload text)")


def pg_commits(store: PostgresStore, duration: float) -> float:
    with store.connect() as conn:
        _pg_table(conn)
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < duration:
            conn.execute("INSERT INTO bench_t (payload) VALUES ('true')")
            n += 1
        return n / (time.perf_counter() - start)


def pg_bulk(store: PostgresStore, rows: int) -> float:
    """Rows per second in one transaction with COPY, the fastest way in."""
    with store.connect() as conn:
        _pg_table(conn)

        def copy() -> None:
            with (
                conn.transaction(),
                conn.cursor() as cur,
                cur.copy("COPY bench_t (payload) FROM STDIN") as pipe,
            ):
                for _ in range(rows):
                    pipe.write_row(("true",))

        return rows / timed(copy)


# --- limits of one backend, measured again right beside a figure (paired ratios) ---------
def commit_rate(store: Store, folder: str, duration: float) -> float:
    """Single-row commits/s of the backend's engine: SQLite FULL, or PostgreSQL."""
    if isinstance(store, PostgresStore):
        return pg_commits(store, duration)
    return sqlite_commits(folder, "FULL", duration)


def bulk_rate(store: Store, folder: str, rows: int) -> float:
    if isinstance(store, PostgresStore):
        return pg_bulk(store, rows)
    return sqlite_bulk(folder, rows)


def insert_program(store: Store, folder: str) -> list[str]:
    """argv of a fresh interpreter that inserts one row into the backend's engine."""
    if isinstance(store, PostgresStore):
        with store.connect() as conn:
            _pg_table(conn)
        return [sys.executable, "-c", _PY_PG_INSERT, store.url]
    _sqlite_db(folder, "FULL").close()
    return [sys.executable, "-c", _PY_SQLITE_INSERT, os.path.join(folder, "raw-FULL.db")]


def alternate_ms(
    ctx: Context,
    first: list[str],
    second: list[str],
    calls: int,
    env: dict[str, str] | None = None,
    first_env: dict[str, str] | None = None,
) -> tuple[float, float]:
    """Median ms of ``first`` and of ``second``, run in turns (after a warm-up of each), so
    both see the same load. ``env`` is ``second``'s, ``first_env`` is ``first``'s (the
    base env when not given)."""
    base = ctx.env()
    times: tuple[list[float], list[float]] = ([], [])
    for index in range(calls + 1):
        for slot, (argv, run_env) in enumerate(((first, first_env or base), (second, env or base))):
            elapsed, code = run_timed(ctx.registry, argv, run_env, timeout=120)
            if code != 0:
                raise RuntimeError(f"{' '.join(argv[-4:])} exited with {code}")
            if index:  # the first turn warms the bytecode cache
                times[slot].append(elapsed * 1000)
    return median(times[0]), median(times[1])


def startup_ms(ctx: Context, argv: list[str], runs: int) -> float:
    """Median milliseconds of a fresh process from spawn to exit (after one warm-up)."""
    env = ctx.env()
    times = []
    for index in range(runs + 1):
        elapsed, code = run_timed(ctx.registry, argv, env, timeout=60)
        if code != 0:
            raise RuntimeError(f"{argv[:3]} exited with {code}")
        if index:  # the first run warms the bytecode cache
            times.append(elapsed * 1000)
    return median(times)


def idle_python_memory(ctx: Context) -> tuple[float, float]:
    """(RSS, PSS) in MB of an interpreter that only sleeps."""
    proc = ctx.registry.popen([sys.executable, "-c", "import time; time.sleep(60)"], env=ctx.env())
    try:
        time.sleep(0.5)
        found = memory_kb(proc.pid)
        if found is None:
            raise RuntimeError("cannot read smaps_rollup of an idle python")
        return found[0] / 1024, found[1] / 1024
    finally:
        ctx.registry.stop(proc, grace=2.0)
        ctx.registry.procs.remove(proc)


def run(ctx: Context) -> dict[str, Any]:
    quick = ctx.quick
    spawn_seconds = 0.4 if quick else 1.5
    commit_seconds = 0.3 if quick else 1.0
    latency_samples = ctx.size(40, 10)
    interpreter_runs = ctx.size(15, 3)
    bulk_rows = ctx.size(100_000, 10_000)
    pg = next((s for s in ctx.stores if isinstance(s, PostgresStore)), None)
    reps: dict[str, list[float]] = {}
    latency_p95: list[float] = []

    def add(key: str, value: float) -> None:
        reps.setdefault(key, []).append(value)

    def measure(key: str, what: Callable[[], float]) -> None:
        try:
            add(key, what())
        except Exception as exc:
            log(f"W0 {key}: {exc}")

    with temp_dir(ctx.tmp, "w0-") as folder:
        seed = _sqlite_db(folder, "FULL")
        seed.close()
        db = os.path.join(folder, "raw-FULL.db")
        for rep in range(ctx.reps):
            log(f"W0 limits, rep {rep + 1}/{ctx.reps}")
            # repetitions are interleaved, so a passing load spike hits one rep of each
            measure("spawn_1proc", lambda: spawn_rate(ctx, 1, spawn_seconds))
            measure("spawn_2proc", lambda: spawn_rate(ctx, 2, spawn_seconds))
            lat = spawn_latencies(ctx, latency_samples)
            add("spawn_latency_p50", percentile(lat, 50))
            latency_p95.append(percentile(lat, 95))
            measure("sqlite_commit_full", lambda: sqlite_commits(folder, "FULL", commit_seconds))
            measure(
                "sqlite_commit_normal", lambda: sqlite_commits(folder, "NORMAL", commit_seconds)
            )
            measure("sqlite_bulk", lambda: sqlite_bulk(folder, bulk_rows))
            measure(
                "python_pass",
                lambda: startup_ms(ctx, [sys.executable, "-c", "pass"], interpreter_runs),
            )
            measure(
                "python_sqlite_insert",
                lambda: startup_ms(
                    ctx, [sys.executable, "-c", _PY_SQLITE_INSERT, db], interpreter_runs
                ),
            )
            if pg is not None:
                measure("pg_commit", lambda: pg_commits(pg, commit_seconds))
                measure("pg_bulk", lambda: pg_bulk(pg, bulk_rows))
                measure(
                    "python_pg_insert",
                    lambda: startup_ms(
                        ctx, [sys.executable, "-c", _PY_PG_INSERT, pg.url], interpreter_runs // 2
                    ),
                )
            try:
                rss, pss = idle_python_memory(ctx)
                add("idle_python_rss", rss)
                add("idle_python_pss", pss)
            except Exception as exc:
                log(f"W0 idle python memory: {exc}")
    reps["spawn_latency_p95"] = latency_p95
    if "spawn_1proc" in reps:
        reps["sh_c_true_ms"] = [1000 / r for r in reps["spawn_1proc"] if r]

    names = {
        "spawn_1proc": ("1 Python process spawning `sh -c true` in a loop", "spawns/s"),
        "spawn_2proc": ("2 Python processes spawning `sh -c true` (the drain limit)", "spawns/s"),
        "sh_c_true_ms": ("one `sh -c true`, spawn to exit (1 / 1-process rate)", "ms"),
        "spawn_latency_p50": ("direct spawn: Popen call → `sh -c` running, p50", "ms"),
        "spawn_latency_p95": ("direct spawn: Popen call → `sh -c` running, p95", "ms"),
        "sqlite_commit_full": ("SQLite WAL single-row commits, synchronous=FULL", "commits/s"),
        "sqlite_commit_normal": ("SQLite WAL single-row commits, synchronous=NORMAL", "commits/s"),
        "sqlite_bulk": ("SQLite rows in one transaction (executemany, FULL)", "rows/s"),
        "pg_commit": ("PostgreSQL single-row commits over loopback (psycopg)", "commits/s"),
        "pg_bulk": ("PostgreSQL rows in one transaction (COPY)", "rows/s"),
        "python_pass": ("`python -c pass`", "ms"),
        "python_sqlite_insert": ("python + one SQLite insert (WAL, FULL commit)", "ms"),
        "python_pg_insert": ("python + one PostgreSQL insert (psycopg)", "ms"),
        "idle_python_rss": ("idle Python interpreter, RSS", "MB"),
        "idle_python_pss": ("idle Python interpreter, PSS", "MB"),
    }
    for key, (name, unit) in names.items():
        if reps.get(key):
            ctx.limits[key] = Limit(key, name, unit, tuple(reps[key]))
    return {
        "limits": {key: limit.to_json() for key, limit in ctx.limits.items()},
        "settings": {
            "spawn_seconds": spawn_seconds,
            "commit_seconds": commit_seconds,
            "latency_samples": latency_samples,
            "interpreter_runs": interpreter_runs,
            "bulk_rows": bulk_rows,
            "spawn_probe": "FIFO written by the shell builtin echo; arrival timed by select()",
        },
    }
