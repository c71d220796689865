-- Schedules (recurring jobs, `schedule add`): the rule that makes slots (cron and tz, or
-- every: seconds), the template of their jobs (JSON, checked like an enqueue) and the
-- policies. Every slot at or before settled_to has been dealt with; next_at is the next
-- one (NULL: none), which live workers fire by enqueuing job NAME@<slot> (the jobs id
-- is unique, so a slot is enqueued once). last_job / now_job: the latest slot's job and
-- the latest run-now's, read for --overlap skip. See DECISIONS.md, "Schedules".
CREATE TABLE schedules (
    name        TEXT PRIMARY KEY,
    cron        TEXT,
    tz          TEXT,
    every       REAL,
    job         TEXT NOT NULL,
    missed      TEXT NOT NULL CHECK (missed IN ('latest', 'skip', 'all')),
    overlap     TEXT NOT NULL CHECK (overlap IN ('skip', 'allow')),
    paused      INTEGER NOT NULL DEFAULT 0,
    created_at  REAL NOT NULL,
    settled_to  REAL NOT NULL,
    next_at     REAL,
    last_slot   REAL,
    last_job    TEXT,
    now_job     TEXT,
    CHECK ((cron IS NULL) <> (every IS NULL))
) WITHOUT ROWID;
