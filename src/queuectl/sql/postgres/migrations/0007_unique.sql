-- Unique jobs (enqueue --unique-key): the key, NULL for a job without one. The partial
-- unique index is the guarantee: at most one job per key is active (pending, blocked,
-- failed, processing), whatever raced to insert it; jobs without a key are not in it and
-- pay nothing. The second index serves the check of a window (--unique-within DURATION:
-- a job with this key created within it), made under a transaction-scoped advisory lock
-- on the key (query unique_lock; see DECISIONS.md, "Unique jobs").
ALTER TABLE queuectl.jobs ADD COLUMN unique_key text;
CREATE UNIQUE INDEX jobs_unique_active ON queuectl.jobs (unique_key)
    WHERE unique_key IS NOT NULL AND state IN ('pending', 'blocked', 'failed', 'processing');
CREATE INDEX jobs_unique_created ON queuectl.jobs (unique_key, created_at)
    WHERE unique_key IS NOT NULL;
