"""What `edit` may change and which queues a worker serves: jobspec's rules."""

from __future__ import annotations

import pytest

from queuectl.errors import InvalidInput
from queuectl.jobspec import CHANGEABLE, check_changes, check_job, check_queues

NOW = 1_800_000_000.0


def test_changes_name_every_changeable_field_none_where_unchanged() -> None:
    assert check_changes({"priority": 3, "queue": None}, NOW) == {
        **dict.fromkeys(CHANGEABLE),
        "priority": 3,
    }


def test_changes_follow_enqueues_rules() -> None:
    changes = check_changes(
        {"command": ["echo", "x"], "run_at": "2030-01-01T00:00:00Z", "timeout": "1m"}, NOW
    )
    job = check_job(
        {"command": ["echo", "x"], "run_at": "2030-01-01T00:00:00Z", "timeout": "1m"}, NOW
    )
    assert (changes["command"], changes["run_at"], changes["timeout"]) == (
        job["command"], job["run_at"], job["timeout"]
    )  # fmt: skip
    assert changes["delay"] is None


def test_a_delay_is_kept_relative() -> None:
    assert check_changes({"delay": "5m"}, NOW)["delay"] == 300.0
    assert check_changes({"delay": "5m"}, NOW)["run_at"] is None


@pytest.mark.parametrize(
    "raw",
    [
        {},
        {"priority": None},
        {"priority": "5"},
        {"max_retries": 1001},
        {"timeout": 0},
        {"queue": "a b"},
        {"run_at": "2030-01-01T00:00:00Z", "delay": "1m"},
        {"command": ""},
        {"delay": "2000d"},
    ],
)
def test_bad_changes_are_refused(raw: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        check_changes(raw, NOW)


def test_a_worker_serves_named_queues_or_every_queue_but_some() -> None:
    assert check_queues(["io", "cpu"]) == ["io", "cpu"]
    assert check_queues(["!gpu", "!io"]) == ["!gpu", "!io"]
    for mixed in (["gpu", "!io"], ["!io", "gpu"]):
        with pytest.raises(InvalidInput, match="not both"):
            check_queues(mixed)
    for bad in (["!"], ["!!gpu"], ["!a b"], ["a b"]):
        with pytest.raises(InvalidInput, match="invalid queue name"):
            check_queues(bad)
