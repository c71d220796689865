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

The CI-sized run is ``tests/reliability/test_chaos.py``; the full-size one (``make
chaos``: 3,000 jobs, one minute of kills, on SQLite and PostgreSQL) is
``scripts/chaos.py``, which runs this module outside pytest.
"""

from __future__ import annotations

import collections
import itertools
import json
import os
import random
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from tests.support.cli import Worker
from tests.support.harness import FAST, Queuectl
from tests.support.jobs import Run
from tests.support.polling import poll
from tests.support.processes import kill_pids, pids_with_env, running

if TYPE_CHECKING:
    from queuectl.models import Attempt

# A worker and its jobs carry WORKER_VAR=<its serial number>: how a killed worker's jobs
# are found.
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
        *FAST,
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


# --- the run -------------------------------------------------------------------------------
class Chaos:
    """One chaos run against the queue ``db`` (None: SQLite in ``folder``/home).

    Use as a context manager: every process it started is ended on exit.
    """

    def __init__(self, folder: Path, db: str | None, settings: Settings | None = None) -> None:
        self.folder = folder
        self.db = db
        self.settings = settings or Settings()
        self.random = random.Random(self.settings.seed)
        self.side = folder / "side"
        self.queue = Queuectl(folder, db)  # it ends every process of this run
        self.location = db if db is not None else os.fspath(self.queue.home / "queuectl.db")
        self.serial = 0
        self.report = Report("postgres" if db else "sqlite", self.settings.jobs)
        self.ids: list[str] = []

    def __enter__(self) -> Chaos:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.queue.cleanup()

    # --- the CLI ---------------------------------------------------------------------
    def cli(self, *args: str, timeout: float = 120) -> str:
        return self.queue.run(*args, timeout=timeout).stdout

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = json.loads(self.cli("status", "--json"))["jobs"]
        return found

    def start_worker(self, count: int) -> tuple[int, Worker]:
        """A worker with ``count`` slots; its serial number marks it and its jobs."""
        self.serial += 1
        env = {WORKER_VAR: str(self.serial)}
        worker = self.queue.start_worker("--count", str(count), env=env, name=str(self.serial))
        return self.serial, worker

    def kill(self, serial: int, worker: Worker) -> Kill:
        """SIGKILL the worker's process group, then watch its jobs die (the fence)."""
        at = time.time()
        worker.kill_group(timeout=30)
        marker = f"{WORKER_VAR}={serial}"
        left: list[int] = []

        def gone() -> bool:
            left[:] = [pid for pid in pids_with_env(marker) if running(pid)]
            return not left

        if poll(gone, self.settings.fence_deadline, interval=0.005):
            kill = Kill(serial, worker.pid, at, time.time() - at, [])
        else:
            kill = Kill(serial, worker.pid, at, None, list(left))
            kill_pids(left)
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
            self.kill(*victim)
            live[live.index(victim)] = self.start_worker(s.slots)
            next_kill = time.monotonic() + self.random.uniform(0.5, 1.5) * s.kill_every
        for victim in live:  # the chaos ends with a kill of every worker left
            self.kill(*victim)
        self.report.chaos_seconds = time.monotonic() - began
        self.report.completed_after_chaos = self.counts()["completed"]

    def drain(self) -> None:
        s = self.settings
        began = time.monotonic()
        _, final = self.start_worker(s.processes * s.slots)
        poll(
            lambda: self.counts()["completed"] == s.jobs or final.proc.poll() is not None,
            s.drain_timeout,
            interval=0.2,
        )
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

        for worker in self.queue.workers:
            log = worker.log()
            for alarm in LOG_ALARMS:
                if alarm in log:
                    problems.append(f"worker {worker.pid} logged {alarm!r}:\n{log[-2000:]}")

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
