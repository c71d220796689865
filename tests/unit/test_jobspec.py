"""Validation of what users enqueue: jobspec.check_job and friends."""

from __future__ import annotations

import json
import math
import os
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from queuectl.errors import InvalidInput, QueuectlError
from queuectl.jobspec import KEYS, MAX_ARG, check_command, check_id, check_job, parse_env_flags

NOW = 1_800_000_000.0
ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def job(**fields: object) -> dict[str, object]:
    return {"command": "true", **fields}


# --- ids ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "good", ["a", "job1", "A-b_c.d:e", "0", "x" * 128, "2026-11-22T10:30:00", "a..b", "a."]
)
def test_good_ids_are_kept(good: str) -> None:
    assert check_job(job(id=good), NOW)["id"] == good
    assert check_id(good) == good


@pytest.mark.parametrize(
    "bad",
    [
        "../x",
        "a/b",
        "/abs",
        "",
        "x" * 129,
        "a\x00b",
        ".hidden",
        ".",
        "..",
        "a b",
        "a\nb",
        "job\n",
        "é",
        "a\\b",
        "$(rm)",
        7,
        True,
        ["a"],
    ],
)
def test_bad_ids_are_refused(bad: object) -> None:
    with pytest.raises(InvalidInput, match="job id"):
        check_job(job(id=bad), NOW)


def test_missing_or_null_id_gets_a_generated_one() -> None:
    first = check_job(job(), NOW)["id"]
    second = check_job(job(id=None), NOW)["id"]
    assert ID.fullmatch(first) and ID.fullmatch(second)
    assert first != second


