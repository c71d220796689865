"""The jobs list of the dashboard: its filters, order and views as query parameters (the
filters of ``queuectl list``), read through ``Queue.jobs``; and the jobs a bulk action
chooses, with those it would change.

Views: ``all`` (every state, the state filter applies), ``scheduled`` (pending jobs due
later, soonest first) and ``retries`` (failed jobs waiting out their backoff, soonest
first), like Sidekiq's Scheduled and Retries tabs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from queuectl.errors import InvalidInput
from queuectl.models import CANCELLABLE, RERUNNABLE, SORTS, STATES, WAITING

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any

    from queuectl.api import Queue
    from queuectl.models import Job

MAX_TEXT = 200  # characters of the text filter
BULK_MAX = 10_000  # jobs one "all matching this filter" action takes at most
VIEWS = ("all", "scheduled", "retries")
DEFAULT_SORT = {"all": "created", "scheduled": "run_at", "retries": "run_at"}
FILTERS = ("view", "state", "queue", "tag", "q", "since")  # the query parameters kept


@dataclass(frozen=True, slots=True)
class Verb:
    """A bulk action: the states it changes, its words, and the Queue verb it calls."""

    states: tuple[str, ...]
    label: str  # "Retry 3 jobs?"
    done: str  # the ?done= code of the page after it
    act: Callable[[Queue, list[str]], int]


def _retry(queue: Queue, ids: list[str]) -> int:
    return len(queue.dlq_retry(ids))


def _rerun(queue: Queue, ids: list[str]) -> int:
    return len(queue.rerun(ids).done)


def _cancel(queue: Queue, ids: list[str]) -> int:
    return len(queue.cancel(ids).cancelled)


def _purge(queue: Queue, ids: list[str]) -> int:
    return len(queue.purge_jobs(ids))


def _run_now(queue: Queue, ids: list[str]) -> int:
    return len(queue.run_now(ids).done)


VERBS = {
    "retry": Verb(("dead",), "Retry", "retried", _retry),
    "rerun": Verb(RERUNNABLE, "Run again", "rerun", _rerun),
    "cancel": Verb(CANCELLABLE, "Cancel", "cancelled", _cancel),
    "purge": Verb(RERUNNABLE, "Delete for good", "purged", _purge),
    "run-now": Verb(WAITING, "Run now", "run-now", _run_now),
}


@dataclass(frozen=True, slots=True)
class Listing:
    """What /jobs shows: a view, its filters, an order and a page."""

    view: str = "all"
    state: str = ""
    queue: str = ""
    tag: str = ""
    q: str = ""
    since: str = ""  # a duration as typed: "1h", "2d"
    sort: str = ""  # one of SORTS; "" = the view's default
    order: str = "desc"  # "asc" or "desc"
    page: int = 1

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> Listing:
        """From query parameters (or a form); InvalidInput names what is wrong."""
        from queuectl.web.pages import small_number

        found = {name: (params.get(name) or "").strip() for name in FILTERS}
        found["q"] = found["q"][:MAX_TEXT]
        view = found["view"] or "all"
        if view not in VIEWS:
            raise InvalidInput(f"unknown view {view!r}; views: {', '.join(VIEWS)}")
        if found["state"] and found["state"] not in STATES:
            raise InvalidInput(f"unknown state {found['state']!r}; states: {', '.join(STATES)}")
        sort = params.get("sort") or ""
        if sort and sort not in SORTS:
            raise InvalidInput(f"unknown order {sort!r}; orders: {', '.join(SORTS)}")
        order = params.get("order") or ("asc" if view != "all" else "desc")
        if order not in ("asc", "desc"):
            raise InvalidInput(f"unknown direction {order!r}: asc or desc")
        if found["since"]:
            _seconds(found["since"])
        if found["tag"]:
            from queuectl.jobspec import check_tags

            check_tags([found["tag"]])
        page = small_number(params.get("page"), 1, 10_000)
        return cls(**{**found, "view": view}, sort=sort, order=order, page=page)

    @property
    def ordered_by(self) -> str:
        return self.sort or DEFAULT_SORT[self.view]

    def query(self, **changes: Any) -> dict[str, str]:
        """The query parameters that say this listing (those left at their default out),
        with ``changes``; the page only when it is past the first."""
        chosen = replace(self, **changes)
        default = Listing(view=chosen.view)
        found = {
            name: str(getattr(chosen, name))
            for name in (*FILTERS, "sort", "order", "page")
            if getattr(chosen, name) != getattr(default, name)
        }
        return found

    def sorted_by(self, column: str) -> dict[str, str]:
        """The query of a click on ``column``'s heading: by it, or the other way round."""
        if column == self.ordered_by:
            return self.query(sort=column, order="asc" if self.order == "desc" else "desc", page=1)
        return self.query(sort=column, order="asc" if column == "run_at" else "desc", page=1)

    def read(self, queue: Queue, limit: int, offset: int = 0) -> list[Job]:
        """The jobs of this listing, from ``offset`` on, at most ``limit``: one read."""
        states: Sequence[str] | None = [self.state] if self.state else None
        later = None
        if self.view == "scheduled":
            states, later = ["pending"], queue.now()
        elif self.view == "retries":
            states = ["failed"]
        since = queue.now() - _seconds(self.since) if self.since else None
        return queue.jobs(
            states,
            self.queue or None,
            limit,
            tags=[self.tag] if self.tag else None,
            since=since,
            text=self.q or None,
            sort=self.ordered_by,
            # the claim's order (priority) is the highest first: its "desc"
            reverse=(self.order == "desc") != (self.ordered_by == "priority"),
            offset=offset,
            later=later,
        )

    def page_of(self, queue: Queue) -> tuple[list[Job], bool]:
        """This listing's page of jobs, and whether another follows (pages as the DLQ's)."""
        from queuectl.web.pages import PAGE_SIZE

        found = self.read(queue, PAGE_SIZE + 1, (self.page - 1) * PAGE_SIZE)
        return found[:PAGE_SIZE], len(found) > PAGE_SIZE


def _seconds(text: str) -> float:
    from queuectl.timefmt import parse_duration

    return parse_duration(text, "since")


def chosen(queue: Queue, listing: Listing | None, ids: Sequence[str]) -> list[Job]:
    """The jobs a bulk action names: those of ``ids``, or (``listing``) every job that
    matches its filters, at most BULK_MAX of them (in the listing's order)."""
    if listing is not None:
        return listing.read(queue, BULK_MAX)
    found = queue.get_many(ids)
    return [found[job_id] for job_id in dict.fromkeys(ids) if job_id in found]


def touched(verb: Verb, jobs: Sequence[Job]) -> list[str]:
    """The ids of ``jobs`` that ``verb`` changes: those in one of its states."""
    return [job.id for job in jobs if job.state.value in verb.states]
