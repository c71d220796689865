"""``--limit``: parsing, checking, combining a job's limits with its queue's, printing;
what an attempt used, in percentiles; an attempt killed at its memory limit."""

from __future__ import annotations

import os
import signal

import pytest

from queuectl.errors import InvalidInput
from queuectl.lifecycle import OutOfMemory, describe
from queuectl.limits import check, combine, parse, parse_size, text
from queuectl.stats import ResourceUse, resources
from queuectl.worker.slot import StopReason, outcome_of

MIB = 1 << 20


def test_the_documented_example_parses() -> None:
    assert parse("mem=2G,cpu=1.5,pids=256,nofile=4096") == {
        "mem": 2 << 30,
        "cpu": 1.5,
        "pids": 256,
        "nofile": 4096,
    }
    assert parse("nofile=64, mem=50M") == {"mem": 50 * MIB, "nofile": 64}  # KEYS order


@pytest.mark.parametrize(
    ("given", "size"),
    [("65536", 65536), ("64k", 64 << 10), ("50M", 50 * MIB), ("2GiB", 2 << 30), ("1t", 1 << 40)],
)
def test_sizes_are_binary(given: str, size: int) -> None:
    assert parse_size(given) == size


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("mem", "KEY=VALUE"),
        ("mem=2G,mem=1G", "given twice"),
        ("disk=1G", "unknown limit 'disk'"),
        ("mem=lots", "limit mem"),
        ("mem=1k", "from 4M"),
        ("cpu=0", "cores from 0.01"),
        ("cpu=nan", "cores from 0.01"),
        ("cpu=fast", "cores from 0.01"),
        ("pids=0", "from 1 to"),
        ("pids=2.5", "whole number"),
        ("nofile=-1", "whole number"),
    ],
)
def test_bad_limits_say_what_is_wrong(given: str, says: str) -> None:
    with pytest.raises(InvalidInput, match=says):
        parse(given)


def test_json_takes_an_object_of_numbers_or_texts_or_the_flags_text() -> None:
    assert check({"mem": 50 * MIB, "cpu": 2}) == {"mem": 50 * MIB, "cpu": 2.0}
    assert check({"mem": "50M", "pids": "20"}) == {"mem": 50 * MIB, "pids": 20}
    assert check("pids=20") == {"pids": 20}
    for bad in ([1], 5, {"pids": True}, {"mem": None}):
        with pytest.raises(InvalidInput):
            check(bad)


def test_a_job_and_its_queue_combine_per_key_the_smaller_winning() -> None:
    job = {"mem": 2 << 30, "pids": 50}
    queue = {"mem": 1 << 30, "nofile": 1024}
    assert combine(job, queue) == {"mem": 1 << 30, "pids": 50, "nofile": 1024}
    assert combine({"mem": 64 * MIB}, {"mem": 1 << 30}) == {"mem": 64 * MIB}
    assert combine(None, queue) == queue
    assert combine(job, None) == job
    assert combine(None, None) is None


def test_limits_print_as_typed() -> None:
    assert text({"mem": 50 * MIB, "cpu": 1.5, "pids": 20, "nofile": 64}) == (
        "mem=50M,cpu=1.5,pids=20,nofile=64"
    )
    assert text({"mem": 5 * MIB + 1}) == f"mem={5 * MIB + 1}"
    assert text(None) == "-"


def test_an_attempt_killed_at_its_memory_limit_is_oom_unless_it_succeeded() -> None:
    killed = signal.SIGKILL
    assert outcome_of(killed, None, 0, oom_limit=50 * MIB) == OutOfMemory(50 * MIB)
    assert outcome_of(137 << 8, None, 0, oom_limit=50 * MIB) == OutOfMemory(50 * MIB)
    assert outcome_of(0, None, 0, oom_limit=50 * MIB).name == "succeeded"
    # why the worker stopped it comes first
    assert outcome_of(killed, StopReason.TIMEOUT, 5, oom_limit=50 * MIB).name == "timed_out"
    assert describe(OutOfMemory(50 * MIB)) == (None, "killed at its memory limit (mem=50M)")
    assert os.waitstatus_to_exitcode(killed) == -killed


def test_resource_percentiles_per_queue_and_over_all() -> None:
    uses = [ResourceUse("a", float(n), n * 1000) for n in range(1, 101)]
    uses += [ResourceUse("b", 0.5, None)]
    found = resources(uses)
    assert found["a"] == {
        "cpu_p50": 50.5,
        "cpu_p95": 95.05,
        "max_rss_kb_p50": 50500,
        "max_rss_kb_p95": 95050,
    }
    assert found["b"] == {
        "cpu_p50": 0.5,
        "cpu_p95": 0.5,
        "max_rss_kb_p50": None,
        "max_rss_kb_p95": None,
    }
    assert found["(all)"]["cpu_p50"] == 50.0
    assert resources([]) == {}
