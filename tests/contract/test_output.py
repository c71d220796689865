"""Output from any host (PostgreSQL): a running attempt's output stored in chunks, read
back after an offset, kept within its bound, announced on the output channel, and
dropped once the attempt's tail is stored (unless keep-output is full), or with its job.
SQLite stores no chunks (its readers read the log files), so these run on PostgreSQL."""

from __future__ import annotations

import itertools
import math
import select
from typing import TYPE_CHECKING, cast

import pytest

from queuectl.lifecycle import Succeeded, WorkerLost
from queuectl.logfiles import cap_shape
from tests.contract.support import LEASE, add, claim, end, rescue_lost, wait_past

if TYPE_CHECKING:
    from queuectl.backends.base import Backend, SharedOutput

pytestmark = pytest.mark.parametrize("db", ["postgres"], indirect=True)
GRACE = 2.0  # backends.postgres.OUTPUT_GRACE


def shared(backend: Backend) -> SharedOutput:
    return cast("SharedOutput", backend)


def stored(backend: Backend, job_id: str, run: int = 1) -> bytes:
    """The attempt's stored output, its chunks joined (they must not overlap)."""
    chunks = shared(backend).output(job_id, run)
    for (start, data), (after, _) in itertools.pairwise(chunks):
        assert start + len(data) <= after, chunks
    return b"".join(data for _, data in chunks)


def test_chunks_come_back_in_order_after_an_offset_byte_for_byte(backend: Backend) -> None:
    add(backend, "j")
    job = claim(backend)
    out = shared(backend)
    out.write_output("j", 1, [(0, b"one\n"), (4, b"\x00\xff two\n")], 0)
    out.write_output("j", 1, [(13, b"three\n")], 0)

    assert out.output("j", 1) == [(0, b"one\n"), (4, b"\x00\xff two\n"), (13, b"three\n")]
    assert out.output("j", 1, 4) == [(4, b"\x00\xff two\n"), (13, b"three\n")]
    assert out.output("j", 1, 5) == [(4, b"\x00\xff two\n"), (13, b"three\n")]  # ends after 5
    assert out.output("j", 1, 19) == []
    assert out.output("j", 2) == [] and out.output("other", 1) == []
    out.write_output("j", 1, [(13, b"three\n")], 0)  # a flush written again: no twin
    assert stored(backend, "j") == b"one\n\x00\xff two\nthree\n"
    assert end(backend, job, Succeeded(), log_tail="three\n")


def test_an_attempts_chunks_stay_within_its_bound_its_start_and_its_end(
    backend: Backend,
) -> None:
    add(backend, "loud")
    claim(backend)
    out = shared(backend)
    bound, piece = 64 * 1024, 16 * 1024
    head, tail = cap_shape(bound)
    for n in range(200):  # 3.2 MB, 16 KiB a flush
        out.write_output("loud", 1, [(n * piece, bytes([65 + n % 26]) * piece)], bound)
        kept = out.output("loud", 1)
        assert sum(len(data) for _, data in kept) <= bound + 2 * piece
    end_at = 200 * piece
    assert kept[0][0] == 0  # the start stays
    assert kept[-1][0] + len(kept[-1][1]) == end_at  # and the end
    assert all(start < head or start + len(data) > end_at - tail for start, data in kept)


def test_a_write_is_announced_on_the_output_channel_to_any_reader(
    backend: Backend, connect: object
) -> None:
    add(backend, "j")
    claim(backend)
    other = connect()  # type: ignore[operator]
    watcher = shared(other).output_watcher()
    try:
        assert select.select([watcher.fileno()], [], [], 0)[0] == []
        shared(backend).write_output("j", 1, [(0, b"hi\n")], 0)
        assert select.select([watcher.fileno()], [], [], 5)[0], "no notification"
        assert watcher.drain() == {"output"}
    finally:
        watcher.close()


def test_chunks_are_dropped_a_grace_after_the_tail_is_stored_unless_kept_in_full(
    backend: Backend,
) -> None:
    add(backend, "t", "f")
    out = shared(backend)
    for _ in ("t", "f"):
        job = claim(backend)
        out.write_output(job.id, 1, [(0, b"all of it\n")], 0)
        assert end(backend, job, Succeeded(), log_tail="all of it\n")
    backend.config_set("keep_output", "full")
    ended_at = backend.now()
    backend.heartbeat([], [], LEASE)
    assert stored(backend, "t") == stored(backend, "f") == b"all of it\n"  # within the grace

    wait_past(backend, ended_at + GRACE)
    backend.heartbeat([], [], LEASE)
    assert stored(backend, "t") == b"all of it\n"  # keep-output full: kept
    backend.config_set("keep_output", "tail")
    backend.heartbeat([], [], LEASE)
    assert out.output("t", 1) == out.output("f", 1) == []


def test_a_lost_attempt_keeps_its_chunks_until_its_tail_is_stored(backend: Backend) -> None:
    """Rescued on another host, an attempt has no stored tail: its chunks are all there
    is of its output there."""
    add(backend, "lost")
    claim(backend, "dead:1:1", lease=0.2)
    shared(backend).write_output("lost", 1, [(0, b"last words\n")], 0)
    assert rescue_lost(backend) == ["lost"]
    wait_past(backend, backend.now() + GRACE)
    backend.heartbeat([], [], LEASE)
    assert stored(backend, "lost") == b"last words\n"
    (attempt,) = backend.attempts("lost")
    assert attempt.outcome == WorkerLost.name and attempt.log_tail is None


def test_chunks_go_with_their_job_when_it_is_purged(backend: Backend) -> None:
    backend.config_set("keep_output", "full")
    add(backend, "p")
    job = claim(backend)
    shared(backend).write_output("p", 1, [(0, b"kept\n")], 0)
    assert end(backend, job, Succeeded(), log_tail="kept\n")
    assert stored(backend, "p") == b"kept\n"
    assert backend.purge_batch("completed", math.inf) == ["p"]
    assert shared(backend).output("p", 1) == []
