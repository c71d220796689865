#!/usr/bin/env python3
"""Chaos, full-size: SIGKILL workers at random for a minute while 3,000 jobs run, on
SQLite and on a database of its own on PostgreSQL, then judge the delivery.

What is run and judged is ``tests/support/chaos.py`` (its docstring lists the checks);
its CI-sized run is ``tests/reliability/test_chaos.py``. ``make chaos`` runs this.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.support, from anywhere

from tests.support.backends import ADMIN_URL, create_database, drop_database
from tests.support.chaos import Chaos, Report, Settings


def run_backend(backend: str, settings: Settings, admin_url: str, keep: bool) -> Report:
    folder = Path(tempfile.mkdtemp(prefix=f"queuectl-chaos-{backend}-"))
    db = None
    try:
        if backend == "postgres":
            db = create_database("queuectl_chaos", admin_url)
        with Chaos(folder, db, settings) as chaos:
            return chaos.run()
    finally:
        if db is not None:
            drop_database(db, admin_url)
        if keep:
            print(f"[{backend}] kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of kills")
    parser.add_argument("--job-sleep", type=float, default=0.1)
    parser.add_argument(
        "--backend", choices=("sqlite", "postgres", "both"), default="both", help="default: both"
    )
    parser.add_argument("--pg", default=ADMIN_URL, help="server to create a database on")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the run's folder")
    args = parser.parse_args(argv)
    settings = Settings(
        jobs=args.jobs,
        duration=args.duration,
        job_sleep=args.job_sleep,
        seed=args.seed,
        drain_timeout=max(120.0, args.jobs / 10),
    )
    backends = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    failed = False
    for backend in backends:
        print(f"[{backend}] {settings.jobs} jobs, {settings.duration:g}s of kills …", flush=True)
        report = run_backend(backend, settings, args.pg, args.keep)
        print(report.summary(), flush=True)
        failed = failed or bool(report.problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
