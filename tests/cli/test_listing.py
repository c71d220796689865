"""Tags, and ``list``'s filters and orders, through the real CLI on every engine."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.harness import Queuectl
from tests.support.polling import wait_for


def ids(qc: Queuectl, *args: str) -> list[str]:
    return [job["id"] for job in qc.json("list", *args)]


def one_line_error(done: Any, code: int = 2) -> None:
    assert done.returncode == code, f"exit {done.returncode}: {done.stderr!r}"
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert "Traceback" not in done.stderr


# --- tags ------------------------------------------------------------------------------
def test_tags_from_flags_and_json(qc: Queuectl) -> None:
    flagged = qc.enqueue("true", "--tag", "nightly", "--tag", "team=a", "--tag", "nightly")
    from_json = qc.enqueue_json({"command": "true", "tags": ["team=a"]})
    plain = qc.enqueue("true")
    assert qc.show(flagged)["tags"] == ["nightly", "team=a"]
    assert qc.show(plain)["tags"] == []
    assert qc.job(from_json)["tags"] == ["team=a"]
    assert ids(qc, "--tag", "team=a") == [flagged, from_json]
    assert ids(qc, "--tag", "team=a", "--tag", "nightly") == [flagged]
    assert ids(qc, "--tag", "nowhere") == []
    shown = qc.run("show", flagged).stdout.splitlines()
    assert any(line.split() == ["tags", "nightly,", "team=a"] for line in shown), shown


@pytest.mark.parametrize(
    "args",
    [
        ["--command", "true", "--tag", "a b"],
        ["--command", "true", "--tag", ""],
        ['{"command": "true", "tags": "nightly"}'],
        ['{"command": "true", "tags": [1]}'],
        ['{"command": "true", "tags": ["ok", "not,ok"]}'],
        ['{"command": "true", "tags": [' + ", ".join(f'"t{n}"' for n in range(33)) + "]}"],
    ],
    ids=["space", "empty", "not an array", "a number", "a comma", "too many"],
)
def test_bad_tags_are_refused_and_nothing_is_written(qc: Queuectl, args: list[str]) -> None:
    one_line_error(qc.run("enqueue", *args, check=False))
    assert qc.jobs() == []


# --- list's filters ----------------------------------------------------------------------
def test_list_filters(qc: Queuectl) -> None:
    qc.run("enqueue", "--command", "backup.sh /srv", "--id", "b1", "--queue", "io", "--tag", "n")
    qc.run("enqueue", "--command", "report", "--id", "backup-report", "--tag", "n")
    qc.run("enqueue", "--command", "echo hi", "--id", "hi", "--queue", "io")
    qc.run("enqueue", '{"id": "argv", "command": ["printf", "%s", "a backup"]}')
    qc.run("cancel", "hi")
    assert ids(qc, "--state", "pending") == ["b1", "backup-report", "argv"]
    assert ids(qc, "--state", "cancelled,pending") == ["b1", "backup-report", "hi", "argv"]
    assert ids(qc, "--state", "dead,completed") == []
    assert ids(qc, "--queue", "io") == ["b1", "hi"]
    assert ids(qc, "--queue", "io", "--tag", "n") == ["b1"]
    assert ids(qc, "--grep", "backup") == ["b1", "backup-report", "argv"]
    assert ids(qc, "--grep", "backup", "--state", "pending", "--queue", "default") == [
        "backup-report",
        "argv",
    ]
    assert ids(qc, "--since", "1h") == ["b1", "backup-report", "hi", "argv"]


def test_since_leaves_out_older_jobs(qc: Queuectl) -> None:
    qc.run("enqueue", "--command", "true", "--id", "old")
    # a window long enough for an enqueue and a list on a busy machine
    wait_for(lambda: ids(qc, "--since", "4s") == [], timeout=30, what="the old job to age")
    qc.run("enqueue", "--command", "true", "--id", "new")
    assert ids(qc, "--since", "4s") == ["new"]
    assert ids(qc, "--since", "1d") == ["old", "new"]


def test_limit_keeps_the_newest_and_sort_orders(qc: Queuectl) -> None:
    for job_id, priority in (("a", "0"), ("b", "5"), ("c", "0"), ("d", "-2")):
        qc.run("enqueue", "--command", "true", "--id", job_id, "--priority", priority)
    assert ids(qc) == ["a", "b", "c", "d"]
    assert ids(qc, "--limit", "2") == ["c", "d"]  # the newest two, in enqueue order
    assert ids(qc, "--reverse") == ["d", "c", "b", "a"]
    assert ids(qc, "--reverse", "--limit", "3") == ["d", "c", "b"]
    assert ids(qc, "--sort", "priority") == ["b", "a", "c", "d"]  # the order of the claim
    assert ids(qc, "--sort", "priority", "--limit", "1") == ["b"]
    assert ids(qc, "--sort", "priority", "--reverse") == ["d", "c", "a", "b"]
    assert ids(qc, "--sort", "created", "--limit", "2") == ["a", "b"]
    qc.run("cancel", "a")
    assert ids(qc, "--sort", "updated", "--reverse", "--limit", "1") == ["a"]
    table = qc.run("list", "--limit", "2").stdout.splitlines()
    assert [line.split()[0] for line in table[1:]] == ["c", "d"]


@pytest.mark.parametrize(
    "args",
    [
        ["--limit", "0"],
        ["--limit", "-3"],
        ["--state", "bogus"],
        ["--state", "pending,bogus"],
        ["--state", ""],
        ["--sort", "size"],
        ["--since", "0"],
        ["--since", "soon"],
        ["--tag", "a b"],
        ["--queue", "no queue"],
    ],
    ids=" ".join,
)
def test_bad_filters_are_refused(qc: Queuectl, args: list[str]) -> None:
    one_line_error(qc.run("list", *args, check=False))


def test_help_says_how_to_page(qc: Queuectl) -> None:
    shown = qc.run("list", "--help").stdout
    for word in ("--state", "--tag", "--since", "--grep", "--sort", "--reverse", "--limit"):
        assert word in shown
    assert "less" in shown and "newest" in shown
