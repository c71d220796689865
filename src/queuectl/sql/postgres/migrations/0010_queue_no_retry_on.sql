-- queue set NAME --no-retry-on CODES: exit codes the queue's jobs are not retried after,
-- added to the job's own and the global setting's (a JSON array as text; NULL for none).
ALTER TABLE queuectl.queues ADD COLUMN no_retry_on text;
