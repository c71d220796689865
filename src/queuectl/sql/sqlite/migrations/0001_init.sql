-- The first schema. Instants are REAL seconds since the Unix epoch (sub-millisecond).
CREATE TABLE jobs (
    seq          INTEGER PRIMARY KEY,           -- enqueue order: FIFO among equal priorities
    id           TEXT    NOT NULL UNIQUE,
    command      TEXT    NOT NULL,              -- JSON: a string (sh -c) or an argv array
    state        TEXT    NOT NULL CHECK (state IN
                 ('pending', 'processing', 'completed', 'failed', 'dead', 'cancelled')),
    attempts     INTEGER NOT NULL DEFAULT 0,    -- finished attempts (reset by dlq retry)
    max_retries  INTEGER NOT NULL,
    priority     INTEGER NOT NULL DEFAULT 0,
    queue        TEXT    NOT NULL DEFAULT 'default',
    run_at       REAL    NOT NULL,
    timeout      REAL,
    cwd          TEXT,
    env          TEXT,                          -- JSON object or NULL
    created_at   REAL    NOT NULL,
    updated_at   REAL    NOT NULL,
    started_at   REAL,
    finished_at  REAL,
    exit_code    INTEGER,
    last_error   TEXT,
    worker       TEXT,
    runs         INTEGER NOT NULL DEFAULT 0,    -- attempts ever started: the fencing token
    lease_until  REAL
);

-- Claim order for workers of every queue, and of named queues.
CREATE INDEX jobs_ready ON jobs (priority DESC, run_at, seq)
    WHERE state IN ('pending', 'failed');
CREATE INDEX jobs_ready_queue ON jobs (queue, priority DESC, run_at, seq)
    WHERE state IN ('pending', 'failed');
-- The next scheduled instant, so idle workers sleep exactly until it.
CREATE INDEX jobs_due ON jobs (run_at) WHERE state IN ('pending', 'failed');
-- Rescue of expired leases.
CREATE INDEX jobs_lease ON jobs (lease_until) WHERE state = 'processing';
-- Counts and listing by state.
CREATE INDEX jobs_state ON jobs (state, queue);

CREATE TABLE attempts (
    job_id       TEXT    NOT NULL,
    run          INTEGER NOT NULL,
    worker       TEXT    NOT NULL,
    started_at   REAL    NOT NULL,
    finished_at  REAL,
    outcome      TEXT,
    exit_code    INTEGER,
    error        TEXT,
    log_path     TEXT,
    log_tail     TEXT,
    PRIMARY KEY (job_id, run)
) WITHOUT ROWID;

CREATE TABLE config (
    key          TEXT PRIMARY KEY,
    value        TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE workers (
    id             TEXT    PRIMARY KEY,
    host           TEXT    NOT NULL,
    pid            INTEGER NOT NULL,
    pid_start      TEXT,                        -- process start time: tells a reused pid apart
    queues         TEXT,                        -- JSON array, NULL = every queue
    started_at     REAL    NOT NULL,
    heartbeat_at   REAL    NOT NULL,
    stop_requested INTEGER NOT NULL DEFAULT 0
);
