"""Writing a worker's results: whatever a job printed can be stored, and a write that
fails part-way leaves the queue exactly as it was (every engine)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import pytest

from queuectl.lifecycle import Failed, Finished, Succeeded, decide
from tests.contract.support import LEASE, POLICY, add, claim, state_of, write_end

if TYPE_CHECKING:
    from queuectl.backends.base import Backend


def test_output_and_errors_with_nul_bytes_are_stored(backend: Backend) -> None:
    """A job may print anything, NUL bytes included; its tail is stored with each NUL
    shown as U+FFFD (as an invalid UTF-8 byte already is), on every engine alike."""
    add(backend, "a")
    job = claim(backend)
    step = dataclasses.replace(decide(job, Failed(1), POLICY, backend.now()), error="x\x00y")
    assert write_end(backend, job, "w1", step, "failed", "/logs/a.1.log", "a\x00b\udcff\n")
    failed = backend.get("a")
    assert failed is not None
    assert (failed.state, failed.last_error) == ("failed", "x\ufffdy")
    (attempt,) = backend.attempts("a")
    assert attempt.finished_at is not None
    assert (attempt.outcome, attempt.error) == ("failed", "x\ufffdy")
    assert attempt.log_tail == "a\ufffdb\ufffd\n"


def _failing_at(
    backend: Backend, statement: str, monkeypatch: pytest.MonkeyPatch, nth: int = 1
) -> None:
    """Make the engine fail when it reaches ``statement`` the ``nth`` time inside a
    transaction: a stand-in for anything that can go wrong half-way (a value the driver
    refuses, a lost link)."""
    run = backend._run  # type: ignore[attr-defined]
    reached = [0]

    def failing(conn: Any, name: str, params: dict[str, Any] | None = None) -> Any:
        if name == statement:
            reached[0] += 1
            if reached[0] == nth:
                raise RuntimeError(f"injected failure at {name}")
        return run(conn, name, params)

    monkeypatch.setattr(backend, "_run", failing)


@pytest.mark.parametrize("where", ["end_job", "claim"])
def test_a_turn_that_fails_half_way_changes_nothing(
    backend: Backend, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """One turn ends two attempts and claims a job; if it fails after some of its
    statements were sent, none of them counts: both jobs are still running with their
    attempts open, nothing was claimed, and the same turn then succeeds."""
    add(backend, "a", "b", "c")
    first, second = claim(backend), claim(backend)
    now = backend.now()
    results = [
        Finished(job, "w1", decide(job, Succeeded(), POLICY, now), "succeeded", None, "out\n")
        for job in (first, second)
    ]
    before = [(backend.get(i), backend.attempts(i)) for i in ("a", "b", "c")]
    if where == "claim":
        monkeypatch.setattr(backend, "_claim", _raise)
    else:
        _failing_at(backend, where, monkeypatch, nth=2)  # the first job's result was sent

    with pytest.raises(RuntimeError, match="injected"):
        backend.exchange(results, ["w2"], None, LEASE)

    assert [(backend.get(i), backend.attempts(i)) for i in ("a", "b", "c")] == before
    monkeypatch.undo()
    held, claimed = backend.exchange(results, ["w2"], None, LEASE)
    assert held == [True, True]
    assert [job.id for job in claimed] == ["c"]
    assert [state_of(backend, i) for i in ("a", "b", "c")] == [
        "completed",
        "completed",
        "processing",
    ]
    assert [a.log_tail for a in backend.attempts("a")] == ["out\n"]


def _raise(conn: Any, name: str, claimers: Any, params: dict[str, Any]) -> Any:
    raise RuntimeError("injected failure at the claim")
