"""What the schedule tests share: two workers (of two hosts, or of one) firing a schedule
of every second, checked for slots enqueued twice or missed."""

from __future__ import annotations

import json
import signal
from datetime import datetime

from tests.support.harness import Queuectl
from tests.support.polling import wait_for


def instant(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def fired_by(log: str) -> list[str]:
    """The jobs a worker's JSON log says it enqueued for slots (events ``fired``)."""
    found: list[str] = []
    for line in log.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record["event"] == "fired":
                found += record["jobs"]
    return found


def two_workers_fire_every_second(a: Queuectl, b: Queuectl, seconds: float = 30) -> None:
    """A schedule of every second, added through ``a``, with one worker started through
    each of ``a`` and ``b`` for ``seconds``: every second's slot is enqueued, once, by one
    of the two workers, and no second is missing."""
    a.run("schedule", "add", "tick", "--every", "1s", "--overlap", "allow", "--command", "true")
    added = instant(a.json("schedule", "show", "tick")["created_at"])
    workers = [qc.start_worker("--count", "2", "--log-format", "json") for qc in (a, b)]

    def long_enough() -> bool:
        last = a.json("schedule", "show", "tick")["last_slot"]
        return last is not None and instant(last) >= added + seconds

    wait_for(long_enough, seconds + 30, interval=0.5, what=lambda: a.worker_logs())
    for worker in workers:
        worker.send(signal.SIGTERM)
    for worker in workers:
        assert worker.wait(30) == 0, worker.log()
    ids = sorted(job["id"] for job in a.jobs() if job["id"].startswith("tick@"))
    slots = [instant(job_id.split("@", 1)[1]) for job_id in ids]
    first = int(added) + 1  # the first slot after the schedule was added
    assert slots == [float(second) for second in range(first, first + len(slots))], ids
    assert len(slots) >= seconds
    fired = [job_id for worker in workers for job_id in fired_by(worker.log())]
    assert sorted(fired) == ids, "a slot was not enqueued by exactly one worker"
