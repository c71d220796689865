-- Retry policy (lifecycle.decide): the exit codes after which a job is not retried
-- (enqueue --no-retry-on; a JSON array, NULL for none), and how many times the job was
-- snoozed (config snooze-exit-code): rescheduled without spending an attempt.
ALTER TABLE jobs ADD COLUMN no_retry_on TEXT;
ALTER TABLE jobs ADD COLUMN snoozes INTEGER NOT NULL DEFAULT 0;
