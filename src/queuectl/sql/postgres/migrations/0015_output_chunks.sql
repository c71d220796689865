-- A running attempt's output, in chunks, for readers on any host (DECISIONS.md, "Output
-- from any host"). A chunk is the bytes of the output at offsets [start, start + length):
-- exact bytes, NUL included. Bounded per attempt by its writer (query output_trim);
-- dropped with the attempt (purge, retention) and, unless keep_output is full, a few
-- seconds after the attempt's stored tail is written (query output_drop_finished).
-- SQLite keeps no chunks: there every reader is on the host that runs the job.
CREATE TABLE queuectl.output_chunks (
    job_id  text    NOT NULL,
    run     integer NOT NULL,
    start   bigint  NOT NULL,
    data    bytea   NOT NULL,
    PRIMARY KEY (job_id, run, start),
    FOREIGN KEY (job_id, run) REFERENCES queuectl.attempts (job_id, run) ON DELETE CASCADE
);
