-- Dependencies (enqueue --after): state 'blocked', the edges, what a job waits for, and
-- queuectl.settle(), which applies dependencies' endings to their dependents.
ALTER TABLE queuectl.jobs DROP CONSTRAINT jobs_state_check;
ALTER TABLE queuectl.jobs ADD CONSTRAINT jobs_state_check CHECK (state IN
    ('pending', 'processing', 'completed', 'failed', 'dead', 'cancelled', 'blocked'));

-- after_ids: the ids the job was enqueued after (a JSON array, NULL without), as given;
-- after_mode: 'success' or 'done' (NULL without); blockers: how many of its dependencies
-- have not yet ended as its mode asks (0 unless blocked).
ALTER TABLE queuectl.jobs ADD COLUMN after_ids text;
ALTER TABLE queuectl.jobs ADD COLUMN after_mode text;
ALTER TABLE queuectl.jobs ADD COLUMN blockers integer NOT NULL DEFAULT 0;

-- One row per edge: job_id runs after depends_on. settled: the dependency's ending has
-- been applied to job_id, exactly once. Ending a job looks its dependents up by
-- depends_on (the index), so a job without dependents costs one index probe.
CREATE TABLE queuectl.dependencies (
    job_id      text    NOT NULL,
    depends_on  text    NOT NULL,
    settled     boolean NOT NULL DEFAULT false,
    PRIMARY KEY (job_id, depends_on)
);
CREATE INDEX dependencies_on ON queuectl.dependencies (depends_on);

-- The same steps as the SQLite backend's _settle, in one statement of the caller's
-- transaction (the worker's turn travels in one round trip, with no read in between).
-- For every job of ``ids`` that is final, each unsettled edge to it is settled once: a
-- blocked dependent in mode 'success' whose dependency ended dead or cancelled is
-- cancelled, naming it, and its own dependents are settled in turn (transitively);
-- otherwise the dependent has one blocker less, and is pending at none. The row lock
-- of each UPDATE of a dependent orders two dependencies ending at once.
CREATE FUNCTION queuectl.settle(ids text[]) RETURNS integer
    LANGUAGE plpgsql
    AS $$
DECLARE
    frontier text[] := ids;
    next_ids text[];
    edge record;
    changed integer := 0;
BEGIN
    WHILE cardinality(frontier) > 0 LOOP
        next_ids := '{}';
        FOR edge IN
            UPDATE queuectl.dependencies AS d SET settled = true
              FROM queuectl.jobs AS p
             WHERE d.depends_on = ANY(frontier) AND NOT d.settled AND p.id = d.depends_on
               AND p.state IN ('completed', 'dead', 'cancelled')
            RETURNING d.job_id, d.depends_on, p.state
        LOOP
            UPDATE queuectl.jobs
               SET state = 'cancelled', blockers = 0, updated_at = queuectl.now_s(),
                   finished_at = queuectl.now_s(),
                   last_error = 'dependency ' || edge.depends_on || ' ended ' || edge.state
             WHERE id = edge.job_id AND state = 'blocked' AND after_mode = 'success'
               AND edge.state <> 'completed';
            IF FOUND THEN
                next_ids := next_ids || edge.job_id;
            ELSE
                UPDATE queuectl.jobs
                   SET blockers = blockers - 1, updated_at = queuectl.now_s(),
                       state = CASE WHEN blockers <= 1 THEN 'pending' ELSE state END
                 WHERE id = edge.job_id AND state = 'blocked';
            END IF;
            changed := changed + 1;
        END LOOP;
        frontier := next_ids;
    END LOOP;
    RETURN changed;
END $$;
