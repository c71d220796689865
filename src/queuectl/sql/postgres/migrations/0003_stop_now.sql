-- `worker stop --now`: the workers of every host read it at their next heartbeat (at
-- once, woken by the control notification) and interrupt their running jobs, which go
-- back to pending without using up an attempt.
ALTER TABLE queuectl.workers ADD COLUMN stop_now boolean NOT NULL DEFAULT false;
