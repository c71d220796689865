-- Retention that keeps the statistics (purge, retention-* settings; DECISIONS.md,
-- "Retention"). Finished attempts are summed up ("rolled up") per queue, outcome and
-- duration class (stats.duration_class), per minute they ended in (rollup_minutes: what
-- windows and timelines read) and over all time (rollup_totals: what `stats` and
-- /metrics read), before any of them is deleted.
CREATE TABLE rollup_minutes (
    minute      REAL    NOT NULL,               -- start of the minute they ended in
    queue       TEXT    NOT NULL,
    outcome     TEXT    NOT NULL,
    duration    REAL    NOT NULL,               -- their duration class (upper edge)
    attempts    INTEGER NOT NULL,
    seconds     REAL    NOT NULL,               -- the sum of their durations
    longest     REAL    NOT NULL,
    PRIMARY KEY (minute, queue, outcome, duration)
) WITHOUT ROWID;

CREATE TABLE rollup_totals (
    queue          TEXT    NOT NULL,
    outcome        TEXT    NOT NULL,
    duration       REAL    NOT NULL,
    attempts       INTEGER NOT NULL,
    seconds        REAL    NOT NULL,
    longest        REAL    NOT NULL,
    first_started  REAL    NOT NULL,            -- the earliest start (all time's rate)
    PRIMARY KEY (queue, outcome, duration)
) WITHOUT ROWID;

-- One row. Every finished attempt that ended before rolled_until is in the rollups (and
-- is read only from there); so is every attempt deleted since, whenever it ended. Every
-- transaction that adds to the rollups first bumps `generation`: a roll-up whose
-- attempts were read before another one wrote gives up (SqlRetention.roll_up).
CREATE TABLE rollup_mark (
    one           INTEGER PRIMARY KEY CHECK (one = 1),
    rolled_until  REAL    NOT NULL,
    generation    INTEGER NOT NULL
);
INSERT INTO rollup_mark (one, rolled_until, generation) VALUES (1, 0, 0);

-- Reads of recent attempts, and the roll-up's walk in the order they ended. Partial: a
-- running attempt (finished_at NULL) is not in it, so opening one costs no index entry.
CREATE INDEX attempts_finished ON attempts (finished_at) WHERE finished_at IS NOT NULL;

-- Retention's choice of jobs: a final state, the oldest ends first. Partial, so an
-- enqueue and a claim pay nothing for it; only a job's end adds an entry. Every way a job
-- ends sets finished_at; a job that ended before that was so gets its last change.
UPDATE jobs SET finished_at = updated_at
 WHERE state IN ('completed', 'dead', 'cancelled') AND finished_at IS NULL;
CREATE INDEX jobs_ended ON jobs (state, finished_at)
    WHERE state IN ('completed', 'dead', 'cancelled');

-- Log files of purged attempts, by the host that wrote them (the worker's id begins with
-- it): that host's next purge or retention pass removes them, on PostgreSQL whichever
-- host purged. `at`: rows of a host that never comes back are dropped after a while.
CREATE TABLE log_removals (
    host    TEXT    NOT NULL,
    job_id  TEXT    NOT NULL,
    run     INTEGER NOT NULL,
    at      REAL    NOT NULL,
    PRIMARY KEY (host, job_id, run)
) WITHOUT ROWID;
