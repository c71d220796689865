"""What happens to one job run by a real worker: output, retries, the DLQ, timeouts,
commands that do not exist, priorities and delays."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest

from tests.support.harness import Queuectl
from tests.support.jobs import gate_wait, q, wait_for_pid
from tests.support.output import ts
from tests.support.polling import wait_for
from tests.support.processes import pids_with_env, running, start_time


def test_completed_job_output_is_in_its_log(qc: Queuectl) -> None:
    job = qc.enqueue(
        "echo to-stdout id=$QUEUECTL_JOB_ID attempt=$QUEUECTL_ATTEMPT; echo to-stderr >&2"
    )

    assert qc.start_worker("--burst").wait(30) == 0

    shown = qc.show(job)
    assert shown["state"] == "completed"
    assert shown["exit_code"] == 0
    assert shown["attempts"] == qc.job(job)["attempts"] == 1
    assert [a["outcome"] for a in shown["history"]] == ["succeeded"]
    out = qc.run("logs", job).stdout
    assert f"to-stdout id={job} attempt=1\n" in out
    assert "to-stderr\n" in out
    assert qc.run("logs", job, "--attempt", "1").stdout == out


def test_failing_job_backs_off_then_goes_to_the_dlq_and_dlq_retry_resets_it(
    qc: Queuectl, tmp_path: Path
) -> None:
    times = tmp_path / "times"
    job = qc.enqueue(
        f"date +%s.%N >> {q(times)}; echo attempt $QUEUECTL_ATTEMPT; exit 3",
        "--max-retries",
        "2",
    )

    # default backoff base 2: 2 s after the first failure, 4 s after the second; a burst
    # run that ran a job that ended dead exits 1
    assert qc.start_worker("--burst").wait(40) == 1

    shown = qc.show(job)
    assert shown["state"] == "dead"
    assert qc.job(job)["attempts"] == 3
    assert shown["exit_code"] == 3
    assert "3" in shown["last_error"]
    attempts = shown["history"]
    assert [a["attempt"] for a in attempts] == [1, 2, 3]
    assert [a["exit_code"] for a in attempts] == [3, 3, 3]
    assert [a["outcome"] for a in attempts] == ["failed"] * 3
    starts = [ts(a["started_at"]) for a in attempts]
    ran = [float(line) for line in times.read_text().split()]
    assert len(ran) == 3, "the job ran exactly max_retries + 1 times"
    for moments in (starts, ran):
        assert 2.0 <= moments[1] - moments[0] < 2.0 + 2.5, moments
        assert 4.0 <= moments[2] - moments[1] < 4.0 + 2.5, moments
    for n in (1, 2, 3):
        assert qc.run("logs", job, "--attempt", str(n)).stdout == f"attempt {n}\n"

    assert [j["id"] for j in qc.json("dlq", "list")] == [job]

    retried = qc.run("dlq", "retry", job)
    assert retried.stdout.split() == [job]
    assert qc.job(job)["attempts"] == 0
    again = qc.show(job)
    assert again["state"] == "pending"
    assert again["attempts"] == 0
    assert [a["attempt"] for a in again["history"]] == [1, 2, 3]
    assert [a["outcome"] for a in again["history"]] == ["failed"] * 3
    assert qc.json("dlq", "list") == []


def test_timeout_kills_the_jobs_grandchildren(qc: Queuectl, tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    job = qc.enqueue(
        f"sleep 300 & echo $! > {q(pidfile)}; sleep 300",
        "--timeout",
        "1",
        "--max-retries",
        "0",
    )
    qc.start_worker("--burst")

    grandchild = wait_for_pid(pidfile)
    born = start_time(grandchild)
    assert running(grandchild, born)
    shown = qc.wait_state(job, "dead", timeout=15)

    wait_for(lambda: not running(grandchild, born), 5, what=f"grandchild {grandchild} to be gone")
    assert "timed out" in shown["last_error"]
    assert "1s" in shown["last_error"]
    assert [a["outcome"] for a in shown["history"]] == ["timed_out"]
    assert 1.0 <= shown["history"][0]["duration"] < 1.0 + 5.0


def test_processes_a_job_leaves_behind_end_with_it(qc: Queuectl, tmp_path: Path) -> None:
    pidfile = tmp_path / "background.pid"
    job = qc.enqueue(f"sleep 300 & echo $! > {q(pidfile)}")
    qc.start_worker("--burst")
    background = wait_for_pid(pidfile)
    born = start_time(background)

    qc.wait_state(job, "completed")

    wait_for(lambda: not running(background, born), 5, what="the job's leftover process to end")


# Starts two processes out of the job's process group, their pids in the folder $1/$N:
# one through setsid, and a daemon (a double fork: its parent exits at once, it calls
# setsid), and waits for the daemon's pid. Both would outlive a kill of the job's
# process group.
LEAVE_BEHIND = """
d="$1/$QUEUECTL_ATTEMPT"; mkdir -p "$d"
setsid sleep 300 & echo $! > "$d/setsid"
(setsid sh -c 'echo $$ > "$1/daemon"; exec sleep 300' sh "$d" &)
while [ ! -s "$d/daemon" ]; do sleep 0.01; done
"""


def leave_behind(folder: Path) -> str:
    """The shell command that runs ``LEAVE_BEHIND`` into ``folder``."""
    script = folder / "leave-behind.sh"
    script.write_text(LEAVE_BEHIND)
    return f"sh {q(script)} {q(folder)}"


def left_behind(folder: Path) -> dict[str, tuple[int, str | None]]:
    """The pids (and start times) of what ``LEAVE_BEHIND`` started into ``folder``."""
    pids = {name: wait_for_pid(folder / name) for name in ("setsid", "daemon")}
    return {name: (pid, start_time(pid)) for name, pid in pids.items()}


def still_running(processes: dict[str, tuple[int, str | None]]) -> dict[str, int]:
    return {name: pid for name, (pid, born) in processes.items() if running(pid, born)}


def wait_no_process_of(job: str, timeout: float) -> None:
    """Every process that carries the job's id in its environment ends."""
    wait_for(
        lambda: not [pid for pid in pids_with_env(f"QUEUECTL_JOB_ID={job}") if running(pid)],
        timeout,
        interval=0.02,
        what=lambda: (
            f"the processes of job {job} to end: "
            f"{[pid for pid in pids_with_env(f'QUEUECTL_JOB_ID={job}') if running(pid)]}"
        ),
    )


