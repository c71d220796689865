"""Output from any host, end to end on PostgreSQL: a job printing 100 MB keeps at most
its bound in the queue while it runs; with ``keep-output full`` another host's ``logs``
prints the whole output, with the default only the stored tail once the chunks are
dropped. (Two real network namespaces: tests/pg/test_netns.py.)"""

from __future__ import annotations

import psycopg

from queuectl.config import Settings
from queuectl.worker.output import FINAL_PIECE, FLUSH_BYTES
from tests.pg.conftest import Hosts
from tests.support.polling import wait_for

LOUD = (  # 100 MB in about 2 s
    "import sys, time\nblock = (b'x' * 99 + b'\\n') * 10000\n"
    "for i in range(100):\n    sys.stdout.buffer.write(block)\n    time.sleep(0.02)\n"
)


def chunk_bytes(url: str, job_id: str) -> tuple[int, int]:
    """(bytes, rows) of the job's output in the queue now."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(length(data)), 0), count(*) FROM queuectl.output_chunks"
            " WHERE job_id = %s",
            (job_id,),
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def test_a_job_printing_100_mb_keeps_its_chunks_within_the_bound(hosts: Hosts, pg_url: str) -> None:
    a, b = hosts.a, hosts.b
    a.config("live-output-bytes", "256k")
    bound = Settings({"live_output_bytes": "262144"}).output_bound
    job = a.enqueue_json({"command": ["python3", "-c", LOUD]})
    a.start_worker()
    most = [0]

    def ended() -> bool:
        done = a.state(job) == "completed"
        most[0] = max(most[0], chunk_bytes(pg_url, job)[0])  # (kept a while after the end)
        return done

    wait_for(ended, 60, interval=0.01, what="the loud job to end")
    # within the bound but for a chunk at each end (while running, FLUSH_BYTES; the last
    # copy stores at most the bound's tail part)
    assert 0 < most[0] <= bound + 2 * FLUSH_BYTES, most
    assert bound + 2 * FLUSH_BYTES < FINAL_PIECE  # (the last copy is one piece here)
    shown = b.run("logs", job)
    assert shown.stdout.endswith(("x" * 99 + "\n") * 10)
    assert len(shown.stdout) < 2 * bound  # what the queue held, or the stored tail


def test_keep_output_full_gives_another_host_the_whole_output_and_tail_drops_it(
    hosts: Hosts, pg_url: str
) -> None:
    a, b = hosts.a, hosts.b
    a.config("heartbeat", "1")  # chunks are dropped at a heartbeat
    a.config("keep-output", "full")
    whole = "".join(f"{n}\n" for n in range(1, 50001))  # 289 KB, past the 16 KiB tail
    kept = a.enqueue("seq 1 50000")
    a.start_worker()
    a.wait_state(kept, "completed")

    shown = b.run("logs", kept)
    assert (shown.stdout, shown.stderr) == (whole, "")

    a.config("keep-output", "tail")
    wait_for(lambda: chunk_bytes(pg_url, kept) == (0, 0), 20, what="the chunks to be dropped")
    shown = b.run("logs", kept)
    assert whole.endswith(shown.stdout) and len(shown.stdout.encode()) == 16384
    assert "the tail stored with the attempt" in shown.stderr
    assert a.run("logs", kept).stdout == whole  # host A still has the file
