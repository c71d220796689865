"""``config set`` from several processes at once: the rule between settings (heartbeat at
most half the lease) holds for what is stored, not only for what each writer read."""

from __future__ import annotations

import threading

import pytest

from queuectl.api import Queue
from queuectl.errors import InvalidInput


def _stored(location: str) -> tuple[float, float]:
    with Queue(location) as fresh:
        return fresh.settings.heartbeat, fresh.settings.lease


def test_a_writer_that_read_the_settings_earlier_cannot_break_the_rule(location: str) -> None:
    # Two `config set` processes, both opened before either writes: each alone is valid
    # against the defaults (heartbeat 5 s, lease 30 s), together they are not.
    first, second = Queue(location), Queue(location)
    try:
        first.config_set("heartbeat", "14")
        with pytest.raises(InvalidInput, match="at most half the lease"):
            second.config_set("lease", "10")
    finally:
        first.close()
        second.close()
    assert _stored(location) == (14.0, 30.0)


@pytest.mark.parametrize("order", ["unset first", "set first"])
def test_an_unset_and_a_set_that_read_the_settings_earlier_cannot_break_the_rule(
    location: str, order: str
) -> None:
    # lease 60 s stored; `config unset lease` (back to 30 s) and `config set heartbeat 20`
    # are each valid against it, together they are not.
    with Queue(location) as setup:
        setup.config_set("lease", "60")
    first, second = Queue(location), Queue(location)
    try:
        if order == "unset first":
            first.config_unset("lease")
            with pytest.raises(InvalidInput, match="at most half the lease"):
                second.config_set("heartbeat", "20")
            assert _stored(location) == (5.0, 30.0)
        else:
            first.config_set("heartbeat", "20")
            with pytest.raises(InvalidInput, match="at most half the lease"):
                second.config_unset("lease")
            assert _stored(location) == (20.0, 60.0)
    finally:
        first.close()
        second.close()


def _race(location: str, *changes: tuple[str, str]) -> dict[str, str]:
    """Each change in a thread of its own, with its own connection (as separate `config
    set` processes), all released at once after opening → {key: accepted|refused}."""
    start = threading.Barrier(len(changes), timeout=30)
    results: dict[str, str] = {}

    def set_one(key: str, value: str) -> None:
        with Queue(location) as writer:
            start.wait()
            try:
                writer.config_set(key, value)
                results[key] = "accepted"
            except InvalidInput:
                results[key] = "refused"

    threads = [threading.Thread(target=set_one, args=change) for change in changes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


@pytest.mark.timeout(180)
def test_concurrent_config_set_calls_never_persist_a_refused_pair(location: str) -> None:
    """`heartbeat 14` against `lease 10`, again and again: exactly one wins each round."""
    for round_ in range(12):
        with Queue(location) as reset:
            reset.config_unset("heartbeat")
            reset.config_unset("lease")
        results = _race(location, ("heartbeat", "14"), ("lease", "10"))
        heartbeat, lease = _stored(location)
        assert heartbeat * 2 <= lease, (
            f"round {round_}: the queue now holds heartbeat {heartbeat:g}s with lease "
            f"{lease:g}s, a pair config set refuses ({results})"
        )
        assert sorted(results.values()) == ["accepted", "refused"], (round_, results)
