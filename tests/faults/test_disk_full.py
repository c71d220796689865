"""A full disk: under the queue while enqueuing, and under the logs while a job writes.

The disk is a small tmpfs (we run as root). Where mounting is impossible, the tests fall
back to ``RLIMIT_FSIZE`` on the queuectl process (writes past the limit fail with EFBIG,
as Python ignores SIGXFSZ), and then check everything but the wording of the message.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.faults.support import (
    TRACEBACK,
    Mounts,
    MountUnavailable,
    Ran,
    assert_clean_error,
    assert_no_traceback,
    dump,
    fill,
    integrity,
    jsonl,
    run_cli,
)
from tests.support.cli import QUEUECTL, cli_env, cli_json, cli_ok
from tests.support.jobs import gate_wait
from tests.support.polling import wait_for

WORKER_DEADLINE = 90.0  # a --burst worker over these few jobs takes a second or two


@dataclass
class Disk:
    """Where a queue's home lives, and how to make its disk full or free again."""

    root: Path
    mounted: bool
    limit: int | None = None  # RLIMIT_FSIZE in bytes (fallback mode), while "full"
    junk: list[Path] = field(default_factory=list)

    @property
    def how(self) -> str:
        return "tmpfs" if self.mounted else "RLIMIT_FSIZE"

    def fill(self, leave: int = 0) -> None:
        """Leave ``leave`` bytes free (0: nothing at all)."""
        if self.mounted:
            self.junk.append(fill(self.root, leave))
        else:
            # 4 KiB: not even SQLite's 32 KiB shared-memory file or one WAL frame fits
            self.limit = leave or 4096

    def free(self) -> None:
        for junk in self.junk:
            junk.unlink()
        self.junk.clear()
        self.limit = None

    def preexec(self) -> Callable[[], None] | None:
        if self.limit is None:
            return None
        limit = self.limit
        return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def small_disk(tmp_path: Path, mounts: Mounts, size: str) -> Disk:
    root = tmp_path / "disk"
    try:
        mounts.tmpfs(root, size)
        return Disk(root, mounted=True)
    except MountUnavailable:
        root.mkdir(exist_ok=True)
        return Disk(root, mounted=False)


def queue_on_small_disk(tmp_path: Path, mounts: Mounts, size: str) -> tuple[Disk, Path, Path]:
    """A queue on a small disk holding one job, ``before``: the disk, ``home``, the db."""
    disk = small_disk(tmp_path, mounts, size)
    home = disk.root / "home"
    db = home / "queuectl.db"
    cli_ok(home, "enqueue", "--id", "before", "--command", "echo before")
    return disk, home, db


def many_jobs(prefix: str, count: int, width: int = 300) -> list[dict[str, object]]:
    return [{"id": f"{prefix}{n}", "command": "echo " + "x" * width} for n in range(count)]


def listed_ids(home: Path) -> list[str]:
    return [job["id"] for job in cli_json(home, "list", "--json")]


# --- the queue's disk -------------------------------------------------------------------
def test_enqueue_on_a_full_disk_fails_cleanly_and_leaves_the_queue_intact(
    tmp_path: Path, mounts: Mounts
) -> None:
    disk, home, db = queue_on_small_disk(tmp_path, mounts, "1m")
    before = dump(db)
    batch = tmp_path / "jobs.jsonl"  # off the full disk: only the queue's writes fail
    batch.write_text(jsonl(many_jobs("b", 1000, width=100)))

    disk.fill()
    one = run_cli(home, "enqueue", "--id", "one", "--command", "true", preexec=disk.preexec())
    bulk = run_cli(home, "enqueue", "--file", batch, preexec=disk.preexec())
    disk.free()

    # the queue survived: intact, readable, and holding exactly what it held
    assert integrity(db) == "ok"
    assert listed_ids(home) == ["before"]
    assert dump(db) == before
    # and it works again once there is room: the whole batch goes in
    assert len(cli_ok(home, "enqueue", "--file", batch).stdout.split()) == 1000
    assert len(listed_ids(home)) == 1001

    # what the user saw: one line, exit 1, naming the queue and (on a real disk) the cause
    for ran in (one, bulk):
        assert_clean_error(ran, 1, str(db))
    if disk.mounted:
        for ran in (one, bulk):
            assert_says_disk_full(ran, db)


