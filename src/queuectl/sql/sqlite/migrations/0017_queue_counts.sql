-- Jobs per queue and state without a scan (the dashboard at a million jobs, issue 17):
-- job_counts (0002) kept every state but pending, which was count(*) minus the rest, so
-- `status` walked an index of every job and the counts per queue grouped every row.
-- queue_counts keeps every (queue, state). The triggers follow each change of state or
-- queue and each delete, as job_counts' did; still no trigger on INSERT (it would double
-- an enqueue's cost, 0002): the backend adds a batch's jobs per queue in the inserting
-- transaction (SQLiteBackend._counted). A row at 0 stays; reads skip it.
CREATE TABLE queue_counts (
    queue  TEXT    NOT NULL,
    state  TEXT    NOT NULL,
    n      INTEGER NOT NULL,
    PRIMARY KEY (queue, state)
) WITHOUT ROWID;

INSERT INTO queue_counts (queue, state, n)
SELECT queue, state, count(*) FROM jobs GROUP BY queue, state;

DROP TRIGGER jobs_count_update;
DROP TRIGGER jobs_count_delete;
DROP TABLE job_counts;

CREATE TRIGGER jobs_count_update AFTER UPDATE OF state, queue ON jobs
WHEN OLD.state IS NOT NEW.state OR OLD.queue IS NOT NEW.queue
BEGIN
    UPDATE queue_counts SET n = n - 1 WHERE queue = OLD.queue AND state = OLD.state;
    INSERT INTO queue_counts (queue, state, n) VALUES (NEW.queue, NEW.state, 1)
        ON CONFLICT (queue, state) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs
BEGIN
    UPDATE queue_counts SET n = n - 1 WHERE queue = OLD.queue AND state = OLD.state;
END;