def test_generated_ids_differ_across_threads_and_in_a_forked_child() -> None:
    import threading

    found: list[str] = []
    lock = threading.Lock()

    def make() -> None:
        ids = [check_job(job(), NOW)["id"] for _ in range(2000)]
        with lock:
            found.extend(ids)

    threads = [threading.Thread(target=make) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child's ids, sent to the parent
        os.close(read)
        os.write(write, json.dumps([check_job(job(), NOW)["id"] for _ in range(100)]).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = json.loads(pipe.read())
    os.waitpid(pid, 0)
    mine = found + [check_job(job(), NOW)["id"] for _ in range(100)]
    assert all(re.fullmatch(r"[0-9a-f]{16}", i) for i in mine + child)
    assert len(set(mine + child)) == len(mine) + len(child)


# --- commands -------------------------------------------------------------------
def test_string_command_is_kept_verbatim() -> None:
    assert check_job(job(command="echo 'a b' | wc -c"), NOW)["command"] == "echo 'a b' | wc -c"


def test_array_command_is_kept_as_argv() -> None:
    spec = check_job(job(command=["printf", "%s\n", "a b", ""]), NOW)
    assert spec["command"] == ["printf", "%s\n", "a b", ""]


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "   ",
        [],
        [""],
        ["echo", 1],
        ["echo", None],
        [["echo"]],
        "echo \x00 hi",
        ["echo", "a\x00b"],
        "x" * (MAX_ARG + 1),
        ["echo", "x" * (MAX_ARG + 1)],
        "é" * (MAX_ARG // 2 + 1),  # too long in bytes though not in characters
        None,
        42,
        {"sh": "echo"},
    ],
    ids=lambda v: repr(v)[:30],
)
def test_bad_commands_are_refused(bad: object) -> None:
    with pytest.raises(InvalidInput, match="command"):
        check_job(job(command=bad), NOW)


def test_command_of_the_longest_allowed_size_is_accepted() -> None:
    assert check_command("x" * MAX_ARG) == "x" * MAX_ARG


def test_an_environment_exec_could_never_take_is_refused() -> None:
    """5.2 MB of environment: each value fits, all of them never can (ARG_MAX)."""
    env = {f"V{n}": "x" * 100_000 for n in range(52)}
    with pytest.raises(InvalidInput, match="ARG_MAX") as refused:
        check_job(job(env=env), NOW)
    assert "\n" not in str(refused.value)


def test_command_and_environment_count_together() -> None:
    argv = ["printf", *["a" * 100_000] * 10]
    env = {f"V{n}": "x" * 100_000 for n in range(10)}
    check_job(job(command=argv), NOW)
    check_job(job(env=env), NOW)
    with pytest.raises(InvalidInput, match="ARG_MAX"):
        check_job(job(command=argv, env=env), NOW)


def test_a_variable_is_one_exec_string_with_its_name() -> None:
    """exec takes NAME=value as one string of at most MAX_ARG bytes (MAX_ARG_STRLEN)."""
    name = "NAME"
    longest = "x" * (MAX_ARG - len(name) - 1)
    assert check_job(job(env={name: longest}), NOW)["env"] == {name: longest}
    with pytest.raises(InvalidInput, match="too long"):
        check_job(job(env={name: longest + "x"}), NOW)


def test_missing_command_is_refused() -> None:
    with pytest.raises(InvalidInput, match="command"):
        check_job({"id": "a"}, NOW)


@pytest.mark.parametrize("raw", [None, [], "echo hi", 3, ["echo", "hi"], True])
def test_a_job_must_be_an_object(raw: object) -> None:
    with pytest.raises(InvalidInput):
        check_job(raw, NOW)


# --- keys and types ---------------------------------------------------------------
@pytest.mark.parametrize("key", ["cmd", "retries", "maxRetries", "max-retries", "ID", ""])
def test_unknown_keys_are_refused_by_name(key: str) -> None:
    with pytest.raises(InvalidInput, match="unknown job key"):
        check_job(job(**{key: 1}), NOW)


def test_every_documented_key_is_known() -> None:
    assert set(KEYS) == {
        "id",
        "command",
        "priority",
        "max_retries",
        "timeout",
        "run_at",
        "delay",
        "queue",
        "cwd",
        "env",
        "tags",
        "unique_key",
        "unique_within",
        "on_duplicate",
        "no_retry_on",
        "after",
        "after_mode",
        "limits",
        "clean_env",
    }


def test_unique_fields_are_normalised() -> None:
    spec = check_job(job(unique_key="k", unique_within="1h", on_duplicate="skip"), NOW)
    assert (spec["unique_key"], spec["unique_within"], spec["on_duplicate"]) == ("k", 3600, "skip")
    plain = check_job(job(unique_key="k", unique_within="active"), NOW)
    assert (plain["unique_within"], plain["on_duplicate"]) == (None, "error")
    assert check_job(job(no_retry_on=[127, 2, 2]), NOW)["no_retry_on"] == [2, 127]


@pytest.mark.parametrize(
    "fields",
    [
        {"unique_key": ""},
        {"unique_key": 5},
        {"unique_key": "k" * 257},
        {"unique_key": "k", "unique_within": "0s"},
        {"unique_key": "k", "unique_within": "later"},
        {"unique_key": "k", "on_duplicate": "replace"},
        {"on_duplicate": "replace"},
        {"no_retry_on": 2},
        {"no_retry_on": [256]},
        {"no_retry_on": [True]},
    ],
)
def test_bad_unique_and_retry_fields_are_refused(fields: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        check_job(job(**fields), NOW)


@pytest.mark.parametrize(
    "fields",
    [
        {"priority": "high"},
        {"priority": True},
        {"priority": 1.5},
        {"priority": 2**31},
        {"max_retries": "3"},
        {"max_retries": False},
        {"max_retries": -1},
        {"max_retries": 1001},
        {"max_retries": 2.0},
        {"timeout": "soon"},
        {"timeout": True},
        {"timeout": 0},
        {"timeout": -5},
        {"timeout": [30]},
        {"delay": "-1"},
        {"delay": "later"},
        {"delay": False},
        {"run_at": 1800000000},
        {"run_at": "tomorrow"},
        {"run_at": "3026-01-01T00:00:00Z"},
        {"queue": ""},
        {"queue": "a/b"},
        {"queue": 3},
        {"queue": None},
        {"cwd": ""},
        {"cwd": 3},
        {"cwd": "a\x00b"},
        {"env": ["A=1"]},
        {"env": {"A": 1}},
        {"env": {"1A": "x"}},
        {"env": {"A-B": "x"}},
        {"env": {"": "x"}},
        {"env": {"A": "x\x00"}},
        {"env": "A=1"},
    ],
    ids=lambda v: json.dumps(v)[:40],
)
def test_wrong_types_and_ranges_are_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        check_job(job(**fields), NOW)


def test_delay_and_run_at_together_are_refused() -> None:
    with pytest.raises(InvalidInput, match="run_at or delay"):
        check_job(job(delay="5m", run_at="2030-01-01T00:00:00Z"), NOW)


def test_defaults() -> None:
    spec = check_job(job(id="a"), NOW)
    assert spec == {
        "id": "a",
        "command": "true",
        "priority": 0,
        "max_retries": None,  # None: the queue's max_retries setting applies
        "timeout": None,
        "run_at": None,  # None: the insert's now (the queue's clock) + delay
        "delay": 0.0,
        "queue": "default",
        "cwd": None,
        "env": None,
        "tags": None,
        "unique_key": None,
        "unique_within": None,
        "on_duplicate": "error",
        "no_retry_on": None,
        "after": None,  # no dependencies
        "after_mode": "success",
        "limits": None,  # none of its own (its queue's still apply)
        "clean_env": False,  # the worker's whole environment
    }


def test_after_is_a_list_of_ids_without_itself() -> None:
    assert check_job(job(id="b", after=["a", "a", "c"]), NOW)["after"] == ["a", "c"]
    with pytest.raises(InvalidInput, match="cannot run after itself"):
        check_job(job(id="b", after=["b"]), NOW)
    with pytest.raises(InvalidInput, match="after must be an array"):
        check_job(job(after="a"), NOW)
    with pytest.raises(InvalidInput, match="invalid job id"):
        check_job(job(after=["no spaces"]), NOW)
    with pytest.raises(InvalidInput, match="after_mode must be one of success, done"):
        check_job(job(after=["a"], after_mode="always"), NOW)


def test_every_field_is_normalised() -> None:
    spec = check_job(
        {
            "id": "full",
            "command": ["sleep", "1"],
            "priority": -7,
            "max_retries": 0,
            "timeout": "1m30s",
            "delay": "5m",
            "queue": "emails",
            "cwd": "sub/../work",
            "env": {"A": "1", "B_2": ""},
            "tags": ["b", "a", "b"],
            "unique_key": "emails:42",
            "unique_within": "10m",
            "on_duplicate": "skip",
            "no_retry_on": [64, 2],
            "after": ["x", "y"],
            "after_mode": "done",
            "limits": {"mem": "2G", "cpu": "1.5", "pids": 256, "nofile": "4096"},
            "clean_env": True,
        },
        NOW,
        cwd_base="/srv",
    )
    assert spec == {
        "id": "full",
        "command": ["sleep", "1"],
        "priority": -7,
        "max_retries": 0,
        "timeout": 90.0,
        "run_at": None,
        "delay": 300.0,
        "queue": "emails",
        "cwd": "/srv/work",
        "env": {"A": "1", "B_2": ""},
        "tags": ["b", "a"],  # each once, in the order given
        "unique_key": "emails:42",
        "unique_within": 600.0,
        "on_duplicate": "skip",
        "no_retry_on": [2, 64],
        "after": ["x", "y"],
        "after_mode": "done",
        "limits": {"mem": 2 << 30, "cpu": 1.5, "pids": 256, "nofile": 4096},
        "clean_env": True,
    }


def test_relative_cwd_is_made_absolute_against_the_current_folder() -> None:
    assert check_job(job(cwd="sub"), NOW)["cwd"] == os.path.join(os.getcwd(), "sub")


def test_run_at_in_iso_with_z() -> None:
    spec = check_job(job(run_at="2030-01-01T00:00:00Z"), NOW)
    assert spec["run_at"] == 1893456000.0


def test_run_at_with_an_offset() -> None:
    spec = check_job(job(run_at="2030-01-01T02:00:00+02:00"), NOW)
    assert spec["run_at"] == 1893456000.0


@pytest.mark.parametrize("delay", ["30s", 30, 30.0, "0.5m"])
def test_delay_is_kept_for_the_queue_clock(delay: object) -> None:
    spec = check_job(job(delay=delay), NOW)
    assert spec["run_at"] is None and spec["delay"] == 30.0  # run_at = the insert's now + 30


def test_null_values_mean_absent() -> None:
    spec = check_job(
        job(id=None, max_retries=None, timeout=None, run_at=None, delay=None, cwd=None, env=None),
        NOW,
    )
    assert spec["max_retries"] is None and spec["env"] is None
    assert spec["run_at"] is None and spec["delay"] == 0.0  # starts at once


def test_empty_env_is_no_env() -> None:
    assert check_job(job(env={}), NOW)["env"] is None


@pytest.mark.parametrize("key", ["delay", "timeout"])
def test_huge_integer_durations_are_invalid_input(key: str) -> None:
    with pytest.raises(InvalidInput):
        check_job(job(**{key: 10**400}), NOW)


def test_run_at_before_year_one_utc_is_refused() -> None:
    with pytest.raises(InvalidInput):
        check_job(job(run_at="0001-01-01T00:00:00+01:00"), NOW)


# --- --env flags -------------------------------------------------------------------
def test_env_flags_split_at_the_first_equals_sign() -> None:
    assert parse_env_flags(["A=1", "B=x=y", "C="]) == {"A": "1", "B": "x=y", "C": ""}
    assert parse_env_flags([]) is None


def test_env_flag_without_equals_is_refused() -> None:
    with pytest.raises(InvalidInput, match="KEY=VALUE"):
        parse_env_flags(["A"])


# --- fuzz -------------------------------------------------------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
# objects that look like jobs: known keys with arbitrary values, sometimes plausible ones
plausible = {
    "id": st.from_regex(r"[A-Za-z0-9_:-][A-Za-z0-9._:-]{0,20}", fullmatch=True),
    "command": st.text(min_size=1, max_size=20) | st.lists(st.text(max_size=8), max_size=3),
    "priority": st.integers(),
    "max_retries": st.integers(),
    "timeout": st.floats() | st.sampled_from(["30s", "5m", "1h30m", "500ms", "0"]),
    "delay": st.integers() | st.sampled_from(["30s", "2h", "-1", "abc"]),
    "run_at": st.sampled_from(["2030-01-01T00:00:00Z", "2026-11-22T10:30:00.123+02:00", "x"]),
    "queue": st.text(max_size=10),
    "cwd": st.text(max_size=10),
    "env": st.dictionaries(st.text(max_size=5), st.text(max_size=5) | st.integers(), max_size=3),
    "tags": st.lists(st.text(max_size=6), max_size=3),
}
job_like = st.dictionaries(
    st.sampled_from(KEYS), json_values, max_size=len(KEYS)
) | st.fixed_dictionaries(
    {"command": plausible["command"]},
    optional={key: s | json_values for key, s in plausible.items() if key != "command"},
)


def _assert_valid_spec(spec: Any) -> None:
    assert set(spec) == set(KEYS)  # every documented key (test_every_documented_key_is_known)
    assert ID.fullmatch(spec["id"]) and not spec["id"].startswith(".")
    command = spec["command"]
    if isinstance(command, str):
        assert command.strip() and "\x00" not in command
    else:
        assert command and command[0] and all(isinstance(a, str) for a in command)
    assert type(spec["priority"]) is int
    assert spec["max_retries"] is None or (
        type(spec["max_retries"]) is int and spec["max_retries"] >= 0
    )
    assert spec["timeout"] is None or (math.isfinite(spec["timeout"]) and spec["timeout"] > 0)
    assert spec["run_at"] is None or (
        isinstance(spec["run_at"], float) and math.isfinite(spec["run_at"])
    )
    assert isinstance(spec["delay"], float) and math.isfinite(spec["delay"]) and spec["delay"] >= 0
    assert isinstance(spec["queue"], str) and spec["queue"]
    assert spec["cwd"] is None or os.path.isabs(spec["cwd"])
    assert spec["env"] is None or all(
        isinstance(k, str) and isinstance(v, str) for k, v in spec["env"].items()
    )
    tags = spec["tags"]
    assert tags is None or (tags and len(set(tags)) == len(tags) <= 32)
    assert tags is None or all(
        re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._:=/@+-]{0,63}", t) for t in tags
    )
    json.dumps(spec)  # storable as JSON


@given(json_values | job_like)
def test_check_job_either_returns_a_valid_spec_or_raises_invalid_input(raw: object) -> None:
    try:
        spec = check_job(raw, NOW)
    except InvalidInput as exc:
        assert str(exc)  # one message for the user
        assert "\n" not in str(exc)
        return
    except QueuectlError as exc:  # pragma: no cover - would be a bug
        raise AssertionError(f"bad input must be InvalidInput, got {exc!r}") from exc
    _assert_valid_spec(spec)


def test_a_job_of_only_its_command_is_checked_as_any_other_job() -> None:
    """The shortcut for ``{"command": …}`` gives what the full check gives the same job
    (a key given at its default takes the full check)."""
    quick = dict(check_job({"command": "echo hi"}, 1000.0))
    full = dict(check_job({"command": "echo hi", "priority": 0}, 1000.0))
    assert quick.pop("id") != full.pop("id")
    assert quick == full
