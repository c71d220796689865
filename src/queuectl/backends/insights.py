"""The Insights verbs (backends.base.Insights), written once over an engine's named queries.

Figures only: each verb is one read and returns numbers or typed rows, never a job. A
read covers the rollups (attempts summed up before they were deleted: backends.retention)
and the attempts not rolled up yet, in one statement.
They read through the engine's hooks ``_rows``, ``_list`` and ``now`` (documented
with the others on common.SqlBackend, which the engines subclass).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from queuectl.backends.results import DurationBucket, OutcomeCount, TimelineSlot
    from queuectl.stats import FinishedAttempt, ResourceUse


class SqlInsights:
    """Counts and statistics of a queue; nothing here writes."""

    if TYPE_CHECKING:
        q: dict[str, str]

        def _rows(self, name: str, params: dict[str, Any] | None = None) -> list[Any]: ...

        def _list(self, values: Sequence[object]) -> object: ...

        def now(self) -> float: ...

    def _floor(self) -> float:
        """The rollups' mark as of now: what a read of recent attempts starts from (the
        read itself compares with the mark it sees; this lets the planner know how few
        attempts are that recent)."""
        return float(self._rows("rollup_seen")[0]["rolled_until"])

    def counts(self) -> dict[str, int]:
        from queuectl.models import STATES

        found = dict.fromkeys(STATES, 0)
        for row in self._rows("count_states"):
            found[row["state"]] = row["n"]
        return found

    def counts_by_queue(self) -> dict[str, dict[str, int]]:
        from queuectl.models import STATES

        found: dict[str, dict[str, int]] = {}
        for row in self._rows("count_states_by_queue"):
            found.setdefault(row["queue"], dict.fromkeys(STATES, 0))[row["state"]] = row["n"]
        return found

    def finished_attempts(self, since: float | None) -> list[FinishedAttempt]:
        from queuectl.stats import FinishedAttempt

        rows = self._rows("attempts_finished_since", {"since": since, "floor": self._floor()})
        return [
            FinishedAttempt(r["queue"], r["outcome"], r["started_at"], r["finished_at"])
            if r["duration"] is None
            else FinishedAttempt(
                r["queue"],
                r["outcome"],
                r["started_at"],
                r["finished_at"],
                int(r["attempts"]),
                float(r["duration"]),
                float(r["longest"]),
            )
            for r in rows
        ]

    def attempt_timeline(self, start: float, bucket: float) -> list[TimelineSlot]:
        from queuectl.backends.results import TimelineSlot

        params = {"start": start, "bucket": bucket, "floor": self._floor()}
        rows = self._rows("attempt_timeline", params)
        return [TimelineSlot(int(r["slot"]), int(r["succeeded"]), int(r["failed"])) for r in rows]

    def oldest_ready(self) -> float | None:
        value = self._rows("oldest_ready", {"now": self.now()})[0]["t"]
        return None if value is None else float(value)

    def oldest_ready_by_queue(self) -> dict[str, float]:
        rows = self._rows("oldest_ready_by_queue", {"now": self.now()})
        return {r["queue"]: float(r["t"]) for r in rows if r["t"] is not None}

    def attempt_outcomes(self) -> list[OutcomeCount]:
        from queuectl.backends.results import OutcomeCount

        rows = self._rows("attempt_outcomes", {"floor": self._floor()})
        return [
            OutcomeCount(r["queue"], r["outcome"], int(r["n"]), float(r["seconds"])) for r in rows
        ]

    def attempt_resources(self, since: float | None, limit: int) -> list[ResourceUse]:
        from queuectl.stats import ResourceUse

        rows = self._rows("attempt_resources", {"since": since, "limit": limit})
        return [
            ResourceUse(
                r["queue"],
                float(r["cpu"]),
                None if r["max_rss_kb"] is None else int(r["max_rss_kb"]),
            )
            for r in rows
        ]

    def attempt_durations(self, bounds: Sequence[float]) -> list[DurationBucket]:
        from queuectl.backends.results import DurationBucket

        bounds_list = self._list([float(b) for b in bounds])
        rows = self._rows("attempt_durations", {"bounds": bounds_list, "floor": self._floor()})
        return [
            DurationBucket(
                r["queue"],
                None if r["slot"] is None else int(r["slot"]),
                int(r["n"]),
                float(r["seconds"]),
            )
            for r in rows
        ]
