"""Time as queuectl stores and prints it.

Inside, an instant is a float of seconds since the Unix epoch (sub-millisecond
precision, cheap to compare in SQL). Outside, it is ISO 8601 UTC with a ``Z``.
"""

from __future__ import annotations

import math
import re
import time

from queuectl.errors import InvalidInput, brief

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
MAX_DURATION = 366 * 86400.0
EARLIEST = 0.0  # 1970-01-01: an instant before the epoch is a mistake, not a schedule
LATEST = 253402300799.0  # 9999-12-31T23:59:59Z: four-digit years print as ISO 8601 wants


def now() -> float:
    """The wall clock, in epoch seconds. Everything that needs a clock takes it as input."""
    return time.time()


def iso(ts: float | None) -> str | None:
    """Epoch seconds → ``2026-11-22T10:30:00.123456Z`` (None stays None)."""
    if ts is None:
        return None
    from datetime import UTC, datetime  # not on the enqueue path: imported when printing

    dt = datetime.fromtimestamp(ts, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


def span(start: float, end: float) -> float:
    """Seconds from ``start`` to ``end`` as ``iso`` prints them (each to the microsecond):
    a duration that agrees with the instants shown beside it, and that an instant read
    back from its text (an import) leaves as it was."""
    from datetime import UTC, datetime

    gap = datetime.fromtimestamp(end, UTC) - datetime.fromtimestamp(start, UTC)
    return round(gap.total_seconds(), 6)


def parse_instant(text: str) -> float:
    """ISO 8601 → epoch seconds. A time without an offset is taken as local time."""
    if not isinstance(text, str) or not text.strip() or "\x00" in text or len(text) > 64:
        raise InvalidInput(
            f"invalid time {brief(text)}: expected ISO 8601, e.g. 2026-11-22T10:30:00Z"
        )
    from datetime import datetime

    try:
        dt = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            f"invalid time {brief(text)}: expected ISO 8601, e.g. 2026-11-22T10:30:00Z"
        ) from None
    try:
        instant = dt.timestamp()
    except (OverflowError, OSError, ValueError):
        instant = -1.0
    if not EARLIEST <= instant <= LATEST:
        raise InvalidInput(f"time {brief(text)} is out of range (1970 to 9999)")
    return instant


def parse_duration(value: object, what: str = "duration") -> float:
    """``30``, ``1.5``, ``"30s"``, ``"5m"``, ``"2h"``, ``"1h30m"``, ``"500ms"`` → seconds (≥ 0)."""
    if isinstance(value, bool):
        raise InvalidInput(f"invalid {what} {value!r}: expected seconds or e.g. 30s, 5m, 2h")
    if isinstance(value, int | float):
        try:
            seconds = float(value)
        except OverflowError:
            raise InvalidInput(f"invalid {what} {brief(value)}: longer than a year") from None
    elif isinstance(value, str):
        text = value.strip().lower()
        if text.startswith("-") and text[1:2] not in ("-", "+"):  # "-5s": say it is negative
            seconds = -_parse_duration_text(text[1:], what, value)
        else:
            seconds = _parse_duration_text(text, what, value)
    else:
        raise InvalidInput(f"invalid {what} {brief(value)}: expected seconds or e.g. 30s, 5m, 2h")
    if not math.isfinite(seconds):
        raise InvalidInput(f"invalid {what} {brief(value)}: must be finite")
    if seconds < 0:
        raise InvalidInput(f"invalid {what} {brief(value)}: must not be negative")
    if seconds > MAX_DURATION:
        raise InvalidInput(f"invalid {what} {brief(value)}: longer than a year")
    return seconds


def _parse_duration_text(text: str, what: str, original: str) -> float:
    bad = InvalidInput(f"invalid {what} {brief(original)}: expected seconds or e.g. 30s, 5m, 2h")
    if not text or len(text) > 64:
        raise bad
    try:
        return float(text)
    except ValueError:
        pass
    total, pos = 0.0, 0
    for match in _PART.finditer(text):
        if match.start() != pos:
            raise bad
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text):
        raise bad
    return total


def format_duration(seconds: float) -> str:
    """A short human form: ``850ms``, ``12.3s``, ``4m05s``, ``2h10m``."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"