def test_timeout_kills_what_the_job_started_in_new_sessions_before_the_retry(
    qc: Queuectl, tmp_path: Path
) -> None:
    qc.config("backoff-base", "1")
    job = qc.enqueue(
        f"{leave_behind(tmp_path)}; sleep 300",
        "--timeout",
        "1",
        "--max-retries",
        "1",
    )
    qc.start_worker("--count", "1")
    first = left_behind(tmp_path / "1")
    second = left_behind(tmp_path / "2")  # the retry has started
    assert not still_running(first), (
        f"the retry runs beside what the timed-out attempt started: {still_running(first)}"
    )
    shown = qc.wait_state(job, "dead", timeout=20)
    assert [a["outcome"] for a in shown["history"]] == ["timed_out", "timed_out"]
    wait_no_process_of(job, 10)
    assert not still_running(second)


@pytest.mark.parametrize("end", ["cancel", "exit"])
def test_what_the_job_started_in_new_sessions_ends_with_it(
    fast_retries: Queuectl, tmp_path: Path, end: str
) -> None:
    """When the job is cancelled, or when its command exits."""
    qc = fast_retries  # heartbeat 1 s: a cancel is seen within a second
    rest = "sleep 300" if end == "cancel" else "exit 0"
    job = qc.enqueue(f"{leave_behind(tmp_path)}; {rest}")
    qc.start_worker("--count", "1")
    started = left_behind(tmp_path / "1")
    if end == "cancel":
        qc.run("cancel", job)
    shown = qc.wait_state(job, "cancelled" if end == "cancel" else "completed")
    wait_no_process_of(job, 10)
    assert not still_running(started)
    if end == "exit":
        assert [a["outcome"] for a in shown["history"]] == ["succeeded"]


def test_timeout_escalates_to_sigkill_for_a_job_that_ignores_sigterm(
    qc: Queuectl, tmp_path: Path
) -> None:
    qc.config("kill-grace", "1")
    pidfile = tmp_path / "child.pid"
    # an ignored signal stays ignored across fork and exec: both processes shrug off SIGTERM
    job = qc.enqueue(
        f"trap '' TERM; sleep 300 & echo $! > {q(pidfile)}; wait; wait",
        "--timeout",
        "1",
        "--max-retries",
        "0",
    )
    qc.start_worker("--burst")
    child = wait_for_pid(pidfile)
    born = start_time(child)

    shown = qc.wait_state(job, "dead", timeout=15)

    assert not running(child, born)
    assert [a["outcome"] for a in shown["history"]] == ["timed_out"]
    # SIGTERM at 1 s did nothing; SIGKILL came after the 1 s grace
    assert 2.0 <= shown["history"][0]["duration"] < 2.0 + 3.0


