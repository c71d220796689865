#!/usr/bin/env python3
"""Chaos: SIGKILL workers at random while they run a queue of jobs, then check that
delivery was at-least-once and never "twice at the same time".

Every job appends ``start ID ATTEMPT TIME PID`` and ``end ID ATTEMPT TIME`` to a side
file. Worker processes (``worker start --count N``, each in its own session) are
killed with SIGKILL on their whole process group about once a second and replaced;
after each kill we watch the fence end that worker's jobs. Then every chaos worker
is killed, one final worker drains the queue, and the run is judged:

- every job ends ``completed``, none ``processing``;
- every job's side effect (its ``end`` line) happened at least once;
- a side effect that happened more than once is explained by ``worker_lost``
  attempts: every run that wrote ``end`` except the one recorded ``succeeded`` ended
  ``worker_lost`` (its worker was killed, or fenced, before it could record it);
- no run started twice, and runs of one job never overlapped in time;
- the jobs of a killed worker died with it (the fence), none outlived it;
- no worker printed a traceback or "database is locked".

The CI-sized run is ``tests/reliability/test_chaos.py``; the full-size one is this
script (``make chaos``): 3,000 jobs, one minute of kills, on SQLite and PostgreSQL.
It is independent of the test suite; the tests import it.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

TYPE_CHECKING = False
if TYPE_CHECKING:
    from queuectl.models import Attempt

QUEUECTL = (sys.executable, "-m", "queuectl")
_INHERITED = ("QUEUECTL_DB", "QUEUECTL_DB_PATH", "QUEUECTL_HOME", "XDG_DATA_HOME")
ADMIN_URL = os.environ.get("QUEUECTL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
# Every process of a chaos run carries RUN_VAR=<run id>; a worker and its jobs also
# carry WORKER_VAR=<its serial number>, which is how a killed worker's jobs are found.
RUN_VAR = "QUEUECTL_CHAOS_RUN"
WORKER_VAR = "QUEUECTL_CHAOS_WORKER"
# The job: its side effect with times (bash: $EPOCHREALTIME costs no fork).
JOB_SCRIPT = (
    'echo "start $QUEUECTL_JOB_ID $QUEUECTL_ATTEMPT $EPOCHREALTIME $$" >> "$1"; '
    'sleep "$2"; '
    'echo "end $QUEUECTL_JOB_ID $QUEUECTL_ATTEMPT $EPOCHREALTIME" >> "$1"'
)
LOG_ALARMS = ("Traceback", "database is locked")


@dataclass
class Settings:
    """The size and pace of one run."""

    jobs: int = 300
    duration: float = 15.0  # seconds of kills
    processes: int = 2  # worker processes alive at any time during the chaos
    slots: int = 2  # --count of each
    kill_every: float = 1.0  # mean seconds between kills (uniform 0.5x..1.5x)
    job_sleep: float = 0.1  # most jobs sleep uniform(0, job_sleep) seconds
    long_jobs: int = 10  # this many jobs (spread out) sleep long_sleep instead
    long_sleep: float = 2.5  # longer than fence_deadline: an orphan would be caught alive
    fence_deadline: float = 1.5  # a killed worker's jobs must be gone by then
    drain_timeout: float = 120.0
    seed: int | None = None
    queue_settings: tuple[tuple[str, str], ...] = (
        ("heartbeat", "1"),
        ("lease", "3"),
        ("backoff-base", "1"),
        # at-least-once is the point: a job hit by many kills must not land in the DLQ
        ("max-retries", "1000"),
    )


@dataclass
class Kill:
    serial: int  # the worker's serial number
    pid: int
    at: float  # wall clock (time.time) just before the SIGKILL
    fence_latency: float | None  # seconds until its last job process was gone
    orphans: list[int]  # job processes still alive after fence_deadline (then killed)


@dataclass
class Run:
    """One run of one job, as its side effects recorded it."""

    attempt: int
    start: float
    pid: int
    end: float | None = None


@dataclass
class Report:
    backend: str
    jobs: int
    kills: list[Kill] = field(default_factory=list)
    chaos_seconds: float = 0.0
    drain_seconds: float = 0.0
    completed_after_chaos: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    runs: int = 0  # runs started (start lines)
    lost_attempts: int = 0  # attempts that ended worker_lost
    lost_without_kill: int = 0  # worker_lost attempts of workers we did not kill
    duplicates: dict[str, int] = field(default_factory=dict)  # job → side effects > 1
    max_rescue: float = 0.0  # kill → its lost attempt ended (lease expired, rescued)
    max_rerun: float = 0.0  # kill → the next run of that job started
    min_overlap_margin: float | None = None  # smallest gap between consecutive runs
    final_worker_exit: int | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def fence_latencies(self) -> list[float]:
        return sorted(k.fence_latency for k in self.kills if k.fence_latency is not None)

    def summary(self) -> str:
        fence = self.fence_latencies
        fence_text = (
            f"median {fence[len(fence) // 2] * 1000:.0f} ms, max {fence[-1] * 1000:.0f} ms"
            if fence
            else "n/a"
        )
        extra = sum(n - 1 for n in self.duplicates.values())
        margin = "n/a" if self.min_overlap_margin is None else f"{self.min_overlap_margin:.3f}s"
        lines = [
            f"[{self.backend}] jobs {self.jobs}: {self.counts}",
            f"  chaos {self.chaos_seconds:.1f}s, kills {len(self.kills)}, "
            f"{self.completed_after_chaos} completed during the chaos, "
            f"final drain {self.drain_seconds:.1f}s (worker exit {self.final_worker_exit})",
            f"  runs {self.runs}, worker_lost attempts {self.lost_attempts} "
            f"({self.lost_without_kill} of workers not killed)",
            f"  duplicates: {len(self.duplicates)} jobs ran their side effect more than once "
            f"({extra} extra), every one explained by worker_lost"
            if not any("unexplained" in p for p in self.problems)
            else f"  duplicates: {len(self.duplicates)} jobs (some unexplained)",
            f"  max recovery: {self.max_rescue:.2f}s from a kill to its lost attempts being "
            f"rescued (runnable again); {self.max_rerun:.2f}s to running again (a rescued "
            "job queues behind the backlog)",
            f"  fence after SIGKILL (last job process gone): {fence_text}; "
            f"smallest gap between runs of one job: {margin}",
            f"  problems: {len(self.problems)}",
        ]
        lines += [f"    - {p}" for p in self.problems[:30]]
        return "\n".join(lines)


# --- processes in /proc ------------------------------------------------------------------
def alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie has ended (its parent may reap it late)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return False
    return data[data.rfind(b")") + 2 :][:1] not in (b"Z", b"X")


def pids_with_env(entry: str) -> list[int]:
    """Processes whose environment holds exactly ``entry`` (``NAME=value``)."""
    wanted = os.fsencode(entry)
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as handle:
                environ = handle.read()
        except OSError:
            continue
        if wanted in environ.split(b"\0"):
            found.append(int(name))
    return found


def kill_all(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


# --- the run -------------------------------------------------------------------------------
@dataclass
class WorkerProc:
    serial: int
    proc: subprocess.Popen[bytes]
    log: Path


class Chaos:
    """One chaos run against the queue ``db`` (None: SQLite in ``folder``/home).

    Use as a context manager: every process it started is ended on exit.
    """

    def __init__(self, folder: Path, db: str | None, settings: Settings | None = None) -> None:
        self.folder = folder
        self.home = folder / "home"
        self.db = db
        self.settings = settings or Settings()
        self.random = random.Random(self.settings.seed)
        self.side = folder / "side"
        self.run_id = uuid.uuid4().hex
        self.env = {k: v for k, v in os.environ.items() if k not in _INHERITED}
        self.env["QUEUECTL_HOME"] = os.fspath(self.home)
        self.env[RUN_VAR] = self.run_id
        self.env["PYTHONDONTWRITEBYTECODE"] = "1"
        if db is not None:
            self.env["QUEUECTL_DB"] = db
        self.location = db if db is not None else os.fspath(self.home / "queuectl.db")
        self.workers: list[WorkerProc] = []  # every worker ever started
        self.serial = 0
        self.report = Report("postgres" if db else "sqlite", self.settings.jobs)
        self.ids: list[str] = []

    def __enter__(self) -> Chaos:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- the CLI ---------------------------------------------------------------------
    def cli(self, *args: str, timeout: float = 120) -> str:
        done = subprocess.run(
            [*QUEUECTL, *args],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.folder,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"queuectl {' '.join(args)} exited {done.returncode}: {done.stderr}")
        return done.stdout

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = json.loads(self.cli("status", "--json"))["jobs"]
        return found

    def start_worker(self, count: int) -> WorkerProc:
        self.serial += 1
        log = self.folder / f"worker-{self.serial}.log"
        env = {**self.env, WORKER_VAR: str(self.serial)}
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [*QUEUECTL, "worker", "start", "--count", str(count)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                env=env,
                cwd=self.folder,
                start_new_session=True,  # its pid is its process group
            )
        worker = WorkerProc(self.serial, proc, log)
        self.workers.append(worker)
        return worker

    def kill(self, worker: WorkerProc) -> Kill:
        """SIGKILL the worker's process group, then watch its jobs die (the fence)."""
        at = time.time()
        try:
            os.killpg(worker.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        worker.proc.wait(30)
        marker = f"{WORKER_VAR}={worker.serial}"
        deadline = time.monotonic() + self.settings.fence_deadline
        while True:
            left = [pid for pid in pids_with_env(marker) if alive(pid)]
            if not left:
                kill = Kill(worker.serial, worker.proc.pid, at, time.time() - at, [])
                break
            if time.monotonic() > deadline:
                kill = Kill(worker.serial, worker.proc.pid, at, None, left)
                kill_all(left)
                break
            time.sleep(0.005)
        self.report.kills.append(kill)
        return kill

    # --- phases ------------------------------------------------------------------------
    def prepare(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for key, value in self.settings.queue_settings:
            self.cli("config", "set", key, value)
        jobs = []
        width = len(str(self.settings.jobs))
        long_ones = set(self.random.sample(range(self.settings.jobs), self.settings.long_jobs))
        for n in range(self.settings.jobs):
            long = n in long_ones
            pause = (
                self.settings.long_sleep
                if long
                else round(self.random.uniform(0, self.settings.job_sleep), 3)
            )
            job_id = f"job-{n:0{width}d}"
            self.ids.append(job_id)
            command = ["bash", "-c", JOB_SCRIPT, "chaos-job", os.fspath(self.side), f"{pause:g}"]
            jobs.append(json.dumps({"id": job_id, "command": command}) + "\n")
        jobs_file = self.folder / "jobs.jsonl"
        jobs_file.write_text("".join(jobs))
        self.cli("enqueue", "--file", os.fspath(jobs_file))

    def chaos(self) -> None:
        s = self.settings
        live = [self.start_worker(s.slots) for _ in range(s.processes)]
        began = time.monotonic()
        next_kill = began + self.random.uniform(0.5, 1.5) * s.kill_every
        while time.monotonic() - began < s.duration:
            time.sleep(max(0.0, min(next_kill, began + s.duration) - time.monotonic()))
            if time.monotonic() - began >= s.duration:
                break
            victim = self.random.choice(live)
            self.kill(victim)
            live[live.index(victim)] = self.start_worker(s.slots)
            next_kill = time.monotonic() + self.random.uniform(0.5, 1.5) * s.kill_every
        for worker in live:  # the chaos ends with a kill of every worker left
            self.kill(worker)
        self.report.chaos_seconds = time.monotonic() - began
        self.report.completed_after_chaos = self.counts()["completed"]

    def drain(self) -> None:
        s = self.settings
        began = time.monotonic()
        final = self.start_worker(s.processes * s.slots)
        deadline = began + s.drain_timeout
        while True:
            counts = self.counts()
            if counts["completed"] == s.jobs or time.monotonic() > deadline:
                break
            if final.proc.poll() is not None:
                break
            time.sleep(0.2)
        self.report.drain_seconds = time.monotonic() - began
        if final.proc.poll() is None:
            final.proc.send_signal(signal.SIGTERM)
            try:
                final.proc.wait(30)
            except subprocess.TimeoutExpired:
                pass
        self.report.final_worker_exit = final.proc.poll()

    def run(self) -> Report:
        self.prepare()
        self.chaos()
        self.drain()
        self.judge()
        return self.report

    # --- the verdict -----------------------------------------------------------------------
    def side_runs(self) -> tuple[dict[str, dict[int, Run]], list[str]]:
        runs: dict[str, dict[int, Run]] = collections.defaultdict(dict)
        problems = []
        ends: list[tuple[str, int, float]] = []
        text = self.side.read_text() if self.side.exists() else ""
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 5 and parts[0] == "start":
                job_id, attempt = parts[1], int(parts[2])
                if attempt in runs[job_id]:
                    problems.append(f"job {job_id} attempt {attempt} started twice")
                runs[job_id][attempt] = Run(attempt, float(parts[3]), int(parts[4]))
            elif len(parts) == 4 and parts[0] == "end":
                ends.append((parts[1], int(parts[2]), float(parts[3])))
            else:
                problems.append(f"malformed side-file line {line!r}")
        for job_id, attempt, when in ends:
            run = runs.get(job_id, {}).get(attempt)
            if run is None:
                problems.append(f"job {job_id} attempt {attempt} ended without a start")
            elif run.end is not None:
                problems.append(f"job {job_id} attempt {attempt} ended twice")
            else:
                run.end = when
        return runs, problems

    def judge(self) -> None:
        from queuectl import Queue

        report = self.report
        problems = report.problems
        report.counts = self.counts()
        if report.counts.get("completed") != report.jobs:
            problems.append(f"not every job completed: {report.counts}")
        if report.counts.get("processing"):
            problems.append(f"{report.counts['processing']} jobs still processing")
        if sum(report.counts.values()) != report.jobs:
            problems.append(
                f"the queue holds {sum(report.counts.values())} jobs, not {report.jobs}"
            )
        if report.final_worker_exit != 0:
            problems.append(f"the final worker exited {report.final_worker_exit}")

        for kill in report.kills:
            if kill.orphans:
                problems.append(
                    f"worker {kill.pid}: job processes {kill.orphans} outlived it by "
                    f"{self.settings.fence_deadline:g}s (no fence)"
                )
        killed_at = {k.pid: k for k in report.kills}
        runs, side_problems = self.side_runs()
        problems += side_problems
        report.runs = sum(len(r) for r in runs.values())

        with Queue(self.location) as queue:
            for job_id in self.ids:
                attempts = {a.run: a for a in queue.attempts(job_id)}
                job_runs = runs.get(job_id, {})
                if set(job_runs) - set(attempts):
                    problems.append(
                        f"job {job_id}: runs {sorted(set(job_runs) - set(attempts))} "
                        "have no attempt row"
                    )
                ended = sorted(r.attempt for r in job_runs.values() if r.end is not None)
                if not ended:
                    problems.append(f"job {job_id}: its side effect never happened")
                if len(ended) > 1:
                    report.duplicates[job_id] = len(ended)
                succeeded = [n for n, a in attempts.items() if a.outcome == "succeeded"]
                if len(succeeded) != 1:
                    problems.append(f"job {job_id}: {len(succeeded)} succeeded attempts")
                elif succeeded[0] not in ended:
                    problems.append(
                        f"job {job_id}: attempt {succeeded[0]} recorded succeeded "
                        "but its side effect did not happen"
                    )
                for run in ended:
                    outcome = attempts[run].outcome if run in attempts else None
                    if run not in succeeded and outcome != "worker_lost":
                        problems.append(
                            f"job {job_id}: unexplained duplicate: attempt {run} did the "
                            f"work but ended {outcome!r}, not worker_lost"
                        )
                for attempt in attempts.values():
                    if attempt.outcome != "worker_lost":
                        continue
                    report.lost_attempts += 1
                    lost = killed_at.get(int(attempt.worker.split(":")[-2]))
                    if lost is None:
                        report.lost_without_kill += 1
                        continue
                    if attempt.finished_at is not None:
                        report.max_rescue = max(report.max_rescue, attempt.finished_at - lost.at)
                    following = attempts.get(attempt.run + 1)
                    if following is not None:
                        report.max_rerun = max(report.max_rerun, following.started_at - lost.at)
                self._check_overlap(job_id, job_runs, attempts, killed_at)

        for worker in self.workers:
            log = worker.log.read_text(errors="replace") if worker.log.exists() else ""
            for alarm in LOG_ALARMS:
                if alarm in log:
                    problems.append(f"worker {worker.proc.pid} logged {alarm!r}:\n{log[-2000:]}")

    def _check_overlap(
        self,
        job_id: str,
        job_runs: dict[int, Run],
        attempts: dict[int, Attempt],
        killed: dict[int, Kill],
    ) -> None:
        """Consecutive runs of one job: the earlier one was over before the later began.

        A run that wrote ``end`` was over then; a run killed before its ``end`` was over
        once its worker's jobs were seen gone (the kill time plus the fence latency).
        """
        report = self.report
        ordered = sorted(job_runs.values(), key=lambda r: r.attempt)
        for earlier, later in itertools.pairwise(ordered):
            over: float | None = earlier.end
            if over is None:
                row = attempts.get(earlier.attempt)
                victim = killed.get(int(row.worker.split(":")[-2])) if row else None
                if victim is not None and victim.fence_latency is not None:
                    over = victim.at + victim.fence_latency
            if over is None:
                continue
            margin = later.start - over
            if margin < 0:
                report.problems.append(
                    f"job {job_id}: attempt {later.attempt} started {-margin:.3f}s before "
                    f"attempt {earlier.attempt} was over (overlap)"
                )
            if report.min_overlap_margin is None or margin < report.min_overlap_margin:
                report.min_overlap_margin = margin

    # --- clean-up ---------------------------------------------------------------------
    def close(self) -> None:
        """End every process of this run: workers by process group, then anything left."""
        for worker in self.workers:
            if worker.proc.poll() is None:
                try:
                    os.killpg(worker.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                worker.proc.wait(30)
            except subprocess.TimeoutExpired:
                pass
        deadline = time.monotonic() + 10
        marker = f"{RUN_VAR}={self.run_id}"
        while True:
            left = [pid for pid in pids_with_env(marker) if alive(pid)]
            if not left or time.monotonic() > deadline:
                break
            kill_all(left)
            time.sleep(0.05)


# --- the full-size run, outside pytest -------------------------------------------------------
def _create_database(admin_url: str) -> tuple[str, str]:
    import psycopg

    name = f"queuectl_chaos_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = admin_url.rpartition("/")
    return name, f"{base}/{name}"


def _drop_database(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_backend(backend: str, settings: Settings, admin_url: str, keep: bool) -> Report:
    folder = Path(tempfile.mkdtemp(prefix=f"queuectl-chaos-{backend}-"))
    database = None
    try:
        db = None
        if backend == "postgres":
            database, db = _create_database(admin_url)
        with Chaos(folder, db, settings) as chaos:
            return chaos.run()
    finally:
        if database is not None:
            _drop_database(admin_url, database)
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
