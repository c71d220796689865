"""The output role (PostgreSQL): what of a running attempt's live file goes into the queue
at each look, on a fake clock and queue: nothing for a job that printed nothing, the
newest 64 KiB (keep-output tail) or the oldest not stored yet (full), the rest when the
attempt ends, and a failed write tried again from where it stood."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from queuectl.logfiles import cap_shape
from queuectl.worker.output import FLUSH_BYTES, FLUSH_EVERY, OutputCopier
from queuectl.worker.slot import Slot
from tests.worker.fakes import Clock, FakePort, make_job

K = 1024


@pytest.fixture
def slot(tmp_path: Path, clock: Clock) -> Iterator[Slot]:
    slot = Slot("host:1:1", str(tmp_path / "logs"), clock)
    slot.job = make_job("j")
    yield slot
    slot.log.remove()


def prints(slot: Slot, data: bytes) -> None:
    """What the job writes into its live file (its stdout)."""
    os.write(slot.log.fileno(), data)


def written(port: FakePort) -> list[tuple[object, ...]]:
    """Each write_output: job, run, (offset, length) of its pieces, bound."""
    found: list[tuple[object, ...]] = []
    for job, run, pieces, bound in port.named("write_output"):
        assert isinstance(pieces, list)
        found.append((job, run, [(start, len(data)) for start, data in pieces], bound))
    return found


def test_a_look_writes_nothing_for_a_job_that_printed_nothing(
    port: FakePort, slot: Slot, clock: Clock
) -> None:
    copier = OutputCopier(port, clock)
    slot.log.fileno()  # its (empty) live file, as a spawn opens it
    copier.flush([slot])
    copier.final(slot)
    assert written(port) == []
    assert copier.next_at == clock() + FLUSH_EVERY


def test_tail_stores_the_newest_64k_and_then_only_what_is_new(
    port: FakePort, slot: Slot, clock: Clock
) -> None:
    copier = OutputCopier(port, clock)
    prints(slot, b"x" * 200 * K)
    copier.flush([slot])
    prints(slot, b"0123456789")
    clock.now += FLUSH_EVERY
    copier.flush([slot])
    copier.flush([slot])  # nothing new
    bound = 1 << 20
    assert written(port) == [
        ("j", 1, [(200 * K - FLUSH_BYTES, FLUSH_BYTES)], bound),
        ("j", 1, [(200 * K, 10)], bound),
    ]


def test_full_stores_the_oldest_bytes_not_stored_and_the_rest_at_the_end(
    tmp_path: Path, clock: Clock, slot: Slot
) -> None:
    port = FakePort(str(tmp_path / "logs"), keep_output="full")
    copier = OutputCopier(port, clock)
    prints(slot, b"y" * 200 * K)
    copier.flush([slot])
    copier.flush([slot])
    copier.final(slot)
    bound = 64 << 20  # max-log-bytes: what the log file keeps
    assert written(port) == [
        ("j", 1, [(0, FLUSH_BYTES)], bound),
        ("j", 1, [(FLUSH_BYTES, FLUSH_BYTES)], bound),
        ("j", 1, [(2 * FLUSH_BYTES, 200 * K - 2 * FLUSH_BYTES)], bound),
    ]


def test_the_last_copy_of_a_long_rest_keeps_only_the_end_the_bound_keeps(
    tmp_path: Path, clock: Clock, slot: Slot
) -> None:
    port = FakePort(str(tmp_path / "logs"), live_output_bytes=64 * K)
    copier = OutputCopier(port, clock)
    prints(slot, b"z" * 1000 * K)
    copier.final(slot)
    tail = cap_shape(64 * K)[1]
    assert written(port) == [("j", 1, [(1000 * K - tail, tail)], 64 * K)]


def test_a_failed_write_is_said_once_and_tried_again_from_where_it_stood(
    port: FakePort, slot: Slot, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    copier = OutputCopier(port, clock)
    prints(slot, b"a\n")
    port.down = True
    copier.flush([slot])
    prints(slot, b"b\n")
    copier.flush([slot])
    port.down = False
    copier.flush([slot])
    assert written(port)[-1] == ("j", 1, [(0, 4)], 1 << 20)
    assert capsys.readouterr().err.count("could not be stored") == 1


def test_the_slots_next_attempt_starts_at_its_own_beginning(
    port: FakePort, slot: Slot, clock: Clock
) -> None:
    copier = OutputCopier(port, clock)
    prints(slot, b"first\n")
    copier.flush([slot])
    copier.final(slot)
    slot.log.keep("j", 1, 0)  # its output moved to the attempt's file
    slot.job = make_job("k")
    prints(slot, b"second\n")
    copier.flush([slot])
    assert [w[:3] for w in written(port)] == [("j", 1, [(0, 6)]), ("k", 1, [(0, 7)])]
