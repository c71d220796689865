"""Schedules' pure rules (queuectl.schedules): slots, DST, missed and overlap, with the
clock passed in: no test waits for a slot."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from queuectl.errors import InvalidInput
from queuectl.schedules import (
    MAX_CATCH_UP,
    Schedule,
    Timing,
    make,
    run_now_id,
    slot_id,
    slot_text,
)


def at(text: str) -> float:
    """``2026-03-29T01:00`` (UTC) → epoch seconds."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def shown(slots: list[float]) -> list[str]:
    return [slot_text(slot)[:16] for slot in slots]  # minutes: 2026-03-29T01:00


BERLIN_5M = Timing("*/5 * * * *", "Europe/Berlin")


def test_a_5_minute_cron_across_the_spring_forward_in_berlin() -> None:
    """At 02:00 CET the clock jumps to 03:00 CEST: local 02:00-02:55 do not exist. Each
    runs at the first valid instant after the jump, 03:00 CEST: once, with 03:00 itself."""
    slots = BERLIN_5M.preview(at("2026-03-29T00:40"), 6)
    assert shown(slots) == [
        "2026-03-29T00:45",  # 01:45 CET
        "2026-03-29T00:50",
        "2026-03-29T00:55",  # 01:55 CET
        "2026-03-29T01:00",  # 03:00 CEST: the missing hour's slots and 03:00, once
        "2026-03-29T01:05",  # 03:05 CEST
        "2026-03-29T01:10",
    ]


def test_a_5_minute_cron_across_the_fall_back_in_berlin() -> None:
    """At 03:00 CEST the clock goes back to 02:00 CET: local 02:00-02:55 occur twice and
    each runs once, at its first occurrence (CEST)."""
    slots = BERLIN_5M.preview(at("2026-10-24T23:50"), 16)
    assert shown(slots) == [
        "2026-10-24T23:55",  # 01:55 CEST
        *(f"2026-10-25T00:{m:02d}" for m in range(0, 60, 5)),  # 02:00-02:55 CEST
        "2026-10-25T02:00",  # 03:00 CET: the second 02:00-02:55 (CET) ran nothing
        "2026-10-25T02:05",
        "2026-10-25T02:10",
    ]


def test_from_inside_the_repeated_hour_the_next_slot_is_after_it() -> None:
    """Seen from 02:10 CET (the second 02:10), the rest of the hour ran at its first
    occurrence already."""
    assert shown(BERLIN_5M.preview(at("2026-10-25T01:10"), 2)) == [
        "2026-10-25T02:00",
        "2026-10-25T02:05",
    ]


def test_a_fixed_local_time_that_is_skipped_or_repeated() -> None:
    nightly = Timing("30 2 * * *", "Europe/Berlin")
    spring = nightly.preview(at("2026-03-27T00:00"), 4)
    assert shown(spring) == [
        "2026-03-27T01:30",  # 02:30 CET
        "2026-03-28T01:30",
        "2026-03-29T01:00",  # 02:30 does not exist: 03:00 CEST, the first instant after
        "2026-03-30T00:30",  # 02:30 CEST
    ]
    autumn = nightly.preview(at("2026-10-24T00:00"), 3)
    assert shown(autumn) == [
        "2026-10-24T00:30",  # 02:30 CEST
        "2026-10-25T00:30",  # 02:30 occurs twice: once, the first (CEST)
        "2026-10-26T01:30",  # 02:30 CET
    ]


def test_slots_before_an_instant_walk_back_over_both_changes() -> None:
    before_spring = BERLIN_5M.before(at("2026-03-29T01:10"), 5, 0)
    assert shown(before_spring) == [
        "2026-03-29T01:10",
        "2026-03-29T01:05",
        "2026-03-29T01:00",
        "2026-03-29T00:55",
        "2026-03-29T00:50",
    ]
    # from the second 02:10 (CET): 02:00-02:55 CEST are behind, the CET ones never ran
    assert shown(BERLIN_5M.before(at("2026-10-25T01:10"), 3, 0)) == [
        "2026-10-25T00:55",
        "2026-10-25T00:50",
        "2026-10-25T00:45",
    ]
    assert BERLIN_5M.before(at("2026-10-25T01:10"), 50, at("2026-10-25T00:44")) == [
        at(f"2026-10-25T00:{m:02d}") for m in range(55, 44, -5)
    ]


