-- Resources (issue 16, parts 1 and 2; DECISIONS.md, "Resources"). What each attempt used,
-- from the kernel's accounting of its processes (NULL: not measured, e.g. a worker lost
-- mid-attempt or an attempt of an older release), and what a job, or every job of a
-- queue, may use: a JSON object {"mem": bytes, "cpu": cores, "pids": n, "nofile": n} as
-- text, NULL for none.
ALTER TABLE queuectl.attempts ADD COLUMN cpu_user_s double precision;
ALTER TABLE queuectl.attempts ADD COLUMN cpu_sys_s double precision;
ALTER TABLE queuectl.attempts ADD COLUMN max_rss_kb bigint;
ALTER TABLE queuectl.jobs ADD COLUMN limits text;
ALTER TABLE queuectl.queues ADD COLUMN limits text;
