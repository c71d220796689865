-- Dependencies (enqueue --after): state 'blocked', the edges, and what a job waits for.
-- The state CHECK gains 'blocked' by the procedure SQLite documents for a change that
-- leaves every stored row valid (ALTER TABLE, "other kinds of table schema changes"):
-- the table's text in sqlite_schema is rewritten, then the schema is read again
-- (RESET). A rebuild of the table would drop columns other migrations added.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql, '''dead'', ''cancelled'')', '''dead'', ''cancelled'', ''blocked'')')
 WHERE type = 'table' AND name = 'jobs';
PRAGMA writable_schema = RESET;

-- after_ids: the ids the job was enqueued after (a JSON array, NULL without), as given;
-- after_mode: 'success' or 'done' (NULL without); blockers: how many of its dependencies
-- have not yet ended as its mode asks (0 unless blocked).
ALTER TABLE jobs ADD COLUMN after_ids TEXT;
ALTER TABLE jobs ADD COLUMN after_mode TEXT;
ALTER TABLE jobs ADD COLUMN blockers INTEGER NOT NULL DEFAULT 0;

-- One row per edge: job_id runs after depends_on. settled: the dependency's ending has
-- been applied to job_id (Jobs._settle), exactly once. Ending a job looks its dependents
-- up by depends_on (the index), so a job without dependents costs one index probe.
CREATE TABLE dependencies (
    job_id      TEXT    NOT NULL,
    depends_on  TEXT    NOT NULL,
    settled     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (job_id, depends_on)
) WITHOUT ROWID;
CREATE INDEX dependencies_on ON dependencies (depends_on);

-- job_counts counts every state but pending (0002); blocked jobs are inserted pending
-- and then updated, so its trigger counts them.
INSERT INTO job_counts (state, n) VALUES ('blocked', 0);
