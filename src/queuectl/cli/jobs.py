"""Looking at jobs and stopping them: ``list``, ``status``, ``stats``, ``show``, ``logs``,
``wait``, ``cancel``."""

from __future__ import annotations

import sys

from queuectl.cli import PROG, open_queue, print_json
from queuectl.errors import InvalidInput, TimedOut

TYPE_CHECKING = False
if TYPE_CHECKING:
    from argparse import Namespace
    from typing import Any

    from queuectl.models import Job


def cmd_list(args: Namespace) -> int:
    within = None if args.since is None else _positive_duration(args.since, "--since")
    with open_queue(args, read_only=True) as queue:
        jobs = queue.jobs(
            args.states,
            args.queue,
            args.limit,
            tags=args.tags,
            since=None if within is None else queue.now() - within,
            text=args.grep,
            sort=args.sort,
            reverse=args.reverse,
        )
    if args.json:
        print_json([job.to_dict() for job in jobs])
    else:
        from queuectl.render import jobs_table, screen

        print(jobs_table(jobs, screen(sys.stdout)))
    return 0


def cmd_status(args: Namespace) -> int:
    if args.watch:
        return _watch(args)
    if args.interval is not None:
        raise InvalidInput("--interval goes with --watch")
    with open_queue(args, read_only=True) as queue:
        counts, workers = queue.counts(), queue.workers()
        flow, now = queue.flow(), queue.now()
    if args.json:
        print_json(
            {
                "jobs": counts,
                "workers": [w.to_dict() for w in workers],
                "queues": [q.to_dict(now) for q in flow],
            }
        )
    else:
        from queuectl.render import screen, status_text

        print(status_text(counts, workers, screen(sys.stdout), [q.summary(now) for q in flow]))
    return 0


def _watch(args: Namespace) -> int:
    from queuectl.timefmt import parse_duration

    if args.json:
        raise InvalidInput("--watch and --json cannot be combined")
    interval = parse_duration("2" if args.interval is None else args.interval, "--interval")
    if interval < 0.1:
        raise InvalidInput(f"--interval must be at least 100ms, got {args.interval}")
    from queuectl.watch import watch

    with open_queue(args, read_only=True) as queue:
        return watch(queue, interval)


def _positive_duration(text: str, flag: str) -> float:
    from queuectl.timefmt import parse_duration

    seconds = parse_duration(text, flag)
    if seconds <= 0:
        raise InvalidInput(f"{flag} must be longer than 0, got {text}")
    return seconds


def cmd_stats(args: Namespace) -> int:
    seconds = None if args.since is None else _positive_duration(args.since, "--since")
    with open_queue(args, read_only=True) as queue:
        figures = queue.stats(None if seconds is None else queue.now() - seconds)
    if args.json:
        print_json(figures)
    else:
        from queuectl.render import stats_table

        print(stats_table(figures))
    return 0


def cmd_show(args: Namespace) -> int:
    with open_queue(args, read_only=True) as queue:
        job, attempts = queue.get(args.id), queue.attempts(args.id)
        edges = queue.dependencies(job.id)
    if args.json:
        print_json({**job_json(job, edges), "history": [a.to_dict() for a in attempts]})
    else:
        from queuectl.render import job_detail, screen

        print(job_detail(job, attempts, screen(sys.stdout), edges))
    return 0


def job_json(job: Job, edges: list[tuple[str, str, str | None]]) -> dict[str, Any]:
    """The job object of ``show --json`` without its history: the job as every command
    prints it, and its dependencies and dependents (Queue.dependencies) with their states."""
    linked = {
        side: [{"id": i, "state": state} for kind, i, state in edges if kind == side]
        for side in ("after", "dependent")
    }
    return {**job.to_dict(), "dependencies": linked["after"], "dependents": linked["dependent"]}


def cmd_logs(args: Namespace) -> int:
    if args.all:
        return _follow_all(args)
    if args.id is None:
        raise InvalidInput("logs needs a job ID (or --follow --all)")
    if args.queue is not None:
        raise InvalidInput("--queue goes with --follow --all")
    if not args.follow:
        if args.timeout is not None:
            raise InvalidInput("--timeout goes with --follow")
        from queuectl.logview import show_logs

        with open_queue(args, read_only=True) as queue:
            return show_logs(queue, args.id, args.attempt, sys.stdout)
    from queuectl.logview import follow_logs
    from queuectl.waiting import Pace

    timeout = _timeout(args.timeout)
    with open_queue(args, read_only=True) as queue, Pace(queue, timeout) as pace:
        return follow_logs(queue, args.id, args.attempt, sys.stdout, pace)


def _follow_all(args: Namespace) -> int:
    """``logs --follow --all [--queue Q]``: until interrupted, or 124 after --timeout."""
    if not args.follow:
        raise InvalidInput("--all goes with --follow")
    if args.id is not None or args.attempt is not None:
        raise InvalidInput("--all follows every running job: give no ID or --attempt")
    from queuectl.logview import follow_all
    from queuectl.waiting import Pace

    timeout = _timeout(args.timeout)
    with open_queue(args, read_only=True) as queue, Pace(queue, timeout) as pace:
        return follow_all(queue, args.queue, sys.stdout, pace)


def cmd_wait(args: Namespace) -> int:
    """One line per job as it ends (its id and final state), or with --json the jobs as a
    JSON array once every one has: 0 if all completed, 1 otherwise, 124 on --timeout."""
    from queuectl.waiting import Pace, ends, exit_code

    timeout = _timeout(args.timeout)
    named = list(dict.fromkeys(args.ids))
    ended = {}
    with open_queue(args, read_only=True) as queue, Pace(queue, timeout) as pace:
        try:
            for job in ends(queue, named, pace):
                ended[job.id] = job
                if not args.json:
                    sys.stdout.write(f"{job.id} {job.state.value}\n")
                    sys.stdout.flush()
        except TimedOut as exc:
            found = queue.get_many(named)
            jobs = [found[job_id] for job_id in named if job_id in found]
            if args.json:
                print_json([job.to_dict() for job in jobs])
            left = ", ".join(f"{j.id} ({j.state.value})" for j in jobs if j.id not in ended)
            raise TimedOut(f"{exc}; not final: {left}") from None
    if args.json:
        print_json([ended[job_id].to_dict() for job_id in named])
    return exit_code(list(ended.values()))


def _timeout(text: str | None) -> float | None:
    from queuectl.timefmt import parse_duration

    return None if text is None else parse_duration(text, "--timeout")


def cmd_cancel(args: Namespace) -> int:
    """Cancels what it can; each job it cannot is one line on stderr. Exit 1 when a job is
    missing, completed or dead; one already cancelled is only noted (it stays cancelled)."""
    with open_queue(args) as queue:
        done = queue.cancel(args.ids)
    for job_id in done.cancelled:
        print(job_id)
    code = 0
    for job_id, state in done.left.items():
        if state == "cancelled":
            sys.stderr.write(f"{PROG}: job {job_id!r} was already cancelled\n")
        else:
            sys.stderr.write(f"{PROG}: error: {done.refusal(job_id)}\n")
            code = 1
    return code
