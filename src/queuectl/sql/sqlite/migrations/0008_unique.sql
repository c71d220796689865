-- Unique jobs (enqueue --unique-key): the key, NULL for a job without one. The partial
-- unique index is the guarantee: at most one job per key is active (pending, blocked,
-- failed, processing), whatever raced to insert it; jobs without a key are not in it and
-- pay nothing. The second index serves the check of a window (--unique-within DURATION:
-- a job with this key created within it), made in the inserting write transaction, which
-- on SQLite is the only writer (see DECISIONS.md, "Unique jobs").
ALTER TABLE jobs ADD COLUMN unique_key TEXT;
CREATE UNIQUE INDEX jobs_unique_active ON jobs (unique_key)
    WHERE unique_key IS NOT NULL AND state IN ('pending', 'blocked', 'failed', 'processing');
CREATE INDEX jobs_unique_created ON jobs (unique_key, created_at) WHERE unique_key IS NOT NULL;
