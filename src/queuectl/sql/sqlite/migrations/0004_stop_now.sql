-- `worker stop --now`: workers read it at their next heartbeat (local ones are also
-- signalled) and interrupt their running jobs, which go back to pending without using
-- up an attempt.
ALTER TABLE workers ADD COLUMN stop_now INTEGER NOT NULL DEFAULT 0;
