"""Peers' figures on this kind of machine (2 cores), from shared/bench/PEERS.md: each
cell is the median of 3 reps measured side by side in one run of theirs.

Their drain ratios are as given there; the other ratios are computed here against
the machine-limit row of that same run (they are not comparable to ours in absolute
terms: a different run, possibly a different load).
"""

from __future__ import annotations

from dataclasses import dataclass

# The machine-limit row of the peers' run.
LIMITS = {
    "sqlite_commit_full": 5_723.0,
    "sqlite_commit_normal": 59_705.0,
    "pg_commit": 3_692.0,
    "sqlite_bulk": 797_000.0,
    "sh_c_true_ms": 0.84,
    "python_pass": 11.4,
    "python_sqlite_insert": 20.9,
    "spawn_2proc": 2_285.0,
    "spawn_latency_p50": 2.45,
    "spawn_latency_p95": 2.99,
    "idle_python_rss": 8.5,
}


@dataclass(frozen=True)
class Peer:
    name: str
    enqueue_api: float | None  # jobs/s, one per call
    enqueue_limit: str | None  # the limit its enqueue is compared with
    enqueue_note: str
    cli_ms: float | None
    drain: float | None  # 2,000 jobs, 2 workers, jobs/s
    drain_ratio: float | None  # as given in PEERS.md
    pickup_p50: float | None
    pickup_p95: float | None
    idle_rss: float | None


PEERS = (
    Peer("task-spooler (`tsp -S 2`, C)", None, None, "", 1.20, 1_197, 0.53, 4.18, 4.82, 1.45),
    Peer("nq (C)", None, None, "", 1.47, 228, 0.11, 4.51, 5.10, None),
    Peer(
        "huey 3.5 + SQLite, 2 threads",
        5_904,
        "sqlite_commit_full",
        "",
        None,
        886,
        0.39,
        53.6,
        54.7,
        43.9,
    ),
    Peer("rq 3.0 + Redis, 2 workers", 2_199, None, "", 214, 108, 0.05, 17.0, 18.2, 36.2),
    Peer(
        "procrastinate 3.10 + PostgreSQL",
        979,
        "pg_commit",
        "",
        273,
        351,
        0.15,
        6.87,
        8.02,
        40.5,
    ),
    Peer(
        "pgqueuer 1.6 + PostgreSQL",
        1_998,
        "pg_commit",
        "batch 54k",
        374,
        152,
        0.07,
        11.1,
        13.9,
        47.0,
    ),
)
