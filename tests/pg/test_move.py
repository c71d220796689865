"""A queue moves between engines with ``export --with-history | import`` and nothing is
lost or changed: 10,000 jobs with their attempts, from SQLite to PostgreSQL and back,
every job as ``show --json`` shows it, output tails, counts and the export itself
alike. The queue is made through the storage protocol (turns of many slots), then moved
through the real CLI."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from queuectl.api import Queue
from queuectl.backends import open_backend
from queuectl.backends.base import Backend
from queuectl.cli.jobs import job_json
from queuectl.jobspec import check_job
from queuectl.lifecycle import Failed, Finished, Policy, SpawnError, Succeeded, TimedOut, decide
from tests.support.cli import cli_ok

JOBS = 10_000
SLOTS = 100  # claimers per turn
# retries due at once: the queue's history fills in turns, not in backoff time
POLICY = Policy(backoff_base=1.0, max_backoff=0.0)


@pytest.fixture
def schema(pg_database: str) -> Iterator[str]:
    name = f"moved_{uuid.uuid4().hex[:8]}"
    yield f"{pg_database}?schema={name}"
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def job_of(n: int, now: float) -> dict[str, Any]:
    """Job ``n`` of the queue: commands, queues, options and dependencies of every kind."""
    job: dict[str, Any] = {
        "id": f"job-{n:05d}",
        "command": f'echo "it\'s job {n} — ünïcode, $HOME" | tr a-z A-Z'
        if n % 3
        else ["printf", "%s\\n", f"argv {n}", "a b"],
        "max_retries": n % 3,
        "priority": n % 7 - 3,
        "queue": ("default", "io", "gpu")[n % 3],
    }
    if n % 5 == 0:
        job["tags"] = ["nightly", f"team={n % 4}"]
    if n % 11 == 0:
        job["env"] = {"TOKEN": f"secret-{n}", "MODE": "fast"}
    if n % 13 == 0:
        job["timeout"] = 30 + n % 60
    if n % 17 == 0:
        job["cwd"] = "/tmp"
    if n % 19 == 0:
        job["no_retry_on"] = [2, 64]
    if n % 23 == 0:
        job["unique_key"] = f"key-{n}"
    if n % 29 == 0:
        job["delay"] = 3600 + n  # pending, for later
    if n % 10 == 9:
        job["after"] = [f"job-{n - 1:05d}", f"job-{n - 2:05d}"]
        job["after_mode"] = ("success", "done")[n % 20 == 19]
    return job


def outcome_of(job_id: str, run: int) -> Any:
    """What run ``run`` of a job ends with: mostly success, some failures of each kind."""
    n = int(job_id.split("-")[1])
    pick = (n * 7 + run * 3) % 10
    if pick < 6:
        return Succeeded()
    if pick < 8:
        return Failed(2 if n % 19 == 0 else 3)
    if pick < 9:
        return TimedOut(30.0)
    return SpawnError("cannot run 'nope': No such file or directory", 127)


def build(backend: Backend) -> None:
    """Enqueue the jobs and run them, turn after turn, until what can run has ended;
    a few are left running, some are cancelled or rerun."""
    now = backend.now()
    specs = [check_job(job_of(n, now), now) for n in range(JOBS)]
    backend.enqueue(specs, 3, now)
    backend.cancel([f"job-{n:05d}" for n in range(31, JOBS, 97)])
    claimers = [f"host-a:4242:{slot}" for slot in range(1, SLOTS + 1)]
    ending: list[Finished] = []
    turns = 0
    while True:
        _, claimed = backend.exchange(ending, claimers, None, 3600)
        turns += 1
        if not claimed:
            break
        ending = []
        for job in claimed:
            if turns > 3 and int(job.id.split("-")[1]) % 211 == 0:
                continue  # left running: its worker holds it
            outcome = outcome_of(job.id, job.runs)
            # a few wait out a real backoff: failed, due later
            policy = Policy() if int(job.id.split("-")[1]) % 53 == 0 else POLICY
            step = decide(job, outcome, policy, backend.now())
            tail = f"run {job.runs} of {job.id}: ✓\n" if job.runs % 2 else None
            log = f"/var/lib/queuectl/logs/{job.id}.{job.runs}.log"
            ending.append(Finished(job, job.worker, step, outcome.name, log, tail))
    reruns = [f"job-{n:05d}" for n in range(3, JOBS, 301)]
    backend.rerun(reruns)
    _, claimed = backend.exchange([], claimers[:10], ["io"], 3600)
    done = [
        Finished(job, job.worker, decide(job, Succeeded(), POLICY, backend.now()), "succeeded")
        for job in claimed
    ]
    backend.exchange(done, [], None, 3600)


def shown(location: str) -> list[dict[str, Any]]:
    """Every job as ``show --json`` prints it (history included), with each attempt's
    stored tail, in enqueue order."""
    with Queue(location) as queue:
        found = []
        for job in queue.jobs():
            history = [a.to_dict() | {"log_tail": a.log_tail} for a in queue.attempts(job.id)]
            found.append({**job_json(job, queue.dependencies(job.id)), "history": history})
        return found


def assert_same(found: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    """Equal lists of jobs; else the first job that differs is shown, not 10,000."""
    assert len(found) == len(expected)
    for got, wanted in zip(found, expected, strict=True):
        assert got == wanted


def export(home: Path, location: str, path: Path) -> bytes:
    done = cli_ok(home, "--db", location, "export", "--with-history", "--with-env-values")
    path.write_text(done.stdout)
    assert done.stderr == f"exported {JOBS} jobs\n{_running_note(done.stderr)}"
    return path.read_bytes()


def _running_note(stderr: str) -> str:
    """The note on jobs still running, which the queue has (their worker holds them)."""
    return stderr.split("\n", 1)[1]


@pytest.mark.timeout(600)
def test_a_queue_moves_to_postgresql_and_back_with_nothing_lost_or_changed(
    tmp_path: Path, schema: str
) -> None:
    home = tmp_path / "home"
    source = str(home / "source.db")
    backend = open_backend(source)
    try:
        build(backend)
    finally:
        backend.close()
    before = shown(source)
    states = {job["state"] for job in before}
    assert states == {"completed", "dead", "failed", "cancelled", "pending", "processing",
                      "blocked"}, states  # fmt: skip
    assert sum(len(job["history"]) for job in before) > JOBS

    first = export(home, source, tmp_path / "a.jsonl")
    cli_ok(home, "--db", schema, "import", "--file", str(tmp_path / "a.jsonl"))
    assert_same(shown(schema), before)
    assert export(home, schema, tmp_path / "b.jsonl") == first, "see a.jsonl and b.jsonl"

    back = str(home / "back.db")
    cli_ok(home, "--db", back, "import", "--file", str(tmp_path / "b.jsonl"))
    assert_same(shown(back), before)
    assert export(home, back, tmp_path / "c.jsonl") == first, "see a.jsonl and c.jsonl"
    counts = [cli_ok(home, "--db", db, "status", "--json").stdout for db in (source, schema, back)]
    assert counts[0].split('"workers"')[0] == counts[1].split('"workers"')[0]
    assert counts[1].split('"workers"')[0] == counts[2].split('"workers"')[0]
