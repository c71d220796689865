-- Jobs per queue and state without a scan (the dashboard at a million jobs, issue 17; see
-- the SQLite twin, 0017_queue_counts). Counter rows updated by every claim would make the
-- workers of a queue wait for each other's commits (DECISIONS §7), so changes are only
-- appended: one row per change, no index, no lock taken on a shared row. A read sums
-- queue_counts and the changes not folded in yet; workers fold them in at their heartbeat
-- (query fold_counts), so the changes a read sums are those of a few seconds.
CREATE TABLE queuectl.queue_counts (
    queue  text   NOT NULL,
    state  text   NOT NULL,
    n      bigint NOT NULL,
    PRIMARY KEY (queue, state)
);

CREATE TABLE queuectl.queue_count_changes (
    queue  text   NOT NULL,
    state  text   NOT NULL,
    n      bigint NOT NULL
);

INSERT INTO queuectl.queue_counts (queue, state, n)
SELECT queue, state, count(*) FROM queuectl.jobs GROUP BY queue, state;

-- Inserts and deletes: once per statement, its rows counted per queue and state (a batch
-- of 50,000 jobs adds one row per queue), negative for a delete.
CREATE FUNCTION queuectl.count_statement() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO queuectl.queue_count_changes (queue, state, n)
    SELECT queue, state, CASE TG_OP WHEN 'DELETE' THEN -count(*) ELSE count(*) END
      FROM changed GROUP BY queue, state;
    RETURN NULL;
END $$;

CREATE TRIGGER jobs_count_insert AFTER INSERT ON queuectl.jobs
REFERENCING NEW TABLE AS changed
FOR EACH STATEMENT EXECUTE FUNCTION queuectl.count_statement();

CREATE TRIGGER jobs_count_delete AFTER DELETE ON queuectl.jobs
REFERENCING OLD TABLE AS changed
FOR EACH STATEMENT EXECUTE FUNCTION queuectl.count_statement();

-- A change of state or queue: per row, and only when one of them changed (a lease's
-- renewal fires nothing).
CREATE FUNCTION queuectl.count_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO queuectl.queue_count_changes (queue, state, n)
    VALUES (OLD.queue, OLD.state, -1), (NEW.queue, NEW.state, 1);
    RETURN NULL;
END $$;

CREATE TRIGGER jobs_count_update AFTER UPDATE OF state, queue ON queuectl.jobs
FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state OR OLD.queue IS DISTINCT FROM NEW.queue)
EXECUTE FUNCTION queuectl.count_changed();
