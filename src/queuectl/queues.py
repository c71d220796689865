"""Queues as objects: a queue's pause and limits (``queue set/pause/resume/list``).

Pure: parsing of ``--rate``/``--concurrency``, the ``QueueInfo`` a row becomes, and
``closed_reasons`` (why a queue's jobs may not start now, in words, for ``queue list``
and ``explain``). Whether a claim passes a queue over is decided by the SQL
fragment ``queue_closed`` in each engine's queries.sql; ``closed_reasons`` names the same
three conditions from the same row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from queuectl.errors import InvalidInput
from queuectl.jobspec import check_exit_codes, parse_exit_codes
from queuectl.limits import from_json, parse, to_json
from queuectl.limits import text as limits_text
from queuectl.timefmt import format_duration, iso, parse_duration

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any

PERIODS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_rate(text: str) -> tuple[int, float] | None:
    """``N/s``, ``N/m``, ``N/h`` → (N, period in seconds); ``none`` → None."""
    if text == "none":
        return None
    count, _, unit = text.partition("/")
    if not count.isdigit() or int(count) < 1 or unit not in PERIODS:
        raise InvalidInput(f"--rate: expected N/s, N/m, N/h (N ≥ 1) or none, got {text!r}")
    return int(count), PERIODS[unit]


def parse_concurrency(text: str) -> int | None:
    if text == "none":
        return None
    if not text.isdigit() or int(text) < 1:
        raise InvalidInput(f"--concurrency: expected a whole number ≥ 1 or none, got {text!r}")
    return int(text)


def parse_no_retry_on(text: str) -> list[int]:
    """``2,126,127`` → the codes, checked as a job's (sorted, once each); ``none`` → []."""
    return [] if text == "none" else check_exit_codes(parse_exit_codes(text)) or []


def parse_timeout(text: str) -> float | None:
    if text == "none":
        return None
    seconds = parse_duration(text, "--timeout")
    if seconds <= 0:
        raise InvalidInput(f"--timeout: expected a duration above 0 or none, got {text!r}")
    return seconds


def parse_limits(text: str) -> dict[str, int | float] | None:
    """``mem=2G,cpu=1.5,…`` (queuectl.limits.parse) → the limits; ``none`` → None."""
    return None if text == "none" else parse(text)


def format_rate(count: int | None, period: float | None) -> str | None:
    if count is None or period is None:
        return None
    unit = next((u for u, p in PERIODS.items() if p == period), None)
    return f"{count}/{unit}" if unit else f"{count}/{format_duration(period)}"


