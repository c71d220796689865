"""Run the benchmark suite: ``python -m bench.run [--quick] [--out DIR] [--no-postgres]``.

Writes ``latest.json`` (every repetition of every figure and limit), ``latest.md`` (the
table the README shows) and ``drain.png`` into ``--out`` (default bench/results).

Workloads, in the order they run:
  W0 limits   this machine's own limits; every figure below is a ratio to one of them
  W1 enqueue  API one per call and batch; CLI one process per job and --file
  W2 drain    2,000 jobs with ``worker start --count 2 --burst`` (1, 4, 8 for the chart,
              measured last with what is left of the time budget)
  W3 latency  pickup by an idle worker, a scheduled job's start, idle CPU
  W4 memory   RSS and PSS of an idle worker's process tree
  W5 scale    claim-and-finish rate and status/list time with 1,000 and 1,000,000 jobs;
              a /metrics scrape with 1,000 and 1,000,000 finished attempts in the history
  W6 flow     400 jobs in a queue limited to 2 at once, 4 slots; a chain of 400 jobs, each
              ``--after`` the one before, 2 slots
  W8 output   PostgreSQL: ``logs --follow`` of a job on another host, the delay of its
              lines; claims while a job prints 100 MB (see bench/output.py)
Both backends where it applies: SQLite (the default file in a temporary QUEUECTL_HOME)
and PostgreSQL (a database of the run's own, dropped at the end; reported as missing
when the server cannot be reached).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from bench import drain, enqueue, flow, latency, limits, memory, output, report, scale, tsp
from bench.context import Context
from bench.core import Budget, Figure, load_average, log
from bench.procs import Registry
from bench.stores import SQLiteStore, Store, open_postgres

WORKLOADS = (
    "w0_limits",
    "w1_enqueue",
    "w2_drain",
    "w3_latency",
    "w4_memory",
    "w5_scale",
    "w6_flow",
    "w7_tsp",
    "w8_output",
)
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
HERE = os.path.dirname(os.path.abspath(__file__))

NOTES = [
    "Limits are measured in the same run, with repetitions interleaved (rep 1 of every limit, "
    "then rep 2 …); a figure's ratio is each repetition's value over the limit's median. "
    "W2's ratios are paired instead: each drain repetition over a 2-process spawn rate "
    "measured just before it, because the machine's load drifts.",
    "Every interpreter the run starts caches bytecode in a folder of the run's own "
    "(PYTHONPYCACHEPREFIX), after one warm-up call, as after a normal install.",
    "Spawn rate: `subprocess.run(['sh', '-c', 'true'])` in a loop, in 1 and in 2 Python "
    "processes started together.",
    "Start instants: the command writes a line to a FIFO with the shell builtin `echo` (no "
    "extra process); the harness, blocked in select(), timestamps its arrival. The direct "
    "spawn latency (Popen call → line) and a queued job's start use the same probe, so W3 "
    'jobs run `echo "$QUEUECTL_JOB_ID" > FIFO` instead of `true`.',
    "W1 CLI: the `queuectl` console script of the venv, `enqueue --command true`, one process "
    "per job; median call per repetition. The 'python + one insert' limits are fresh "
    "interpreters that open the database, insert one row and commit (SQLite: WAL, FULL).",
    "W3 pickup: one job at a time, each enqueued (API) after the previous finished and the "
    "worker went idle again; latency = arrival - the job's created_at. Scheduled: `delay` "
    "0.3 s; latency = arrival - run_at. Idle CPU: utime+stime+cutime+cstime of the worker's "
    "process tree (worker and fence) from /proc over 10 s, all repetitions side by side.",
    "W6: drained and paired as W2. Limited: a queue set to `--concurrency 2` and 4 worker "
    "slots, read beside W2's unlimited 2-slot drain. Chain: each job `--after` the one "
    "before, so one runs at a time; its ratio to the 2-process limit is at most about 0.5.",
    "W7: task-spooler 1.0 (Debian's package, `tsp -S 2`), measured in this run as W2 and W3 "
    "measure queuectl: 900 `sh -c true` jobs (its queue holds about 1,000: each waiting "
    "job is a client process connected to the server) queued behind a gate job, timed from the "
    "call that opens the second slot (the gate is released right after) to the end of the "
    "last job, paired with a spawn rate; pickup from just before the `tsp` call to the "
    "job's line on the FIFO probe.",
    "W4: one idle worker at a time, RSS and PSS from /proc/<pid>/smaps_rollup of each "
    "process of its tree, summed.",
    "W5: the 1,000,000-job table is filled through the API (`enqueue_many`, chunks of 50,000); "
    "claim-and-finish runs in-process through the backend (`exchange` claiming one job, "
    "`decide`, `exchange` writing its result: two commits per job), no process spawned; its "
    "limit is half the single-row commit rate.",
    "W5 history: finished jobs and their attempts written by direct SQL, all but the last "
    "1,000 rolled up with `Backend.roll_up` and then deleted (as retention leaves a queue); "
    "a scrape is `web.metrics.render` in-process, median of 10 per repetition.",
]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 rep, small sizes")
    parser.add_argument("--out", default=os.path.join(HERE, "results"), help="results folder")
    parser.add_argument(
        "--no-postgres", action="store_true", help="SQLite only (also QUEUECTL_BENCH_PG=off)"
    )
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("QUEUECTL_BENCH_PG", DEFAULT_PG),
        help="server to create the run's database on (default: $QUEUECTL_BENCH_PG or %(default)s)",
    )
    parser.add_argument(
        "--budget", type=float, help="seconds the run aims to fit in (default 450, quick 60)"
    )
    parser.add_argument("--reps", type=int, help="repetitions (default 3, quick 1)")
    parser.add_argument(
        "--only",
        help="comma-separated workloads to run (w1,w2,…); W0 limits always run",
    )
    args = parser.parse_args(argv)
    if args.pg_url.lower() in ("off", "none", ""):
        args.no_postgres = True
    return args


def _meta(args: argparse.Namespace, ctx: Context, pg_version: str | None) -> dict[str, Any]:
    def git(*cmd: str) -> str:
        try:
            return subprocess.run(
                ["git", *cmd], cwd=HERE, capture_output=True, text=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    model = ""
    try:
        with open("/proc/cpuinfo") as handle:
            model = next((ln.split(":", 1)[1].strip() for ln in handle if "model name" in ln), "")
    except OSError:
        pass
    dirty = git("status", "--porcelain", "--", "src")
    return {
        "machine": f"{os.cpu_count()} cores, {model or platform.machine()}, "
        f"Linux {platform.release()}",
        "commit": (git("rev-parse", "--short", "HEAD") or "?")
        + (" + uncommitted changes in src/" if dirty else ""),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgres": pg_version,
        "mode": "quick" if args.quick else "full",
        "reps": ctx.reps,
        "missing": ctx.missing,
        "notes": NOTES,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    only = {w.strip().lower()[:2] for w in args.only.split(",")} if args.only else None
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="queuectl-bench-")
    registry = Registry()

    def on_signal(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    stores: list[Store] = [SQLiteStore(tmp)]
    missing: dict[str, str] = {}
    pg_version: str | None = None
    if args.no_postgres:
        missing["postgres"] = "skipped (--no-postgres)"
    else:
        pg, why = open_postgres(tmp, args.pg_url)
        if pg is not None:
            stores.append(pg)
            pg_version = pg.server_version()
        else:
            missing["postgres"] = why or "unreachable"
            log(f"PostgreSQL missing: {why}")
    reps = args.reps or (1 if args.quick else 3)
    ctx = Context(
        quick=args.quick,
        reps=reps,
        budget=Budget(args.budget or (60.0 if args.quick else 450.0)),
        registry=registry,
        tmp=tmp,
        pycache=os.path.join(tmp, "pycache"),
        stores=stores,
        missing=missing,
    )
    workloads: dict[str, dict[str, Any]] = {key: {} for key in WORKLOADS}
    errors: dict[str, str] = {}
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    load_before = load_average()
    busy_before = cpu_busy()

    def wanted(key: str) -> bool:
        return only is None or key[:2] in only or key == "w0_limits"

    def step(key: str, store: Store | None, work: Callable[[], dict[str, Any]]) -> None:
        name = f"{key}/{store.name}" if store else key
        try:
            result = work()
        except Exception as exc:
            errors[name] = f"{type(exc).__name__}: {exc}"
            log(f"{name} failed: {errors[name]}")
            result = {"error": errors[name]}
        if store is None:
            workloads[key].update(result)
        else:
            workloads[key][store.name] = result

    def per_store(key: str, run: Callable[[Context, Store], dict[str, Any]]) -> None:
        if not wanted(key):
            return
        for store in ctx.stores:
            step(key, store, functools.partial(run, ctx, store))
        for backend, reason in missing.items():
            workloads[key][backend] = {"missing": reason}

    drains = drain.Drain(ctx)
    try:
        step("w0_limits", None, lambda: limits.run(ctx))
        per_store("w1_enqueue", enqueue.run_store)
        if wanted("w2_drain"):
            drains.headline()
        if wanted("w7_tsp"):
            step("w7_tsp", None, lambda: tsp.run(ctx))
        per_store("w3_latency", latency.run_store)
        if wanted("w3_latency"):
            step("w3_latency", None, lambda: {"idle_cpu": latency.idle_cpu(ctx)})
        per_store("w4_memory", memory.run_store)
        per_store("w5_scale", scale.run_store)
        per_store("w6_flow", functools.partial(flow.run_store, drains=drains))
        per_store("w8_output", output.run_store)
        if wanted("w2_drain"):
            drains.chart_points()
            step("w2_drain", None, drains.report)
            for key, message in drains.errors.items():
                errors[f"w2_drain/{key}"] = message
            for backend, reason in missing.items():
                workloads["w2_drain"][backend] = {"missing": reason}
    finally:
        registry.cleanup()
        for store in stores:
            store.close()
        shutil.rmtree(tmp, ignore_errors=True)

    meta = _meta(args, ctx, pg_version)
    meta.update(
        started=started,
        finished=time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        duration_s=round(ctx.budget.elapsed(), 1),
        budget_s=ctx.budget.seconds,
        load_before=load_before,
        load_after=load_average(),
    )
    busy_after = cpu_busy()
    if busy_before and busy_after and busy_after[1] > busy_before[1]:
        # the whole machine, this run's own processes included
        share = (busy_after[0] - busy_before[0]) / (busy_after[1] - busy_before[1])
        meta["machine_cpu_busy_percent"] = round(100 * share, 1)
    data = {
        "meta": meta,
        "limits": {key: limit.to_json() for key, limit in ctx.limits.items()},
        "figures": [figure.to_json() for figure in sorted(ctx.figures, key=_order)],
        "workloads": workloads,
        "errors": errors,
    }
    write(out, data)
    log(f"done in {ctx.budget.elapsed():.0f} s: {out}/latest.md")
    if errors:
        log(f"{len(errors)} error(s): {', '.join(errors)}")
        return 1
    return 0


def _order(figure: Figure) -> tuple[str, int]:
    """Table order: by workload, SQLite before PostgreSQL, then as measured."""
    return figure.workload.split()[0], 0 if figure.backend == "sqlite" else 1


def cpu_busy() -> tuple[int, int] | None:
    """(busy, total) jiffies of the whole machine since boot, from /proc/stat."""
    try:
        with open("/proc/stat") as handle:
            fields = [int(x) for x in handle.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def write(out: str, data: dict[str, Any]) -> None:
    """latest.json, drain.png and latest.md, each replaced whole."""
    target = os.path.join(out, "latest.json")
    with open(target + ".tmp", "w") as handle:
        json.dump(data, handle, indent=1, ensure_ascii=False)
        handle.write("\n")
    os.replace(target + ".tmp", target)
    problem = report.chart(data, os.path.join(out, "drain.png"))
    if problem:
        log(f"no chart: {problem}")
    text = report.markdown(data, None if problem else "drain.png")
    target = os.path.join(out, "latest.md")
    with open(target + ".tmp", "w") as handle:
        handle.write(text)
    os.replace(target + ".tmp", target)
    sys.stdout.write(text)


if __name__ == "__main__":
    raise SystemExit(main())
