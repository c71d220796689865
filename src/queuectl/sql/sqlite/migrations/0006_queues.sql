-- Queues as objects (queue pause/resume/set). A row exists only while a queue is paused or
-- has a limit: a queue without a row has no limits and is not paused, so its claims pay
-- nothing but a look at this (empty or tiny) table. See DECISIONS.md, "Flow control".
-- rate_n starts per rate_period seconds, as a token bucket: `tokens` as of `tokens_at`,
-- refilled at rate_n/rate_period a second up to one, so starts are spaced
-- rate_period/rate_n apart and no window of rate_period holds more than rate_n (a bucket
-- of rate_n would let 2 × rate_n through across a window's edge). `claims` counts starts.
CREATE TABLE queues (
    name          TEXT PRIMARY KEY,
    paused        INTEGER NOT NULL DEFAULT 0,
    paused_until  REAL,
    paused_at     REAL,
    paused_by     TEXT,
    paused_reason TEXT,
    concurrency   INTEGER,
    rate_n        INTEGER,
    rate_period   REAL,
    tokens        REAL,
    tokens_at     REAL,
    timeout       REAL,
    claims        INTEGER NOT NULL DEFAULT 0
);

-- Every start of a job of a queue with a row takes a token from its bucket (the claim ran
-- the gate in the same write transaction). A queue without a row: one missed lookup.
CREATE TRIGGER queue_started AFTER UPDATE OF state ON jobs
WHEN new.state = 'processing'
BEGIN
    UPDATE queues
       SET claims = claims + 1,
           tokens = CASE WHEN rate_n IS NULL THEN NULL
                         ELSE min(1, tokens + (new.started_at - tokens_at) * rate_n / rate_period) - 1
                    END,
           tokens_at = CASE WHEN rate_n IS NULL THEN NULL ELSE new.started_at END
     WHERE name = new.queue;
END;
