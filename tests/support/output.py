"""What the CLI's JSON output promises (CLI.md, "JSON output"): the fields of a job,
the states, the timestamp format; and a timestamp read back as epoch seconds."""

from __future__ import annotations

import re
from datetime import datetime

# Every field CLI.md promises in a job object of `list --json`.
JOB_FIELDS = (
    "id",
    "command",
    "state",
    "attempts",
    "max_retries",
    "priority",
    "queue",
    "run_at",
    "timeout",
    "created_at",
    "updated_at",
    "started_at",
    "finished_at",
    "exit_code",
    "last_error",
    "worker",
    "after",
    "blocked_by",
)
TIMESTAMP_FIELDS = ("run_at", "created_at", "updated_at", "started_at", "finished_at")
STATES = ("pending", "processing", "completed", "failed", "dead", "cancelled", "blocked")
# ISO 8601 UTC with a Z and millisecond precision or finer (CLI.md, "JSON output").
LOG_TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"  # a worker log line's instant
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3,}Z$")


def ts(text: str | None) -> float:
    """An ISO 8601 ``…Z`` timestamp of the JSON output → epoch seconds."""
    assert text is not None, "expected a timestamp, got null"
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text[:-1] + "+00:00").timestamp()
