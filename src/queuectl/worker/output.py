"""The output role (PostgreSQL): running attempts' output, copied from the slots' live
files into the queue in chunks, so that ``logs --follow`` and the dashboard read it on any
host. See DECISIONS.md, "Output from any host".

The worker's own select loop does it, at most every ``FLUSH_EVERY`` seconds while jobs
run (``Loop.run``), one ``fstat`` per running slot; only an attempt whose file grew costs
a write, one transaction (chunk, trim to the bound, NOTIFY) per attempt and look. At most
``FLUSH_BYTES`` are stored per attempt and look: with keep-output tail the newest, the
rest skipped (a reader says so, as for max-log-bytes); with full the oldest not stored
yet, the copy lagging behind. When the attempt ends its remaining output is stored
(``final``) before its result is written, so a reader that sees it ended reads it whole.
"""

from __future__ import annotations

import os
import time

from queuectl.errors import QueuectlError
from queuectl.logfiles import cap_shape, read_at
from queuectl.worker.messages import say

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from queuectl.worker.port import QueuePort
    from queuectl.worker.slot import Slot

FLUSH_EVERY = 0.1  # seconds between two looks at running attempts' files
FLUSH_BYTES = 64 * 1024  # bytes of an attempt's output stored per look, at most
FINAL_PIECE = 1 << 20  # the last copy of an attempt stores pieces of at most this size


class OutputCopier:
    """What of each slot's running attempt is in the queue already, and the next look.
    ``clock`` is the worker's monotonic clock (a test's fake one)."""

    def __init__(self, port: QueuePort, clock: Callable[[], float] = time.monotonic) -> None:
        self.port = port
        self.clock = clock
        self.next_at = 0.0
        self.sent: dict[str, tuple[str, int, int]] = {}  # slot → (job id, run, bytes stored)
        self.failing = False  # a write failed: said once, until one succeeds again

    def flush(self, running: Sequence[Slot]) -> None:
        """Store what the running attempts printed since the last look."""
        self.next_at = self.clock() + FLUSH_EVERY
        for slot in running:
            self._copy(slot, final=False)

    def final(self, slot: Slot) -> None:
        """Store the rest of ``slot``'s attempt, which has ended (before its result)."""
        self._copy(slot, final=True)
        self.sent.pop(slot.worker_id, None)

    def _copy(self, slot: Slot, final: bool) -> None:
        job, fd = slot.job, slot.log.fd
        if job is None or fd < 0:
            return
        known = self.sent.get(slot.worker_id)
        stored = known[2] if known is not None and known[:2] == (job.id, job.runs) else 0
        try:
            size = os.fstat(fd).st_size
        except OSError:
            return
        if size <= stored:
            return
        settings = self.port.settings
        bound = settings.output_bound
        start, limit = stored, FLUSH_BYTES
        if final:  # the rest, or of a long rest the part the bound keeps at the end
            limit = size - start
            if bound:
                start = max(start, size - cap_shape(bound)[1])
        elif settings.keep_output != "full":
            start = max(start, size - FLUSH_BYTES)  # the newest: the rest is skipped
        pieces = _read(fd, start, min(size, start + limit), FINAL_PIECE if final else limit)
        if not pieces:
            return
        try:
            self.port.write_output(job.id, job.runs, pieces, bound)
        except QueuectlError as exc:
            if not self.failing:
                say(f"job {job.id}: its output could not be stored in the queue ({exc})")
            self.failing = True
            return
        self.failing = False
        self.sent[slot.worker_id] = (job.id, job.runs, pieces[-1][0] + len(pieces[-1][1]))


def _read(fd: int, start: int, end: int, piece: int) -> list[tuple[int, bytes]]:
    """(offset, bytes) pieces of the file between ``start`` and ``end``, at most
    ``piece`` bytes each; a hole (max-log-bytes freed it) is skipped."""
    pieces: list[tuple[int, bytes]] = []
    position = start
    while position < end:
        try:
            skipped, data = read_at(fd, position, min(piece, end - position))
        except OSError:
            break
        if not data:
            break
        pieces.append((position + skipped, data))
        position += skipped + len(data)
    return pieces
