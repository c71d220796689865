-- enqueue --clean-env (see the SQLite twin, 0014_clean_env): the job runs with only PATH,
-- HOME, LANG and TZ of the worker's environment, and its own variables. Adding a column
-- with a constant default rewrites no row.
ALTER TABLE queuectl.jobs ADD COLUMN clean_env boolean NOT NULL DEFAULT false;
