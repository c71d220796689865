-- Every SQL statement the SQLite backend runs, by name. Parameters are :named.

-- name: insert_job
-- Positional (id, command, max_retries, priority, queue, run_at, timeout, cwd, env, tags,
-- unique_key, no_retry_on, limits, clean_env, now, now): a tuple per job binds faster than a
-- mapping, and the backend repeats the row after VALUES to insert a batch's jobs many per
-- statement.
INSERT INTO jobs (id, command, state, max_retries, priority, queue, run_at, timeout, cwd, env,
                  tags, unique_key, no_retry_on, limits, clean_env, created_at, updated_at)
VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: insert_plain_job
-- A job with none of timeout … clean_env (most jobs): ?1 is the batch's now (created_at,
-- updated_at), then (id, command, max_retries, priority, queue, run_at); the rest are the
-- columns' defaults. The backend repeats the row after VALUES, numbered on, to insert
-- many per statement: six values bound per job instead of sixteen.
INSERT INTO jobs (id, command, state, max_retries, priority, queue, run_at,
                  created_at, updated_at)
VALUES (?2, ?3, 'pending', ?4, ?5, ?6, ?7, ?1, ?1);

-- name: unique_lock
-- SQLite's write transaction is the only writer: nothing more to lock (see unique_holder).
SELECT :key;

-- name: unique_holder
-- The job that holds :key against a new one: an active job with it, or (:within not NULL)
-- one created within the last :within seconds. Read in the inserting write transaction.
SELECT id FROM jobs INDEXED BY jobs_unique_created
 WHERE unique_key = :key
   AND (state IN ('pending', 'blocked', 'failed', 'processing')
        OR (:within IS NOT NULL AND created_at > :now - :within))
 ORDER BY created_at DESC
 LIMIT 1;

-- name: queue_paused
-- Whether a queue is paused now (a pause with --for ends by itself).
paused AND (paused_until IS NULL OR paused_until > :now)

-- name: queue_closed
-- Whether a queue's jobs may not start at :now (the claims and `queue list` read this one
-- predicate): paused, its concurrency full, or its bucket without a whole token.
QUEUE_PAUSED
 OR (concurrency IS NOT NULL
     AND concurrency <= (SELECT count(*) FROM jobs AS r INDEXED BY jobs_state
                          WHERE r.state = 'processing' AND r.queue = queues.name))
 OR (rate_n IS NOT NULL
     AND tokens + (:now - tokens_at) * rate_n / rate_period < 1)

-- name: queue_reopens
-- When each closed queue may open again: its pause's end, or its bucket's next whole token.
SELECT min(CASE WHEN QUEUE_PAUSED THEN paused_until
                WHEN tokens + (:now - tokens_at) * rate_n / rate_period < 1
                THEN tokens_at + (1 - tokens) * rate_period / rate_n END) AS t
  FROM queues WHERE QUEUE_CLOSED

-- name: by_queue_any
1

-- name: by_queue_in
queue IN (SELECT value FROM json_each(:queues))

-- name: by_queue_out
queue NOT IN (SELECT value FROM json_each(:excluded))

-- name: ready_index_any
jobs_ready

-- name: ready_index_in
jobs_ready_queue

-- name: ready_index_out
jobs_ready

-- name: claim_for_worker
-- The claim: one statement picks the best ready job and takes it with a lease. Jobs of a
-- closed queue (fragment queue_closed) are passed over; the trigger
-- queue_started takes the start's token in the same write transaction (migration 0006).
-- queue_timeout: the queue's own timeout, for a job without one (queue set --timeout).
-- INDEXED BY: the planner would otherwise pick jobs_state and sort every ready row
-- (jobs_ready_queue for a worker of some queues). `flow`: whether any queue has a row
-- still; when none has, the backend's next claims are the plain one (SQLiteBackend._claim).
-- Written once for a worker's queues: sqlfiles makes claim_any, claim_in and claim_out.
UPDATE jobs
   SET state = 'processing', worker = :worker, runs = runs + 1, started_at = :now,
       finished_at = NULL, updated_at = :now, lease_until = :lease_until, lease = :lease
 WHERE seq = (SELECT seq FROM jobs INDEXED BY READY_INDEX
               WHERE state IN ('pending', 'failed') AND run_at <= :now AND BY_QUEUE
                 AND queue NOT IN (SELECT name FROM queues WHERE QUEUE_CLOSED)
               ORDER BY priority DESC, run_at, seq
               LIMIT 1)
RETURNING *, (SELECT timeout FROM queues WHERE name = jobs.queue) AS queue_timeout,
          (SELECT no_retry_on FROM queues WHERE name = jobs.queue) AS queue_no_retry_on,
          (SELECT limits FROM queues WHERE name = jobs.queue) AS queue_limits,
          EXISTS (SELECT 1 FROM queues) AS flow;

-- name: claim_plain_for_worker
-- The claim while no queue has a row (nothing paused or limited): the same, without the
-- look at each queue. It takes nothing once a queue has a row; the backend then reads
-- queue_rows_exist and claims with the full statement (SQLiteBackend._claim).
UPDATE jobs
   SET state = 'processing', worker = :worker, runs = runs + 1, started_at = :now,
       finished_at = NULL, updated_at = :now, lease_until = :lease_until, lease = :lease
 WHERE seq = (SELECT seq FROM jobs INDEXED BY READY_INDEX
               WHERE state IN ('pending', 'failed') AND run_at <= :now AND BY_QUEUE
                 AND NOT EXISTS (SELECT 1 FROM queues)
               ORDER BY priority DESC, run_at, seq
               LIMIT 1)
