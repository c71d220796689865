-- `dependents`: set when the first edge to a job is made (trigger jobs_depended_on).
-- end_job returns it, so a worker's turn settles only the jobs that have dependents
-- (SQLiteBackend._end_jobs) and pays no statement for the others.
ALTER TABLE jobs ADD COLUMN dependents INTEGER NOT NULL DEFAULT 0;
UPDATE jobs SET dependents = 1 WHERE id IN (SELECT depends_on FROM dependencies);
CREATE TRIGGER jobs_depended_on AFTER INSERT ON dependencies
BEGIN
    UPDATE jobs SET dependents = 1 WHERE id = new.depends_on AND NOT dependents;
END;
