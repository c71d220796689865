-- Every SQL statement the PostgreSQL backend runs, by name. Parameters are %(named)s.
-- "now" is always queuectl.now_s(): the database's clock, the same for every host.

-- name: now
SELECT queuectl.now_s() AS now;

-- name: begin
-- A batched write (pipeline mode) opens its transaction explicitly: see PostgresBackend._write.
BEGIN;

-- name: commit
COMMIT;

-- name: insert_job
-- A whole batch in one statement: the batch's instant of creation twice (created_at,
-- updated_at), then a column per parameter as an array, in enqueue order (id, command,
-- max_retries, priority, queue, run_at, timeout, cwd, env, tags, unique_key, no_retry_on,
-- limits, clean_env as 0 or 1).
INSERT INTO queuectl.jobs (id, command, state, max_retries, priority, queue, run_at, timeout,
                           cwd, env, tags, unique_key, no_retry_on, limits, clean_env,
                           created_at, updated_at)
SELECT id, command, 'pending', max_retries, priority, queue, run_at, timeout, cwd, env, tags,
       unique_key, no_retry_on, limits, clean_env::boolean, %b::double precision,
       %b::double precision
  FROM unnest(%b::text[], %b::text[], %b::integer[], %b::integer[], %b::text[],
              %b::double precision[], %b::double precision[], %b::text[], %b::text[],
              %b::text[], %b::text[], %b::text[], %b::text[], %b::integer[])
       WITH ORDINALITY
         AS j(id, command, max_retries, priority, queue, run_at, timeout, cwd, env, tags,
              unique_key, no_retry_on, limits, clean_env, n)
 ORDER BY n;

-- name: insert_plain_job
-- A batch of jobs with none of timeout … clean_env (most jobs): now twice, then the ids
-- joined by ',' (a job id holds none), the commands (JSON) joined by the unit separator
-- U+001F (JSON escapes it), max_retries and priority as arrays, the queues joined by ','
-- (a queue name holds none) and run_at as an array, in enqueue order; the rest are the
-- columns' defaults.
INSERT INTO queuectl.jobs (id, command, state, max_retries, priority, queue, run_at,
                           created_at, updated_at)
SELECT id, command, 'pending', max_retries, priority, queue, run_at, %b::double precision,
       %b::double precision
  FROM unnest(string_to_array(%b::text, ','), string_to_array(%b::text, E'\x1f'),
              %b::integer[], %b::integer[], string_to_array(%b::text, ','),
              %b::double precision[])
       WITH ORDINALITY AS j(id, command, max_retries, priority, queue, run_at, n)
 ORDER BY n;

-- name: unique_lock
-- Enqueues of one unique key, one at a time until commit, so that the next one's
-- unique_holder (a statement of its own, with a snapshot taken after the lock) sees every
-- job the previous ones inserted. The first key is the queue's schema, rewritten with it.
SELECT pg_advisory_xact_lock(hashtext('queuectl.jobs'), hashtext(%(key)s));

-- name: unique_holder
-- The job that holds %(key)s against a new one: an active job with it, or (%(within)s not
-- NULL) one created within the last %(within)s seconds.
SELECT id FROM queuectl.jobs
 WHERE unique_key = %(key)s
   AND (state IN ('pending', 'blocked', 'failed', 'processing')
        OR (%(within)s::double precision IS NOT NULL
            AND created_at > %(now)s::double precision - %(within)s::double precision))
 ORDER BY created_at DESC
 LIMIT 1;

-- name: queue_paused
-- Whether a queue is paused now (a pause with --for ends by itself).
paused AND (paused_until IS NULL OR paused_until > queuectl.now_s())

-- name: queue_closed
-- Whether a queue's jobs may not start now (the claims and `queue list` read this one
-- predicate): paused, its concurrency full, or its bucket without a whole token.
QUEUE_PAUSED
 OR (concurrency IS NOT NULL
     AND concurrency <= (SELECT count(*) FROM queuectl.jobs AS r
                          WHERE r.state = 'processing' AND r.queue = queues.name))
 OR (rate_n IS NOT NULL
     AND tokens + (queuectl.now_s() - tokens_at) * rate_n / rate_period < 1)

-- name: queue_reopens
-- When each closed queue may open again: its pause's end, or its bucket's next whole token.
SELECT min(CASE WHEN QUEUE_PAUSED THEN paused_until
                WHEN tokens + (queuectl.now_s() - tokens_at) * rate_n / rate_period < 1
                THEN tokens_at + (1 - tokens) * rate_period / rate_n END) AS t
  FROM queuectl.queues AS queues WHERE QUEUE_CLOSED

-- name: by_queue_any
TRUE

-- name: by_queue_in
queue = ANY(%(queues)s)

-- name: by_queue_out
queue <> ALL(%(excluded)s)

