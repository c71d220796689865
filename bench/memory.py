"""W4: memory of an idle ``worker start --count 2``: RSS and PSS (smaps_rollup) of its
whole process tree (the worker and its helpers, e.g. the fence watchdog), summed.

One worker at a time: PSS splits shared pages among the processes that map them, so
workers measured side by side would look smaller than one alone.
"""

from __future__ import annotations

from typing import Any

from bench.context import Context, open_queue
from bench.core import Figure, Target, log
from bench.procs import cmdline, memory_kb
from bench.stores import Store

# issue 18 lowered PostgreSQL's bound (its tree was 26.5 MB, most of it psycopg's import)
PSS_TARGET_MB = {"sqlite": 25.0, "postgres": 22.0}


def run_store(ctx: Context, store: Store) -> dict[str, Any]:
    rss: list[float] = []
    pss: list[float] = []
    detail: list[list[dict[str, Any]]] = []
    for rep in range(ctx.reps):
        log(f"W4 memory {store.label}, rep {rep + 1}/{ctx.reps}")
        with store.fresh() as loc, open_queue(loc) as queue, ctx.worker(loc, 2, "mem") as worker:
            worker.wait_ready(queue, settle=1.0)
            processes: list[dict[str, Any]] = []
            for pid in ctx.registry.note_tree(worker.pid):
                found = memory_kb(pid)
                if found is not None:
                    processes.append(
                        {
                            "pid": pid,
                            "cmd": cmdline(pid)[:120],
                            "rss_kb": found[0],
                            "pss_kb": found[1],
                        }
                    )
            rss.append(sum(p["rss_kb"] for p in processes) / 1024)
            pss.append(sum(p["pss_kb"] for p in processes) / 1024)
            detail.append(processes)
    b = store.name
    ctx.add(
        Figure(
            f"w4.{b}.pss",
            "W4 memory",
            b,
            "idle `worker start --count 2`, PSS of the process tree, summed",
            "MB",
            pss,
            ctx.limit("idle_python_pss"),
            Target("<=", PSS_TARGET_MB[b], on="value"),
        )
    )
    ctx.add(
        Figure(
            f"w4.{b}.rss",
            "W4 memory",
            b,
            "idle `worker start --count 2`, RSS of the process tree, summed",
            "MB",
            rss,
            ctx.limit("idle_python_rss"),
        )
    )
    return {"rss_mb": rss, "pss_mb": pss, "processes": detail}
