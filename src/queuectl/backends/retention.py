"""The retention verbs (backends.base.Jobs: roll_up, purge, purge_batch, purgeable,
take_log_removals), written once over an engine's named queries.

Finished attempts are summed up into the rollups (stats.rollups) before anything is
deleted: by ``roll_up`` as they age past the mark, and by a purge for the attempts of
its jobs that have not aged that far. Every transaction that adds to the rollups first
takes the mark's row (query ``rollup_claim``; ``rollup_advance`` for a roll-up), so on
PostgreSQL they run one at a time, and an attempt is never summed up twice. They read
through the engine's hooks, documented with the others on common.SqlBackend, which the
engines subclass. See DECISIONS.md, "Retention".
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from typing import Any, TypeVar

    from queuectl.stats import FinishedAttempt, Rollup

    R = TypeVar("R")

# Jobs per purge transaction: SQLite's write lock is held ~4 ms for 200 (a worker's
# connection; 500 held it 9-28 ms, which a claim would wait out).
PURGE_BATCH = 200
LOG_REMOVALS_KEPT = 30 * 86400.0  # files of a host that has not come back by then: given up


class SqlRetention:
    """Roll-ups and purges; nothing here runs on a worker's turn."""

    if TYPE_CHECKING:
        q: dict[str, str]

        def _rows(self, name: str, params: dict[str, Any] | None = None) -> list[Any]: ...

        def _write(self, work: Callable[[Any], R], batched: bool = False) -> R: ...

        def _run(self, conn: Any, name: str, params: dict[str, Any] | None = None) -> Any: ...

        def _run_many(self, conn: Any, name: str, rows: Sequence[dict[str, Any]]) -> None: ...

        def _list(self, values: Sequence[object]) -> object: ...

        def _check_states(
            self, conn: Any, ids: Sequence[str], allowed: tuple[str, ...], verb: str
        ) -> None: ...

        def now(self) -> float: ...

    # --- rolling up -------------------------------------------------------------------
    def roll_up(self, before: float, limit: int) -> int:
        """Add to the rollups up to ``limit`` attempts (a few more when several ended at
        one instant) that ended since the mark and before ``before``, the oldest first,
        and move the mark past them: → how many. The attempts are read before the write
        transaction, which then only adds what they sum up to: 0 if another transaction
        added to the rollups in between (the next call goes on from there)."""
        from queuectl.stats import rollups

        seen = self._rows("rollup_seen")[0]
        mark, generation = float(seen["rolled_until"]), seen["generation"]
        if mark >= before:
            return 0
        params = {"mark": mark, "before": before, "limit": limit}
        ends = [float(r["finished_at"]) for r in self._rows("rollup_ends", params)]
        if not ends:
            return 0
        cut = before if len(ends) <= limit else ends[limit]
        if cut == ends[0]:  # more than ``limit`` ended at one instant: take them all
            after = self._rows("rollup_next_end", {**params, "mark": cut})[0]["t"]
            cut = before if after is None else float(after)
        attempts = _attempts(self._rows("attempts_ended_between", {"mark": mark, "cut": cut}))
        minutes, totals = rollups(attempts)

        def advance(conn: Any) -> int:
            moved = self._run(
                conn, "rollup_advance", {"cut": cut, "generation": generation}
            ).rowcount
            if not moved:
                return 0
            self._add_rollups(conn, minutes, totals)
            return len(attempts)

        return self._write(advance)

    def _add_rollups(self, conn: Any, minutes: list[Rollup], totals: list[Rollup]) -> None:
        if minutes:
            self._run_many(conn, "add_rollup_minute", [m._asdict() for m in minutes])
            self._run_many(conn, "add_rollup_total", [t._asdict() for t in totals])

    # --- purging ----------------------------------------------------------------------
    def purgeable(
        self, states: Sequence[str], before: float, queue: str | None = None
    ) -> dict[str, int]:
        params = {"states": self._list(states), "before": before, "queue": queue}
        found = {r["state"]: int(r["n"]) for r in self._rows("purge_counts", params)}
        return {state: found.get(state, 0) for state in states}

    def purge_batch(
        self, state: str, before: float, queue: str | None = None, limit: int = PURGE_BATCH
    ) -> list[str]:
        def purge(conn: Any) -> list[str]:
            params = {"state": state, "before": before, "queue": queue, "limit": limit}
            ids = [r["id"] for r in self._run(conn, "purge_candidates", params).fetchall()]
            if ids:
                self._delete(conn, ids, state)
            return ids

        return self._write(purge)

    def purge(self, ids: Sequence[str] | None, state: str) -> list[str]:
        """``dlq purge``: the jobs named, all or none, or (None) every one in ``state``,
        a batch at a time."""
        import math

        from queuectl.errors import Conflict

        if ids is None:
            gone: list[str] = []
            while True:
                batch = self.purge_batch(state, math.inf)
                gone += batch
                if len(batch) < PURGE_BATCH:
                    return gone

        def purge(conn: Any) -> list[str]:
            self._check_states(conn, ids, (state,), "purge")
            held = [r["id"] for r in self._run(conn, "purge_held", {"ids": self._list(ids)})]
            if held:
                raise Conflict(
                    f"cannot purge job {held[0]!r} yet: a job that runs after it has not "
                    "ended, or its worker is still stopping it; nothing was changed"
                )
            self._delete(conn, ids, state)
            return list(ids)

        return self._write(purge)

    def _delete(self, conn: Any, ids: Sequence[str], state: str) -> None:
        """Delete the jobs ``ids`` (in ``state``, chosen as purgeable), in the caller's
        transaction: their attempts not rolled up yet are added to the rollups first,
        their log files noted for removal, their edges dropped."""
        from queuectl.stats import rollups

        listed = self._list(ids)
        mark = float(self._run(conn, "rollup_claim").fetchone()["rolled_until"])
        rows = self._run(conn, "attempts_to_roll_up", {"ids": listed, "mark": mark}).fetchall()
        self._add_rollups(conn, *rollups(_attempts(rows)))
        self._run(conn, "note_log_removals", {"ids": listed, "now": self.now()})
        self._run(conn, "delete_attempts_of", {"ids": listed})
        self._run(conn, "delete_edges_of", {"ids": listed})
        self._run(conn, "delete_jobs", {"ids": listed, "state": state})

    def take_log_removals(self, host: str, limit: int) -> list[tuple[str, int]]:
        def take(conn: Any) -> list[tuple[str, int]]:
            self._run(conn, "drop_log_removals", {"before": self.now() - LOG_REMOVALS_KEPT})
            rows = self._run(conn, "take_log_removals", {"host": host, "limit": limit})
            return [(r["job_id"], int(r["run"])) for r in rows.fetchall()]

        return self._write(take)


def _attempts(rows: Iterable[Any]) -> list[FinishedAttempt]:
    from queuectl.stats import FinishedAttempt

    return [
        FinishedAttempt(r["queue"], r["outcome"], r["started_at"], r["finished_at"]) for r in rows
    ]
