"""What every engine does the same way: rows to insert, parameters of guarded writes."""

from __future__ import annotations

import json

from queuectl.errors import InvalidInput

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from queuectl.jobspec import JobSpec
    from queuectl.lifecycle import Transition
    from queuectl.models import Job


def job_rows(specs: Sequence[JobSpec], max_retries: int, now: float) -> list[dict[str, Any]]:
    """Validated specs → insert parameters; refuses an id given twice in one batch."""
    seen: set[str] = set()
    for spec in specs:
        if spec["id"] in seen:
            raise InvalidInput(
                f"job id {spec['id']!r} appears more than once; nothing was enqueued"
            )
        seen.add(spec["id"])
    return [
        {
            "id": spec["id"],
            "command": json.dumps(spec["command"]),
            "max_retries": max_retries if spec["max_retries"] is None else spec["max_retries"],
            "priority": spec["priority"],
            "queue": spec["queue"],
            "run_at": spec["run_at"],
            "timeout": spec["timeout"],
            "cwd": spec["cwd"],
            "env": json.dumps(spec["env"]) if spec["env"] else None,
            "now": now,
        }
        for spec in specs
    ]


def duplicate_error(taken: Sequence[str]) -> InvalidInput:
    name = taken[0] if taken else "?"
    return InvalidInput(f"job id {name!r} already exists; nothing was enqueued")


def end_params(
    job: Job,
    worker: str | None,
    step: Transition,
    outcome: str,
    log_path: str | None = None,
    log_tail: str | None = None,
) -> dict[str, Any]:
    """Parameters of the guarded writes that end run ``job.runs`` (job row and attempt row)."""
    return {
        "state": step.state.value,
        "attempts": step.attempts,
        "run_at": step.run_at,
        "exit_code": step.exit_code,
        "error": step.error,
        "job_id": job.id,
        "worker": worker,
        "run": job.runs,
        "outcome": outcome,
        "log_path": log_path,
        "log_tail": log_tail,
    }
