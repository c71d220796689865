"""``explain``: why a job is not running, from the rules the claim itself applies.

Each rule is read where the claim reads it, not derived again: a queue's pause and
limits from ``QueueInfo.closures`` (the words of the fragment queue_closed), the jobs
ahead from ``Queue.ready_ahead`` (the claim's own filter and order, in SQL), the
workers that serve a queue from ``queues.serves`` (the worker's ``--queue`` rule). Several
reasons can hold at once; the first is what holds the job now.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from queuectl.models import FINAL
from queuectl.queues import serves
from queuectl.timefmt import iso

AHEAD_MOST = 1_000  # jobs ahead counted at most; past it "behind more than 1,000"

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from queuectl.api import Queue
    from queuectl.models import Job, WorkerInfo


@dataclass(frozen=True, slots=True)
class Reason:
    """One reason: a stable ``code``, its words, and the facts behind them."""

    code: str
    message: str
    fields: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.fields}


def explain(queue: Queue, job_id: str) -> tuple[Job, list[Reason]]:
    """The job (NotFound for an unknown id) and why it is where it is."""
    job = queue.get(job_id)
    now = queue.now()
    if job.state in FINAL:
        return job, [_final(job)]
    if job.state == "processing":
        since = iso(job.started_at)
        message = f"running on worker {job.worker} since {since}"
        return job, [Reason("running", message, {"worker": job.worker, "since": since})]
    reasons = []
    if job.state == "blocked":
        reasons.append(_blocked(queue, job))
    if job.run_at > now:
        reasons.append(_waiting(job))
    info = next((q for q in queue.queues() if q.name == job.queue), None)
    if info is not None:
        for closure in info.closures(now):
            reason = Reason(*closure)
            reasons.append(_slots(queue, job, reason) if reason.code == "concurrency" else reason)
    workers = queue.workers()
    serving = [w for w in workers if serves(w.queues, job.queue)]
    if not serving:
        reasons.append(_no_worker(job, workers))
    if not reasons:
        reasons.append(_queued(queue, job, serving))
    return job, reasons


def _final(job: Job) -> Reason:
    when = iso(job.finished_at)
    why = {"completed": "it exited 0"}.get(job.state, job.last_error or "no reason stored")
    if job.state == "dead" and job.exit_code is not None and not job.last_error:
        why = f"exit code {job.exit_code}"
    message = f"{job.state} at {when}: {why}"
    return Reason("final", message, {"finished_at": when, "exit_code": job.exit_code,
                                     "error": job.last_error})  # fmt: skip


def _blocked(queue: Queue, job: Job) -> Reason:
    after = [(i, state) for side, i, state in queue.dependencies(job.id) if side == "after"]
    holding = [(i, state) for i, state in after if i in job.blocked_by] or after
    names = ", ".join(f"{i} ({state or 'purged'})" for i, state in holding)
    return Reason("blocked", f"blocked by {names}",
                  {"dependencies": [{"id": i, "state": s} for i, s in holding]})  # fmt: skip


def _waiting(job: Job) -> Reason:
    until = iso(job.run_at)
    if job.state == "failed":
        attempt, of = job.attempts + 1, job.max_retries + 1
        message = f"backoff after a failure until {until} (attempt {attempt} of {of} next)"
        return Reason("backoff", message, {"until": until, "attempt": attempt, "of": of})
    return Reason("waiting", f"waiting for its run_at until {until}", {"until": until})


def _slots(queue: Queue, job: Job, full: Reason) -> Reason:
    """The concurrency reason, naming the running jobs that hold the slots."""
    holders = [j.id for j in queue.jobs("processing", job.queue)]
    return Reason(full.code, f"{full.message}, held by {', '.join(holders)}",
                  {**full.fields, "held_by": holders})  # fmt: skip


def _no_worker(job: Job, workers: list[WorkerInfo]) -> Reason:
    lists = sorted({",".join(w.queues or ["(every queue)"]) for w in workers})
    seen = f"; live workers serve: {'; '.join(lists)}" if lists else " (no worker is running)"
    return Reason("no_worker", f"no live worker serves queue {job.queue}{seen}",
                  {"workers": [{"id": w.id, "queues": w.queues} for w in workers]})  # fmt: skip


def _queued(queue: Queue, job: Job, serving: list[WorkerInfo]) -> Reason:
    """Next in line: the ready jobs ahead of it that a worker of its queue could take, in
    the queues those workers serve; past AHEAD_MOST only "more than" that is said (the
    count stops there, so a job behind a million costs what one behind a thousand does)."""
    served = [
        name for name in queue.counts_by_queue() if any(serves(w.queues, name) for w in serving)
    ]
    count = queue.ready_ahead(job.id, served, AHEAD_MOST)
    if count > AHEAD_MOST:
        message = f"next in line behind more than {AHEAD_MOST:,} ready jobs"
        return Reason("queued", message, {"ahead": AHEAD_MOST, "more": True})
    message = (
        f"next in line behind {count} ready job{'s' if count != 1 else ''}"
        if count
        else "next in line: a worker of its queue takes it at its next claim"
    )
    return Reason("queued", message, {"ahead": count, "more": False})
