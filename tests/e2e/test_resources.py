"""What a job costs and what it may use, through the real CLI on every engine (issue 16,
parts 1 and 2): CPU and peak memory per attempt, with and without a cgroup; ``--limit``
enforced by a cgroup of the attempt's own where the worker can make one (root here: cgroup
v1), and by rlimits where it cannot (forced with QUEUECTL_LIMIT_MODE=rlimit).

The workers of these tests make their cgroup subtree under the cgroups this test process
is in (they are its descendants), and remove it when they exit: checked."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from queuectl.worker.confine import V1_CONTROLLERS, cgroup_mounts, cgroup_paths, find_tree
from tests.support.cli import one_line_error
from tests.support.harness import Queuectl
from tests.support.jobs import q
from tests.support.polling import wait_for
from tests.support.processes import pids_with_env, running

MIB = 1 << 20
PY = q(sys.executable)
# Allocates argv[1] MiB and touches every page (so it is resident), then writes argv[2]
# if given: a marker that it has ended.
ALLOC = """import sys
block = bytearray(int(sys.argv[1]) << 20)
for i in range(0, len(block), 4096):
    block[i] = 1
if len(sys.argv) > 2:
    open(sys.argv[2], "w").close()
"""
# One second of CPU in user mode: the clock is read every 200,000 steps only (reading it
# is a system call).
SPIN = """import time
start = time.process_time()
while time.process_time() - start < 1.0:
    for _ in range(200_000):
        pass
"""
# A fork bomb that limits itself: every process starts two more down to depth 6 (127 in
# all without a limit), each lives 3 s at most, the whole tree 20 s at most (the job's
# timeout); so a bug in the limit cannot take the machine down.
BOMB = """d=${1:-0}
if [ "$d" -lt 6 ]; then
  sh "$0" $((d + 1)) &
  sh "$0" $((d + 1)) &
fi
sleep 3
wait
"""


def _cgroups_usable() -> bool:
    tree = find_tree()
    if tree is None:
        return False
    tree.close()
    return True


CGROUPS = _cgroups_usable()


def _need_cgroups() -> None:
    """Skip where no cgroup can be made; under CI (root, this kind of machine) fail."""
    if not CGROUPS:
        assert os.environ.get("CI") != "true", "no cgroup can be made, and CI needs them"
        pytest.skip("no cgroup can be made here (fails under CI)")


needs_cgroups = pytest.mark.skipif(
    not CGROUPS and os.environ.get("CI") != "true",  # under CI the test runs, and fails
    reason="no cgroup can be made here (not root, or no controllers)",
)


def _script(qc: Queuectl, name: str, text: str) -> Path:
    path = qc.tmp / name
    path.write_text(text)
    return path


def _last(qc: Queuectl, job_id: str) -> dict[str, object]:
    history = qc.history(job_id)
    assert history, f"job {job_id} has no attempt"
    return history[-1]


def _subtrees(pid: int) -> list[str]:
    """The worker ``pid``'s cgroup subtree folders that still exist (v1 here)."""
    with open("/proc/self/cgroup") as handle:
        paths = cgroup_paths(handle.read())
    with open("/proc/self/mountinfo") as handle:
        mounts = cgroup_mounts(handle.read())
    found = []
    for controller in (*V1_CONTROLLERS, ""):
        if controller in paths and controller in mounts:
            point, _root = mounts[controller]
            folder = os.path.join(point, paths[controller].lstrip("/"), f"queuectl-{pid}")
            if os.path.isdir(folder):
                found.append(folder)
    return found


def _burst(qc: Queuectl, *args: str, env: dict[str, str] | None = None) -> str:
    """A burst worker run to its end; → its log (its subtree is checked to be gone)."""
    worker = qc.start_worker("--burst", *args, env=env)
    worker.wait(120)
    said = worker.log()
    found = re.search(r"worker \S+:(\d+) started", said)
    assert found, said
    assert _subtrees(int(found[1])) == [], "the worker left its cgroup subtree behind"
    return said


