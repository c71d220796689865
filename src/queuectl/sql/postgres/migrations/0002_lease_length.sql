-- The length of the lease its holder took (seconds), written with lease_until by every
-- claim and renewal. A rescuer waits that long, by its own monotonic clock, after it saw
-- lease_until stop changing: clock readings are never compared (the server's can step).
-- Jobs running during the upgrade get the configured lease.
ALTER TABLE queuectl.jobs ADD COLUMN lease double precision;

UPDATE queuectl.jobs
   SET lease = coalesce((SELECT value::double precision FROM queuectl.config WHERE key = 'lease'), 30)
 WHERE state = 'processing';