def test_every_is_multiples_of_its_seconds_since_the_epoch() -> None:
    hourly = Timing(every=3600.0)
    assert hourly.next_after(at("2026-05-01T10:17")) == at("2026-05-01T11:00")
    assert hourly.next_after(at("2026-05-01T11:00")) == at("2026-05-01T12:00")  # after: strictly
    assert hourly.before(at("2026-05-01T11:30"), 3, at("2026-05-01T09:00")) == [
        at("2026-05-01T11:00"),
        at("2026-05-01T10:00"),
    ]
    assert hourly.text() == "every 1h" and Timing(every=90.0).text() == "every 90s"


def test_the_ids_of_a_slot_and_of_a_run_now() -> None:
    assert slot_id("nightly", at("2026-12-07T02:00")) == "nightly@2026-12-07T02:00:00Z"
    assert run_now_id("nightly", at("2026-12-07T02:00") + 0.25) == (
        "nightly@now-2026-12-07T02:00:00.250000Z"
    )


# --- plan: what a firing does ------------------------------------------------------------
NOW = at("2026-05-01T12:00") + 20  # 20 s after a slot of every minute
GRACE = 30.0


def minutely(missed: str = "latest", overlap: str = "skip", down: float = 600) -> Schedule:
    """A schedule of every minute whose last firing was ``down`` seconds before NOW."""
    schedule = make("m", {"command": "true"}, every="1m", missed=missed, overlap=overlap, now=0)
    return schedule.starting(NOW - down)


def test_on_time_slots_fire_and_the_next_is_the_next_minute() -> None:
    plan = minutely(down=25).plan(NOW, GRACE)
    assert plan.slots == [at("2026-05-01T12:00")]
    assert plan.settled_to == NOW and plan.next_at == at("2026-05-01T12:01")


def test_a_worker_late_within_the_grace_fires_every_slot() -> None:
    """Slots found late by less than the grace (a busy worker) are on time, all of them."""
    schedule = replace(minutely(), timing=Timing(every=1.0))
    plan = schedule.starting(NOW - 12).plan(NOW, GRACE)
    assert plan.slots == [NOW - 12 + n for n in range(1, 13)]


def test_missed_latest_runs_one_catch_up_for_the_latest_missed_slot() -> None:
    down_then_on_time = minutely("latest", down=600).plan(NOW, GRACE)
    assert down_then_on_time.slots == [at("2026-05-01T12:00")]  # the on-time one is the catch-up
    late = minutely("latest", down=600).plan(NOW + 30, GRACE)  # 12:00 is 50 s late now
    assert late.slots == [at("2026-05-01T12:00")]
    assert late.settled_to == NOW + 30 and late.next_at == at("2026-05-01T12:01")


def test_missed_skip_runs_none_of_them() -> None:
    assert minutely("skip", down=600).plan(NOW + 30, GRACE).slots == []
    assert minutely("skip", down=600).plan(NOW, GRACE).slots == [at("2026-05-01T12:00")]


def test_missed_all_runs_every_missed_slot_in_order_up_to_the_bound() -> None:
    plan = minutely("all", down=600).plan(NOW + 30, GRACE)
    assert plan.slots == [at("2026-05-01T12:00") - 60 * n for n in range(9, -1, -1)]
    long_down = minutely("all", down=86400).plan(NOW + 30, GRACE)
    assert len(long_down.slots) == MAX_CATCH_UP
    assert long_down.slots[-1] == at("2026-05-01T12:00")


def test_overlap_skip_passes_over_the_slots_while_a_job_is_active() -> None:
    for state in ("pending", "processing", "failed", "blocked"):
        busy = replace(minutely(down=25), last_state=state)
        plan = busy.plan(NOW, GRACE)
        assert plan.slots == [] and plan.settled_to == NOW, state
        assert replace(minutely(down=25), now_state=state).plan(NOW, GRACE).slots == []
    done = replace(minutely(down=25), last_state="completed", now_state="dead")
    assert done.plan(NOW, GRACE).slots == [at("2026-05-01T12:00")]
    allowed = replace(minutely(overlap="allow", down=25), last_state="processing")
    assert allowed.plan(NOW, GRACE).slots == [at("2026-05-01T12:00")]


