-- Labels a job carries (enqueue --tag, JSON key "tags"): a JSON array of strings, NULL
-- when it has none, as command and env are JSON text. `list --tag` reads them with
-- json_each; no index: the filter runs beside the other filters of a listing.
ALTER TABLE jobs ADD COLUMN tags TEXT;
