"""PostgreSQL going away: restarted under running workers, or not there at all."""

from __future__ import annotations

import collections
import itertools
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.pg.conftest import OwnServer
from tests.support.cli import cli
from tests.support.harness import Queuectl
from tests.support.jobs import q
from tests.support.output import ts
from tests.support.polling import wait_for


def listening_sessions(url: str) -> int:
    """Sessions of the server that LISTEN for queuectl's notifications (one per worker)."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE query ILIKE 'LISTEN%control%'"
        ).fetchone()
    return int(row[0]) if row else 0


@pytest.mark.timeout(180)
def test_workers_reconnect_by_themselves_after_a_postgresql_restart(
    own_pg: OwnServer, own_qc: Queuectl, tmp_path: Path
) -> None:
    qc = own_qc
    qc.config("heartbeat", "1")
    qc.config("lease", "10")  # a restart of a second or two stays far from the fence
    out = tmp_path / "out"
    ids = [f"job-{n:03d}" for n in range(300)]
    qc.enqueue_file(
        {"id": i, "command": f"sleep 0.05; echo $QUEUECTL_JOB_ID >> {q(out)}"} for i in ids
    )
    workers = [qc.start_worker("--count", "1") for _ in range(2)]
    wait_for(lambda: qc.counts()["completed"] >= 30, 30, interval=0.05, what="30 jobs completed")

    before = qc.counts()["completed"]
    began = time.monotonic()
    own_pg.restart()
    restarted_in = time.monotonic() - began
    assert before < 300, "the queue was drained before the restart: nothing to show"

    def all_completed() -> dict[str, int] | None:
        exited = {w.pid: w.proc.poll() for w in workers if w.proc.poll() is not None}
        assert not exited, f"workers exited (pid: code) {exited}:" + qc.worker_logs()
        counts = qc.counts()
        return counts if counts["completed"] == 300 else None

    counts = wait_for(all_completed, 90, interval=0.2, what=lambda: "300 completed")
    drained_after = time.monotonic() - began
    assert sum(counts.values()) == 300, counts
    # the very same worker processes are listed again and LISTEN again
    pids = {w.pid for w in workers}
    wait_for(
        lambda: {w["pid"] for w in qc.json("worker", "list")} == pids,
        15,
        what=lambda: "both workers to be listed again" + qc.worker_logs(),
    )
    wait_for(
        lambda: listening_sessions(own_pg.url) == 2,
        15,
        what=lambda: "both workers to LISTEN again" + qc.worker_logs(),
    )
    lines = out.read_text().splitlines()
    assert set(lines) == set(ids)
    twice = sorted(i for i, n in collections.Counter(lines).items() if n > 1)
    jobs = qc.jobs()
    finished = sorted(ts(j["finished_at"]) for j in jobs)
    pause = max(b - a for a, b in itertools.pairwise(finished))
    after_restart = sum(1 for j in jobs if j["attempts"] > 1)
    errors = [w.log().count("PostgreSQL at") for w in workers]

    stop = qc.run("worker", "stop", "--timeout", "20", check=False)
    assert stop.returncode == 0, stop.stderr
    assert [w.wait(15) for w in workers] == [0, 0], qc.worker_logs()
    print(
        f"restart (fast) took {restarted_in:.1f}s with {before}/300 completed; all 300 "
        f"completed {drained_after:.1f}s after it began; longest pause between completions "
        f"{pause:.1f}s; jobs run more than once: {twice}; jobs with >1 attempt: {after_restart}; "
        f"lines about PostgreSQL errors per worker log: {errors}"
    )


# --- no server at all ---------------------------------------------------------------------
def failed_in_one_line(
    tmp_path: Path, url: str, *args: str
) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run ``queuectl --db URL ARGS``; assert it printed one line on stderr, nothing on
    stdout, and exited 1. Returns the run and how long it took."""
    began = time.monotonic()
    done = cli(tmp_path / "home", "--db", url, *args, timeout=60)
    took = time.monotonic() - began
    assert done.returncode == 1, done.stderr
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1, done.stderr
    return done, took


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts TCP connections (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


@pytest.mark.parametrize(
    "args",
    [("list",), ("status", "--json"), ("enqueue", "--command", "true"), ("worker", "start")],
    ids=["list", "status", "enqueue", "worker-start"],
)
def test_refused_connection_is_one_clear_line_and_exit_1(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    url = "postgresql://postgres@127.0.0.1:1/x"
    done, took = failed_in_one_line(tmp_path, url, *args)
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith(
        "queuectl: error: PostgreSQL at postgresql://postgres@127.0.0.1:1/x"
    )
    assert took < 15, f"{args[0]} took {took:.1f}s to give up"
    print(f"{' '.join(args)}: exit 1 after {took:.2f}s: {done.stderr.strip()}")


def test_a_server_that_never_answers_is_given_up_on_in_bounded_time(
    tmp_path: Path, silent_server: int
) -> None:
    url = f"postgresql://postgres@127.0.0.1:{silent_server}/x"
    done, took = failed_in_one_line(tmp_path, url, "list")
    assert "Traceback" not in done.stderr
    assert f"127.0.0.1:{silent_server}" in done.stderr
    assert took < 15, f"list took {took:.1f}s to give up"
    print(f"silent server: exit 1 after {took:.2f}s: {done.stderr.strip()}")


def test_a_missing_database_is_named_in_the_one_line(tmp_path: Path, pg_database: str) -> None:
    """The server answered: say what it said, not "cannot reach the server"."""
    url = pg_database.rpartition("/")[0] + "/queuectl_no_such_database"
    done, took = failed_in_one_line(tmp_path, url, "list")
    assert 'database "queuectl_no_such_database" does not exist' in done.stderr
    assert took < 15