@pytest.mark.parametrize("limit", [None, "mem=1G"], ids=["no-limit", "cgroup"])
def test_a_grandchild_allocating_200_mb_is_counted(qc: Queuectl, limit: str | None) -> None:
    """Waited for by its parent, or orphaned (its parent ended first, so it outlives the
    job's direct child and is reaped by the worker): both count in the attempt's peak."""
    if limit is not None:
        _need_cgroups()
    alloc = _script(qc, "alloc.py", ALLOC)
    marker = qc.tmp / "orphan-done"
    flags = ("--limit", limit) if limit else ()
    waited = qc.enqueue(f"sh -c '{PY} {q(alloc)} 200'", *flags)
    orphan = qc.enqueue(
        f"( {PY} {q(alloc)} 200 {q(marker)} & ); i=0; "
        f"while [ ! -e {q(marker)} ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i + 1)); done; "
        "sleep 0.5",  # the orphan has ended meanwhile: the worker reaped it, as its subreaper
        *flags,
    )
    _burst(qc, "--count", "2")
    for job_id in (waited, orphan):
        last = _last(qc, job_id)
        assert last["outcome"] == "succeeded", last
        assert isinstance(last["max_rss_kb"], int) and last["max_rss_kb"] >= 200_000, last
    assert marker.exists()


@pytest.mark.parametrize("limit", [None, "pids=64"], ids=["no-limit", "cgroup"])
def test_a_cpu_bound_second_is_about_one_cpu_second(qc: Queuectl, limit: str | None) -> None:
    if limit is not None:
        _need_cgroups()
    spin = _script(qc, "spin.py", SPIN)
    job = qc.enqueue(f"{PY} {q(spin)}", *(("--limit", limit) if limit else ()))
    _burst(qc)
    last = _last(qc, job)
    user, system = last["cpu_user_s"], last["cpu_sys_s"]
    assert isinstance(user, float) and isinstance(system, float), last
    assert 0.85 <= user <= 1.5, last  # the interpreter's start-up comes on top
    assert 0.95 <= user + system <= 1.6, last  # a cgroup splits user and system by samples
    shown = qc.run("show", job).stdout
    assert re.search(r"USER\s+SYS\s+MAX RSS", shown), shown


@needs_cgroups
def test_a_job_over_its_memory_limit_ends_oom_is_retried_then_dead(qc: Queuectl) -> None:
    qc.fast_leases()
    alloc = _script(qc, "alloc.py", ALLOC)
    job = qc.enqueue(f"{PY} {q(alloc)} 200", "--limit", "mem=50M", "--max-retries", "1")
    said = _burst(qc)
    assert said.splitlines()[0].endswith("limits: cgroup v1"), said
    shown = qc.show(job)
    assert shown["state"] == "dead", shown
    assert shown["last_error"] == "killed at its memory limit (mem=50M)"
    assert shown["limits"] == {"mem": 50 * MIB}
    assert [a["outcome"] for a in shown["history"]] == ["oom", "oom"]
    for attempt in shown["history"]:
        assert attempt["max_rss_kb"] <= 51_200, attempt  # the group's peak: at the limit


@needs_cgroups
def test_a_pids_limit_stops_a_fork_bomb_and_the_machine_stays_responsive(
    qc: Queuectl,
) -> None:
    bomb = _script(qc, "bomb.sh", BOMB)
    job = qc.enqueue(f"sh {q(bomb)}", "--limit", "pids=20", "--timeout", "20", "--id", "bomb")
    worker = qc.start_worker("--burst")
    most = 0
    slowest = 0.0

    def ended() -> bool:
        nonlocal most, slowest
        most = max(most, len(pids_with_env("QUEUECTL_JOB_ID=bomb")))
        started = time.monotonic()
        subprocess.run(["true"], check=True)  # the machine still starts processes at once
        slowest = max(slowest, time.monotonic() - started)
        return qc.state(job) in ("completed", "failed", "dead")

    wait_for(ended, 60, what="the fork bomb's job to end", interval=0.1)
    worker.wait(60)
    assert 1 < most <= 20, most
    assert slowest < 2.0, slowest
    output = qc.run("logs", job).stdout
    assert re.search(r"[Cc]annot fork|Resource temporarily unavailable", output), output