RETURNING *, NULL AS queue_timeout, NULL AS queue_no_retry_on, NULL AS queue_limits;

-- name: queue_rows_exist
SELECT EXISTS (SELECT 1 FROM queues) AS flow;

-- name: insert_attempt
INSERT INTO attempts (job_id, run, worker, started_at)
VALUES (:job_id, :run, :worker, :now);

-- name: end_job
-- Guarded: only the worker holding this very run of the job may end it.
UPDATE jobs
   SET state = :state, attempts = :attempts, run_at = COALESCE(:run_at, run_at),
       exit_code = :exit_code, last_error = :error, finished_at = :now, updated_at = :now,
       lease_until = NULL, snoozes = :snoozes
 WHERE id = :job_id AND state = 'processing' AND worker = :worker AND runs = :run
RETURNING dependents;

-- name: end_attempt
UPDATE attempts
   SET finished_at = :now, outcome = :outcome, exit_code = :exit_code, error = :error,
       log_path = :log_path, log_tail = :log_tail, cpu_user_s = :cpu_user_s,
       cpu_sys_s = :cpu_sys_s, max_rss_kb = :max_rss_kb
 WHERE job_id = :job_id AND run = :run AND worker = :worker AND finished_at IS NULL;

-- name: renew_leases
-- Only the runs the worker knows it is running: a claim whose reply was lost is not
-- renewed, so its lease expires and the job is rescued.
UPDATE jobs SET lease_until = :lease_until, lease = :lease
  FROM (SELECT i.value AS id, r.value AS run, w.value AS worker
          FROM json_each(:ids) AS i
          JOIN json_each(:runs) AS r ON r.key = i.key
          JOIN json_each(:workers) AS w ON w.key = i.key) AS h
 WHERE jobs.id = h.id AND jobs.runs = h.run AND jobs.worker = h.worker
   AND jobs.state = 'processing'
RETURNING jobs.id, jobs.runs;

-- name: processing_leases
-- What a rescuer watches: every running attempt's lease as its holder last wrote it,
-- and the start time of the holder's process (when its worker row is still there).
SELECT j.id, j.runs, j.worker, j.lease_until, j.lease, w.pid_start
  FROM jobs AS j LEFT JOIN workers AS w ON w.id = j.worker
 WHERE j.state = 'processing';

-- name: rescue_candidates
SELECT * FROM jobs WHERE id IN (SELECT value FROM json_each(:ids)) AND state = 'processing';

-- name: get_job
SELECT * FROM jobs WHERE id = :id;

-- name: get_jobs
SELECT * FROM jobs WHERE id IN (SELECT value FROM json_each(:ids));

