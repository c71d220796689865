"""A worker's results always end up written or retried: output no engine could store as
it is, and a result the queue refuses, never stop a worker from serving or stopping."""

from __future__ import annotations

import signal
from pathlib import Path

import psycopg

from tests.support.harness import Queuectl


def test_a_job_printing_nul_bytes_completes_and_the_worker_goes_on(fast: Queuectl) -> None:
    """PostgreSQL text cannot hold NUL: the job's result is still written, whole, its log
    keeps the exact bytes and the stored tail shows each NUL as U+FFFD."""
    qc = fast
    job = qc.enqueue(r"printf 'a\000b\n'; printf 'err\000\n' >&2")
    worker = qc.start_worker()

    done = qc.wait_state(job, "completed")
    (attempt,) = done["history"]
    assert (attempt["outcome"], attempt["exit_code"]) == ("succeeded", 0)
    assert attempt["finished_at"] is not None
    assert qc.run("logs", job).stdout == "a\x00b\nerr\x00\n"

    # where the log file is not at hand (another host), the tail stored with the attempt
    (qc.home / "logs" / f"{job}.1.log").unlink()
    shown = qc.run("logs", job)
    assert shown.stdout == "a\ufffdb\nerr\ufffd\n"
    assert "tail stored with the attempt" in shown.stderr

    following = qc.enqueue("echo next")
    qc.wait_state(following, "completed", timeout=10)
    worker.send(signal.SIGTERM)
    assert worker.wait(20) == 0, worker.log()
    assert "queue error" not in worker.log()


def _refuse_results_of(qc: Queuectl, job_id: str) -> None:
    """Make the server refuse to end ``job_id``'s attempts, except by a rescue: a stand-in
    for any error a result's write can meet that retrying does not cure."""
    with psycopg.connect(qc.env["QUEUECTL_DB"], autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION queuectl.refuse() RETURNS trigger LANGUAGE plpgsql"
            " AS $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$"
        )
        conn.execute(
            "CREATE TRIGGER refuse BEFORE UPDATE ON queuectl.attempts FOR EACH ROW"
            f" WHEN (OLD.job_id = '{job_id}' AND NEW.outcome IS DISTINCT FROM 'worker_lost')"
            " EXECUTE FUNCTION queuectl.refuse()"
        )


def test_a_result_the_queue_refuses_does_not_stop_the_worker(
    pg_qc: Queuectl, tmp_path: Path
) -> None:
    """The worker keeps claiming beside a result it cannot write; after a lease (3 s) it
    gives that result up, the job is rescued when its lease runs out and takes its
    retry (here: none left, so the DLQ); the worker then stops on SIGTERM."""
    qc = pg_qc
    qc.enqueue("true", "--id", "poison", "--max-retries", "0")
    _refuse_results_of(qc, "poison")
    worker = qc.start_worker()
    worker.wait_for_log("refused by the test")

    other = qc.enqueue("echo other")
    qc.wait_state(other, "completed", timeout=10)

    lost = qc.wait_state("poison", "dead", timeout=20)
    assert lost["last_error"] == "worker lost"
    assert "job poison attempt 1: succeeded, not recorded" in worker.log()

    worker.send(signal.SIGTERM)
    assert worker.wait(20) == 1, worker.log()


def test_a_stopping_worker_does_not_wait_for_ever_on_a_refused_result(pg_qc: Queuectl) -> None:
    """SIGTERM while a result cannot be written: the worker keeps trying for a lease,
    then exits 1; a second signal makes it give up at once."""
    qc = pg_qc
    qc.config("lease", "60")
    qc.config("heartbeat", "5")
    qc.enqueue("true", "--id", "poison")
    _refuse_results_of(qc, "poison")
    worker = qc.start_worker()
    worker.wait_for_log("refused by the test")

    worker.send(signal.SIGTERM)
    worker.wait_for_log("stopping")
    worker.send(signal.SIGTERM)
    assert worker.wait(15) == 1, worker.log()
    assert "job poison attempt 1: succeeded, not recorded" in worker.log()
    assert qc.state("poison") == "processing"  # until its lease runs out and it is rescued