def test_the_rlimit_mode_holds_what_rlimits_can(qc: Queuectl) -> None:
    """Forced, as where no cgroup can be made: mem is RLIMIT_AS (an allocation past it
    fails, so the job fails its own way: not oom), nofile RLIMIT_NOFILE, pids RLIMIT_NPROC
    (set, but it does not bind root: only checked as set)."""
    alloc = _script(qc, "alloc.py", ALLOC)
    hog = qc.enqueue(f"{PY} {q(alloc)} 200", "--limit", "mem=100M", "--max-retries", "0")
    files = qc.enqueue(
        "echo nofile=$(ulimit -n); echo nproc=$(ulimit -u 2>/dev/null || ulimit -p); "
        "exec 3</dev/null 4</dev/null 5</dev/null 6</dev/null 7</dev/null 8</dev/null 9</dev/null",
        "--limit",
        "nofile=8,pids=30",
    )
    said = _burst(qc, env={"QUEUECTL_LIMIT_MODE": "rlimit"})
    assert said.splitlines()[0].endswith("limits: rlimit"), said
    shown = qc.show(hog)
    assert shown["state"] == "dead"
    assert shown["history"][0]["outcome"] == "failed"  # MemoryError, exit code 1
    assert "MemoryError" in qc.run("logs", hog).stdout
    output = qc.run("logs", files).stdout
    assert "nofile=8\nnproc=30\n" in output, output
    assert qc.show(files)["state"] != "completed"  # fd 8 and 9 were past the limit


@needs_cgroups
def test_a_queue_limit_applies_to_its_jobs_and_the_smaller_wins(qc: Queuectl) -> None:
    qc.run("queue", "set", "io", "--limit", "mem=64M,nofile=32")
    listed = qc.run("queue", "list").stdout
    assert "limit mem=64M,nofile=32" in listed, listed
    (row,) = qc.json("queue", "list")
    assert row["limits"] == {"mem": 64 * MIB, "nofile": 32}
    job = qc.enqueue(
        "echo nofile=$(ulimit -n); d=$(grep :memory: /proc/self/cgroup | cut -d: -f3); "
        'echo mem=$(cat "/sys/fs/cgroup/memory$d/memory.limit_in_bytes")',
        "--queue",
        "io",
        "--limit",
        "nofile=16,mem=1G",
    )
    _burst(qc)
    assert qc.state(job) == "completed"
    assert qc.run("logs", job).stdout == f"nofile=16\nmem={64 * MIB}\n"
    assert qc.show(job)["limits"] == {"mem": 1 << 30, "nofile": 16}  # its own, as given
    qc.run("queue", "set", "io", "--limit", "none")
    (row,) = qc.json("queue", "list")  # still listed: it has a job
    assert row["limits"] is None
    assert "limit" not in qc.run("queue", "list").stdout


def test_limits_travel_in_export_and_import(qc: Queuectl, tmp_path: Path) -> None:
    qc.enqueue("true", "--id", "a", "--limit", "mem=2G,cpu=1.5,pids=256,nofile=4096")
    exported = qc.run("export").stdout
    limits = {"mem": 2 << 30, "cpu": 1.5, "pids": 256, "nofile": 4096}
    assert json.loads(exported)["limits"] == limits
    (tmp_path / "other").mkdir()
    with Queuectl(tmp_path / "other") as other:  # SQLite, whatever qc is
        path = tmp_path / "jobs.jsonl"
        path.write_text(exported)
        other.run("import", "--file", os.fspath(path))
        assert other.show("a")["limits"] == qc.show("a")["limits"]


@pytest.mark.parametrize(
    "args",
    [
        ("enqueue", "--command", "true", "--limit", "mem=lots"),
        ("enqueue", "--command", "true", "--limit", "disk=1G"),
        ("enqueue", '{"command": "true", "limits": {"pids": 0}}'),
        ("queue", "set", "io", "--limit", "cpu=-1"),
    ],
)
def test_bad_limits_are_refused_with_one_line_and_nothing_written(
    qc: Queuectl, args: tuple[str, ...]
) -> None:
    qc.enqueue("true", "--id", "first")  # the queue exists: what is written shows
    one_line_error(qc.run(*args, check=False), 2)
    assert [job["id"] for job in qc.jobs()] == ["first"]
    assert [row["name"] for row in qc.json("queue", "list")] == ["default"]


