-- The first schema, in its own PostgreSQL schema so it can share a database.
-- Instants are float8 seconds since the Unix epoch, always from the database's clock
-- (queuectl.now_s()), so clock skew between hosts cannot make a live lease look expired.
CREATE FUNCTION queuectl.now_s() RETURNS double precision
    LANGUAGE sql STABLE
    AS $$ SELECT extract(epoch FROM statement_timestamp())::double precision $$;

CREATE TABLE queuectl.jobs (
    seq          bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- FIFO among equals
    id           text    NOT NULL UNIQUE,
    command      text    NOT NULL,              -- JSON: a string (sh -c) or an argv array
    state        text    NOT NULL CHECK (state IN
                 ('pending', 'processing', 'completed', 'failed', 'dead', 'cancelled')),
    attempts     integer NOT NULL DEFAULT 0,    -- finished attempts (reset by dlq retry)
    max_retries  integer NOT NULL,
    priority     integer NOT NULL DEFAULT 0,
    queue        text    NOT NULL DEFAULT 'default',
    run_at       double precision NOT NULL,
    timeout      double precision,
    cwd          text,
    env          text,                          -- JSON object or NULL
    created_at   double precision NOT NULL,
    updated_at   double precision NOT NULL,
    started_at   double precision,
    finished_at  double precision,
    exit_code    integer,
    last_error   text,
    worker       text,
    runs         integer NOT NULL DEFAULT 0,    -- attempts ever started: the fencing token
    lease_until  double precision
);

CREATE INDEX jobs_ready ON queuectl.jobs (priority DESC, run_at, seq)
    WHERE state IN ('pending', 'failed');
CREATE INDEX jobs_ready_queue ON queuectl.jobs (queue, priority DESC, run_at, seq)
    WHERE state IN ('pending', 'failed');
CREATE INDEX jobs_due ON queuectl.jobs (run_at) WHERE state IN ('pending', 'failed');
CREATE INDEX jobs_lease ON queuectl.jobs (lease_until) WHERE state = 'processing';
CREATE INDEX jobs_state ON queuectl.jobs (state, queue);

CREATE TABLE queuectl.attempts (
    job_id       text    NOT NULL,
    run          integer NOT NULL,
    worker       text    NOT NULL,
    started_at   double precision NOT NULL,
    finished_at  double precision,
    outcome      text,
    exit_code    integer,
    error        text,
    log_path     text,
    log_tail     text,
    PRIMARY KEY (job_id, run)
);

CREATE TABLE queuectl.config (
    key          text PRIMARY KEY,
    value        text NOT NULL
);

CREATE TABLE queuectl.workers (
    id             text    PRIMARY KEY,
    host           text    NOT NULL,
    pid            integer NOT NULL,
    pid_start      text,
    queues         text,
    started_at     double precision NOT NULL,
    heartbeat_at   double precision NOT NULL,
    stop_requested boolean NOT NULL DEFAULT false
);

-- Wake idle workers on every host: a new job, or a job that became pending again.
CREATE FUNCTION queuectl.notify_jobs() RETURNS trigger
    LANGUAGE plpgsql
    AS $$ BEGIN PERFORM pg_notify('queuectl_jobs', ''); RETURN NULL; END $$;

CREATE TRIGGER jobs_inserted AFTER INSERT ON queuectl.jobs
    FOR EACH STATEMENT EXECUTE FUNCTION queuectl.notify_jobs();
CREATE TRIGGER jobs_requeued AFTER UPDATE OF state ON queuectl.jobs
    FOR EACH ROW WHEN (NEW.state = 'pending' AND OLD.state IS DISTINCT FROM 'pending')
    EXECUTE FUNCTION queuectl.notify_jobs();
