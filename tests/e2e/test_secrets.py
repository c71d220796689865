"""A job never gets the queue's credentials unless it asks: no ``$PGPASSWORD``, no
dashboard token, and ``$QUEUECTL_DB`` without its password (still naming the queue).
The running worker's arguments, which every user reads with ps, hold no secret."""

from __future__ import annotations

from pathlib import Path

from tests.support.backends import pg_with_password
from tests.support.harness import Queuectl
from tests.support.jobs import gate_wait

DB_PASSWORD = "db-pass-in-url"
PG_PASSWORD = "pgpassword-secret"
DASHBOARD_TOKEN = "dashboard-token-secret"


def test_a_job_gets_no_queue_credentials_unless_it_asks(qc: Queuectl, tmp_path: Path) -> None:
    plain = qc.env.get("QUEUECTL_DB") or str(qc.home / "queuectl.db")
    secret = pg_with_password(plain, DB_PASSWORD) if "QUEUECTL_DB" in qc.env else plain
    gate = tmp_path / "gate"
    dumped = qc.enqueue(f"env; {gate_wait(gate)}")
    asked = qc.enqueue("echo PGPASSWORD=$PGPASSWORD", "--env", "PGPASSWORD=given-to-this-job")
    worker = qc.start_worker(
        "--burst",
        env={
            "QUEUECTL_DB": secret,
            "PGPASSWORD": PG_PASSWORD,
            "QUEUECTL_DASHBOARD_TOKEN": DASHBOARD_TOKEN,
        },
    )
    qc.wait_state(dumped, "processing", timeout=30)
    cmdline = Path(f"/proc/{worker.pid}/cmdline").read_bytes()
    assert DB_PASSWORD.encode() not in cmdline and PG_PASSWORD.encode() not in cmdline
    gate.touch()
    assert worker.wait(60) == 0, worker.log()

    env = dict(
        line.split("=", 1) for line in qc.run("logs", dumped).stdout.splitlines() if "=" in line
    )
    assert env["QUEUECTL_DB"] == plain  # where the queue is, without the password
    assert "PGPASSWORD" not in env and "QUEUECTL_DASHBOARD_TOKEN" not in env
    everything = qc.run("logs", dumped).stdout
    for secret_text in (DB_PASSWORD, PG_PASSWORD, DASHBOARD_TOKEN):
        assert secret_text not in everything
    assert qc.run("logs", asked).stdout == "PGPASSWORD=given-to-this-job\n"