@needs_cgroups
def test_a_limited_job_cannot_leave_its_cgroup_to_outlive_its_attempt(qc: Queuectl) -> None:
    """What scrubs its environment and leaves the job's session escapes the tag search
    (DECISIONS.md §6), but not its cgroup: it ends with the attempt."""
    pidfile = qc.tmp / "escaped.pid"
    job = qc.enqueue(
        f"env -i setsid sh -c 'echo $$ > {q(pidfile)}; exec sleep 60' & "
        f"while [ ! -s {q(pidfile)} ]; do sleep 0.02; done",
        "--limit",
        "pids=50",
    )
    _burst(qc)
    assert qc.state(job) == "completed"
    escaped = int(pidfile.read_text())
    try:
        wait_for(lambda: not running(escaped), 10, what=f"the escaped process {escaped} to end")
    finally:
        if running(escaped):
            os.kill(escaped, 9)  # a test ends what it started, pass or fail


def _zombies_of(pid: int) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] == b"Z" and int(fields[1]) == pid:
            found.append(int(name))
    return found


def test_orphans_handed_to_the_worker_are_reaped_and_its_own_children_are_not_stolen(
    qc: Queuectl,
) -> None:
    """The worker is its jobs' subreaper: what a job leaves behind becomes its child when
    its parent ends. Those are all reaped (no zombie stays) while the jobs' own exit codes
    still reach their attempts."""
    worker = qc.start_worker("--count", "2")
    jobs = [
        qc.enqueue("( sleep 0.2 & ); ( sleep 0.1 & ); sleep 0.6; exit 3", "--max-retries", "0"),
        qc.enqueue("( true & ); ( exec sleep 0.3 & ); exit 0"),
    ]
    for job_id in jobs:
        qc.wait_state(job_id, "dead", "completed")
    assert [qc.state(j) for j in jobs] == ["dead", "completed"]
    assert qc.show(jobs[0])["exit_code"] == 3
    wait_for(lambda: not _zombies_of(worker.proc.pid), 10, what="no zombie under the worker")


def test_a_limited_job_in_a_folder_gets_both_preludes(qc: Queuectl) -> None:
    """The limits' prelude and the cwd's are one shell: the job runs in its folder, under
    its limits, and a command that does not exist still says so."""
    folder = qc.tmp / "work"
    folder.mkdir()
    job = qc.enqueue("echo $(pwd) $(ulimit -n)", "--cwd", os.fspath(folder), "--limit", "nofile=20")
    missing = qc.enqueue("true", "--limit", "nofile=20", "--max-retries", "0")
    qc.run("edit", missing, "--command", "no-such-command-here")
    _burst(qc)
    assert qc.run("logs", job).stdout == f"{folder} 20\n"
    shown = qc.show(missing)
    assert (shown["state"], shown["exit_code"]) == ("dead", 127)


def test_edit_changes_a_waiting_jobs_limits_or_removes_them(qc: Queuectl) -> None:
    job = qc.enqueue("true", "--delay", "1h", "--limit", "mem=1G")
    qc.run("edit", job, "--limit", "pids=10,nofile=64")
    assert qc.show(job)["limits"] == {"pids": 10, "nofile": 64}  # replaced whole
    qc.run("edit", job, "--priority", "3")
    assert qc.show(job)["limits"] == {"pids": 10, "nofile": 64}  # left as it was
    qc.run("edit", job, "--limit", "none")
    assert qc.show(job)["limits"] is None
    one_line_error(qc.run("edit", job, "--limit", "pids=lots", check=False), 2)


@needs_cgroups
def test_the_subtree_of_a_killed_worker_is_removed_by_the_next_one(qc: Queuectl) -> None:
    killed = qc.start_worker()
    wait_for(lambda: _subtrees(killed.proc.pid), 10, what="the worker's cgroup subtree")
    killed.kill_group()
    assert _subtrees(killed.proc.pid), "a killed worker cannot remove its subtree"
    _burst(qc)  # a worker starting beside it removes what dead ones left
    assert _subtrees(killed.proc.pid) == []
