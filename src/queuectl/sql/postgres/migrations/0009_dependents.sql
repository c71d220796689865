-- A job's endings reach its dependents without a statement of the worker's turn: the
-- flag `dependents` (set when the first edge to a job is made, by the trigger
-- jobs_depended_on) lets the row trigger jobs_settle run queuectl.settle only for a job
-- that has dependents; for any other job its WHEN clause is false, and a WHEN clause costs
-- no function call. See DECISIONS.md, "Flow control".
ALTER TABLE queuectl.jobs ADD COLUMN dependents boolean NOT NULL DEFAULT false;
UPDATE queuectl.jobs SET dependents = true
 WHERE id IN (SELECT depends_on FROM queuectl.dependencies);

CREATE FUNCTION queuectl.mark_depended_on() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    UPDATE queuectl.jobs SET dependents = true WHERE id = NEW.depends_on AND NOT dependents;
    RETURN NULL;
END $$;
CREATE TRIGGER jobs_depended_on AFTER INSERT ON queuectl.dependencies
    FOR EACH ROW EXECUTE FUNCTION queuectl.mark_depended_on();

-- The ending of a job with dependents, however it ended (a worker's turn, a rescue, a
-- cancel), settles its edges in the same transaction. settle() settles dependents it
-- cancels itself (its loop), so a trigger it sets off (depth 2) does nothing.
CREATE FUNCTION queuectl.settle_ended() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF pg_trigger_depth() = 1 THEN
        PERFORM queuectl.settle(ARRAY[NEW.id]);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER jobs_settle AFTER UPDATE OF state ON queuectl.jobs
    FOR EACH ROW
    WHEN (NEW.dependents AND NEW.state IN ('completed', 'dead', 'cancelled')
          AND OLD.state <> NEW.state)
    EXECUTE FUNCTION queuectl.settle_ended();