@dataclass(frozen=True, slots=True)
class QueueInfo:
    """A queue's row (or no row: not paused, no limits), with its jobs and workers."""

    name: str
    paused: bool = False
    paused_until: float | None = None
    paused_at: float | None = None
    paused_by: str | None = None
    paused_reason: str | None = None
    concurrency: int | None = None
    rate_n: int | None = None
    rate_period: float | None = None
    tokens: float | None = None
    tokens_at: float | None = None
    timeout: float | None = None
    no_retry_on: tuple[int, ...] = ()  # exit codes its jobs are not retried after
    limits: dict[str, int | float] | None = None  # what each of its jobs' attempts may use
    counts: dict[str, int] | None = None
    workers: int = 0

    @classmethod
    def from_row(cls, row: Any) -> QueueInfo:
        return cls(
            name=row["name"],
            paused=bool(row["paused"]),
            paused_until=row["paused_until"],
            paused_at=row["paused_at"],
            paused_by=row["paused_by"],
            paused_reason=row["paused_reason"],
            concurrency=row["concurrency"],
            rate_n=row["rate_n"],
            rate_period=row["rate_period"],
            tokens=row["tokens"],
            tokens_at=row["tokens_at"],
            timeout=row["timeout"],
            no_retry_on=tuple(json.loads(row["no_retry_on"])) if row["no_retry_on"] else (),
            limits=from_json(row["limits"]),
        )

    def columns(self) -> dict[str, Any]:
        """The row's columns as stored (query queue_write)."""
        return {
            "name": self.name,
            "paused": self.paused,
            "paused_until": self.paused_until,
            "paused_at": self.paused_at,
            "paused_by": self.paused_by,
            "paused_reason": self.paused_reason,
            "concurrency": self.concurrency,
            "rate_n": self.rate_n,
            "rate_period": self.rate_period,
            "tokens": self.tokens,
            "tokens_at": self.tokens_at,
            "timeout": self.timeout,
            "no_retry_on": json.dumps(list(self.no_retry_on)) if self.no_retry_on else None,
            "limits": to_json(self.limits),
        }

    def paused_at_time(self, now: float) -> bool:
        """Paused at ``now``: a pause with ``--for`` ends by itself."""
        return self.paused and (self.paused_until is None or self.paused_until > now)

    def tokens_at_time(self, now: float) -> float | None:
        if self.rate_n is None or self.rate_period is None:
            return None
        elapsed = now - (self.tokens_at or now)
        return min(1.0, (self.tokens or 0.0) + elapsed * self.rate_n / self.rate_period)

    def closed_reasons(self, now: float) -> list[str]:
        """Why the queue's jobs may not start at ``now`` (empty: they may), in words."""
        return [message for _code, message, _fields in self.closures(now)]

    def closures(self, now: float) -> list[tuple[str, str, dict[str, Any]]]:
        """``closed_reasons`` as (code, words, fields): codes ``paused``, ``concurrency``,
        ``rate`` (``explain --json``), in the order of the fragment queue_closed."""
        found: list[tuple[str, str, dict[str, Any]]] = []
        if self.paused_at_time(now):
            pause = {
                "paused_by": self.paused_by,
                "paused_reason": self.paused_reason,
                "paused_at": iso(self.paused_at),
                "paused_until": iso(self.paused_until),
            }
            found.append(("paused", self._pause_text(), pause))
        running = (self.counts or {}).get("processing", 0)
        if self.concurrency is not None and running >= self.concurrency:
            found.append(("concurrency", f"concurrency full ({running}/{self.concurrency})",
                          {"running": running, "concurrency": self.concurrency}))  # fmt: skip
        tokens = self.tokens_at_time(now)
        if tokens is not None and tokens < 1 and self.rate_n and self.rate_period:
            rate = format_rate(self.rate_n, self.rate_period)
            allowed = iso(now + (1 - tokens) * self.rate_period / self.rate_n)
            found.append(("rate", f"rate {rate}: next start at {allowed}",
                          {"rate": rate, "next_start_at": allowed}))  # fmt: skip
        return found

    def _pause_text(self) -> str:
        return (
            "paused"
            + (f" by {self.paused_by}" if self.paused_by else "")
            + (f" ({self.paused_reason})" if self.paused_reason else "")
            + (f" until {iso(self.paused_until)}" if self.paused_until is not None else "")
        )

    def summary(self, now: float) -> str:
        """One line for ``status`` and ``queue list``: ``io  paused by ops (why) until T
        · concurrency 2/3 · rate 5/s · timeout 1m00s`` (limits as used/limit)."""
        parts = []
        if self.paused_at_time(now):
            parts.append(self._pause_text())
        if self.concurrency is not None:
            running = (self.counts or {}).get("processing", 0)
            parts.append(f"concurrency {running}/{self.concurrency}")
        if self.rate_n is not None:
            parts.append(f"rate {format_rate(self.rate_n, self.rate_period)}")
        if self.timeout is not None:
            parts.append(f"timeout {format_duration(self.timeout)}")
        if self.no_retry_on:
            parts.append("no-retry-on " + ",".join(map(str, self.no_retry_on)))
        if self.limits:
            parts.append("limit " + limits_text(self.limits))
        return f"{self.name}  " + " · ".join(parts or ["running"])

    def to_dict(self, now: float) -> dict[str, Any]:
        return {
            "name": self.name,
            "paused": self.paused_at_time(now),
            "paused_until": iso(self.paused_until) if self.paused_at_time(now) else None,
            "paused_at": iso(self.paused_at) if self.paused_at_time(now) else None,
            "paused_by": self.paused_by if self.paused_at_time(now) else None,
            "paused_reason": self.paused_reason if self.paused_at_time(now) else None,
            "concurrency": self.concurrency,
            "rate": format_rate(self.rate_n, self.rate_period),
            "timeout": self.timeout,
            "no_retry_on": list(self.no_retry_on),
            "limits": self.limits,
            "counts": dict(self.counts or {}),
            "workers": self.workers,
            "closed": self.closed_reasons(now),
        }


# --- the changes queue pause/resume/set make to a row (Backend.queue_change) -------------
def pausing(
    duration: float | None = None, reason: str | None = None, by: str | None = None
) -> Callable[[QueueInfo, float], QueueInfo]:
    """Paused from ``now``; with ``duration``, the pause ends by itself that long after."""

    def pause(row: QueueInfo, now: float) -> QueueInfo:
        until = None if duration is None else now + duration
        return replace(row, paused=True, paused_until=until, paused_at=now, paused_by=by,
                       paused_reason=reason)  # fmt: skip

    return pause


def resumed(row: QueueInfo, now: float) -> QueueInfo:
    return replace(row, paused=False, paused_until=None, paused_at=None, paused_by=None,
                   paused_reason=None)  # fmt: skip


def limiting(changes: Mapping[str, Any]) -> Callable[[QueueInfo, float], QueueInfo]:
    """Limits ``concurrency`` (int|None), ``rate`` ((N, period)|None), ``timeout``
    (seconds|None), ``no_retry_on`` (exit codes, empty for none) and ``limits`` (what
    each attempt may use, replaced whole; None for none); a key left out
    stays as it is. A new rate may start a job at once.
    The bucket holds one token: starts are spaced period/N apart, so no window of one
    period holds more than N."""

    def limit(row: QueueInfo, now: float) -> QueueInfo:
        if "concurrency" in changes:
            row = replace(row, concurrency=changes["concurrency"])
        if "timeout" in changes:
            row = replace(row, timeout=changes["timeout"])
        if "no_retry_on" in changes:
            row = replace(row, no_retry_on=tuple(sorted(set(changes["no_retry_on"]))))
        if "limits" in changes:
            row = replace(row, limits=changes["limits"] or None)
        if "rate" in changes:
            n, period = changes["rate"] or (None, None)
            row = replace(row, rate_n=n, rate_period=period,
                          tokens=None if n is None else 1.0,
                          tokens_at=None if n is None else now)  # fmt: skip
        return row

    return limit


def serves(queues: Sequence[str] | None, name: str) -> bool:
    """Whether a worker started with ``--queue`` ``queues`` (None: every queue) serves
    queue ``name``."""
    if not queues:
        return True
    if queues[0].startswith("!"):
        return name not in {q[1:] for q in queues}
    return name in queues
