-- Queues as objects (queue pause/resume/set). A row exists only while a queue is paused or
-- has a limit: a queue without a row has no limits and is not paused, and its claims take
-- no lock. See DECISIONS.md, "Flow control". rate_n starts per rate_period seconds, as a
-- token bucket: `tokens` as of `tokens_at`, refilled at rate_n/rate_period a second up to
-- one (starts spaced rate_period/rate_n apart: see the SQLite twin). `claims` counts starts: a claim that waited for the row's lock sees it moved.
CREATE TABLE queuectl.queues (
    name          text PRIMARY KEY,
    paused        boolean NOT NULL DEFAULT false,
    paused_until  double precision,
    paused_at     double precision,
    paused_by     text,
    paused_reason text,
    concurrency   integer,
    rate_n        integer,
    rate_period   double precision,
    tokens        double precision,
    tokens_at     double precision,
    timeout       double precision,
    claims        bigint NOT NULL DEFAULT 0
);
