"""``list_jobs``: every filter and order is the engine's SQL, the same on every engine."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from queuectl.errors import InvalidInput
from queuectl.lifecycle import Failed
from queuectl.models import SORTS
from tests.contract.support import add, claim, end, make_completed, make_dead, wait_past

if TYPE_CHECKING:
    from queuectl.backends.base import Backend


def ids(backend: Backend, *args: object, **filters: object) -> list[str]:
    return [job.id for job in backend.list_jobs(*args, **filters)]  # type: ignore[arg-type]


def test_several_states(backend: Backend) -> None:
    add(backend, "p1", "p2")
    make_completed(backend, "c")
    make_dead(backend, "d")
    add(backend, "f", max_retries=2, priority=10)
    assert end(backend, claim(backend), Failed(1))
    assert ids(backend, ["pending", "failed"]) == ["p1", "p2", "f"]
    assert ids(backend, ["dead", "completed"]) == ["c", "d"]
    assert ids(backend, ["processing"]) == []
    assert ids(backend, []) == []


def test_tags_every_one_named(backend: Backend) -> None:
    add(backend, "none")
    add(backend, "a", tags=["nightly"])
    add(backend, "ab", tags=["nightly", "team=a"])
    add(backend, "b", tags=["team=a", "x/y"])
    assert backend.get("ab").tags == ("nightly", "team=a")  # type: ignore[union-attr]
    assert ids(backend, tags=["nightly"]) == ["a", "ab"]
    assert ids(backend, tags=["team=a", "nightly"]) == ["ab"]
    assert ids(backend, tags=["x/y"]) == ["b"]
    assert ids(backend, tags=["nigh"]) == []  # whole tags, not parts of them
    assert ids(backend, tags=[]) == ["none", "a", "ab", "b"]


def test_since_is_the_time_of_enqueue(backend: Backend) -> None:
    add(backend, "old")
    between = backend.now()
    wait_past(backend, between)
    add(backend, "new")
    assert ids(backend, since=between) == ["new"]
    assert ids(backend, since=between - 3600) == ["old", "new"]
    assert ids(backend, since=backend.now() + 60) == []


def test_text_is_part_of_the_id_or_the_command(backend: Backend) -> None:
    add(backend, "backup-1", command="rsync -a /srv dst")
    add(backend, "report", command=["make", "report.pdf"])
    add(backend, "other", command="echo backup")
    assert ids(backend, text="backup") == ["backup-1", "other"]
    assert ids(backend, text="rsync -a") == ["backup-1"]
    assert ids(backend, text="report.pdf") == ["report"]
    assert ids(backend, text="Backup") == []  # case counts, as in grep


def test_filters_combine(backend: Backend) -> None:
    add(backend, "a", tags=["t"], queue="io", command="echo a")
    add(backend, "b", tags=["t"], queue="io", command="echo b")
    add(backend, "c", tags=["t"], command="echo a")
    make_completed(backend, "d")
    found = ids(backend, ["pending"], "io", tags=["t"], text="echo a", since=0.0)
    assert found == ["a"]


@pytest.mark.parametrize("sort", SORTS)
def test_every_order_breaks_ties_in_enqueue_order(backend: Backend, sort: str) -> None:
    add(backend, "a", "b", "c")
    assert ids(backend, sort=sort) == ["a", "b", "c"]
    assert ids(backend, sort=sort, reverse=True) == ["c", "b", "a"]


def test_orders(backend: Backend) -> None:
    add(backend, "low", priority=-1)
    add(backend, "later", delay="1h")
    add(backend, "high", priority=5, delay="2h")
    add(backend, "plain")
    assert ids(backend) == ["low", "later", "high", "plain"]
    assert ids(backend, sort="created", reverse=True) == ["plain", "high", "later", "low"]
    assert ids(backend, sort="priority") == ["high", "plain", "later", "low"]  # as claimed
    assert ids(backend, sort="priority", reverse=True) == ["low", "later", "plain", "high"]
    assert ids(backend, sort="run_at") == ["low", "plain", "later", "high"]
    assert ids(backend, sort="run_at", reverse=True) == ["high", "later", "plain", "low"]
    make_completed(backend, "touched")  # its updates come after every other job's
    assert ids(backend, sort="updated")[-1] == "touched"
    assert ids(backend, sort="updated", reverse=True)[0] == "touched"


def test_limit_and_offset_after_the_order(backend: Backend) -> None:
    add(backend, *(f"j{n}" for n in range(6)))
    assert ids(backend, None, None, 2) == ["j0", "j1"]
    assert ids(backend, None, None, 2, reverse=True) == ["j5", "j4"]
    assert ids(backend, None, None, 2, reverse=True, offset=2) == ["j3", "j2"]
    assert ids(backend, None, None, None, offset=5) == ["j5"]


def test_an_unknown_order_is_refused(backend: Backend) -> None:
    with pytest.raises(InvalidInput):
        backend.list_jobs(sort="size")
