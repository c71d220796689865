"""The housekeeping role: retention, done by live workers a bounded batch at a time.

A pass at the worker's start, then about once a minute: roll up the finished attempts
older than stats.ROLL_UP_AFTER (so figures read rollups, not a growing table), purge the
jobs that have outlived their ``retention-*`` setting, remove the log files of purged
attempts that this host wrote, and, hourly, the live log files that dead workers of this
host left and nobody adopted.

Each batch is a transaction of its own, short enough that a claim waits at most a few
milliseconds for it (SQLite's one writer); a pass that finds a backlog does a few
batches and comes back a second later instead of a minute. No leader: every worker of
every host does it, and they never do the same batch twice (the rollups' mark,
PostgreSQL's SKIP LOCKED). A failed pass is told and tried again at the next one; it
never stops the worker. See DECISIONS.md, "Retention".
"""

from __future__ import annotations

import random
import time

from queuectl.errors import QueuectlError
from queuectl.worker.messages import event, say

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from queuectl.worker.orphans import ThisHost
    from queuectl.worker.port import QueuePort

EVERY = 60.0  # seconds between passes that left nothing behind (a little jitter added)
SOON = 1.0  # after a pass that stopped at its bounds with work left
ROLL_UPS, ROLL_UP_LIMIT = 10, 500  # per pass: transactions, attempts each (~4 ms of lock)
PURGES = 5  # per pass and state: transactions of backends.retention.PURGE_BATCH jobs
LOG_REMOVALS = 1000  # log files of purged attempts taken per pass
ORPHANS_EVERY = 3600.0  # how often dead workers' leftover live files are looked for
ORPHAN_AGE = 86400.0  # such a file untouched this long is removed (orphans.adopt_orphans)


class Housekeeping:
    """The passes of one worker process. ``here`` tells what it can prove about its host
    (Lease.here); ``clock`` is the worker's monotonic clock."""

    def __init__(
        self,
        port: QueuePort,
        here: Callable[[], ThisHost],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.port = port
        self.here = here
        self.clock = clock
        self.next_at = clock() + EVERY  # the first pass: at start (Runner.run)
        self.orphans_at = clock() + ORPHANS_EVERY  # the start adopted them already

    def run(self) -> None:
        """One pass, then the time of the next."""
        now = self.clock()
        try:
            more = self._roll_up()
            more = self._purge() or more
            self._remove_logs()
            if now >= self.orphans_at:
                self.orphans_at = now + ORPHANS_EVERY
                self.port.adopt_orphans(self.here(), (), ORPHAN_AGE)
        except QueuectlError as exc:
            say(f"retention pass failed (tried again later): {exc}")
            more = False
        pause = SOON if more else EVERY * random.uniform(1.0, 1.1)
        self.next_at = self.clock() + pause

    def _roll_up(self) -> bool:
        """Rollups up to ROLL_UP_AFTER ago; True if they stopped at their bounds."""
        from queuectl.stats import ROLL_UP_AFTER

        before = self.port.now() - ROLL_UP_AFTER
        for _ in range(ROLL_UPS):
            if self.port.roll_up(before, ROLL_UP_LIMIT) < ROLL_UP_LIMIT:
                return False
        return True

    def _purge(self) -> bool:
        """Jobs past their state's retention; True if some state has more left."""
        from queuectl.backends.retention import PURGE_BATCH
        from queuectl.config import RETENTION
        from queuectl.timefmt import format_duration

        settings, more = self.port.settings, False
        for state in RETENTION:
            keep = settings.retention(state)
            if keep is None:
                continue
            before = self.port.now() - keep
            purged = 0
            for _ in range(PURGES):
                gone = len(self.port.purge_batch(state, before, None, PURGE_BATCH))
                purged += gone
                if gone < PURGE_BATCH:
                    break
            else:
                more = True
            if purged:
                ago = format_duration(keep)
                message = f"retention: purged {purged} {state} job(s) that ended over {ago} ago"
                event("purged", message, state=state, jobs=purged)
        return more

    def _remove_logs(self) -> None:
        """The log files of purged attempts this host wrote (whoever purged them)."""
        from queuectl.logfiles import remove_attempt_logs

        here = self.here()
        taken = self.port.take_log_removals(here.host, LOG_REMOVALS)
        remove_attempt_logs(self.port.logs_dir, taken)
