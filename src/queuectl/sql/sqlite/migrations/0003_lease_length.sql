-- The length of the lease its holder took (seconds), written with lease_until by every
-- claim and renewal. A rescuer waits that long, by its own monotonic clock, after it saw
-- lease_until stop changing: wall-clock readings are never compared (they can step).
-- Jobs running during the upgrade get the configured lease.
ALTER TABLE jobs ADD COLUMN lease REAL;

UPDATE jobs
   SET lease = coalesce((SELECT CAST(value AS REAL) FROM config WHERE key = 'lease'), 30)
 WHERE state = 'processing';
