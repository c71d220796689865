"""What a worker tells its operator: one line on stderr per event, flushed at once.

Text (the default): the instant in ISO 8601 UTC, then the message. JSON
(``--log-format json``): one object per line, ``{"time", "event", "host", ...fields,
"message"}``. The events a tool may rely on are ``serving`` (the first line: the
queue's location, and the mode limits are enforced in: worker.confine), ``started``,
``claimed``, ``ended``, ``rescued``, ``fenced``, ``fired`` (jobs enqueued for schedules'
slots), ``hook`` (a hook that failed), ``stopping``, ``stopped`` and ``purged`` (a
retention pass), each with its fields (job id, attempt, outcome, exit code, worker id,
state, jobs … where they apply); anything else the worker has to say (a queue error it
carries on after, a missing fence) is a ``notice``.
"""

from __future__ import annotations

import sys
import time

TEXT, JSON = "text", "json"
LOG_FORMATS = (TEXT, JSON)


class _Log:
    """How this process writes its events (one worker per process: set once, at start)."""

    format = TEXT
    host: str | None = None


_log = _Log()


def configure(log_format: str, host: str) -> None:
    """Write every later event in ``log_format`` (TEXT or JSON), naming ``host``."""
    _log.format = log_format
    _log.host = host


def timestamp(instant: float) -> str:
    """Epoch seconds → ``2026-11-22T10:30:00.123Z`` (a log spans days: the date is there).
    A busy worker writes many lines a second: the second's text is made once."""
    second = int(instant // 1)
    if second != _second[0]:
        _second[:] = [second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))]
    return f"{_second[1]}.{int(instant % 1 * 1000):03d}Z"


_second: list[object] = [None, ""]  # the last second formatted, and its text


def event(name: str, message: str, **fields: object) -> None:
    """One event: ``message`` for people; ``name`` and ``fields`` for tools (JSON)."""
    now = time.time()
    if _log.format == JSON:
        import json

        record = {"time": timestamp(now), "event": name, "host": _log.host, **fields}
        line = json.dumps({**record, "message": message}, ensure_ascii=False)
    else:
        line = f"{timestamp(now)} {message}"
    sys.stderr.write(line + "\n")  # a detached worker's log is read while it runs
    sys.stderr.flush()


def say(message: str) -> None:
    """A notice: what the worker has to say beyond its events."""
    event("notice", message)