def test_missing_command_fails_with_127_retries_dies_and_the_worker_goes_on(
    fast_retries: Queuectl, tmp_path: Path
) -> None:
    qc = fast_retries
    as_string = qc.enqueue("nonexistent-command-xyz", "--max-retries", "1")
    as_array = qc.enqueue_json({"command": ["nonexistent-xyz"], "max_retries": 1})
    worker = qc.start_worker()

    for job in (as_string, as_array):
        shown = qc.wait_state(job, "dead", timeout=20)
        assert shown["exit_code"] == 127, shown
        assert qc.job(job)["attempts"] == 2
        assert [a["exit_code"] for a in shown["history"]] == [127, 127]
    assert "nonexistent-xyz" in qc.show(as_array)["last_error"]
    assert "nonexistent-command-xyz" in qc.run("logs", as_string).stdout
    assert "nonexistent-xyz" in qc.run("logs", as_array).stdout
    assert {j["id"] for j in qc.json("dlq", "list")} == {as_string, as_array}

    out = tmp_path / "out"
    after = qc.enqueue(f"echo $QUEUECTL_JOB_ID >> {q(out)}")
    qc.wait_state(after, "completed", timeout=10)
    assert out.read_text() == f"{after}\n"
    assert worker.proc.poll() is None, "the worker is still serving"
    worker.send(signal.SIGTERM)
    assert worker.wait(10) == 0


