-- enqueue --clean-env (JSON "clean_env": true): the job runs with only PATH, HOME, LANG
-- and TZ of the worker's environment (and its own variables), not the whole of it
-- (credentials.clean_environment). 0 for every job enqueued before.
ALTER TABLE jobs ADD COLUMN clean_env INTEGER NOT NULL DEFAULT 0;
