-- Retry policy (lifecycle.decide): the exit codes after which a job is not retried
-- (enqueue --no-retry-on; a JSON array as text, NULL for none), and how many times the
-- job was snoozed (config snooze-exit-code): rescheduled without spending an attempt.
ALTER TABLE queuectl.jobs ADD COLUMN no_retry_on text;
ALTER TABLE queuectl.jobs ADD COLUMN snoozes integer NOT NULL DEFAULT 0;
