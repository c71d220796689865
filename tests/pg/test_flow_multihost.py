"""Queue limits across hosts: 8 worker processes on two hosts of one PostgreSQL queue,
measured from the jobs' own start/end stamps."""

from __future__ import annotations

from pathlib import Path

from tests.pg.conftest import Hosts
from tests.support.jobs import most_at_once, q, spans, stamped


def _eight_workers(hosts: Hosts) -> None:
    """Four single-slot workers a host, started in turns, before the jobs come: the
    enqueue wakes them all at once. A slot freed on one host is seen by the other at its
    next poll (0.2 s here), unless the worker that freed it takes it in the same turn."""
    hosts.a.config("poll-interval", "0.2")
    for _ in range(4):
        for qc in (hosts.a, hosts.b):
            qc.start_worker("--count", "1")


def test_concurrency_3_holds_for_8_workers_on_2_hosts(hosts: Hosts, tmp_path: Path) -> None:
    """A worker that ends a job claims the next in the same turn, so the first three
    claimers keep the three slots, and which host they are on is a race. So host a's
    first two workers take two jobs that wait on a gate, and host b's workers then take
    the third slot: both hosts run the queue's jobs side by side, each turn contending
    with the other host's polls, until all eight workers share them."""
    out, gate = tmp_path / "stamps", tmp_path / "gate"
    a, b = hosts.a, hosts.b
    a.run("queue", "set", "q", "--concurrency", "3")
    a.config("poll-interval", "0.2")
    for _ in range(2):
        a.start_worker("--count", "1")
    held = stamped(out, f"until [ -e {q(gate)} ]; do sleep 0.05; done")
    a.enqueue_file({"queue": "q", "command": held} for _ in range(2))
    a.wait_counts(60, pending=0)
    for _ in range(4):
        b.start_worker("--count", "1")
    a.enqueue_file({"queue": "q", "command": stamped(out, "sleep 0.2")} for _ in range(28))
    a.wait_counts(60, processing=3)
    for _ in range(2):
        a.start_worker("--count", "1")
    gate.touch()
    a.wait_counts(120, completed=30)
    most = most_at_once(spans(out))
    assert most <= 3, f"{most} jobs of a --concurrency 3 queue ran at once"
    assert most == 3, "the limit was never reached: the test shows nothing"
    hosts_used = {j["worker"].split(":")[0] for j in a.jobs()}
    assert hosts_used == {"host-a", "host-b"}


def test_rate_20_per_second_holds_for_8_workers_on_2_hosts(hosts: Hosts) -> None:
    a = hosts.a
    a.run("queue", "set", "q", "--rate", "20/s")
    _eight_workers(hosts)
    a.enqueue_file({"queue": "q", "command": "true"} for _ in range(70))
    a.wait_counts(120, completed=70)
    from datetime import datetime

    starts = sorted(datetime.fromisoformat(j["started_at"]).timestamp() for j in a.jobs())
    # starts are spaced 50 ms apart: no 1-second window holds more than 20 (stamps are
    # microseconds: a spacing rounded down by one must not count as a 21st start)
    most = max(sum(1 for t in starts if s <= t < s + 1.0 - 1e-5) for s in starts)
    assert most <= 20, f"{most} starts within one second under --rate 20/s"
