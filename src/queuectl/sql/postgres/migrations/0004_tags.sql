-- Labels a job carries (enqueue --tag, JSON key "tags"): a JSON array of strings, NULL
-- when it has none, stored as text like command and env, so both engines hand back the
-- same row. `list --tag` compares them as jsonb (@>); no index: the filter runs beside
-- the other filters of a listing.
ALTER TABLE queuectl.jobs ADD COLUMN tags text;