-- name: claim_for_worker
-- The claim: lock the best ready row that no one else has locked, take it with a lease
-- and open its attempt, in one statement. Jobs of a queue closed in the statement's
-- snapshot (`seen`, fragment queue_closed) are passed over. A queue with
-- a row (paused or limited) is decided exactly: `gate` locks its row, and a claim of the
-- same queue that committed since the snapshot moved `claims`, so this claim takes nothing
-- (the lock wait re-reads the row); `started` takes the start's token. A queue without a
-- row takes no lock. queue_timeout: the queue's own timeout, for a job without one.
-- One row always: `flow` says whether any queue has a row (SqlBackend._claimed), and the
-- job's columns are NULL when nothing was taken; `more`, whether the snapshot held another
-- ready job (locked or not) than the one taken, looked at only when %(others)s (other
-- slots are free: a claim for them follows only then, PostgresBackend.exchange; the scan
-- would walk the claimed jobs' dead index entries again on every turn of a drain). See
-- DECISIONS.md, "Flow control".
-- Written once for a worker's queues: sqlfiles makes claim_any, claim_in and claim_out.
WITH seen AS (
    SELECT name, claims, timeout, no_retry_on, limits, QUEUE_CLOSED AS closed
      FROM queuectl.queues AS queues
), next AS (
    SELECT seq, queue FROM queuectl.jobs
     WHERE state IN ('pending', 'failed') AND run_at <= queuectl.now_s() AND BY_QUEUE
       AND queue <> ALL(ARRAY(SELECT name FROM seen WHERE closed))
     ORDER BY priority DESC, run_at, seq
     LIMIT 1
       FOR UPDATE SKIP LOCKED
), gate AS (
    SELECT q.name FROM queuectl.queues AS q JOIN seen ON seen.name = q.name
      JOIN next ON next.queue = q.name
     WHERE q.claims = seen.claims
       FOR UPDATE OF q
), taken AS (
    UPDATE queuectl.jobs AS j
       SET state = 'processing', worker = %(claimer)s, runs = j.runs + 1,
           started_at = queuectl.now_s(), finished_at = NULL, updated_at = queuectl.now_s(),
           lease_until = queuectl.now_s() + %(lease)s, lease = %(lease)s
      FROM next
     WHERE j.seq = next.seq
       AND (NOT EXISTS (SELECT 1 FROM seen WHERE seen.name = next.queue)
            OR EXISTS (SELECT 1 FROM gate))
    RETURNING j.*
), started AS (
    UPDATE queuectl.queues AS q
       SET claims = q.claims + 1,
           tokens = least(1, q.tokens + (queuectl.now_s() - q.tokens_at) * q.rate_n
                                              / q.rate_period) - 1,
           tokens_at = CASE WHEN q.rate_n IS NOT NULL THEN queuectl.now_s() END
      FROM taken
     WHERE q.name = taken.queue
), opened AS (
    INSERT INTO queuectl.attempts (job_id, run, worker, started_at)
    SELECT id, runs, worker, started_at FROM taken
), ready AS (
    SELECT 1 FROM queuectl.jobs
     WHERE %(others)s AND state IN ('pending', 'failed') AND run_at <= queuectl.now_s()
       AND BY_QUEUE AND queue <> ALL(ARRAY(SELECT name FROM seen WHERE closed))
     LIMIT 2
)
SELECT taken.*, seen.timeout AS queue_timeout, seen.no_retry_on AS queue_no_retry_on,
       seen.limits AS queue_limits, flow.flow, (SELECT count(*) > 1 FROM ready) AS more
  FROM (SELECT EXISTS (SELECT 1 FROM seen) AS flow) AS flow
  LEFT JOIN taken ON true LEFT JOIN seen ON seen.name = taken.queue;

-- name: claim_plain_for_worker
-- The claim while no queue has a row (nothing paused or limited anywhere): the statement
-- of claim_by_queue without its gate, which its executor would set up on every claim.
-- It takes nothing once a queue has a row in its snapshot (the same snapshot rule as
-- the full claim's: a queue without a row takes no lock), and says so in `flow`: the
-- backend then claims with the full statement (SqlBackend._claimed).
-- It also ends the run %(run)s of job %(job_id)s that %(worker)s held, as end_job does
-- (guarded the same way; `held` says whether it ended), when the turn has that one result
-- (NULLs: none): a worker's turn of one result and one claim is then one statement, its
-- own transaction (PostgresBackend.exchange). The claim does not see that end (one
-- snapshot): when it takes nothing, the backend claims again (a dependent the end
-- released, the job itself failed and due at once).
WITH attempt AS END_ATTEMPT, ended AS END_JOB_ROW
, next AS (
    SELECT seq FROM queuectl.jobs
     WHERE state IN ('pending', 'failed') AND run_at <= queuectl.now_s() AND BY_QUEUE
       AND NOT EXISTS (SELECT 1 FROM queuectl.queues)
     ORDER BY priority DESC, run_at, seq
     LIMIT 1
       FOR UPDATE SKIP LOCKED
), taken AS (
    UPDATE queuectl.jobs AS j
       SET state = 'processing', worker = %(claimer)s, runs = j.runs + 1,
           started_at = queuectl.now_s(), finished_at = NULL, updated_at = queuectl.now_s(),
           lease_until = queuectl.now_s() + %(lease)s, lease = %(lease)s
      FROM next
     WHERE j.seq = next.seq
    RETURNING j.*
), opened AS (
    INSERT INTO queuectl.attempts (job_id, run, worker, started_at)
    SELECT id, runs, worker, started_at FROM taken
), ready AS (
    SELECT 1 FROM queuectl.jobs
     WHERE %(others)s AND state IN ('pending', 'failed') AND run_at <= queuectl.now_s()
       AND BY_QUEUE
     LIMIT 2
)
SELECT taken.*, NULL::double precision AS queue_timeout, NULL::text AS queue_no_retry_on,
       NULL::text AS queue_limits, flow.flow, (SELECT count(*) FROM ended) AS held,
       (SELECT count(*) > 1 FROM ready) AS more
  FROM (SELECT EXISTS (SELECT 1 FROM queuectl.queues) AS flow) AS flow LEFT JOIN taken ON true;

-- name: end_job
-- A worker's result: its attempt ends (end_attempt) and, guarded, the job (end_job_row);
-- `held` says whether the worker still held that run. One statement rather than two: each
-- statement of a turn costs the driver and the server as much again as the work of a
-- small UPDATE.
WITH attempt AS END_ATTEMPT, ended AS END_JOB_ROW
SELECT count(*) AS held FROM ended;

-- name: end_job_row
-- Only the worker holding this very run of the job may end it.
UPDATE queuectl.jobs
   SET state = %(state)s, attempts = %(attempts)s, run_at = COALESCE(%(run_at)s, run_at),
       exit_code = %(exit_code)s, last_error = %(error)s, finished_at = queuectl.now_s(),
       updated_at = queuectl.now_s(), lease_until = NULL, snoozes = %(snoozes)s
 WHERE id = %(job_id)s AND state = 'processing' AND worker = %(worker)s AND runs = %(run)s
RETURNING 1;

-- name: end_attempt
UPDATE queuectl.attempts
   SET finished_at = queuectl.now_s(), outcome = %(outcome)s, exit_code = %(exit_code)s,
       error = %(error)s, log_path = %(log_path)s, log_tail = %(log_tail)s,
       cpu_user_s = %(cpu_user_s)s, cpu_sys_s = %(cpu_sys_s)s, max_rss_kb = %(max_rss_kb)s
 WHERE job_id = %(job_id)s AND run = %(run)s AND worker = %(worker)s AND finished_at IS NULL;

-- name: renew_leases
-- Only the runs the worker knows it is running (see the SQLite twin).
UPDATE queuectl.jobs AS j
   SET lease_until = queuectl.now_s() + %(lease)s, lease = %(lease)s
  FROM unnest(%(ids)s::text[], %(runs)s::integer[], %(workers)s::text[]) AS h(id, run, worker)
 WHERE j.id = h.id AND j.runs = h.run AND j.worker = h.worker AND j.state = 'processing'
RETURNING j.id, j.runs;

-- name: worker_heartbeat
UPDATE queuectl.workers SET heartbeat_at = queuectl.now_s()
 WHERE id = ANY(%(workers)s)
RETURNING stop_requested, stop_now;

-- name: processing_leases
-- What a rescuer watches (see the SQLite twin).
SELECT j.id, j.runs, j.worker, j.lease_until, j.lease, w.pid_start
  FROM queuectl.jobs AS j LEFT JOIN queuectl.workers AS w ON w.id = j.worker
 WHERE j.state = 'processing';

-- name: rescue_candidates
-- Rows being rescued or renewed by someone else right now are skipped, not waited for
-- (and no lock is awaited, so rescuers and renewals cannot deadlock).
SELECT * FROM queuectl.jobs
 WHERE id = ANY(%(ids)s) AND state = 'processing'
   FOR UPDATE SKIP LOCKED;

-- name: rescue_job
-- Like end_job, and only if the holder has not renewed the lease since the rescuer saw
-- it stand still (a renewal in between wins).
UPDATE queuectl.jobs
   SET state = %(state)s, attempts = %(attempts)s, run_at = COALESCE(%(run_at)s, run_at),
       exit_code = %(exit_code)s, last_error = %(error)s, finished_at = queuectl.now_s(),
       updated_at = queuectl.now_s(), lease_until = NULL, worker = NULL,
       snoozes = %(snoozes)s
 WHERE id = %(job_id)s AND state = 'processing' AND worker = %(worker)s AND runs = %(run)s
   AND lease_until = %(lease_until)s;

-- name: latest_attempt_of
-- The last attempt a worker slot started (what its live log file belongs to).
SELECT * FROM queuectl.attempts WHERE worker = %(worker)s
 ORDER BY started_at DESC, run DESC LIMIT 1;

-- name: attach_log
-- The output of an attempt that ended without it (its worker died), found later.
UPDATE queuectl.attempts SET log_path = %(log_path)s, log_tail = %(log_tail)s
 WHERE job_id = %(job_id)s AND run = %(run)s AND worker = %(worker)s
   AND finished_at IS NOT NULL AND log_path IS NULL;

-- name: delete_stale_workers
DELETE FROM queuectl.workers WHERE heartbeat_at < queuectl.now_s() - %(stale_after)s;

-- name: get_job
SELECT * FROM queuectl.jobs WHERE id = %(id)s;

-- name: get_jobs
SELECT * FROM queuectl.jobs WHERE id = ANY(%(ids)s);

-- name: list_jobs
-- `list`, `dlq list` and the dashboard's pages: every filter that is not NULL applies.
-- A job passes tags (a JSON array) when it carries every one of them; text is part of the
-- id or of the command as stored (JSON text); later keeps the jobs due after it (the
-- dashboard's scheduled jobs). The markers below become an order (order_*), where the jobs
-- are read from (access_*) and a state filter (states_*), chosen from the counts by
-- SqlBackend._list_access: any (no state filter), walk (the planner's choice, which
-- walks the order's index when it thinks many match), seek (the states' jobs first,
-- behind OFFSET 0 so that no plan walks the order's index past a million jobs that do
-- not match: the planner has no statistics of a table just filled). A limit of -1 is no
-- limit.
SELECT * FROM ACCESS
 WHERE STATES
   AND (%(queue)s::text IS NULL OR queue = %(queue)s)
   AND (%(since)s::float8 IS NULL OR created_at >= %(since)s::float8)
   AND (%(later)s::float8 IS NULL OR run_at > %(later)s::float8)
   AND (%(text)s::text IS NULL OR strpos(id, %(text)s) > 0 OR strpos(command, %(text)s) > 0)
   AND (%(tags)s::jsonb IS NULL OR tags::jsonb @> %(tags)s::jsonb)
 ORDER_BY
 LIMIT NULLIF(%(limit)s, -1) OFFSET %(offset)s;

-- name: access_any
queuectl.jobs

-- name: access_walk
queuectl.jobs

-- name: access_seek
(SELECT * FROM queuectl.jobs WHERE state = ANY(%(states)s::text[]) OFFSET 0) AS jobs

-- name: states_any
TRUE

-- name: states_walk
state = ANY(%(states)s::text[])

-- name: states_seek
TRUE

-- name: order_created
ORDER BY seq

-- name: order_created_reverse
ORDER BY seq DESC

-- name: order_updated
ORDER BY updated_at, seq

-- name: order_updated_reverse
ORDER BY updated_at DESC, seq DESC

-- name: order_priority
ORDER BY priority DESC, run_at, seq

-- name: order_priority_reverse
ORDER BY priority, run_at DESC, seq DESC

-- name: order_run_at
ORDER BY run_at, seq

-- name: order_run_at_reverse
ORDER BY run_at DESC, seq DESC

-- name: count_states
-- The counts kept per queue and state (migration 0016) and the changes not folded in yet,
-- in one statement: a fold that commits beside it is seen whole or not at all.
SELECT state, sum(n)::bigint AS n
  FROM (SELECT state, n FROM queuectl.queue_counts
        UNION ALL
        SELECT state, n FROM queuectl.queue_count_changes) AS c
 GROUP BY state HAVING sum(n) > 0;

-- name: count_states_by_queue
SELECT queue, state, sum(n)::bigint AS n
  FROM (SELECT queue, state, n FROM queuectl.queue_counts
        UNION ALL
        SELECT queue, state, n FROM queuectl.queue_count_changes) AS c
 GROUP BY queue, state HAVING sum(n) > 0;

-- name: fold_counts
-- The changes of the counts (migration 0016) added to them and deleted, at a worker's
-- heartbeat. Rows another fold holds are passed over (SKIP LOCKED), and the counts are
-- written in one order, so two folds at once neither wait long nor deadlock.
WITH moved AS (
    DELETE FROM queuectl.queue_count_changes
     WHERE ctid = ANY (ARRAY(SELECT ctid FROM queuectl.queue_count_changes
                              FOR UPDATE SKIP LOCKED))
    RETURNING queue, state, n)
INSERT INTO queuectl.queue_counts AS c (queue, state, n)
SELECT queue, state, sum(n) FROM moved GROUP BY queue, state ORDER BY queue, state
    ON CONFLICT (queue, state) DO UPDATE SET n = c.n + excluded.n;

-- name: next_due_for_worker
-- The next instant a job may become claimable: the earliest run_at in an open queue, or
-- the instant a closed queue reopens (fragment queue_reopens: its pause ends, its bucket
-- refills; a full queue reopens when a job ends, which wakes workers anyway).
SELECT min(t) AS t FROM (
    SELECT min(run_at) AS t FROM queuectl.jobs
     WHERE state IN ('pending', 'failed') AND BY_QUEUE
           AND queue NOT IN (SELECT name FROM queuectl.queues AS queues WHERE QUEUE_CLOSED)
    UNION ALL
    SELECT t FROM QUEUE_REOPENS AS reopens
) AS due;

-- name: work_left_for_worker
-- What holds a burst run (see the SQLite twin): a job ready now, or a failed one.
SELECT EXISTS (SELECT 1 FROM queuectl.jobs
                WHERE state IN ('pending', 'failed') AND run_at <= queuectl.now_s()
                  AND BY_QUEUE
                  AND queue NOT IN (SELECT name FROM queuectl.queues AS queues WHERE QUEUE_PAUSED))
    OR EXISTS (SELECT 1 FROM queuectl.jobs
                WHERE state = 'failed' AND BY_QUEUE
                  AND queue NOT IN (SELECT name FROM queuectl.queues AS queues WHERE QUEUE_PAUSED))
       AS found;

-- name: attempts_of
SELECT * FROM queuectl.attempts WHERE job_id = %(job_id)s ORDER BY run;

-- Statistics (stats, the dashboard, /metrics): rolled-up attempts from the rollups,
-- later ones from attempts, in one statement each (see the SQLite twin; migration 0012).
-- Planned at each call with the value of :floor (PostgresBackend._rows, CUSTOM_PLANS): a
-- generic plan would guess a third of all attempts are that recent, and scan them all.

-- name: attempts_finished_since
-- Every attempt that finished at or after :since (NULL: all time), with its job's queue:
-- one by one where not rolled up yet, else per queue, outcome and duration class.
SELECT j.queue AS queue, a.outcome AS outcome, a.started_at AS started_at,
       a.finished_at AS finished_at, 1::bigint AS attempts,
       NULL::float8 AS duration, NULL::float8 AS longest
  FROM queuectl.attempts AS a JOIN queuectl.jobs AS j ON j.id = a.job_id
 WHERE a.finished_at >= %(floor)s::float8
   AND a.finished_at >= (SELECT rolled_until FROM queuectl.rollup_mark)
   AND (%(since)s::float8 IS NULL OR a.finished_at >= %(since)s::float8)
UNION ALL
SELECT queue, outcome, first_started, first_started, attempts, duration, longest
  FROM queuectl.rollup_totals
 WHERE %(since)s::float8 IS NULL
UNION ALL
SELECT queue, outcome, min(minute), min(minute), sum(attempts)::bigint, duration, max(longest)
  FROM queuectl.rollup_minutes
 WHERE minute > %(since)s::float8 - 60
 GROUP BY queue, outcome, duration;

-- name: attempt_timeline
-- Attempts that finished at or after :start, counted per bucket of :bucket seconds; a
-- rolled-up minute counts in the bucket its start is in.
SELECT slot, sum(succeeded) AS succeeded, sum(failed) AS failed
  FROM (SELECT floor((finished_at - %(start)s::float8) / %(bucket)s::float8)::bigint AS slot,
               (outcome = 'succeeded')::int AS succeeded, (outcome <> 'succeeded')::int AS failed
          FROM queuectl.attempts
         WHERE finished_at >= %(start)s::float8 AND finished_at >= %(floor)s::float8
           AND finished_at >= (SELECT rolled_until FROM queuectl.rollup_mark)
        UNION ALL
        SELECT floor((minute - %(start)s::float8) / %(bucket)s::float8)::bigint,
               CASE WHEN outcome = 'succeeded' THEN attempts ELSE 0 END,
               CASE WHEN outcome <> 'succeeded' THEN attempts ELSE 0 END
          FROM queuectl.rollup_minutes
         WHERE minute > %(start)s::float8 - 60) AS finished
 GROUP BY slot;

-- name: oldest_ready
-- run_at of the job that has been ready to run the longest (jobs_due serves it).
SELECT min(run_at) AS t FROM queuectl.jobs
 WHERE state IN ('pending', 'failed') AND run_at <= queuectl.now_s();

-- name: oldest_ready_by_queue
-- oldest_ready per queue, a few seeks a queue whatever its length: the queues with jobs
-- waiting (the counts, migration 0016), the priorities of each (a skip from one to the
-- next lower through the claim's partial index jobs_ready_queue, which orders each
-- queue's ready jobs by priority, then run_at), and the first run_at of each priority;
-- the smallest of those that have passed is the answer. Its cost grows with the
-- priorities in use, not with the jobs.
WITH RECURSIVE
  waiting (queue) AS (
    SELECT queue
      FROM (SELECT queue, state, n FROM queuectl.queue_counts
            UNION ALL
            SELECT queue, state, n FROM queuectl.queue_count_changes) AS c
     WHERE state IN ('pending', 'failed')
     GROUP BY queue HAVING sum(n) > 0),
  levels (queue, priority) AS (
    SELECT queue, (SELECT max(priority) FROM queuectl.jobs AS j
                    WHERE j.state IN ('pending', 'failed') AND j.queue = waiting.queue)
      FROM waiting
    UNION ALL
    SELECT queue, (SELECT max(priority) FROM queuectl.jobs AS j
                    WHERE j.state IN ('pending', 'failed') AND j.queue = levels.queue
                      AND j.priority < levels.priority)
      FROM levels WHERE priority IS NOT NULL)
SELECT queue, min(t) AS t
  FROM (SELECT queue, (SELECT min(run_at) FROM queuectl.jobs AS j
                        WHERE j.state IN ('pending', 'failed') AND j.queue = levels.queue
                          AND j.priority = levels.priority) AS t
          FROM levels WHERE priority IS NOT NULL) AS oldest
 WHERE t <= queuectl.now_s()
 GROUP BY queue;

-- name: attempt_outcomes
-- Every finished attempt, per queue and outcome, with the seconds they took.
SELECT queue, outcome, sum(n) AS n, sum(seconds) AS seconds
  FROM (SELECT j.queue AS queue, a.outcome AS outcome, count(*) AS n,
               sum(greatest(a.finished_at - a.started_at, 0)) AS seconds
          FROM queuectl.attempts AS a JOIN queuectl.jobs AS j ON j.id = a.job_id
         WHERE a.finished_at >= %(floor)s::float8
           AND a.finished_at >= (SELECT rolled_until FROM queuectl.rollup_mark)
         GROUP BY 1, 2
        UNION ALL
        SELECT queue, outcome, sum(attempts), sum(seconds)
          FROM queuectl.rollup_totals GROUP BY 1, 2) AS finished
 GROUP BY queue, outcome;

-- name: attempt_durations
-- A histogram of every finished attempt: per queue and slot (the position, from 0, in
-- :bounds, ascending, of the first bound at least the attempt's duration, or of a
-- rolled-up one its duration class; NULL above them all), the attempts and the seconds
-- they took (see the SQLite twin).
SELECT queue, slot, sum(n) AS n, sum(seconds) AS seconds
  FROM (SELECT j.queue AS queue,
               (SELECT min(b.slot) - 1
                  FROM unnest(%(bounds)s::float8[]) WITH ORDINALITY AS b(le, slot)
                 WHERE b.le >= greatest(a.finished_at - a.started_at, 0)) AS slot,
               count(*) AS n, sum(greatest(a.finished_at - a.started_at, 0)) AS seconds
          FROM queuectl.attempts AS a JOIN queuectl.jobs AS j ON j.id = a.job_id
         WHERE a.finished_at >= %(floor)s::float8
           AND a.finished_at >= (SELECT rolled_until FROM queuectl.rollup_mark)
         GROUP BY 1, 2
        UNION ALL
        SELECT t.queue,
               (SELECT min(b.slot) - 1
                  FROM unnest(%(bounds)s::float8[]) WITH ORDINALITY AS b(le, slot)
                 WHERE b.le >= t.duration),
               sum(t.attempts), sum(t.seconds)
          FROM queuectl.rollup_totals AS t
         GROUP BY 1, 2) AS finished
 GROUP BY queue, slot;

-- name: job_state
SELECT state FROM queuectl.jobs WHERE id = %(id)s FOR UPDATE;

-- name: existing_ids
SELECT id FROM queuectl.jobs WHERE id = ANY(%(ids)s);

-- name: rerun_job
-- A final job back to pending with a fresh retry budget, its history kept (see the SQLite
-- twin). The jobs_state_changed trigger wakes idle workers.
UPDATE queuectl.jobs AS j
   SET state = 'pending', attempts = 0, run_at = queuectl.now_s(), updated_at = queuectl.now_s(),
       worker = NULL, lease_until = NULL
 WHERE j.id = %(id)s AND j.state = ANY(%(states)s)
   AND NOT EXISTS (SELECT 1 FROM queuectl.attempts AS a JOIN queuectl.workers AS w
                       ON w.id = a.worker
                    WHERE a.job_id = j.id AND a.finished_at IS NULL);

-- name: close_left_attempt
-- After a rerun: an attempt left open by a worker that vanished (see the SQLite twin).
UPDATE queuectl.attempts
   SET finished_at = queuectl.now_s(), outcome = 'worker_lost', error = 'worker lost'
 WHERE job_id = %(id)s AND finished_at IS NULL;

-- name: run_now
-- A waiting job due now; one already due keeps its run_at, and so its place.
UPDATE queuectl.jobs SET run_at = least(run_at, queuectl.now_s()), updated_at = queuectl.now_s()
 WHERE id = %(id)s AND state = ANY(%(states)s);

-- name: edit_job
-- Guarded: only a job that has not started changes. A claim holding the row's lock makes
-- this wait, then re-check the WHERE on the claimed row: refused (see the SQLite twin).
UPDATE queuectl.jobs
   SET command = coalesce(%(command)s::text, command),
       priority = coalesce(%(priority)s::integer, priority),
       queue = coalesce(%(queue)s::text, queue),
       run_at = coalesce(%(run_at)s::float8, queuectl.now_s() + %(delay)s::float8, run_at),
       max_retries = coalesce(%(max_retries)s::integer, max_retries),
       timeout = coalesce(%(timeout)s::float8, timeout),
       limits = CASE WHEN %(limits)s::text IS NULL THEN limits
                     ELSE nullif(%(limits)s::text, '') END,
       clean_env = coalesce(%(clean_env)s::boolean, clean_env),
       updated_at = queuectl.now_s()
 WHERE id = %(id)s AND state = ANY(%(states)s)
RETURNING *;

-- name: notify_jobs
-- Wake idle workers on every host (sent at commit): a job may have become claimable.
SELECT pg_notify('queuectl_jobs', '');

-- name: retry_all_dead
UPDATE queuectl.jobs
   SET state = 'pending', attempts = 0, run_at = queuectl.now_s(), updated_at = queuectl.now_s(),
       worker = NULL, lease_until = NULL
 WHERE state = 'dead'
RETURNING id;

-- name: cancel_job
UPDATE queuectl.jobs
   SET state = 'cancelled', updated_at = queuectl.now_s(), finished_at = queuectl.now_s(),
       lease_until = NULL, last_error = 'cancelled'
 WHERE id = %(id)s AND state IN ('pending', 'failed', 'processing', 'blocked');

-- name: notify_control
SELECT pg_notify('queuectl_control', %(what)s);

-- name: config_all
SELECT key, value FROM queuectl.config;

-- name: config_lock
-- One config writer at a time (held until its transaction ends): the rules between
-- settings are checked against what is stored. Rows cannot be locked for this, since a
-- setting still at its default has no row. The id spells "qcfg".
SELECT pg_advisory_xact_lock(1902339687);

-- name: config_set
INSERT INTO queuectl.config (key, value) VALUES (%(key)s, %(value)s)
    ON CONFLICT (key) DO UPDATE SET value = excluded.value;

-- name: config_unset
DELETE FROM queuectl.config WHERE key = %(key)s;

-- name: register_worker
INSERT INTO queuectl.workers (id, host, pid, pid_start, queues, started_at, heartbeat_at)
VALUES (%(id)s, %(host)s, %(pid)s, %(pid_start)s, %(queues)s, queuectl.now_s(), queuectl.now_s())
    ON CONFLICT (id) DO UPDATE
   SET host = excluded.host, pid = excluded.pid, pid_start = excluded.pid_start,
       queues = excluded.queues, started_at = excluded.started_at,
       heartbeat_at = excluded.heartbeat_at, stop_requested = false, stop_now = false;

-- name: list_workers
SELECT w.*, j.id AS current_job, j.started_at AS job_started_at
  FROM queuectl.workers AS w
  LEFT JOIN queuectl.jobs AS j ON j.worker = w.id AND j.state = 'processing'
 ORDER BY w.host, w.pid, w.id;

-- name: request_stop
-- A stop now stays one: a later graceful request does not take it back.
UPDATE queuectl.workers SET stop_requested = true, stop_now = stop_now OR %(now_too)s;

-- name: request_stop_of
-- request_stop for the named worker rows only (the slots of one worker process).
UPDATE queuectl.workers SET stop_requested = true, stop_now = stop_now OR %(now_too)s
 WHERE id = ANY(%(ids)s);

-- name: delete_workers
DELETE FROM queuectl.workers WHERE id = ANY(%(ids)s);

-- name: schema_present
SELECT to_regclass('queuectl.schema_version') IS NOT NULL AS present;

-- name: schema_version
SELECT max(version) AS v FROM queuectl.schema_version;

-- name: migration_lock
-- One migrating process at a time: held until the migration's transaction ends.
SELECT pg_advisory_xact_lock(%(lock)s);

-- name: create_schema
CREATE SCHEMA IF NOT EXISTS queuectl;

-- name: create_version_table
CREATE TABLE IF NOT EXISTS queuectl.schema_version (version integer NOT NULL);

-- name: record_version
INSERT INTO queuectl.schema_version VALUES (%(version)s);

-- Dependencies (enqueue --after; migration 0006). queuectl.settle(ids) applies the
-- endings of the jobs ids to their dependents.

-- name: dependencies_present
-- The named dependencies that exist (enqueue refuses a missing one), locked until the
-- enqueue commits: a dependency ending meanwhile waits, then sees the new edges, and one
-- that ended first is seen ended here.
SELECT id FROM queuectl.jobs WHERE id = ANY(%(ids)s) ORDER BY id FOR SHARE;

-- name: insert_dependency
INSERT INTO queuectl.dependencies (job_id, depends_on) VALUES (%(job_id)s, %(depends_on)s)
    ON CONFLICT DO NOTHING;

-- name: block_job
UPDATE queuectl.jobs
   SET state = 'blocked', after_ids = %(after)s, after_mode = %(mode)s,
       blockers = (SELECT count(*) FROM queuectl.dependencies WHERE job_id = %(id)s)
 WHERE id = %(id)s;

-- name: settle
-- The function runs only where an edge names a job of ids: for a job without dependents
-- the statement is one probe of dependencies_on.
SELECT queuectl.settle(%(ids)s::text[])
 WHERE EXISTS (SELECT 1 FROM queuectl.dependencies WHERE depends_on = ANY(%(ids)s::text[]));

-- name: dependencies_of
-- What `show` lists, each side by id (the same order on every engine, whatever the
-- order the edges were stored in).
SELECT 'after' AS side, d.depends_on AS id, p.state AS state
  FROM queuectl.dependencies AS d LEFT JOIN queuectl.jobs AS p ON p.id = d.depends_on
 WHERE d.job_id = %(id)s
UNION ALL
SELECT 'dependent', d.job_id, j.state
  FROM queuectl.dependencies AS d JOIN queuectl.jobs AS j ON j.id = d.job_id
 WHERE d.depends_on = %(id)s
 ORDER BY side, id;

-- name: blocking_edges
SELECT d.job_id, d.depends_on FROM queuectl.dependencies AS d
 WHERE d.job_id = ANY(%(ids)s) AND NOT d.settled
 ORDER BY d.job_id, d.depends_on;

-- name: cancelled_dependents
-- rerun --with-dependents: the jobs that a dependency of ids cancelled (queuectl.settle).
SELECT d.job_id FROM queuectl.dependencies AS d JOIN queuectl.jobs AS j ON j.id = d.job_id
 WHERE d.depends_on = ANY(%(ids)s) AND j.state = 'cancelled'
   AND j.last_error LIKE 'dependency %%';

-- name: unsettle_edges
UPDATE queuectl.dependencies SET settled = false WHERE job_id = %(id)s;

-- name: reblock_job
UPDATE queuectl.jobs
   SET state = 'blocked', attempts = 0, finished_at = NULL, last_error = NULL,
       updated_at = queuectl.now_s(),
       blockers = (SELECT count(*) FROM queuectl.dependencies WHERE job_id = %(id)s)
 WHERE id = %(id)s AND state = 'cancelled';

-- name: edges_of
SELECT job_id, depends_on FROM queuectl.dependencies WHERE job_id = ANY(%(ids)s);

-- Queues as objects (queue list/pause/resume/set, migration 0005).

-- name: queue_lock
-- Queue writers wait for every claim in flight and hold new ones off until they commit
-- (a claim's statement locks jobs ROW EXCLUSIVE and takes its snapshot after): no claim
-- decides from a snapshot older than a pause or a new limit. Enqueues wait a moment too.
LOCK TABLE queuectl.jobs IN SHARE ROW EXCLUSIVE MODE;

-- name: queue_rows
SELECT *, QUEUE_CLOSED AS closed FROM queuectl.queues AS queues ORDER BY name;

-- name: queue_names
-- Every queue known: those with jobs and those with a row.
SELECT DISTINCT queue AS name FROM queuectl.jobs UNION SELECT name FROM queuectl.queues AS queues;

-- name: queue_add
INSERT INTO queuectl.queues (name) VALUES (%(name)s) ON CONFLICT (name) DO NOTHING;

-- name: queue_write
UPDATE queuectl.queues
   SET paused = %(paused)s, paused_until = %(paused_until)s, paused_at = %(paused_at)s,
       paused_by = %(paused_by)s, paused_reason = %(paused_reason)s, concurrency = %(concurrency)s,
       rate_n = %(rate_n)s, rate_period = %(rate_period)s, tokens = %(tokens)s, tokens_at = %(tokens_at)s,
       timeout = %(timeout)s, no_retry_on = %(no_retry_on)s, limits = %(limits)s
 WHERE name = %(name)s;

-- name: queue_drop_empty
-- A queue neither paused nor limited needs no row (and its claims then take no lock).
DELETE FROM queuectl.queues
 WHERE name = %(name)s AND NOT paused AND concurrency IS NULL AND rate_n IS NULL
   AND timeout IS NULL AND no_retry_on IS NULL AND limits IS NULL;

-- name: ready_ahead
-- `explain`: the ready jobs of queues :queues a claim would take before job :id, counted
-- up to :most + 1 (explain says "more than :most" past it) — the claim's own filter
-- (ready, its queue not closed: fragment queue_closed) and its order (priority DESC,
-- run_at, seq), read as three ranges of the claim's index jobs_ready (a higher priority;
-- the same, due earlier; the same, due at once, enqueued earlier), each stopped at the
-- bound: at most :most + 1 entries of each are read, however long the queue.
WITH me AS (SELECT priority, run_at, seq FROM queuectl.jobs WHERE id = %(id)s),
     open (name) AS (SELECT unnest(%(queues)s::text[])
                     EXCEPT SELECT name FROM queuectl.queues AS queues WHERE QUEUE_CLOSED)
SELECT count(*) AS n
  FROM (SELECT * FROM (SELECT j.seq FROM me CROSS JOIN queuectl.jobs AS j
                        WHERE j.priority > me.priority
                          AND j.state IN ('pending', 'failed') AND j.run_at <= queuectl.now_s()
                          AND j.queue IN (SELECT name FROM open) LIMIT %(most)s + 1) AS higher
        UNION ALL
        SELECT * FROM (SELECT j.seq FROM me CROSS JOIN queuectl.jobs AS j
                        WHERE j.priority = me.priority AND j.run_at < me.run_at
                          AND j.state IN ('pending', 'failed') AND j.run_at <= queuectl.now_s()
                          AND j.queue IN (SELECT name FROM open) LIMIT %(most)s + 1) AS earlier
        UNION ALL
        SELECT * FROM (SELECT j.seq FROM me CROSS JOIN queuectl.jobs AS j
                        WHERE j.priority = me.priority AND j.run_at = me.run_at
                          AND j.seq < me.seq
                          AND j.state IN ('pending', 'failed') AND j.run_at <= queuectl.now_s()
                          AND j.queue IN (SELECT name FROM open) LIMIT %(most)s + 1) AS before
        LIMIT %(most)s + 1) AS ahead;

-- Schedules (schedule add/list/show/remove/pause/resume/run-now, migration 0011), fired by
-- live workers: see DECISIONS.md, "Schedules".

-- name: schedule_insert
INSERT INTO queuectl.schedules (name, cron, tz, every, job, missed, overlap, paused,
                                created_at, settled_to, next_at)
VALUES (%(name)s, %(cron)s, %(tz)s, %(every)s, %(job)s, %(missed)s, %(overlap)s, %(paused)s,
        %(created_at)s, %(settled_to)s, %(next_at)s);

-- name: schedule_rows
-- Every schedule (name NULL) or one, with the states of its latest jobs (NULL: purged).
SELECT s.*, l.state AS last_state, n.state AS now_state
  FROM queuectl.schedules AS s
  LEFT JOIN queuectl.jobs AS l ON l.id = s.last_job
  LEFT JOIN queuectl.jobs AS n ON n.id = s.now_job
 WHERE %(name)s::text IS NULL OR s.name = %(name)s
 ORDER BY s.name;

-- name: schedule_lock
-- One schedule, locked until the change commits (a firing worker holds it meanwhile).
SELECT *, NULL::text AS last_state, NULL::text AS now_state
  FROM queuectl.schedules WHERE name = %(name)s
   FOR UPDATE;

-- name: schedules_due
-- The schedules with a slot due now (the server's clock) and not paused, locked for the
-- firing: a schedule another worker is firing is passed over, and once that one commits
-- its next slot is no longer due.
SELECT s.*, l.state AS last_state, n.state AS now_state, queuectl.now_s() AS now
  FROM queuectl.schedules AS s
  LEFT JOIN queuectl.jobs AS l ON l.id = s.last_job
  LEFT JOIN queuectl.jobs AS n ON n.id = s.now_job
 WHERE NOT s.paused AND s.next_at <= queuectl.now_s()
   FOR UPDATE OF s SKIP LOCKED;

-- name: schedules_next
-- When a slot of a schedule that is not paused next falls due (NULL: none), and the clock.
SELECT min(next_at) AS t, queuectl.now_s() AS now FROM queuectl.schedules WHERE NOT paused;

-- name: insert_slot_job
-- The job of a slot, or of a run-now: nothing where a job has its id already (the slot
-- was enqueued by another worker): what makes a slot fire once.
INSERT INTO queuectl.jobs (id, command, state, max_retries, priority, queue, run_at, timeout,
                           cwd, env, tags, unique_key, no_retry_on, limits, clean_env,
                           created_at, updated_at)
VALUES (%(id)s, %(command)s, 'pending', %(max_retries)s, %(priority)s, %(queue)s, %(run_at)s,
        %(timeout)s, %(cwd)s, %(env)s, %(tags)s, %(unique_key)s, %(no_retry_on)s, %(limits)s,
        %(clean_env)s::integer::boolean, %(created_at)s, %(updated_at)s)
    ON CONFLICT (id) DO NOTHING;

-- name: schedule_fired
-- A firing (or a resume) settled the schedule up to settled_to.
UPDATE queuectl.schedules
   SET settled_to = %(settled_to)s, next_at = %(next_at)s, paused = %(paused)s,
       last_slot = coalesce(%(last_slot)s, last_slot), last_job = coalesce(%(last_job)s, last_job)
 WHERE name = %(name)s;

-- name: schedule_pause
UPDATE queuectl.schedules SET paused = true WHERE name = %(name)s;

-- name: schedule_ran_now
UPDATE queuectl.schedules SET now_job = %(job)s WHERE name = %(name)s;

-- name: schedule_delete
DELETE FROM queuectl.schedules WHERE name = %(name)s;

-- Retention (purge, dlq purge, the retention-* settings; migration 0012): see the SQLite
-- twins. Every transaction that adds to the rollups takes the row lock of rollup_mark
-- first, so they run one at a time, and a purge locks its jobs before it.

-- name: rollup_seen
SELECT rolled_until, generation FROM queuectl.rollup_mark;

-- name: rollup_claim
UPDATE queuectl.rollup_mark SET generation = generation + 1 RETURNING rolled_until;

-- name: rollup_ends
SELECT finished_at FROM queuectl.attempts
 WHERE finished_at >= %(mark)s::float8 AND finished_at < %(before)s::float8
 ORDER BY finished_at
 LIMIT %(limit)s + 1;

-- name: rollup_next_end
SELECT min(finished_at) AS t FROM queuectl.attempts
 WHERE finished_at > %(mark)s::float8 AND finished_at < %(before)s::float8;

-- name: attempts_ended_between
SELECT j.queue AS queue, a.outcome AS outcome, a.started_at AS started_at,
       a.finished_at AS finished_at
  FROM queuectl.attempts AS a JOIN queuectl.jobs AS j ON j.id = a.job_id
 WHERE a.finished_at >= %(mark)s::float8 AND a.finished_at < %(cut)s::float8;

-- name: rollup_advance
-- Guarded: a roll-up that commits first moves the generation, and this one, waiting for
-- the row's lock, then finds it moved and changes nothing.
UPDATE queuectl.rollup_mark SET rolled_until = %(cut)s, generation = generation + 1
 WHERE generation = %(generation)s;

-- name: add_rollup_minute
INSERT INTO queuectl.rollup_minutes AS r
       (minute, queue, outcome, duration, attempts, seconds, longest)
VALUES (%(minute)s, %(queue)s, %(outcome)s, %(duration)s, %(attempts)s, %(seconds)s,
        %(longest)s)
    ON CONFLICT (minute, queue, outcome, duration) DO UPDATE
   SET attempts = r.attempts + excluded.attempts, seconds = r.seconds + excluded.seconds,
       longest = greatest(r.longest, excluded.longest);

-- name: add_rollup_total
INSERT INTO queuectl.rollup_totals AS r
       (queue, outcome, duration, attempts, seconds, longest, first_started)
VALUES (%(queue)s, %(outcome)s, %(duration)s, %(attempts)s, %(seconds)s, %(longest)s,
        %(first_started)s)
    ON CONFLICT (queue, outcome, duration) DO UPDATE
   SET attempts = r.attempts + excluded.attempts, seconds = r.seconds + excluded.seconds,
       longest = greatest(r.longest, excluded.longest),
       first_started = least(r.first_started, excluded.first_started);

-- name: purgeable
-- Whether a final job j may be purged (see the SQLite twin).
(NOT j.dependents
 OR NOT EXISTS (SELECT 1 FROM queuectl.dependencies AS d JOIN queuectl.jobs AS c
                    ON c.id = d.job_id
                 WHERE d.depends_on = j.id
                   AND c.state NOT IN ('completed', 'dead', 'cancelled')))
AND NOT EXISTS (SELECT 1 FROM queuectl.attempts AS a JOIN queuectl.workers AS w
                    ON w.id = a.worker
                 WHERE a.job_id = j.id AND a.finished_at IS NULL)

-- name: purge_candidates
-- Locked, skipping rows another transaction holds (a second purger, a rerun): two hosts
-- purging at once take different jobs.
SELECT j.id FROM queuectl.jobs AS j
 WHERE j.state IN ('completed', 'dead', 'cancelled') AND j.state = %(state)s
   AND j.finished_at < %(before)s::float8
   AND (%(queue)s::text IS NULL OR j.queue = %(queue)s) AND PURGEABLE
 ORDER BY j.finished_at
 LIMIT %(limit)s
   FOR UPDATE OF j SKIP LOCKED;

-- name: purge_counts
SELECT j.state AS state, count(*) AS n FROM queuectl.jobs AS j
 WHERE j.state IN ('completed', 'dead', 'cancelled') AND j.state = ANY(%(states)s)
   AND j.finished_at < %(before)s::float8
   AND (%(queue)s::text IS NULL OR j.queue = %(queue)s) AND PURGEABLE
 GROUP BY j.state;

-- name: purge_held
SELECT j.id FROM queuectl.jobs AS j WHERE j.id = ANY(%(ids)s) AND NOT PURGEABLE ORDER BY j.id;

-- name: attempts_to_roll_up
SELECT j.queue AS queue, a.outcome AS outcome, a.started_at AS started_at,
       a.finished_at AS finished_at
  FROM queuectl.attempts AS a JOIN queuectl.jobs AS j ON j.id = a.job_id
 WHERE a.job_id = ANY(%(ids)s) AND a.finished_at >= %(mark)s::float8;

-- name: note_log_removals
INSERT INTO queuectl.log_removals (host, job_id, run, at)
SELECT split_part(worker, ':', 1), job_id, run, queuectl.now_s()
  FROM queuectl.attempts
 WHERE job_id = ANY(%(ids)s) AND log_path IS NOT NULL
    ON CONFLICT DO NOTHING;

-- name: delete_attempts_of
DELETE FROM queuectl.attempts WHERE job_id = ANY(%(ids)s);

-- name: delete_edges_of
DELETE FROM queuectl.dependencies WHERE job_id = ANY(%(ids)s) OR depends_on = ANY(%(ids)s);

-- name: delete_jobs
DELETE FROM queuectl.jobs WHERE id = ANY(%(ids)s) AND state = %(state)s;

-- name: take_log_removals
DELETE FROM queuectl.log_removals
 WHERE (host, job_id, run) IN (SELECT host, job_id, run FROM queuectl.log_removals
                                WHERE host = %(host)s LIMIT %(limit)s
                                  FOR UPDATE SKIP LOCKED)
RETURNING job_id, run;

-- name: drop_log_removals
DELETE FROM queuectl.log_removals WHERE at < %(before)s::float8;

-- Export and import (queuectl export / import).

-- name: snapshot_begin
-- An export's reads: one snapshot for all its pages.
BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;

-- name: snapshot_patience
-- A read takes no row lock, so the export's transaction may wait on a slow reader of its
-- output longer than the 2 s other transactions may idle (LINK_OPTIONS in
-- backends/postgres.py); one whose client is gone still ends after a while.
SET LOCAL idle_in_transaction_session_timeout = '10min';

-- name: snapshot_end
COMMIT;

-- name: job_page
-- A page of jobs in enqueue order after position %(after)s (the primary key's order).
SELECT * FROM queuectl.jobs
 WHERE seq > %(after)s
   AND (%(states)s::text[] IS NULL OR state = ANY(%(states)s::text[]))
   AND (%(queue)s::text IS NULL OR queue = %(queue)s)
 ORDER BY seq
 LIMIT %(limit)s;

-- name: attempts_of_jobs
SELECT * FROM queuectl.attempts WHERE job_id = ANY(%(ids)s) ORDER BY job_id, run;

-- name: import_job
-- A job as it was (import of an export --with-history), every column given.
INSERT INTO queuectl.jobs (id, command, state, attempts, max_retries, priority, queue, run_at,
                           timeout, cwd, env, created_at, updated_at, started_at, finished_at,
                           exit_code, last_error, worker, runs, lease_until, tags, unique_key,
                           no_retry_on, snoozes, after_ids, after_mode, blockers, limits,
                           clean_env)
VALUES (%(id)s, %(command)s, %(state)s, %(attempts)s, %(max_retries)s, %(priority)s, %(queue)s,
        %(run_at)s, %(timeout)s, %(cwd)s, %(env)s, %(created_at)s, %(updated_at)s,
        %(started_at)s, %(finished_at)s, %(exit_code)s, %(last_error)s, %(worker)s, %(runs)s,
        %(lease_until)s, %(tags)s, %(unique_key)s, %(no_retry_on)s, %(snoozes)s,
        %(after_ids)s, %(after_mode)s, %(blockers)s, %(limits)s, %(clean_env)s);

-- name: import_attempt
INSERT INTO queuectl.attempts (job_id, run, worker, started_at, finished_at, outcome,
                               exit_code, error, log_path, log_tail, cpu_user_s, cpu_sys_s,
                               max_rss_kb)
VALUES (%(job_id)s, %(run)s, %(worker)s, %(started_at)s, %(finished_at)s, %(outcome)s,
        %(exit_code)s, %(error)s, %(log_path)s, %(log_tail)s, %(cpu_user_s)s, %(cpu_sys_s)s,
        %(max_rss_kb)s);

-- name: import_dependency
-- The trigger jobs_depended_on sets the dependency's dependents flag (migration 0009).
INSERT INTO queuectl.dependencies (job_id, depends_on, settled)
VALUES (%(job_id)s, %(depends_on)s, %(settled)s);

-- name: attempt_resources
-- See the SQLite twin (migration 0014).
SELECT j.queue AS queue, a.cpu_user_s + a.cpu_sys_s AS cpu, a.max_rss_kb AS max_rss_kb
  FROM queuectl.attempts AS a JOIN queuectl.jobs AS j ON j.id = a.job_id
 WHERE a.finished_at IS NOT NULL
   AND (%(since)s::float8 IS NULL OR a.finished_at >= %(since)s::float8)
   AND a.cpu_user_s IS NOT NULL
 ORDER BY a.finished_at DESC
 LIMIT %(limit)s;

-- Output from any host (migration 0015): a running attempt's output in chunks.

-- name: output_add
-- A chunk of an attempt's output; a flush retried after a lost reply writes it again.
INSERT INTO queuectl.output_chunks (job_id, run, start, data)
VALUES (%(job_id)s, %(run)s, %(start)s, %(data)s)
    ON CONFLICT (job_id, run, start) DO UPDATE SET data = excluded.data;

-- name: output_trim
-- The attempt's chunks within its bound: those that start in the head (before :head) and
-- those that end in the last :tail bytes written stay, the middle goes (logfiles.cap_shape).
DELETE FROM queuectl.output_chunks
 WHERE job_id = %(job_id)s AND run = %(run)s
   AND start >= %(head)s AND start + length(data) <= %(cut)s;

-- name: output_notify
-- Readers on any host LISTEN here; the payload is "<job id> <run>".
SELECT pg_notify('queuectl_output', %(job_id)s || ' ' || %(run)s::text);

-- name: output_of
-- The attempt's chunks that end after :after, in order.
SELECT start, data FROM queuectl.output_chunks
 WHERE job_id = %(job_id)s AND run = %(run)s AND start + length(data) > %(after)s
 ORDER BY start;

-- name: output_drop_finished
-- At each heartbeat of any worker: the chunks of attempts whose stored tail (or log file)
-- was written more than :grace seconds ago, unless keep_output is full. A followed attempt
-- is read to its end within that grace; an attempt rescued on another host, whose tail
-- is not stored yet, keeps its chunks (they are its only output there).
DELETE FROM queuectl.output_chunks AS o
 USING queuectl.attempts AS a
 WHERE a.job_id = o.job_id AND a.run = o.run
   AND a.finished_at < queuectl.now_s() - %(grace)s
   AND (a.log_tail IS NOT NULL OR a.log_path IS NOT NULL)
   AND NOT EXISTS (SELECT 1 FROM queuectl.config WHERE key = 'keep_output' AND value = 'full');
