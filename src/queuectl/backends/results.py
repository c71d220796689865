"""Typed results of the storage protocol, where a bare tuple said nothing of its fields.

NamedTuples: a result costs what a tuple costs, and callers may still unpack it
(``held, jobs = backend.exchange(...)``). Imported only by the worker's verbs and the
figures, never on the enqueue path (this module loads ``typing``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from queuectl.errors import Conflict, NotFound

if TYPE_CHECKING:
    from collections.abc import Sequence

    from queuectl.errors import QueuectlError
    from queuectl.lifecycle import Finished
    from queuectl.models import Job


class Exchange(NamedTuple):
    """What one worker turn (Jobs.exchange) did. ``held``: one per result, in order, True
    where the run was still this worker's and is now ended, False where it was not (then
    nothing of that result was written). ``claimed``: the jobs taken, each naming in
    ``worker`` the claimer it was taken for."""

    held: list[bool]
    claimed: list[Job]


class Beat(NamedTuple):
    """What a heartbeat (Jobs.heartbeat) learned. ``held``: the (job, run) pairs still the
    worker's, their leases renewed; ``stop_requested``: `worker stop` asked for a stop;
    ``registered``: every slot still has its worker row (else the worker registers again);
    ``stop_now``: `worker stop --now` asked to interrupt the running jobs too."""

    held: set[tuple[str, int]]
    stop_requested: bool
    registered: bool
    stop_now: bool = False


class Changes(NamedTuple):
    """What an operator's change of jobs one by one (Jobs.rerun, Jobs.run_now) did:
    ``done``, the ids changed, in the order named; ``refused``, for every other id the
    reason it was left as it was (NotFound, or Conflict naming its state)."""

    done: list[str]
    refused: dict[str, QueuectlError]


class Cancels(NamedTuple):
    """What a cancel (Jobs.cancel) did. ``cancelled``: the jobs it cancelled, in the order
    named; ``left``: every other job named, left as it was, with its state (None: there is
    no such job)."""

    cancelled: list[str]
    left: dict[str, str | None]

    def refusal(self, job_id: str) -> NotFound | Conflict:
        """Why a job of ``left`` was not cancelled, as the error to report."""
        state = self.left[job_id]
        if state is None:
            return NotFound(f"no job {job_id!r}")
        return Conflict(f"cannot cancel job {job_id!r}: it is {state}")


class Firing(NamedTuple):
    """What a worker's look at the schedules (Jobs.fire_schedules) did: ``fired``, the jobs
    it enqueued for due slots (a slot another worker enqueued first is not among them);
    ``next_at``: when the next slot of a schedule not paused falls due (None: none)."""

    fired: list[str]
    next_at: float | None


class TimelineSlot(NamedTuple):
    """Attempts that ended in one bucket of a timeline (Insights.attempt_timeline)."""

    slot: int
    succeeded: int
    failed: int


class OutcomeCount(NamedTuple):
    """Finished attempts of one queue with one outcome (Insights.attempt_outcomes)."""

    queue: str
    outcome: str
    attempts: int
    seconds: float


class DurationBucket(NamedTuple):
    """Finished attempts of one queue in one histogram bucket (Insights.attempt_durations):
    ``slot`` is the index of the first bound at least their duration, None above all."""

    queue: str
    slot: int | None
    attempts: int
    seconds: float


class Rescued(list[str]):
    """What a rescue pass (Jobs.rescue_expired) ended: the ids of the jobs, a list as
    before, and ``ended``: each rescue as a worker's result reads (``lifecycle.Finished``,
    outcome ``worker_lost``), for the hooks of the worker that rescued them."""

    __slots__ = ("ended",)

    def __init__(self, ended: Sequence[Finished] = ()) -> None:
        super().__init__(end.job.id for end in ended)
        self.ended = list(ended)


class Page(NamedTuple):
    """A page of jobs in enqueue order (Jobs.job_page): ``jobs``, and ``last``, the
    position to ask the next page after (the last job's; ``after`` when there is none)."""

    jobs: list[Job]
    last: int


class Imports(NamedTuple):
    """What an import (Jobs.import_jobs) wrote: ``jobs`` and their ``attempts``, and the
    jobs ``skipped`` because their id was in the queue already."""

    jobs: int
    attempts: int
    skipped: int
