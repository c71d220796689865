"""W1: enqueue through the Python API (one job per call, and a batch) and the CLI (one
process per job, and ``--file`` with many jobs). Every job's command is ``true``.

Each repetition measures its limits right beside it (paired ratios): the engine's
single-row commit rate before the API calls, its bulk insert rate before the batch,
and a fresh interpreter's one-row insert in turns with the CLI calls.
"""

from __future__ import annotations

import functools
import json
import os
import time
from typing import Any

from bench.context import Context, open_queue
from bench.core import Figure, Target, log, queuectl_argv, temp_dir, timed
from bench.limits import alternate_ms, bulk_rate, commit_rate, insert_program
from bench.procs import run_timed
from bench.stores import Store


def _limit_keys(backend: str) -> tuple[str, str, str]:
    """(single-row commits, bulk rows, python + one insert) of the backend's engine."""
    if backend == "sqlite":
        return "sqlite_commit_full", "sqlite_bulk", "python_sqlite_insert"
    return "pg_commit", "pg_bulk", "python_pg_insert"


def run_store(ctx: Context, store: Store) -> dict[str, Any]:
    backend = store.name
    single_max, single_seconds = ctx.size(3000, 200), 0.3 if ctx.quick else 1.0
    batch = ctx.size(10_000, 1_000)
    cli_calls = ctx.size(40 if backend == "sqlite" else 10, 4)
    file_jobs = ctx.size(10_000, 1_000)
    bulk_rows = ctx.size(100_000, 10_000)
    found: dict[str, list[float]] = {
        k: []
        for k in (
            "api_single",
            "commit_limit",
            "api_batch",
            "cli_file",
            "bulk_limit",
            "cli_ms",
            "insert_ms",
        )
    }
    with (
        store.fresh() as loc,
        open_queue(loc) as queue,
        temp_dir(ctx.tmp, "w1-raw-") as raw,
    ):
        queue.enqueue("true")  # migrations and caches out of the way
        env = ctx.env(loc)
        cli = [*queuectl_argv(), "enqueue", "--command", "true"]
        insert = insert_program(store, raw)
        lines = os.path.join(loc.home, "jobs.jsonl")
        with open(lines, "w") as handle:
            handle.writelines(json.dumps({"command": "true"}) + "\n" for _ in range(file_jobs))
        for rep in range(ctx.reps):
            log(f"W1 enqueue {store.label}, rep {rep + 1}/{ctx.reps}")
            found["commit_limit"].append(commit_rate(store, raw, single_seconds / 2))
            n, start = 0, time.perf_counter()
            while n < single_max and time.perf_counter() - start < single_seconds:
                queue.enqueue("true")
                n += 1
            found["api_single"].append(n / (time.perf_counter() - start))

            found["bulk_limit"].append(bulk_rate(store, raw, bulk_rows))
            jobs = [{"command": "true"} for _ in range(batch)]
            found["api_batch"].append(batch / timed(functools.partial(queue.enqueue_many, jobs)))

            limit_ms, cli_ms = alternate_ms(ctx, insert, cli, cli_calls, env)
            found["insert_ms"].append(limit_ms)
            found["cli_ms"].append(cli_ms)

            elapsed, code = run_timed(
                ctx.registry, [*queuectl_argv(), "enqueue", "--file", lines], env, timeout=120
            )
            if code != 0:
                raise RuntimeError(f"queuectl enqueue --file exited with {code}")
            found["cli_file"].append(file_jobs / elapsed)

    commit, bulk, startup = (ctx.limit(key) for key in _limit_keys(backend))
    prefix = f"w1.{backend}"
    ctx.add(
        Figure(
            f"{prefix}.api_single",
            "W1 enqueue",
            backend,
            "API, one job per call (`Queue.enqueue`)",
            "jobs/s",
            found["api_single"],
            commit,
            Target(">=", 0.9) if backend == "sqlite" else None,  # issue 18: ahead of huey
            paired_limits=found["commit_limit"],
        )
    )
    ctx.add(
        Figure(
            f"{prefix}.api_batch",
            "W1 enqueue",
            backend,
            f"API batch (`enqueue_many` of {batch:,} jobs)",
            "jobs/s",
            found["api_batch"],
            bulk,
            Target(">=", 150_000 if backend == "sqlite" else 80_000, on="value"),  # issue 18
            paired_limits=found["bulk_limit"],
        )
    )
    ctx.add(
        Figure(
            f"{prefix}.cli_single",
            "W1 enqueue",
            backend,
            "CLI, one process per job (`queuectl enqueue --command true`)",
            "ms/call",
            found["cli_ms"],
            startup,
            Target("<=", 1.5) if backend == "sqlite" else None,
            note=f"median of {cli_calls} calls per rep, in turns with the limit's",
            paired_limits=found["insert_ms"],
        )
    )
    ctx.add(
        Figure(
            f"{prefix}.cli_file",
            "W1 enqueue",
            backend,
            f"CLI `enqueue --file` of {file_jobs:,} jobs (process start included)",
            "jobs/s",
            found["cli_file"],
            bulk,
            paired_limits=found["bulk_limit"],
        )
    )
    return {
        **found,
        "sizes": {
            "api_single_max_calls": single_max,
            "api_single_seconds": single_seconds,
            "batch": batch,
            "cli_calls": cli_calls,
            "file_jobs": file_jobs,
            "bulk_limit_rows": bulk_rows,
        },
    }
