"""Template filters: times and durations as the CLI prints them (render.py, timefmt.py)."""

from __future__ import annotations

from queuectl.limits import text as limits_text
from queuectl.render import ago, cpu_text, kib_text, names, tries, when
from queuectl.timefmt import format_duration, iso


def duration(seconds: float | None) -> str:
    return "-" if seconds is None else format_duration(max(seconds, 0.0))


def rate(per_minute: float | None) -> str:
    """Small rates keep two decimals (0.03/min), large ones none (1250/min)."""
    if per_minute is None:
        return "-"
    return f"{per_minute:.2f}" if per_minute < 10 else f"{per_minute:.0f}"


FILTERS = {
    "ago": ago,
    "when": when,
    "iso": iso,
    "duration": duration,
    "rate": rate,
    "tries": tries,
    "names": names,
    "cpu": cpu_text,
    "kib": kib_text,
    "limits": limits_text,
}
