-- One row trigger for a job's change of state or queue instead of three (jobs_count_update
-- of 0016, jobs_requeued of 0001, jobs_settle of 0009): PostgreSQL reads and prepares
-- every trigger's WHEN clause anew in each statement that updates jobs, so a claim or a
-- result paid for three where one does. Its body does what the three did, in their order:
-- the change of the counts, the wake-up of idle workers for a job pending again, and the
-- settling of a job's dependents when it ended (at depth 1 only, see 0009).
CREATE FUNCTION queuectl.state_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO queuectl.queue_count_changes (queue, state, n)
    VALUES (OLD.queue, OLD.state, -1), (NEW.queue, NEW.state, 1);
    IF NEW.state = 'pending' AND OLD.state <> 'pending' THEN
        PERFORM pg_notify('queuectl_jobs', '');
    END IF;
    IF NEW.dependents AND NEW.state IN ('completed', 'dead', 'cancelled')
       AND OLD.state <> NEW.state AND pg_trigger_depth() = 1 THEN
        PERFORM queuectl.settle(ARRAY[NEW.id]);
    END IF;
    RETURN NULL;
END $$;

DROP TRIGGER jobs_count_update ON queuectl.jobs;
DROP TRIGGER jobs_requeued ON queuectl.jobs;
DROP TRIGGER jobs_settle ON queuectl.jobs;
DROP FUNCTION queuectl.count_changed();
DROP FUNCTION queuectl.settle_ended();

CREATE TRIGGER jobs_state_changed AFTER UPDATE OF state, queue ON queuectl.jobs
FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state OR OLD.queue IS DISTINCT FROM NEW.queue)
EXECUTE FUNCTION queuectl.state_changed();
