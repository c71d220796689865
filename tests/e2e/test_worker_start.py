"""What ``worker start`` says about itself: the queue it serves, on its first line, and
(with ``--detach``) one pid, which also names its log file."""

from __future__ import annotations

import re
import stat
from pathlib import Path

from tests.support.harness import Queuectl
from tests.support.output import LOG_TIME
from tests.support.polling import wait_for
from tests.support.processes import running


def test_the_first_line_of_a_worker_names_the_queue_it_serves_and_its_limits_mode(
    qc: Queuectl,
) -> None:
    db = qc.env.get("QUEUECTL_DB")
    expected = str(qc.home / "queuectl.db") if db is None else f"{db} (schema queuectl)"
    qc.enqueue("true")  # a foreground worker, run to the end
    done = qc.run("worker", "start", "--burst", timeout=90)
    first = done.stderr.splitlines()[0]
    modes = "cgroup v1|cgroup v2|rlimit"
    assert re.fullmatch(rf"{LOG_TIME} serving {re.escape(expected)}, limits: ({modes})", first)


def test_a_detached_worker_prints_one_pid_and_its_log_is_named_after_it(qc: Queuectl) -> None:
    done = qc.run("worker", "start", "--detach", "--burst")
    found = re.fullmatch(r"pid (\d+)\nlog (\S+)\n", done.stdout)
    assert found, done.stdout
    pid, log = int(found[1]), Path(found[2])
    qc.track_detached(pid)
    assert log.name.endswith(f"-{pid}.log"), log
    assert log.parent == qc.home / "logs"
    wait_for(lambda: not running(pid), 60, what=f"the detached worker {pid} to finish")
    said = log.read_text()
    assert said.splitlines()[0].split(" ", 1)[1].startswith("serving "), said
    assert f":{pid} started:" in said, said  # the worker's own id (host:pid) says so too
    assert list(log.parent.glob("worker-*.log")) == [log]
    # $QUEUECTL_HOME (made by the detaching command on PostgreSQL) and logs: owner-only
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in (qc.home, log.parent)} == {"0o700"}
