-- queue set NAME --no-retry-on CODES: exit codes the queue's jobs are not retried after,
-- added to the job's own and the global setting's (a JSON array; NULL for none).
ALTER TABLE queues ADD COLUMN no_retry_on TEXT;
