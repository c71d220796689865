-- Schedules (recurring jobs, `schedule add`): the rule that makes slots (cron and tz, or
-- every: seconds), the template of their jobs (JSON, checked like an enqueue) and the
-- policies. Every slot at or before settled_to has been dealt with; next_at is the next
-- one (NULL: none), which live workers fire by enqueuing job NAME@<slot> (the jobs id
-- is unique, so a slot is enqueued once). last_job / now_job: the latest slot's job and
-- the latest run-now's, read for --overlap skip. See DECISIONS.md, "Schedules".
CREATE TABLE queuectl.schedules (
    name        text PRIMARY KEY,
    cron        text,
    tz          text,
    every       double precision,
    job         text NOT NULL,
    missed      text NOT NULL CHECK (missed IN ('latest', 'skip', 'all')),
    overlap     text NOT NULL CHECK (overlap IN ('skip', 'allow')),
    paused      boolean NOT NULL DEFAULT false,
    created_at  double precision NOT NULL,
    settled_to  double precision NOT NULL,
    next_at     double precision,
    last_slot   double precision,
    last_job    text,
    now_job     text,
    CHECK ((cron IS NULL) <> (every IS NULL))
);
