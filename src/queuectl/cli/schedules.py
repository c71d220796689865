"""``schedule add/list/show/remove/pause/resume/run-now/preview``: recurring jobs."""

from __future__ import annotations

import sys

from queuectl.cli import OPTIONS, flag_fields, open_queue, print_json
from queuectl.errors import InvalidInput

TYPE_CHECKING = False
if TYPE_CHECKING:
    from argparse import Namespace

    from queuectl.schedules import Schedule

# The enqueue options a schedule's job takes (schedules.TEMPLATE_KEYS), declared by
# enqueue's own table: an id, a time, a unique key or dependencies make no sense for it.
SCHEDULE_OPTIONS = tuple(
    option
    for option in OPTIONS
    if option.flag
    in (
        "--command",
        "--priority",
        "--max-retries",
        "--timeout",
        "--queue",
        "--cwd",
        "--env",
        "--env-file",
        "--clean-env",
        "--tag",
        "--no-retry-on",
    )
)


def cmd_schedule_add(args: Namespace) -> int:
    from queuectl.schedules import check_name

    check_name(args.name)
    if (args.shell is None) == (args.argv is None):
        raise InvalidInput("give the job's command: --command CMD or -- CMD [ARG...] (one)")
    if args.argv == []:
        raise InvalidInput("-- needs the command to run after it, e.g. -- backup.sh")
    from queuectl.jobspec import with_flags

    job = with_flags({"command": args.shell or args.argv}, flag_fields(args, SCHEDULE_OPTIONS))
    assert isinstance(job, dict)  # with_flags keeps an object an object
    timing = {"cron": args.cron, "tz": args.tz, "every": args.every}
    with open_queue(args) as queue:  # the schedule is checked before the queue is opened
        schedule = queue.add_schedule(
            args.name, job, **timing, missed=args.missed, overlap=args.overlap
        )
    print(schedule.name)
    sys.stderr.write(f"schedule {schedule.name}: {schedule.when_text()}; {_next(schedule)}\n")
    return 0


def _next(schedule: Schedule) -> str:
    from queuectl.timefmt import iso

    if schedule.paused:
        return "paused"
    return f"next run {iso(schedule.next_at)}" if schedule.next_at is not None else "no next run"


def cmd_schedule_list(args: Namespace) -> int:
    with open_queue(args, read_only=True) as queue:
        found = queue.schedules()
    if args.json:
        print_json([schedule.to_dict() for schedule in found])
    elif not found:
        print("no schedules")
    else:
        from queuectl.render import screen, table, when

        on = screen(sys.stdout)
        rows = [
            (
                s.name,
                s.timing.text(),
                "paused" if s.paused else when(s.next_at),
                when(s.last_slot),
                s.last_state or ("-" if s.last_job is None else "purged"),
                _command(s),
            )
            for s in found
        ]
        headers = ("name", "when", "next", "last slot", "its state", "command")
        print(table(headers, rows, on, cut=("command", "when"), painted=("its state",)))
    return 0


def _command(schedule: Schedule) -> str:
    command = schedule.job["command"]
    if isinstance(command, str):
        return command
    import shlex

    return shlex.join(command)


def cmd_schedule_show(args: Namespace) -> int:
    with open_queue(args, read_only=True) as queue:
        schedule = queue.schedule(args.name)
    data = schedule.to_dict()
    if args.json:
        print_json(data)
        return 0
    from queuectl.render import names, screen

    on = screen(sys.stdout)
    job = data.pop("job")
    data.update(
        when=schedule.when_text(),
        next_at="paused" if schedule.paused else data["next_at"],
        last_state=on.paint(data["last_state"]) if data["last_state"] else data["last_state"],
        command=_command(schedule),
        queue=job.get("queue", "default"),
        env_keys=names(job["env_keys"]),
    )
    for key in ("cron", "tz", "every", "missed", "overlap", "paused"):
        data.pop(key)
    width = max(len(key) for key in data)
    print("\n".join(f"{key.ljust(width)}  {'-' if v is None else v}" for key, v in data.items()))
    return 0


def cmd_schedule_change(args: Namespace) -> int:
    """``schedule remove``, ``pause`` or ``resume`` NAME."""
    with open_queue(args) as queue:
        verb, what = {
            "remove": (queue.remove_schedule, "removed (the jobs it enqueued stay)"),
            "pause": (queue.pause_schedule, "paused"),
            "resume": (queue.resume_schedule, "resumed: its next slot fires, not the pause's"),
        }[args.schedule]
        verb(args.name)
    print(args.name)
    sys.stderr.write(f"schedule {args.name} {what}\n")
    return 0


def cmd_schedule_run_now(args: Namespace) -> int:
    with open_queue(args) as queue:
        job_id = queue.run_schedule_now(args.name)
    print(job_id)
    return 0


def cmd_schedule_preview(args: Namespace) -> int:
    from queuectl.schedules import check_count, zone

    check_count(args.count)
    with open_queue(args, read_only=True) as queue:
        schedule = queue.schedule(args.name)
        slots = schedule.timing.preview(queue.now(), args.count)  # by the queue's clock
    from datetime import datetime

    from queuectl.schedules import slot_text

    where = zone(schedule.timing.tz)
    local = [datetime.fromtimestamp(slot, where) for slot in slots]
    if args.json:
        print_json(
            [
                {"utc": slot_text(s), "local": t.isoformat()}
                for s, t in zip(slots, local, strict=True)
            ]
        )
        return 0
    for slot, at in zip(slots, local, strict=True):
        shown = f"  {at:%Y-%m-%d %H:%M:%S} {at.tzname()} ({at:%z})" if schedule.timing.tz else ""
        print(f"{slot_text(slot)}{shown}")
    return 0
