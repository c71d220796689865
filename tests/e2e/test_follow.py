"""What scripts rely on: ``wait`` and ``logs --follow`` follow a job through every retry
and exit 0 only when it completed (1 otherwise, 124 on ``--timeout``); ``worker start
--burst`` stops once only jobs scheduled for later remain and exits 1 when a job it ran
ended dead; worker logs carry the date and time in UTC, or one JSON object per event.
(``worker stop --now``: tests/e2e/test_workers.py, and tests/pg/test_stop_now.py.)"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.cli import collect_lines, one_line_error
from tests.support.harness import Queuectl
from tests.support.jobs import gate_wait, q
from tests.support.output import LOG_TIME, ts
from tests.support.polling import wait_for


def fails_once(marker: Path, gate: Path | None = None) -> str:
    """A job that says which attempt it is (then waits for ``gate``, if any), fails the
    first time and succeeds after."""
    wait = f"{gate_wait(gate)}; " if gate is not None else ""
    return (
        f"echo attempt $QUEUECTL_ATTEMPT; {wait}"
        f"[ -e {q(marker)} ] || {{ touch {q(marker)}; exit 1; }}"
    )


def finish(proc: subprocess.Popen[bytes], timeout: float = 30) -> tuple[int, str, str]:
    """The exit status and output of a command started with ``Queuectl.popen``."""
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out.decode(), err.decode()


# --- wait ----------------------------------------------------------------------------
def test_wait_follows_a_job_through_its_retry_and_exits_0_once_it_completed(
    fast_retries: Queuectl, tmp_path: Path
) -> None:
    qc = fast_retries
    job = qc.enqueue(fails_once(tmp_path / "marker"))
    waiting = qc.popen("wait", job)  # before any worker: the job is pending, then failed
    qc.start_worker()

    code, out, err = finish(waiting)

    assert (code, out, err) == (0, f"{job} completed\n", "")
    assert [a["outcome"] for a in qc.history(job)] == ["failed", "succeeded"]


def test_wait_prints_each_job_as_it_ends_and_exits_1_when_one_did_not_complete(
    qc: Queuectl, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    dead = qc.enqueue("exit 3", "--max-retries", "0")
    done = qc.enqueue(gate_wait(gate))
    waiting = qc.popen("wait", done, dead)
    qc.start_worker("--count", "2")
    qc.wait_state(dead, "dead")
    gate.touch()

    code, out, err = finish(waiting)

    assert code == 1, err
    assert out == f"{dead} dead\n{done} completed\n", "in the order they ended"
    assert err == ""


def test_wait_started_after_its_jobs_ended_prints_them_in_the_order_they_ended(
    qc: Queuectl,
) -> None:
    later = qc.enqueue("true")
    earlier = qc.enqueue("true")
    qc.run("cancel", earlier)
    assert qc.start_worker("--burst").wait(30) == 0

    code, out, err = finish(qc.popen("wait", later, earlier))

    assert (code, out, err) == (1, f"{earlier} cancelled\n{later} completed\n", "")


def test_wait_json_prints_the_jobs_once_every_one_is_final(qc: Queuectl) -> None:
    first = qc.enqueue("true")
    second = qc.enqueue("echo hi")
    qc.run("cancel", first)
    waiting = qc.popen("wait", second, first, second, "--json")
    qc.start_worker()

    code, out, _ = finish(waiting)

    assert code == 1, "a cancelled job did not complete"
    jobs = json.loads(out)
    assert [(j["id"], j["state"]) for j in jobs] == [(second, "completed"), (first, "cancelled")]
    assert jobs[0]["exit_code"] == 0 and jobs[0]["attempts"] == 1


def test_wait_exits_124_when_its_timeout_passes_first(qc: Queuectl) -> None:
    done = qc.enqueue("true")
    assert qc.start_worker("--burst").wait(30) == 0
    later = qc.enqueue("true", "--delay", "1h")

    timed_out = qc.run("wait", done, later, "--timeout", "0.5", check=False)
    as_json = qc.run("wait", later, done, "--timeout", "200ms", "--json", check=False)

    assert timed_out.returncode == 124
    assert timed_out.stdout == f"{done} completed\n"
    assert timed_out.stderr.count("\n") == 1, timed_out.stderr
    assert "timed out after 0.5s" in timed_out.stderr and f"{later} (pending)" in timed_out.stderr
    assert as_json.returncode == 124
    assert [(j["id"], j["state"]) for j in json.loads(as_json.stdout)] == [
        (later, "pending"),
        (done, "completed"),
    ]


def test_wait_for_a_job_that_does_not_exist_exits_1_before_waiting(qc: Queuectl) -> None:
    pending = qc.enqueue("true", "--delay", "1h")

    done = qc.run("wait", pending, "nosuchjob", check=False, timeout=20)

    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == "queuectl: error: no job 'nosuchjob'\n"


@pytest.mark.parametrize(
    "args",
    [
        ["wait"],
        ["wait", "a", "--timeout", "soon"],
        ["wait", "bad/id"],
        ["logs", "a", "--timeout", "1"],
    ],
    ids=" ".join,
)
def test_bad_input_of_wait_and_follow_is_one_line_and_exit_2(qc: Queuectl, args: list[str]) -> None:
    one_line_error(qc.run(*args, check=False), 2)


# --- logs --follow -------------------------------------------------------------------
def test_logs_follow_prints_every_attempt_until_the_job_completed(
    fast_retries: Queuectl, tmp_path: Path
) -> None:
    qc = fast_retries
    gate = tmp_path / "gate"
    job = qc.enqueue(fails_once(tmp_path / "marker", gate))
    qc.start_worker()
    qc.wait_state(job, "processing")
    follow = qc.popen("logs", job, "--follow")  # the latest attempt: the first, running
    assert follow.stdout is not None
    lines = collect_lines(follow.stdout)
    wait_for(lambda: lines, 15, what="the first attempt's output")
    gate.touch()  # the first attempt fails; the second waits for nothing

    code = follow.wait(30)
    assert follow.stderr is not None
    err = follow.stderr.read().decode()

    assert code == 0, err
    wait_for(lambda: len(lines) == 2, 5, what="all of the output")
    assert lines == ["attempt 1\n", "attempt 2\n"]
    assert re.fullmatch(rf"--- attempt 2 of job {job}, on \S+:\d+:1 ---\n", err), err


def test_logs_follow_exits_1_once_the_job_is_dead(fast_retries: Queuectl) -> None:
    qc = fast_retries
    job = qc.enqueue("echo try $QUEUECTL_ATTEMPT; exit 3", "--max-retries", "1")
    qc.start_worker()

    code, out, err = finish(qc.popen("logs", "--follow", "--attempt", "1", job))

    assert code == 1
    assert out == "try 1\ntry 2\n"
    assert err.endswith(f"--- job {job} ended dead: exit code 3 ---\n"), err
    again = qc.run("logs", job, "--follow", check=False)  # a dead job: its last attempt
    assert (again.returncode, again.stdout) == (1, "try 2\n")


def test_logs_follow_exits_124_when_its_timeout_passes_first(qc: Queuectl) -> None:
    job = qc.enqueue("echo hi")
    done = qc.run("logs", job, "--follow", "--timeout", "0.3", check=False)
    assert (done.returncode, done.stdout) == (124, "")
    assert done.stderr == "queuectl: error: timed out after 0.3s\n"


# --- worker start --burst -------------------------------------------------------------
def test_burst_stops_when_only_jobs_scheduled_for_later_remain(qc: Queuectl) -> None:
    now = qc.enqueue("true")
    later = qc.enqueue("true", "--delay", "1h")

    assert qc.start_worker("--burst").wait(30) == 0

    assert (qc.state(now), qc.state(later)) == ("completed", "pending")


def test_burst_waits_for_a_retry_and_exits_1_when_a_job_it_ran_ended_dead(
    fast_retries: Queuectl,
) -> None:
    qc = fast_retries  # backoff base 1: the retry comes a second later
    ok = qc.enqueue("true")
    job = qc.enqueue("exit 3", "--max-retries", "1")

    worker = qc.start_worker("--burst")

    assert worker.wait(30) == 1
    assert qc.state(ok) == "completed"
    assert [a["outcome"] for a in qc.history(job)] == ["failed", "failed"]
    assert qc.state(job) == "dead"
    assert "1 job(s) it ran ended dead" in worker.log()


def test_burst_help_says_when_it_exits_and_with_what(qc: Queuectl) -> None:
    shown = " ".join(qc.run("worker", "start", "--help").stdout.split())
    assert "nothing is runnable or waiting to be retried" in shown
    assert "1 if a job it ran ended dead" in shown


# --- worker logs ------------------------------------------------------------------------
def test_worker_log_lines_start_with_the_date_and_time_in_utc(qc: Queuectl) -> None:
    qc.enqueue("true")
    worker = qc.start_worker("--burst")
    assert worker.wait(30) == 0

    lines = worker.log().splitlines()
    assert len(lines) >= 4, lines  # started, claimed, ended, stopped
    for line in lines:
        assert re.match(LOG_TIME + " ", line), line
    stamp = lines[-1].split()[0]
    assert abs(ts(stamp) - time.time()) < 60, f"{stamp} is not the time in UTC"


def test_log_format_json_writes_one_object_per_event(qc: Queuectl, tmp_path: Path) -> None:
    ok = qc.enqueue("true")
    dead = qc.enqueue("exit 4", "--max-retries", "0")
    worker = qc.start_worker("--burst", "--log-format", "json", "--count", "1")
    assert worker.wait(30) == 1

    events = [json.loads(line) for line in worker.log().splitlines()]
    assert all(re.fullmatch(LOG_TIME, e["time"]) for e in events)
    by_kind: dict[str, list[dict[str, object]]] = {}
    for e in events:
        by_kind.setdefault(str(e["event"]), []).append(e)
    (serving,) = by_kind["serving"]
    db = qc.env.get("QUEUECTL_DB")
    where = str(qc.home / "queuectl.db") if db is None else f"{db} (schema queuectl)"
    assert events[0] is serving and serving["location"] == where
    (started,) = by_kind["started"]
    host = started["host"]
    assert {e["host"] for e in events} == {host}
    assert (started["worker"], started["pid"]) == (f"{host}:{worker.pid}", worker.pid)
    assert sorted((e["job"], e["attempt"]) for e in by_kind["claimed"]) == sorted(
        [(ok, 1), (dead, 1)]
    )
    ended = {e["job"]: e for e in by_kind["ended"]}
    assert (ended[ok]["outcome"], ended[ok]["exit_code"], ended[ok]["state"]) == (
        "succeeded", 0, "completed"
    )  # fmt: skip
    assert (ended[dead]["outcome"], ended[dead]["exit_code"], ended[dead]["state"]) == (
        "failed", 4, "dead"
    )  # fmt: skip
    assert str(ended[dead]["worker"]).startswith(f"{host}:{worker.pid}:")
    (stopped,) = by_kind["stopped"]
    assert (stopped["exit_code"], stopped["dead"]) == (1, 1)


def test_log_format_json_reports_a_stop_as_an_event(qc: Queuectl) -> None:
    worker = qc.start_worker("--log-format", "json")
    worker.wait_for_log('"event": "started"')
    worker.send(signal.SIGTERM)
    assert worker.wait(10) == 0
    events = [json.loads(line)["event"] for line in worker.log().splitlines()]
    assert events == ["serving", "started", "stopping", "stopped"]


def test_a_detached_worker_keeps_its_log_format(qc: Queuectl) -> None:
    qc.enqueue("true")
    started = qc.run("worker", "start", "--detach", "--burst", "--log-format", "json")
    lines = dict(line.split(" ", 1) for line in started.stdout.splitlines())
    pid, log = int(lines["pid"]), Path(lines["log"])
    qc.track_detached(pid)

    wait_for(lambda: '"event": "stopped"' in log.read_text(), 30, what="the worker to stop")

    events = [json.loads(line)["event"] for line in log.read_text().splitlines()]
    assert events == ["serving", "started", "claimed", "ended", "stopped"]
