"""A queue with a long history, made fast: ended jobs and their attempts written by direct
SQL (the API would run every job), on either engine. For tests and benchmarks of what a
history costs and of what a purge keeps."""

from __future__ import annotations

import sqlite3

# Job n: queue "io" for every third, else "default"; every seventh failed once and then
# succeeded (two attempts), the others succeeded at once; attempt durations spread from
# 10 ms to ~14 s; ends half a second apart, from ``start`` on.
SQLITE = """
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < :count - 1)
INSERT INTO {table}
SELECT {columns} FROM n
"""
JOB = (
    "jobs (id, command, state, attempts, max_retries, priority, queue, run_at, created_at,"
    " updated_at, started_at, finished_at, exit_code, worker, runs)"
)
JOB_VALUES = (
    ":prefix || i, '\"true\"', 'completed', 1 + (i % 7 = 0), 3, 0,"
    " CASE WHEN i % 3 = 0 THEN 'io' ELSE 'default' END, :start + i * 0.5 - 60,"
    " :start + i * 0.5 - 60, :start + i * 0.5, :start + i * 0.5 - {took},"
    " :start + i * 0.5, 0, :worker, 1 + (i % 7 = 0)"
)
TOOK = "(0.01 + (i % 997) * 0.014)"
ATTEMPT = "attempts (job_id, run, worker, started_at, finished_at, outcome, exit_code)"
LAST_ATTEMPT = (
    ":prefix || i, 1 + (i % 7 = 0), :worker, :start + i * 0.5 - {took}, :start + i * 0.5,"
    " 'succeeded', 0"
)
FIRST_OF_TWO = (
    ":prefix || i, 1, :worker, :start + i * 0.5 - 30 - {took}, :start + i * 0.5 - 30, 'failed', 1"
)


def fill_history(location: str, count: int, start: float, prefix: str = "old-") -> int:
    """``count`` completed jobs ``<prefix>N`` in the queue at ``location`` (made already)
    that ended from ``start`` on, with their attempts → how many attempts."""
    params = {"count": count, "start": start, "prefix": prefix, "worker": "elsewhere:1:1"}
    statements = [
        (JOB, JOB_VALUES.format(took=TOOK), ""),
        (ATTEMPT, LAST_ATTEMPT.format(took=TOOK), ""),
        (ATTEMPT, FIRST_OF_TWO.format(took=TOOK), " WHERE i % 7 = 0"),
    ]
    if location.startswith("postgresql://"):
        _fill_postgres(location, statements, params)
    else:
        conn = sqlite3.connect(location, isolation_level=None, timeout=30)
        try:
            conn.execute("BEGIN IMMEDIATE")
            for table, columns, where in statements:
                conn.execute(SQLITE.format(table=table, columns=columns) + where, params)
            conn.execute("COMMIT")
        finally:
            conn.close()
    return count + (count + 6) // 7


def _fill_postgres(
    url: str, statements: list[tuple[str, str, str]], params: dict[str, object]
) -> None:
    import psycopg

    def pg(sql: str) -> str:
        # booleans add as integers on SQLite; PostgreSQL says so with a cast
        sql = sql.replace("(i % 7 = 0)", "(i % 7 = 0)::int")
        sql = sql.replace("%", "%%")  # the modulo operator, not a placeholder
        for name in params:
            sql = sql.replace(f":{name}", f"%({name})s")
        return sql

    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        for table, columns, where in statements:
            conn.execute(
                pg(
                    f"INSERT INTO queuectl.{table} SELECT {columns} "
                    "FROM generate_series(0, :count - 1) AS n(i)" + where
                ),
                params,
            )