-- name: list_jobs
-- `list`, `dlq list` and the dashboard's pages: every filter that is not NULL applies.
-- :states and :tags are JSON arrays; a job passes :tags when it carries every one of them;
-- :text is part of the id or of the command as stored (JSON text); :later keeps the jobs
-- due after it (the dashboard's scheduled jobs). The three markers below become an order
-- (order_*), a state filter (states_*) and an index to read by (access_*), the last two
-- chosen from the counts by SqlBackend._list_access (SQLite keeps no statistics): any
-- (no state filter); seek (the jobs of the states through jobs_state, then sorted); walk
-- (the order's own index, read until the page is full); ready_priority, ready_run_at
-- (the same through the partial index of ready jobs in that order; by run_at from :later
-- on, so the scheduled view skips the jobs due already). :limit -1 = no limit.
SELECT * FROM jobs ACCESS
 WHERE STATES
   AND (:queue IS NULL OR queue = :queue)
   AND (:since IS NULL OR created_at >= :since)
   AND (:later IS NULL OR run_at > :later)
   AND (:text IS NULL OR instr(id, :text) > 0 OR instr(command, :text) > 0)
   AND (:tags IS NULL OR NOT EXISTS (
            SELECT 1 FROM json_each(:tags) AS wanted
             WHERE wanted.value NOT IN (SELECT value FROM json_each(jobs.tags))))
 ORDER_BY
 LIMIT :limit OFFSET :offset;

-- name: states_any
1

-- name: states_seek
state IN (SELECT value FROM json_each(:states))

-- name: states_walk
+state IN (SELECT value FROM json_each(:states))

-- name: states_ready_priority
+state IN (SELECT value FROM json_each(:states)) AND state IN ('pending', 'failed')

-- name: states_ready_run_at
+state IN (SELECT value FROM json_each(:states)) AND state IN ('pending', 'failed')
 AND run_at > coalesce(:later, -1e308)

-- name: access_ready_priority
INDEXED BY jobs_ready

-- name: access_ready_run_at
INDEXED BY jobs_due

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
-- Kept per queue and state by triggers and the inserting transactions (migration 0017):
-- a read of a few rows however many jobs there are.
SELECT state, sum(n) AS n FROM queue_counts GROUP BY state HAVING sum(n) > 0;

-- name: count_states_by_queue
SELECT queue, state, n FROM queue_counts WHERE n > 0;

-- name: fold_counts
-- Nothing to fold: the triggers write queue_counts itself (SQLite's one writer).
SELECT 1;

-- name: next_due_for_worker
-- The next instant a job may become claimable: the earliest run_at in an open queue, or
-- the instant a closed queue reopens (fragment queue_reopens: its pause ends, its bucket
-- refills; a full queue reopens when a job ends, which wakes workers anyway).
SELECT min(t) AS t FROM (
    SELECT min(run_at) AS t FROM jobs INDEXED BY jobs_due
     WHERE state IN ('pending', 'failed') AND BY_QUEUE
           AND queue NOT IN (SELECT name FROM queues WHERE QUEUE_CLOSED)
    UNION ALL
    SELECT t FROM QUEUE_REOPENS AS reopens
);

-- name: work_left_for_worker
-- What holds a burst run: a job ready now, or a failed one waiting for its retry; a job
-- scheduled for later does not, nor does a job of a paused queue (fragment queue_paused). Each
-- EXISTS stops at its first row of an index.
SELECT EXISTS (SELECT 1 FROM jobs INDEXED BY jobs_due
                WHERE state IN ('pending', 'failed') AND run_at <= :now AND BY_QUEUE
                  AND queue NOT IN (SELECT name FROM queues WHERE QUEUE_PAUSED))
    OR EXISTS (SELECT 1 FROM jobs
                WHERE state = 'failed' AND BY_QUEUE
                  AND queue NOT IN (SELECT name FROM queues WHERE QUEUE_PAUSED))
       AS found;

-- name: attempts_of
SELECT * FROM attempts WHERE job_id = :job_id ORDER BY run;

-- Statistics (stats, the dashboard, /metrics). An attempt that ended before the mark
-- (rollup_mark.rolled_until) is read from the rollups only, a later one from attempts
-- (index attempts_finished): what a read costs does not grow with the history kept. Each
-- read is one statement, so a roll-up committing beside it cannot count an attempt twice
-- or leave it out; :floor is the mark as read just before (it only grows), which tells
-- the planner how few attempts are that recent. Migration 0013; DECISIONS.md, "Retention".

-- name: attempts_finished_since
-- Every attempt that finished at or after :since (NULL: all time), with its job's queue:
-- one by one where not rolled up yet; else per queue, outcome and duration class, over
-- all time (rollup_totals) or over the minutes that overlap the window (rollup_minutes).
SELECT j.queue AS queue, a.outcome AS outcome, a.started_at AS started_at,
       a.finished_at AS finished_at, 1 AS attempts, NULL AS duration, NULL AS longest
  FROM attempts AS a JOIN jobs AS j ON j.id = a.job_id
 WHERE a.finished_at >= :floor AND a.finished_at >= (SELECT rolled_until FROM rollup_mark)
   AND (:since IS NULL OR a.finished_at >= :since)
UNION ALL
SELECT queue, outcome, first_started, first_started, attempts, duration, longest
  FROM rollup_totals
 WHERE :since IS NULL
UNION ALL
SELECT queue, outcome, min(minute), min(minute), sum(attempts), duration, max(longest)
  FROM rollup_minutes
 WHERE minute > :since - 60
 GROUP BY queue, outcome, duration;

-- name: attempt_timeline
-- Attempts that finished at or after :start, counted per bucket of :bucket seconds; a
-- rolled-up minute counts in the bucket its start is in (the first bucket holds its
-- whole first minute: Queue.timeline aligns it).
SELECT slot, sum(succeeded) AS succeeded, sum(failed) AS failed
  FROM (SELECT CAST((finished_at - :start) / :bucket AS INTEGER) AS slot,
               outcome = 'succeeded' AS succeeded, outcome <> 'succeeded' AS failed
          FROM attempts
         WHERE finished_at >= :start AND finished_at >= :floor
           AND finished_at >= (SELECT rolled_until FROM rollup_mark)
        UNION ALL
        SELECT CAST((minute - :start) / :bucket AS INTEGER),
               CASE WHEN outcome = 'succeeded' THEN attempts ELSE 0 END,
               CASE WHEN outcome <> 'succeeded' THEN attempts ELSE 0 END
          FROM rollup_minutes
         WHERE minute > :start - 60)
 GROUP BY slot;

-- name: oldest_ready
-- run_at of the job that has been ready to run the longest (jobs_due serves it).
SELECT min(run_at) AS t FROM jobs INDEXED BY jobs_due
 WHERE state IN ('pending', 'failed') AND run_at <= :now;

-- name: oldest_ready_by_queue
-- oldest_ready per queue, a few seeks a queue whatever its length: the queues with jobs
-- waiting (the counts, migration 0017), the priorities of each (a skip from one to the
-- next lower through the claim's partial index jobs_ready_queue, which orders each
-- queue's ready jobs by priority, then run_at), and the first run_at of each priority;
-- the smallest of those that have passed is the answer. Its cost grows with the
-- priorities in use, not with the jobs.
WITH RECURSIVE
  waiting (queue) AS (
    SELECT DISTINCT queue FROM queue_counts WHERE state IN ('pending', 'failed') AND n > 0),
  levels (queue, priority) AS (
    SELECT queue, (SELECT max(priority) FROM jobs INDEXED BY jobs_ready_queue
                    WHERE state IN ('pending', 'failed') AND queue = waiting.queue)
      FROM waiting
    UNION ALL
    SELECT queue, (SELECT max(priority) FROM jobs INDEXED BY jobs_ready_queue
                    WHERE state IN ('pending', 'failed') AND queue = levels.queue
                      AND priority < levels.priority)
      FROM levels WHERE priority IS NOT NULL)
SELECT queue, min(t) AS t
  FROM (SELECT queue, (SELECT min(run_at) FROM jobs INDEXED BY jobs_ready_queue
                        WHERE state IN ('pending', 'failed') AND queue = levels.queue
                          AND priority = levels.priority) AS t
          FROM levels WHERE priority IS NOT NULL)
 WHERE t <= :now
 GROUP BY queue;

-- name: attempt_outcomes
-- Every finished attempt, per queue and outcome, with the seconds they took.
SELECT queue, outcome, sum(n) AS n, sum(seconds) AS seconds
  FROM (SELECT j.queue AS queue, a.outcome AS outcome, count(*) AS n,
               sum(max(a.finished_at - a.started_at, 0)) AS seconds
          FROM attempts AS a JOIN jobs AS j ON j.id = a.job_id
         WHERE a.finished_at >= :floor
           AND a.finished_at >= (SELECT rolled_until FROM rollup_mark)
         GROUP BY 1, 2
        UNION ALL
        SELECT queue, outcome, sum(attempts), sum(seconds) FROM rollup_totals GROUP BY 1, 2)
 GROUP BY queue, outcome;

-- name: attempt_durations
-- A histogram of every finished attempt: per queue and slot (the position in :bounds, a
-- JSON array in ascending order, of the first bound at least the attempt's duration, or
-- of a rolled-up one its duration class; NULL above them all), the attempts and the
-- seconds they took. A bound of three significant digits is a class edge: then both
-- agree exactly (stats.duration_class).
SELECT queue, slot, sum(n) AS n, sum(seconds) AS seconds
  FROM (SELECT j.queue AS queue,
               (SELECT min(b.key) FROM json_each(:bounds) AS b
                 WHERE b.value >= max(a.finished_at - a.started_at, 0)) AS slot,
               count(*) AS n, sum(max(a.finished_at - a.started_at, 0)) AS seconds
          FROM attempts AS a JOIN jobs AS j ON j.id = a.job_id
         WHERE a.finished_at >= :floor
           AND a.finished_at >= (SELECT rolled_until FROM rollup_mark)
         GROUP BY 1, 2
        UNION ALL
        SELECT t.queue,
               (SELECT min(b.key) FROM json_each(:bounds) AS b WHERE b.value >= t.duration),
               sum(t.attempts), sum(t.seconds)
          FROM rollup_totals AS t
         GROUP BY 1, 2)
 GROUP BY queue, slot;

-- name: rerun_job
-- A final job (:states) back to pending, due now, with a fresh retry budget (attempts 0).
-- Its history stays: runs keeps counting, so the next attempt is run N+1 beside every
-- earlier attempt and its log. Not while a live worker still stops the attempt of a job
-- cancelled as it ran: that attempt and the next would run at once.
UPDATE jobs
   SET state = 'pending', attempts = 0, run_at = :now, updated_at = :now, worker = NULL,
       lease_until = NULL
 WHERE id = :id AND state IN (SELECT value FROM json_each(:states))
   AND NOT EXISTS (SELECT 1 FROM attempts AS a JOIN workers AS w ON w.id = a.worker
                    WHERE a.job_id = jobs.id AND a.finished_at IS NULL);

-- name: close_left_attempt
-- After a rerun: an attempt still open belonged to a worker that vanished without ending
-- it (a cancel it never saw through). It ends as lost, not "running" for ever.
UPDATE attempts SET finished_at = :now, outcome = 'worker_lost', error = 'worker lost'
 WHERE job_id = :id AND finished_at IS NULL;

-- name: run_now
-- A waiting job (:states) due now; one already due keeps its run_at, and so its place.
UPDATE jobs SET run_at = min(run_at, :now), updated_at = :now
 WHERE id = :id AND state IN (SELECT value FROM json_each(:states));

-- name: edit_job
-- Guarded: only a job that has not started (:states) changes, so an edit racing a claim
-- lands before it or is refused. NULL leaves a column as it is; a delay counts from now.
UPDATE jobs
   SET command = coalesce(:command, command), priority = coalesce(:priority, priority),
       queue = coalesce(:queue, queue), run_at = coalesce(:run_at, :now + :delay, run_at),
       max_retries = coalesce(:max_retries, max_retries), timeout = coalesce(:timeout, timeout),
       limits = CASE WHEN :limits IS NULL THEN limits ELSE nullif(:limits, '') END,
       clean_env = coalesce(:clean_env, clean_env), updated_at = :now
 WHERE id = :id AND state IN (SELECT value FROM json_each(:states))
RETURNING *;

-- name: notify_jobs
-- SQLite has no notifications: every commit wakes idle workers (inotify on the WAL).
SELECT 1;

-- name: cancel_job
UPDATE jobs
   SET state = 'cancelled', updated_at = :now, finished_at = :now, lease_until = NULL,
       last_error = 'cancelled'
 WHERE id = :id AND state IN ('pending', 'failed', 'processing', 'blocked');

-- name: notify_control
-- SQLite has no notifications: local workers are signalled, the others read the flag.
SELECT :what;

-- name: config_all
SELECT key, value FROM config;

-- name: config_lock
-- Config writers run in BEGIN IMMEDIATE, which already holds the one write lock.
SELECT 1;

-- name: config_set
INSERT INTO config (key, value) VALUES (:key, :value)
    ON CONFLICT (key) DO UPDATE SET value = excluded.value;

-- name: config_unset
DELETE FROM config WHERE key = :key;

-- name: register_worker
INSERT OR REPLACE INTO workers (id, host, pid, pid_start, queues, started_at, heartbeat_at)
VALUES (:id, :host, :pid, :pid_start, :queues, :now, :now);

-- name: worker_heartbeat
UPDATE workers SET heartbeat_at = :now WHERE id IN (SELECT value FROM json_each(:workers))
RETURNING stop_requested, stop_now;

-- name: list_workers
SELECT w.*, j.id AS current_job, j.started_at AS job_started_at
  FROM workers AS w
  LEFT JOIN jobs AS j ON j.worker = w.id AND j.state = 'processing'
 ORDER BY w.host, w.pid, w.id;

-- name: request_stop
-- A stop now stays one: a later graceful request does not take it back.
UPDATE workers SET stop_requested = 1, stop_now = stop_now OR :now_too;

-- name: request_stop_of
-- request_stop for the named worker rows only (the slots of one worker process).
UPDATE workers SET stop_requested = 1, stop_now = stop_now OR :now_too
 WHERE id IN (SELECT value FROM json_each(:ids));

-- name: retry_all_dead
UPDATE jobs
   SET state = 'pending', attempts = 0, run_at = :now, updated_at = :now, worker = NULL,
       lease_until = NULL
 WHERE state = 'dead'
RETURNING id;

-- name: job_state
SELECT state FROM jobs WHERE id = :id;

-- name: existing_ids
SELECT id FROM jobs WHERE id IN (SELECT value FROM json_each(:ids));

-- name: rescue_job
-- Like end_job, and only if the holder has not renewed the lease since the rescuer saw
-- it stand still (a renewal in between wins).
UPDATE jobs
   SET state = :state, attempts = :attempts, run_at = COALESCE(:run_at, run_at),
       exit_code = :exit_code, last_error = :error, finished_at = :now, updated_at = :now,
       lease_until = NULL, worker = NULL, snoozes = :snoozes
 WHERE id = :job_id AND state = 'processing' AND worker = :worker AND runs = :run
   AND lease_until = :lease_until;

-- name: latest_attempt_of
-- The last attempt a worker slot started (what its live log file belongs to).
SELECT * FROM attempts WHERE worker = :worker ORDER BY started_at DESC, run DESC LIMIT 1;

-- name: attach_log
-- The output of an attempt that ended without it (its worker died), found later.
UPDATE attempts SET log_path = :log_path, log_tail = :log_tail
 WHERE job_id = :job_id AND run = :run AND worker = :worker
   AND finished_at IS NOT NULL AND log_path IS NULL;

-- name: delete_stale_workers
DELETE FROM workers WHERE heartbeat_at < :now - :stale_after;

-- name: delete_workers
DELETE FROM workers WHERE id IN (SELECT value FROM json_each(:ids));

-- name: schema_version
PRAGMA user_version;

-- name: wal_mode
PRAGMA journal_mode = WAL;

-- name: table_count
SELECT count(*) AS n FROM sqlite_master;

-- Dependencies (enqueue --after; migration 0007). SqlBackend._settle applies the endings of
-- the jobs :ids to their dependents, a level at a time.

-- name: dependencies_present
-- The named dependencies that exist (enqueue refuses a missing one).
SELECT id FROM jobs WHERE id IN (SELECT value FROM json_each(:ids));

-- name: insert_dependency
INSERT OR IGNORE INTO dependencies (job_id, depends_on) VALUES (:job_id, :depends_on);

-- name: block_job
-- A new job with dependencies: blocked on every one of them until _settle counts down
-- those that have ended (in the same transaction).
UPDATE jobs
   SET state = 'blocked', after_ids = :after, after_mode = :mode,
       blockers = (SELECT count(*) FROM dependencies WHERE job_id = :id)
 WHERE id = :id;

-- name: unsettled_edges
-- The edges to jobs of :ids that have ended and whose ending is not yet applied. CROSS
-- JOIN keeps the edges first: a job without dependents costs one probe of
-- dependencies_on (the planner would otherwise walk every ended job by jobs_state).
SELECT d.job_id, d.depends_on, p.state
  FROM dependencies AS d INDEXED BY dependencies_on CROSS JOIN jobs AS p ON p.id = d.depends_on
 WHERE d.depends_on IN (SELECT value FROM json_each(:ids)) AND NOT d.settled
   AND p.state IN ('completed', 'dead', 'cancelled');

-- name: settle_edge
UPDATE dependencies SET settled = 1 WHERE job_id = :job_id AND depends_on = :depends_on;

-- name: cancel_dependent
-- Mode success: a dependency that ended dead or cancelled cancels the job, naming it.
UPDATE jobs
   SET state = 'cancelled', blockers = 0, updated_at = :now, finished_at = :now,
       last_error = 'dependency ' || :depends_on || ' ended ' || :state
 WHERE id = :job_id AND state = 'blocked' AND after_mode = 'success' AND :state <> 'completed';

-- name: release_dependent
-- One blocker less; none left: pending (the commit wakes idle workers).
UPDATE jobs
   SET blockers = blockers - 1, updated_at = :now,
       state = CASE WHEN blockers <= 1 THEN 'pending' ELSE state END
 WHERE id = :job_id AND state = 'blocked';

-- name: dependencies_of
-- What `show` lists: the jobs :id runs after, and the jobs that run after it, each side
-- by id (the same order on every engine, whatever the order the edges were stored in).
SELECT 'after' AS side, d.depends_on AS id, p.state AS state
  FROM dependencies AS d LEFT JOIN jobs AS p ON p.id = d.depends_on
 WHERE d.job_id = :id
UNION ALL
SELECT 'dependent', d.job_id, j.state
  FROM dependencies AS d JOIN jobs AS j ON j.id = d.job_id
 WHERE d.depends_on = :id
 ORDER BY side, id;

-- name: blocking_edges
-- For the blocked jobs :ids: the dependencies that still hold them (blocked_by).
SELECT d.job_id, d.depends_on FROM dependencies AS d
 WHERE d.job_id IN (SELECT value FROM json_each(:ids)) AND NOT d.settled
 ORDER BY d.job_id, d.depends_on;

-- name: cancelled_dependents
-- rerun --with-dependents: the jobs that a dependency of :ids cancelled (cancel_dependent).
SELECT d.job_id FROM dependencies AS d INDEXED BY dependencies_on CROSS JOIN jobs AS j
    ON j.id = d.job_id
 WHERE d.depends_on IN (SELECT value FROM json_each(:ids))
   AND j.state = 'cancelled' AND j.last_error LIKE 'dependency %';

-- name: unsettle_edges
UPDATE dependencies SET settled = 0 WHERE job_id = :id;

-- name: reblock_job
-- Blocked again on every dependency (unsettle_edges); _settle then applies those that
-- have ended. A fresh retry budget, as rerun gives.
UPDATE jobs
   SET state = 'blocked', attempts = 0, finished_at = NULL, last_error = NULL,
       updated_at = :now, blockers = (SELECT count(*) FROM dependencies WHERE job_id = :id)
 WHERE id = :id AND state = 'cancelled';

-- name: edges_of
SELECT job_id, depends_on FROM dependencies WHERE job_id IN (SELECT value FROM json_each(:ids));

-- Queues as objects (queue list/pause/resume/set, migration 0006).

-- name: queue_lock
-- Queue writers run in BEGIN IMMEDIATE, which already holds the one write lock: no claim
-- runs beside them.
SELECT 1;

-- name: queue_rows
SELECT *, QUEUE_CLOSED AS closed FROM queues ORDER BY name;

-- name: queue_names
-- Every queue known: those with jobs and those with a row.
SELECT DISTINCT queue AS name FROM jobs UNION SELECT name FROM queues;

-- name: queue_add
INSERT INTO queues (name) VALUES (:name) ON CONFLICT (name) DO NOTHING;

-- name: queue_write
UPDATE queues
   SET paused = :paused, paused_until = :paused_until, paused_at = :paused_at,
       paused_by = :paused_by, paused_reason = :paused_reason, concurrency = :concurrency,
       rate_n = :rate_n, rate_period = :rate_period, tokens = :tokens, tokens_at = :tokens_at,
       timeout = :timeout, no_retry_on = :no_retry_on, limits = :limits
 WHERE name = :name;

-- name: queue_drop_empty
-- A queue neither paused nor limited needs no row (and its claims then take no lock).
DELETE FROM queues
 WHERE name = :name AND NOT paused AND concurrency IS NULL AND rate_n IS NULL
   AND timeout IS NULL AND no_retry_on IS NULL AND limits IS NULL;

-- name: ready_ahead
-- `explain`: the ready jobs of queues :queues a claim would take before job :id, counted
-- up to :most + 1 (explain says "more than :most" past it) — the claim's own filter
-- (ready, its queue not closed: fragment queue_closed) and its order (priority DESC,
-- run_at, seq), read as three ranges of the claim's index jobs_ready (a higher priority;
-- the same, due earlier; the same, due at once, enqueued earlier), each stopped at the
-- bound: at most :most + 1 entries of each are read, however long the queue.
WITH me AS (SELECT priority, run_at, seq FROM jobs WHERE id = :id),
     open (name) AS (SELECT value FROM json_each(:queues)
                      WHERE value NOT IN (SELECT name FROM queues WHERE QUEUE_CLOSED))
SELECT count(*) AS n
  FROM (SELECT * FROM (SELECT j.seq FROM me CROSS JOIN jobs AS j INDEXED BY jobs_ready
                        WHERE j.priority > me.priority
                          AND j.state IN ('pending', 'failed') AND j.run_at <= :now
                          AND j.queue IN open LIMIT :most + 1)
        UNION ALL
        SELECT * FROM (SELECT j.seq FROM me CROSS JOIN jobs AS j INDEXED BY jobs_ready
                        WHERE j.priority = me.priority AND j.run_at < me.run_at
                          AND j.state IN ('pending', 'failed') AND j.run_at <= :now
                          AND j.queue IN open LIMIT :most + 1)
        UNION ALL
        SELECT * FROM (SELECT j.seq FROM me CROSS JOIN jobs AS j INDEXED BY jobs_ready
                        WHERE j.priority = me.priority AND j.run_at = me.run_at
                          AND j.seq < me.seq
                          AND j.state IN ('pending', 'failed') AND j.run_at <= :now
                          AND j.queue IN open LIMIT :most + 1)
        LIMIT :most + 1) AS ahead;

-- Schedules (schedule add/list/show/remove/pause/resume/run-now, migration 0012), fired by
-- live workers: see DECISIONS.md, "Schedules".

-- name: schedule_insert
INSERT INTO schedules (name, cron, tz, every, job, missed, overlap, paused, created_at,
                       settled_to, next_at)
VALUES (:name, :cron, :tz, :every, :job, :missed, :overlap, :paused, :created_at,
        :settled_to, :next_at);

-- name: schedule_rows
-- Every schedule (:name NULL) or one, with the states of its latest jobs (NULL: purged).
SELECT s.*, l.state AS last_state, n.state AS now_state
  FROM schedules AS s
  LEFT JOIN jobs AS l ON l.id = s.last_job
  LEFT JOIN jobs AS n ON n.id = s.now_job
 WHERE :name IS NULL OR s.name = :name
 ORDER BY s.name;

-- name: schedule_lock
-- One schedule, to change it in the write transaction (which already holds the lock).
SELECT *, NULL AS last_state, NULL AS now_state FROM schedules WHERE name = :name;

-- name: schedules_due
-- The schedules with a slot due at :now and not paused, in the firing transaction.
SELECT s.*, l.state AS last_state, n.state AS now_state, :now AS now
  FROM schedules AS s
  LEFT JOIN jobs AS l ON l.id = s.last_job
  LEFT JOIN jobs AS n ON n.id = s.now_job
 WHERE NOT s.paused AND s.next_at <= :now;

-- name: schedules_next
-- When a slot of a schedule that is not paused next falls due (NULL: none), and the clock.
SELECT min(next_at) AS t, :now AS now FROM schedules WHERE NOT paused;

-- name: insert_slot_job
-- The job of a slot, or of a run-now: nothing where a job has its id already (the slot
-- was enqueued by another worker): what makes a slot fire once.
INSERT INTO jobs (id, command, state, max_retries, priority, queue, run_at, timeout, cwd, env,
                  tags, unique_key, no_retry_on, limits, clean_env, created_at, updated_at)
VALUES (:id, :command, 'pending', :max_retries, :priority, :queue, :run_at, :timeout, :cwd,
        :env, :tags, :unique_key, :no_retry_on, :limits, :clean_env, :created_at, :updated_at)
    ON CONFLICT (id) DO NOTHING;

-- name: schedule_fired
-- A firing (or a resume) settled the schedule up to :settled_to.
UPDATE schedules
   SET settled_to = :settled_to, next_at = :next_at, paused = :paused,
       last_slot = coalesce(:last_slot, last_slot), last_job = coalesce(:last_job, last_job)
 WHERE name = :name;

-- name: schedule_pause
UPDATE schedules SET paused = 1 WHERE name = :name;

-- name: schedule_ran_now
UPDATE schedules SET now_job = :job WHERE name = :name;

-- name: schedule_delete
DELETE FROM schedules WHERE name = :name;

-- Retention (purge, dlq purge, the retention-* settings; migration 0013). Attempts are
-- rolled up before they are deleted; see DECISIONS.md, "Retention".

-- name: rollup_seen
SELECT rolled_until, generation FROM rollup_mark;

-- name: rollup_claim
-- What a transaction that adds to the rollups does first (SQLite's one writer orders
-- them already): a roll-up that read its attempts before this commits then gives up.
UPDATE rollup_mark SET generation = generation + 1 RETURNING rolled_until;

-- name: rollup_ends
-- The ends of the next :limit + 1 attempts after the mark: a roll-up of at most :limit
-- stops at the last one (SqlRetention.roll_up).
SELECT finished_at FROM attempts INDEXED BY attempts_finished
 WHERE finished_at >= :mark AND finished_at < :before
 ORDER BY finished_at
 LIMIT :limit + 1;

-- name: rollup_next_end
-- The first end after :mark (more than :limit attempts ended at that instant).
SELECT min(finished_at) AS t FROM attempts INDEXED BY attempts_finished
 WHERE finished_at > :mark AND finished_at < :before;

-- name: attempts_ended_between
SELECT j.queue AS queue, a.outcome AS outcome, a.started_at AS started_at,
       a.finished_at AS finished_at
  FROM attempts AS a INDEXED BY attempts_finished JOIN jobs AS j ON j.id = a.job_id
 WHERE a.finished_at >= :mark AND a.finished_at < :cut;

-- name: rollup_advance
-- Guarded: nothing else was added to the rollups since :generation was read.
UPDATE rollup_mark SET rolled_until = :cut, generation = generation + 1
 WHERE generation = :generation;

-- name: add_rollup_minute
INSERT INTO rollup_minutes (minute, queue, outcome, duration, attempts, seconds, longest)
VALUES (:minute, :queue, :outcome, :duration, :attempts, :seconds, :longest)
    ON CONFLICT (minute, queue, outcome, duration) DO UPDATE
   SET attempts = attempts + excluded.attempts, seconds = seconds + excluded.seconds,
       longest = max(longest, excluded.longest);

-- name: add_rollup_total
INSERT INTO rollup_totals (queue, outcome, duration, attempts, seconds, longest, first_started)
VALUES (:queue, :outcome, :duration, :attempts, :seconds, :longest, :first_started)
    ON CONFLICT (queue, outcome, duration) DO UPDATE
   SET attempts = attempts + excluded.attempts, seconds = seconds + excluded.seconds,
       longest = max(longest, excluded.longest),
       first_started = min(first_started, excluded.first_started);

-- name: purgeable
-- Whether a final job j may be purged: no job that depends on it is still to run (its
-- `show` and `explain` name it), and no live worker is still stopping an attempt of it
-- (a job cancelled as it ran: rerun waits for the same).
(NOT j.dependents
 OR NOT EXISTS (SELECT 1 FROM dependencies AS d JOIN jobs AS c ON c.id = d.job_id
                 WHERE d.depends_on = j.id
                   AND c.state NOT IN ('completed', 'dead', 'cancelled')))
AND NOT EXISTS (SELECT 1 FROM attempts AS a JOIN workers AS w ON w.id = a.worker
                 WHERE a.job_id = j.id AND a.finished_at IS NULL)

-- name: purge_candidates
-- Up to :limit jobs of :state that ended before :before (of :queue, NULL: any), the
-- oldest first (index jobs_ended: its predicate, repeated word for word, lets SQLite use
-- it; migration 0018).
SELECT j.id FROM jobs AS j INDEXED BY jobs_ended
 WHERE (j.state = 'completed' OR j.state = 'dead' OR j.state = 'cancelled') AND j.state = :state
   AND j.finished_at < :before AND (:queue IS NULL OR j.queue = :queue) AND PURGEABLE
 ORDER BY j.finished_at
 LIMIT :limit;

-- name: purge_counts
-- What purge_candidates would take, batch after batch, per state of :states.
SELECT j.state AS state, count(*) AS n FROM jobs AS j INDEXED BY jobs_ended
 WHERE (j.state = 'completed' OR j.state = 'dead' OR j.state = 'cancelled')
   AND j.state IN (SELECT value FROM json_each(:states))
   AND j.finished_at < :before AND (:queue IS NULL OR j.queue = :queue) AND PURGEABLE
 GROUP BY j.state;

-- name: purge_held
-- Of the jobs :ids (`dlq purge` names them), those that may not be purged now.
SELECT j.id FROM jobs AS j WHERE j.id IN (SELECT value FROM json_each(:ids)) AND NOT PURGEABLE
 ORDER BY j.id;

-- name: attempts_to_roll_up
-- The finished attempts of jobs :ids that are not in the rollups yet.
SELECT j.queue AS queue, a.outcome AS outcome, a.started_at AS started_at,
       a.finished_at AS finished_at
  FROM attempts AS a JOIN jobs AS j ON j.id = a.job_id
 WHERE a.job_id IN (SELECT value FROM json_each(:ids)) AND a.finished_at >= :mark;

-- name: note_log_removals
-- The log files of the attempts of jobs :ids, by the host that wrote them (a worker id is
-- host:pid:slot).
INSERT OR IGNORE INTO log_removals (host, job_id, run, at)
SELECT CASE WHEN instr(worker, ':') > 0 THEN substr(worker, 1, instr(worker, ':') - 1)
            ELSE worker END,
       job_id, run, :now
  FROM attempts
 WHERE job_id IN (SELECT value FROM json_each(:ids)) AND log_path IS NOT NULL;

-- name: delete_attempts_of
DELETE FROM attempts WHERE job_id IN (SELECT value FROM json_each(:ids));

-- name: delete_edges_of
-- Both ends: a purged job's own dependencies, and its edges to dependents that have all
-- ended (purgeable), so a rerun --with-dependents that blocks one again waits only for
-- dependencies still there.
DELETE FROM dependencies
 WHERE job_id IN (SELECT value FROM json_each(:ids))
    OR depends_on IN (SELECT value FROM json_each(:ids));

-- name: delete_jobs
-- By id (+state: the planner would walk every job in the state by jobs_state instead).
DELETE FROM jobs WHERE id IN (SELECT value FROM json_each(:ids)) AND +state = :state;

-- name: take_log_removals
-- Up to :limit log files of host :host to remove, no longer listed once taken.
DELETE FROM log_removals
 WHERE (host, job_id, run) IN (SELECT host, job_id, run FROM log_removals
                                WHERE host = :host LIMIT :limit)
RETURNING job_id, run;

-- name: drop_log_removals
-- Files of a host that has not come back since :before: given up.
DELETE FROM log_removals WHERE at < :before;

-- Export and import (queuectl export / import).

-- name: snapshot_begin
-- An export's reads: one read transaction, so every page sees the queue as of its first
-- read (WAL: writers go on meanwhile; the WAL is not checkpointed past it until the end).
BEGIN DEFERRED;

-- name: snapshot_end
COMMIT;

-- name: job_page
-- A page of jobs in enqueue order after position :after (the primary key's order), in
-- :states (a JSON array; NULL: any) and :queue (NULL: any).
SELECT * FROM jobs
 WHERE seq > :after
   AND (:states IS NULL OR state IN (SELECT value FROM json_each(:states)))
   AND (:queue IS NULL OR queue = :queue)
 ORDER BY seq
 LIMIT :limit;

-- name: attempts_of_jobs
SELECT * FROM attempts WHERE job_id IN (SELECT value FROM json_each(:ids)) ORDER BY job_id, run;

-- name: import_job
-- A job as it was (import of an export --with-history), every column given. No trigger
-- counts an insert: the backend adds the jobs to queue_counts (count_added).
INSERT INTO jobs (id, command, state, attempts, max_retries, priority, queue, run_at, timeout,
                  cwd, env, created_at, updated_at, started_at, finished_at, exit_code,
                  last_error, worker, runs, lease_until, tags, unique_key, no_retry_on,
                  snoozes, after_ids, after_mode, blockers, limits, clean_env)
VALUES (:id, :command, :state, :attempts, :max_retries, :priority, :queue, :run_at, :timeout,
        :cwd, :env, :created_at, :updated_at, :started_at, :finished_at, :exit_code,
        :last_error, :worker, :runs, :lease_until, :tags, :unique_key, :no_retry_on,
        :snoozes, :after_ids, :after_mode, :blockers, :limits, :clean_env);

-- name: import_attempt
INSERT INTO attempts (job_id, run, worker, started_at, finished_at, outcome, exit_code, error,
                      log_path, log_tail, cpu_user_s, cpu_sys_s, max_rss_kb)
VALUES (:job_id, :run, :worker, :started_at, :finished_at, :outcome, :exit_code, :error,
        :log_path, :log_tail, :cpu_user_s, :cpu_sys_s, :max_rss_kb);

-- name: import_dependency
-- The trigger jobs_depended_on sets the dependency's dependents flag (migration 0010).
INSERT INTO dependencies (job_id, depends_on, settled) VALUES (:job_id, :depends_on, :settled);

-- name: count_added
-- Jobs inserted in :queue and :state, :n of them: no trigger counts an insert (0017).
INSERT INTO queue_counts (queue, state, n) VALUES (:queue, :state, :n)
    ON CONFLICT (queue, state) DO UPDATE SET n = n + excluded.n;

-- name: attempt_resources
-- What the newest :limit attempts that finished at or after :since (NULL: any) used, with
-- their job's queue; those without a measure left out. Not rolled up: a figure over the
-- attempts still kept (index attempts_finished, read newest first). Migration 0015.
SELECT j.queue AS queue, a.cpu_user_s + a.cpu_sys_s AS cpu, a.max_rss_kb AS max_rss_kb
  FROM attempts AS a JOIN jobs AS j ON j.id = a.job_id
 WHERE a.finished_at IS NOT NULL AND (:since IS NULL OR a.finished_at >= :since)
   AND a.cpu_user_s IS NOT NULL
 ORDER BY a.finished_at DESC
 LIMIT :limit;