def test_a_batch_larger_than_the_free_space_is_all_or_nothing(
    tmp_path: Path, mounts: Mounts
) -> None:
    disk, home, db = queue_on_small_disk(tmp_path, mounts, "8m")
    batch = tmp_path / "jobs.jsonl"
    batch.write_text(jsonl(many_jobs("b", 6000)))  # ~3 MB of rows, and as much WAL
    before = dump(db)

    disk.fill(leave=256 * 1024)
    # a small write still fits: the disk is nearly full, not broken
    small = run_cli(home, "enqueue", "--id", "small", "--command", "true", preexec=disk.preexec())
    assert small.code == 0, small
    bulk = run_cli(home, "enqueue", "--file", batch, preexec=disk.preexec())
    disk.free()

    assert integrity(db) == "ok"
    ids = listed_ids(home)
    assert ids == ["before", "small"], f"half a batch was written: {len(ids)} jobs"
    assert [line for line in dump(db) if "'b0'" in line or "'b5999'" in line] == []
    assert len(before) + 1 == len(dump(db))
    assert len(cli_ok(home, "enqueue", "--file", batch).stdout.split()) == 6000

    assert_clean_error(bulk, 1, str(db))
    if disk.mounted:
        assert_says_disk_full(bulk, db)


def assert_says_disk_full(ran: Ran, db: Path) -> None:
    text = ran.err.replace(str(db), "<db>").lower()  # the path may hold "full" too
    assert "full" in text or "no space" in text, f"the message does not say the disk is full\n{ran}"


# --- the logs' disk ---------------------------------------------------------------------
def run_burst(home: Path, preexec: Callable[[], None] | None = None, dead: bool = False) -> Ran:
    """A burst run over the queue; ``dead``: a job it runs ends dead, so it exits 1."""
    worker = run_cli(home, "worker", "start", "--burst", timeout=WORKER_DEADLINE, preexec=preexec)
    assert worker.code == (1 if dead else 0), worker
    assert_no_traceback(worker)
    return worker


def shown(home: Path, job_id: str) -> dict[str, object]:
    job: dict[str, object] = cli_json(home, "show", job_id, "--json")
    return job


def test_a_job_that_fills_the_log_disk_is_recorded_and_the_worker_carries_on(
    tmp_path: Path, mounts: Mounts
) -> None:
    home = tmp_path / "home"
    flood = "head -c 4000000 /dev/zero"  # 4 MB of output into a 256 KiB log disk
    try:
        mounts.tmpfs(home / "logs", "256k")
    except MountUnavailable:
        # only the job's subshell is limited (not the worker's own files, nor the job's
        # shell, which reports the signal): writes past 256 KiB get SIGXFSZ
        flood = f"(ulimit -f 512; {flood})"
    cli_ok(home, "enqueue", "--id", "flood", "--max-retries", "0", "--command", flood)
    cli_ok(home, "enqueue", "--id", "flood-ok", "--command", f"{flood}; exit 0")
    cli_ok(home, "enqueue", "--id", "after", "--command", "true")

    run_burst(home, dead=True)

    flooded = shown(home, "flood")
    assert flooded["state"] == "dead"  # it failed (its output could not be written)
    history = flooded["history"]
    assert isinstance(history, list) and len(history) == 1
    assert history[0]["finished_at"] is not None and history[0]["outcome"] != "completed"
    assert shown(home, "flood-ok")["state"] == "completed"  # the job's own verdict counts
    assert shown(home, "after")["state"] == "completed"  # the worker kept serving
    log = cli_ok(home, "logs", "flood")
    assert 0 < len(log.stdout) <= 4_000_000


def _fill_inodes(folder: Path) -> None:
    for n in range(10_000):
        try:
            (folder / f"inode-{n}").touch()
        except OSError:
            return
    raise AssertionError("the tmpfs never ran out of inodes")


