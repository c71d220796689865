"""The results role: ended attempts on their way into the queue.

A result is written with the next turn's claims (one transaction, ``Loop._turn``). One
whose write fails is kept, its lease renewed meanwhile (``Lease.renew``), and retried
apart (``Results.write_apart``), so that a result the queue keeps refusing holds back
neither the claims nor the results that come after it. See DECISIONS.md, section 5.
"""

from __future__ import annotations

import time

from queuectl.errors import QueuectlError
from queuectl.worker.messages import event, say

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from queuectl.lifecycle import Finished
    from queuectl.worker.port import QueuePort

FIRST_PAUSE, LAST_PAUSE = 0.25, 5.0  # seconds between retries of refused results


class Results:
    """Results not written yet, and those the queue refused. ``clock`` is the worker's
    monotonic clock (a test's fake one)."""

    def __init__(
        self,
        port: QueuePort,
        clock: Callable[[], float] = time.monotonic,
        recorded: Callable[[Finished], None] | None = None,
    ) -> None:
        self.port = port
        self.clock = clock
        self.recorded = recorded  # told of each result written as the job's (its hooks)
        # results that could not be written yet (queue unreachable): retried every turn
        self.unrecorded: list[Finished] = []
        # those whose write failed, (job, run) → when it first did: retried one by one,
        # apart from claims and new results, at a growing pace (see write_apart)
        self.refused_since: dict[tuple[str, int], float] = {}
        self.pause = 0.0
        self.retry_at = 0.0  # instant (clock) of the next round of write_apart
        self.waiting = True  # False after a second stop signal: give refused ones up
        self.given_up = False  # a result was given up: the worker exits 1
        self.dead = 0  # results written that left their job dead (a burst run exits 1)

    def add(self, ended: Finished) -> None:
        self.unrecorded.append(ended)

    def fresh(self) -> list[Finished]:
        """What the next exchange writes: the results not refused yet."""
        return [r for r in self.unrecorded if _key(r) not in self.refused_since]

    def any_fresh(self) -> bool:
        return len(self.unrecorded) != len(self.refused_since)

    def written(self, fresh: Sequence[Finished], held: Sequence[bool]) -> None:
        """``fresh`` went into the queue; ``held``: whether each was still ours to end."""
        for ended, ours in zip(fresh, held, strict=True):
            self.report(ended, ours)
        self.unrecorded = [r for r in self.unrecorded if _key(r) in self.refused_since]

    def refused(self, fresh: Sequence[Finished]) -> None:
        """The exchange that carried ``fresh`` failed: from now on each goes apart."""
        now = self.clock()
        self.refused_since.update((_key(r), now) for r in fresh)

    def drop(self) -> None:
        """Forget every result: the queue they belong to is gone (Lease.location_lost)."""
        self.unrecorded = []
        self.refused_since.clear()

    def stop_waiting(self) -> None:
        """A second stop signal: a refused result is given up at its next try, now."""
        self.waiting = False
        self.retry_at = 0.0

    def wake_at(self) -> float | None:
        """When ``write_apart`` wants to run next (None: nothing refused)."""
        return self.retry_at if self.refused_since else None

    def write_apart(self) -> None:
        """Retry results whose write failed, each in a transaction of its own, at a
        growing pace; a round stops at a failure (that result then goes last, so one the
        queue refuses does not hold back the others). A result still refused a lease
        after its first failure, or at a second stop signal, is given up: no longer
        renewed, its job is rescued ("worker lost") once its lease runs out and runs
        again as its retries allow. A worker never waits for ever on a result."""
        if not self.refused_since:
            return
        now = self.clock()
        if now < self.retry_at:
            return
        lease = self.port.settings.lease
        for ended in [r for r in self.unrecorded if _key(r) in self.refused_since]:
            try:
                (ours,) = self.port.exchange([ended], [], None, lease).held
            except QueuectlError as exc:
                if self.waiting and now - self.refused_since[_key(ended)] < lease:
                    self.unrecorded.remove(ended)
                    self.unrecorded.append(ended)
                    self.pause = min(max(self.pause * 2, FIRST_PAUSE), LAST_PAUSE)
                    self.retry_at = now + self.pause
                    say(
                        f"{len(self.refused_since)} result(s) not written: {exc}; "
                        f"retrying in {self.pause:g}s"
                    )
                    return
                say(
                    f"{ended.worker} job {ended.job.id} attempt {ended.job.runs}: "
                    f"{ended.outcome}, not recorded ({exc}); given up: the job is rescued "
                    "when its lease runs out"
                )
                self.given_up = True
            else:
                self.report(ended, ours)
            self.unrecorded.remove(ended)
            del self.refused_since[_key(ended)]
        self.pause = self.retry_at = 0.0

    def report(self, ended: Finished, ours: bool) -> None:
        """One ``ended`` event per written result: the job's new state, or that it was not
        ours. A job that ended ``dead`` is counted (``dead``: a burst run exits 1). A result
        written as the job's goes to ``recorded`` (the worker's hooks)."""
        job, step = ended.job, ended.transition
        head = f"{ended.worker} job {job.id} attempt {job.runs}: "
        fields: dict[str, object] = {
            "worker": ended.worker,
            "job": job.id,
            "attempt": job.runs,
            "outcome": ended.outcome,
            "exit_code": step.exit_code,
        }
        if not ours:
            message = head + f"{ended.outcome}, not recorded: the job is no longer ours"
            event("ended", message, **fields, state=None, recorded=False)
            return
        note = step.state.value
        retry_in = None
        if step.state.value == "failed" and step.run_at is not None:
            retry_in = round(step.run_at - self.port.now(), 3)
            note += f", retry in {retry_in:.1f}s"
        if step.state.value == "dead":
            self.dead += 1
        message = head + note + (f" — {step.error}" if step.error else "")
        fields.update(state=step.state.value, error=step.error, retry_in=retry_in)
        event("ended", message, **fields, recorded=True)
        if self.recorded is not None:
            self.recorded(ended)


def _key(ended: Finished) -> tuple[str, int]:
    return ended.job.id, ended.job.runs
