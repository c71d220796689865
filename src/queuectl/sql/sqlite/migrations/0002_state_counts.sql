-- Jobs per state without a scan of the jobs table (`status` on a large queue).
-- Triggers keep job_counts exact for every state but 'pending' on each UPDATE of state
-- and each DELETE (claim, end, rescue, cancel, retry, purge); 'pending' is the rest:
-- count(*) - sum(n). No trigger on INSERT: any trigger on jobs' inserts doubles the
-- cost of an enqueue, and jobs are always inserted pending.
CREATE TABLE job_counts (
    state  TEXT    PRIMARY KEY,
    n      INTEGER NOT NULL
) WITHOUT ROWID;

WITH states (state) AS (VALUES ('processing'), ('completed'), ('failed'), ('dead'), ('cancelled'))
INSERT INTO job_counts (state, n)
SELECT state, (SELECT count(*) FROM jobs WHERE jobs.state = states.state) FROM states;

CREATE TRIGGER jobs_count_update AFTER UPDATE OF state ON jobs
WHEN OLD.state IS NOT NEW.state
BEGIN
    UPDATE job_counts SET n = n + (state = NEW.state) - (state = OLD.state)
     WHERE state IN (OLD.state, NEW.state);
END;

CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs
WHEN OLD.state <> 'pending'
BEGIN
    UPDATE job_counts SET n = n - 1 WHERE state = OLD.state;
END;