@pytest.mark.parametrize("how", ["no-inodes", "read-only", "not-a-folder"])
def test_a_job_whose_log_cannot_be_created_still_runs_and_is_recorded(
    tmp_path: Path, mounts: Mounts, how: str
) -> None:
    home = tmp_path / "home"
    cli_ok(home, "enqueue", "--id", "loud", "--command", "echo hello; echo oops >&2")
    cli_ok(home, "enqueue", "--id", "fails", "--max-retries", "0", "--command", "exit 3")
    logs = home / "logs"
    try:
        if how == "no-inodes":
            _fill_inodes(mounts.tmpfs(logs, "1m", inodes=8))
        elif how == "read-only":
            mounts.tmpfs(logs, "1m", ro=True)
    except MountUnavailable as exc:
        if os.environ.get("CI") == "true":  # CI runs as root: mounts must work
            raise
        pytest.skip(f"no tmpfs ({exc}); not-a-folder covers this; fails under CI")
    if how == "not-a-folder":
        logs.write_text("a file where the logs folder should be\n")

    worker = run_burst(home, dead=True)

    assert "cannot write its log" in worker.err, worker
    loud = shown(home, "loud")
    assert loud["state"] == "completed"
    history = loud["history"]
    assert isinstance(history, list) and history[0]["log_path"] is None
    fails = shown(home, "fails")
    assert (fails["state"], fails["exit_code"]) == ("dead", 3)
    # `logs` of an attempt without a log file: no crash
    assert_no_traceback(run_cli(home, "logs", "loud"))
    if how == "not-a-folder":
        assert logs.read_text() == "a file where the logs folder should be\n"  # untouched


# --- the queue's disk fills while a worker runs ------------------------------------------
def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", "rb") as handle:
        fields = handle.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_worker_whose_queue_disk_fills_waits_calmly_and_catches_up(
    tmp_path: Path, mounts: Mounts
) -> None:
    """A job ends while the queue's disk is full: its result cannot be written. The
    worker must keep it and retry at a calm pace (not spin on the CPU and flood its
    log, which may well be on that same full disk), then record it once there is room."""
    disk = small_disk(tmp_path, mounts, "2m")
    home = disk.root / "home"
    gate = tmp_path / "gate"
    wait = gate_wait(gate)  # prints nothing: no log needed
    cli_ok(home, "enqueue", "--id", "gated", "--command", wait)
    cli_ok(home, "enqueue", "--id", "next", "--command", "true")
    said = tmp_path / "worker.log"  # off the full disk
    with open(said, "wb") as out:
        worker = subprocess.Popen(
            [*QUEUECTL, "worker", "start"],
            env=cli_env(home),
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    try:
        wait_for(lambda: "started" in said.read_text(), timeout=20, what="the worker to start")
        wait_for(lambda: _state(home / "queuectl.db", "gated") == "processing", timeout=20)
        if disk.mounted:
            disk.fill()
        else:
            resource.prlimit(worker.pid, resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))
        gate.touch()
        wait_for(lambda: "queue error" in said.read_text(), timeout=20, what="a queue error")
        lines, cpu = said.read_text().count("\n"), _cpu_seconds(worker.pid)
        time.sleep(OBSERVED)  # an observation window, not a wait for an event
        lines, cpu = said.read_text().count("\n") - lines, _cpu_seconds(worker.pid) - cpu
        disk.free()
        if not disk.mounted:
            unlimited = (resource.RLIM_INFINITY, resource.RLIM_INFINITY)
            resource.prlimit(worker.pid, resource.RLIMIT_FSIZE, unlimited)
        wait_for(
            lambda: _state(home / "queuectl.db", "next") == "completed",
            timeout=30,
            what="the worker to catch up",
        )
        assert _state(home / "queuectl.db", "gated") == "completed"
        assert worker.poll() is None, "the worker died"
    finally:
        gate.touch()
        disk.free()
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=WORKER_DEADLINE)
    assert worker.returncode == 0
    assert not TRACEBACK.search(said.read_text())
    assert lines <= 5 * OBSERVED, f"{lines} lines in {OBSERVED}s while the disk was full"
    assert cpu < 0.5 * OBSERVED, f"{cpu:.2f}s of CPU in {OBSERVED}s while the disk was full"


OBSERVED = 2.0


def _state(db: Path, job_id: str) -> str | None:
    import sqlite3

    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            found = conn.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return None  # e.g. the disk is full: SQLite cannot map the -shm file
    return str(found[0][0]) if found else None