def test_a_resume_settles_the_pause() -> None:
    paused = replace(minutely(down=3600), paused=True)
    settled_to, next_at = paused.resumed(NOW)
    assert settled_to == NOW and next_at == at("2026-05-01T12:01")


def test_the_template_keeps_what_was_given_checked() -> None:
    schedule = make(
        "backup",
        {"command": ["rsync", "-a", "a", "b"], "queue": "io", "env": {"A": "1"}, "tags": ["x"]},
        cron="0  2 * * *",
        tz="Europe/Berlin",
        now=at("2026-05-01T12:00"),
    )
    assert schedule.timing == Timing("0 2 * * *", "Europe/Berlin")
    assert schedule.job == {
        "command": ["rsync", "-a", "a", "b"],
        "priority": 0,
        "queue": "io",
        "env": {"A": "1"},
        "tags": ["x"],
    }
    assert schedule.next_at == at("2026-05-02T00:00")  # 02:00 CEST
    spec = schedule.job_spec("backup@x", at("2026-05-02T00:00"), 3)
    assert spec["env"] == {
        "A": "1",
        "QUEUECTL_SCHEDULE": "backup",
        "QUEUECTL_SCHEDULED_FOR": "2026-05-02T00:00:00Z",
    }
    assert spec["max_retries"] == 3 and spec["run_at"] == at("2026-05-02T00:00")


@pytest.mark.parametrize(
    ("name", "fields", "job", "says"),
    [
        ("a@b", {"every": "1s"}, {"command": "x"}, "no '@'"),
        ("-a", {"every": "1s"}, {"command": "x"}, "invalid schedule name"),
        ("a", {}, {"command": "x"}, "either --cron EXPR or --every"),
        ("a", {"every": "1s", "cron": "* * * * *"}, {"command": "x"}, "either --cron"),
        ("a", {"every": "1s", "tz": "UTC"}, {"command": "x"}, "--tz is the zone of --cron"),
        ("a", {"cron": "61 * * * *"}, {"command": "x"}, "bad --cron"),
        ("a", {"cron": "* * * *"}, {"command": "x"}, "5 fields"),
        ("a", {"cron": "0 0 30 2 *"}, {"command": "x"}, "bad --cron"),
        ("a", {"cron": "* * * * *", "tz": "Mars/Base"}, {"command": "x"}, "unknown time zone"),
        ("a", {"cron": "* * * * *", "tz": "Europe"}, {"command": "x"}, "unknown time zone"),
        ("a", {"every": "1.5s"}, {"command": "x"}, "whole number of seconds"),
        ("a", {"every": "0s"}, {"command": "x"}, "whole number of seconds"),
        ("a", {"every": "1s", "missed": "some"}, {"command": "x"}, "--missed must be"),
        ("a", {"every": "1s"}, {"command": "x", "id": "j"}, "cannot have 'id'"),
        ("a", {"every": "1s"}, {"command": "x", "delay": 5}, "cannot have 'delay'"),
        ("a", {"every": "1s"}, {}, 'needs a "command"'),
        ("a", {"every": "1s"}, {"command": "x", "priority": "high"}, "priority"),
    ],
)
def test_bad_input_is_refused(
    name: str, fields: dict[str, str], job: dict[str, object], says: str
) -> None:
    with pytest.raises(InvalidInput, match=None) as refused:
        make(name, job, **fields, now=at("2026-05-01T12:00"))
    assert says in str(refused.value)


def test_the_cursor_never_goes_back() -> None:
    """A clock stepped back (or a resume read by a clock behind) settles nothing anew: the
    slots already dealt with stay so, and the next is still the next."""
    ahead = minutely(down=-120)  # settled two minutes ahead of NOW
    plan = ahead.plan(NOW, GRACE)
    assert plan.slots == [] and plan.settled_to == ahead.settled_to
    assert plan.next_at == ahead.next_at
    assert replace(ahead, paused=True).resumed(NOW) == (ahead.settled_to, ahead.next_at)
