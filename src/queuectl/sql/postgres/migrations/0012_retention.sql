-- Retention that keeps the statistics (see the SQLite twin, 0013_retention, and
-- DECISIONS.md, "Retention"): rollups of finished attempts per minute and over all time,
-- the mark of what is rolled up, the indexes retention and recent reads use, and the log
-- files of purged attempts, by the host that wrote them.
CREATE TABLE queuectl.rollup_minutes (
    minute      double precision NOT NULL,
    queue       text    NOT NULL,
    outcome     text    NOT NULL,
    duration    double precision NOT NULL,
    attempts    bigint  NOT NULL,
    seconds     double precision NOT NULL,
    longest     double precision NOT NULL,
    PRIMARY KEY (minute, queue, outcome, duration)
);

CREATE TABLE queuectl.rollup_totals (
    queue          text    NOT NULL,
    outcome        text    NOT NULL,
    duration       double precision NOT NULL,
    attempts       bigint  NOT NULL,
    seconds        double precision NOT NULL,
    longest        double precision NOT NULL,
    first_started  double precision NOT NULL,
    PRIMARY KEY (queue, outcome, duration)
);

-- One row; its row lock orders every transaction that adds to the rollups.
CREATE TABLE queuectl.rollup_mark (
    one           integer PRIMARY KEY CHECK (one = 1),
    rolled_until  double precision NOT NULL,
    generation    bigint  NOT NULL
);
INSERT INTO queuectl.rollup_mark (one, rolled_until, generation) VALUES (1, 0, 0);

CREATE INDEX attempts_finished ON queuectl.attempts (finished_at)
    WHERE finished_at IS NOT NULL;
-- Every way a job ends sets finished_at; a job that ended before that was so gets its
-- last change (retention picks jobs by it).
UPDATE queuectl.jobs SET finished_at = updated_at
 WHERE state IN ('completed', 'dead', 'cancelled') AND finished_at IS NULL;
CREATE INDEX jobs_ended ON queuectl.jobs (state, finished_at)
    WHERE state IN ('completed', 'dead', 'cancelled');

CREATE TABLE queuectl.log_removals (
    host    text    NOT NULL,
    job_id  text    NOT NULL,
    run     integer NOT NULL,
    at      double precision NOT NULL,
    PRIMARY KEY (host, job_id, run)
);