def test_higher_priority_runs_first_and_equal_priorities_in_enqueue_order(
    qc: Queuectl, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    side_effect = f"echo $QUEUECTL_JOB_ID >> {q(out)}"
    first_low = qc.enqueue(side_effect, "--id", "low-1")
    second_low = qc.enqueue(side_effect, "--id", "low-2")
    high = qc.enqueue(side_effect, "--id", "high", "--priority", "10")
    third_low = qc.enqueue(side_effect, "--id", "low-3")

    assert qc.start_worker("--count", "1", "--burst").wait(30) == 0

    assert out.read_text().split() == [high, first_low, second_low, third_low]


def test_delayed_job_does_not_start_before_its_delay(qc: Queuectl, tmp_path: Path) -> None:
    stamp = tmp_path / "stamp"
    job = qc.enqueue(f"date +%s.%N > {q(stamp)}", "--delay", "2s")
    worker = qc.start_worker()  # not --burst: it would leave a job scheduled for later

    assert qc.run("wait", job, "--timeout", "30").stdout == f"{job} completed\n"

    _assert_started_after_delay(qc, job, stamp, 2.0)
    worker.send(signal.SIGTERM)
    assert worker.wait(10) == 0


def test_idle_worker_runs_a_delayed_job_when_it_is_due(qc: Queuectl, tmp_path: Path) -> None:
    stamp = tmp_path / "stamp"
    worker = qc.start_worker()
    wait_for(lambda: qc.json("worker", "list"), 10, what="the worker to register")
    job = qc.enqueue(f"date +%s.%N > {q(stamp)}", "--delay", "2s")

    qc.wait_state(job, "completed", timeout=10)

    _assert_started_after_delay(qc, job, stamp, 2.0)
    worker.send(signal.SIGTERM)
    assert worker.wait(10) == 0


def _assert_started_after_delay(qc: Queuectl, job: str, stamp: Path, delay: float) -> None:
    shown = qc.show(job)
    assert shown["state"] == "completed"
    created = ts(shown["created_at"])
    assert abs(ts(shown["run_at"]) - (created + delay)) < 0.01
    started = ts(shown["history"][0]["started_at"])
    assert created + delay <= started < created + delay + 1.5, "not before, and not much after"
    assert float(stamp.read_text()) >= created + delay


def test_worker_of_named_queues_runs_only_their_jobs(qc: Queuectl, tmp_path: Path) -> None:
    mine = [qc.enqueue("true", "--queue", name) for name in ("a", "b")]
    other = qc.enqueue("true", "--queue", "c")
    default = qc.enqueue("true")

    assert qc.start_worker("--burst", "--queue", "a", "--queue", "b").wait(20) == 0

    assert [qc.state(i) for i in mine] == ["completed", "completed"]
    assert [qc.state(other), qc.state(default)] == ["pending", "pending"]


def test_job_environment_and_cwd(qc: Queuectl, tmp_path: Path) -> None:
    """The worker exports QUEUECTL_JOB_ID/QUEUECTL_ATTEMPT and the job's own env and cwd."""
    place = tmp_path / "place"
    place.mkdir()
    job = qc.enqueue(
        'echo "$QUEUECTL_JOB_ID $QUEUECTL_ATTEMPT $GREETING $(pwd)" > seen',
        "--cwd",
        os.fspath(place),
        "--env",
        "GREETING=hello",
    )

    assert qc.start_worker("--burst").wait(30) == 0

    assert qc.state(job) == "completed"
    assert (place / "seen").read_text() == f"{job} 1 hello {place}\n"


def test_the_longest_accepted_variable_is_started(qc: Queuectl) -> None:
    """What enqueue accepts, exec takes: a NAME=value of exactly MAX_ARG bytes runs."""
    from queuectl.jobspec import MAX_ARG

    value = "x" * (MAX_ARG - len("BIG="))
    qc.enqueue_file([{"id": "big", "command": 'test "${#BIG}" -gt 131000', "env": {"BIG": value}}])
    assert qc.start_worker("--burst").wait(60) == 0
    assert qc.state("big") == "completed", qc.history("big")


# --- max-log-bytes ----------------------------------------------------------------------
CAP = 64 * 1024


def _seq_bytes(last: int) -> int:
    """The size of `seq 1 LAST`'s output."""
    return sum(len(str(n)) + 1 for n in range(1, last + 1))


def _cut_log(data: bytes) -> tuple[bytes, int, bytes]:
    """(kept head, bytes dropped, kept tail) of a log cut to CAP: the head is whole
    blocks, then the marker line (after a newline of its own when the head ends mid-line)."""
    from queuectl.logfiles import cap_shape

    head, _ = cap_shape(CAP)
    marker, _, tail = data[head:].lstrip(b"\n").partition(b"\n")
    assert marker.startswith(b"[queuectl: ") and marker.endswith(b" bytes dropped]"), marker
    return data[:head], int(marker.split()[1]), tail


def test_a_log_past_max_log_bytes_keeps_its_head_and_tail_and_says_what_was_dropped(
    qc: Queuectl,
) -> None:
    qc.config("max-log-bytes", "64k")
    job = qc.enqueue("seq 1 2000000")  # 14.9 MB

    assert qc.start_worker("--burst").wait(120) == 0

    assert qc.state(job) == "completed"
    data = (qc.home / "logs" / f"{job}.1.log").read_bytes()
    assert len(data) <= CAP
    lines = data.decode().splitlines()
    assert (lines[0], lines[1], lines[-1]) == ("1", "2", "2000000")
    head, dropped, tail = _cut_log(data)
    assert len(head) + dropped + len(tail) == _seq_bytes(2_000_000)
    assert tail.endswith(b"1999999\n2000000\n")
    assert qc.run("logs", job).stdout == data.decode()


def test_a_running_job_past_max_log_bytes_does_not_fill_the_disk(
    qc: Queuectl, tmp_path: Path
) -> None:
    """While the job runs, the middle of its output is freed; `logs` shows the head, what
    was dropped and the end; the finished log is cut exactly as it would have been."""
    qc.config("max-log-bytes", "64k")
    gate = tmp_path / "gate"
    job = qc.enqueue(f"seq 1 3000000; {gate_wait(gate)}; echo end")  # 22.9 MB
    qc.start_worker("--burst")
    logs = qc.home / "logs"

    def disk_used() -> int | None:
        live = [p for p in logs.glob(".live-*.log") if p.stat().st_size > 20_000_000]
        if not live:
            return None
        used = live[0].stat().st_blocks * 512
        return used if used <= 2 * CAP else None

    wait_for(disk_used, 60, what="the running job's log to use at most 128 KiB of disk")
    shown = qc.run("logs", job).stdout
    assert "\x00" not in shown
    assert shown.startswith("1\n2\n3\n") and shown.endswith("2999999\n3000000\n")
    assert re.search(r"\n\[queuectl: \d+ bytes dropped\]\n", shown)

    gate.touch()
    qc.wait_state(job, "completed", timeout=30)
    data = (logs / f"{job}.1.log").read_bytes()
    assert len(data) <= CAP and data.endswith(b"3000000\nend\n")
    head, dropped, tail = _cut_log(data)
    assert len(head) + dropped + len(tail) == _seq_bytes(3_000_000) + len("end\n")
