"""Hostile input, property-based: whatever a user types, queuectl answers exit 2 with one
line on stderr and leaves the queue exactly as it was, or (when the input is in fact
valid) exit 0 with a well-formed job. Never a traceback.

Most examples run in this process (``queuectl.cli.main``) on a fresh copy of a small
queue each; a handful run the real CLI (real argv: bytes that are not UTF-8, a 10 MB
command through ``--file``, JSON nested 100,000 levels deep).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from queuectl.api import Queue
from tests.faults.support import (
    DOCUMENTED_ID,
    Ran,
    assert_clean_error,
    assert_no_traceback,
    dump,
    jsonl,
    run_cli,
    run_main,
)
from tests.support.cli import cli_json, cli_ok
from tests.support.output import JOB_FIELDS, TIMESTAMP, TIMESTAMP_FIELDS

SEED_ID = "seed"
GENERATED_ID = re.compile(r"[0-9a-f]{16}")
QUEUE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._:-]{0,63}")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,30}")
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._:=/@+-]{0,63}")  # README: what a tag may be
KEYS = (
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
)
YEAR = 366 * 86400.0
EXAMPLES = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# --- a fresh queue per example ----------------------------------------------------------
class Template:
    """A small queue (one job, one setting) copied afresh for every example."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.db = folder / "template.db"
        with Queue(str(self.db)) as queue:
            queue.config_set("durability", "off")  # no fsync: examples stay fast
            queue.enqueue("echo seed", id=SEED_ID, env={"SEED_SECRET": "s"})
        self.dump = dump(self.db)

    @contextmanager
    def fresh(self) -> Iterator[str]:
        folder = tempfile.mkdtemp(prefix="example-", dir=self.folder)
        db = os.path.join(folder, "queuectl.db")
        shutil.copyfile(self.db, db)
        try:
            yield db
        finally:
            shutil.rmtree(folder)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    return Template(tmp_path_factory.mktemp("hostile"))


def refused_or_well_formed(template: Template, db: str, ran: Ran) -> dict[str, Any] | None:
    """Exit 2: one line, the queue unchanged → None. Exit 0: exactly one new job,
    well-formed (every field, timestamps, state) → that job as `list --json` shows it."""
    assert ran.code in (0, 2), f"expected exit 0 or 2\n{ran}"
    if currently_in_test_context():
        event(f"exit {ran.code}")  # --hypothesis-show-statistics: both kinds must occur
    if ran.code == 2:
        assert_clean_error(ran, 2)
        assert dump(db) == template.dump, "the queue changed on exit 2"
        return None
    assert_no_traceback(ran)
    listed = run_main("--db", db, "list", "--json")
    assert listed.code == 0, listed
    jobs = json.loads(listed.out)
    new = [job for job in jobs if job["id"] != SEED_ID]
    assert len(jobs) == 2 and len(new) == 1, jobs
    job: dict[str, Any] = new[0]
    assert ran.out == job["id"] + "\n"
    assert DOCUMENTED_ID.fullmatch(job["id"]), job["id"]
    assert set(JOB_FIELDS) <= set(job)
    assert (job["state"], job["attempts"]) == ("pending", 0)
    for name in ("run_at", "created_at", "updated_at"):
        assert TIMESTAMP.match(job[name]), (name, job[name])
    for name in set(TIMESTAMP_FIELDS) - {"run_at", "created_at", "updated_at"}:
        assert job[name] is None
    assert "env" not in job
    # the other faces can show it
    for argv in (["list"], ["show", "--", job["id"]], ["show", "--json", "--", job["id"]]):
        shown = run_main("--db", db, *argv)
        assert shown.code == 0, shown
    added = [line for line in dump(db) if line not in template.dump]
    # the job's row, and its queue's count of pending jobs (kept by the enqueue)
    jobs_added = [line for line in added if line.startswith('INSERT INTO "jobs"')]
    counted = [line for line in added if line.startswith('INSERT INTO "queue_counts"')]
    assert len(jobs_added) == 1 and len(counted) == 1 and len(added) == 2, added
    assert "'pending'" in counted[0], counted
    return job


def instant(text: str) -> float:
    """ISO 8601 (a Z, an offset, or local time) → epoch seconds."""
    return datetime.fromisoformat(text.strip()).timestamp()


# --- strategies -------------------------------------------------------------------------
NASTY = [
    "",
    " ",
    "\x00",
    "a\x00b",
    ".",
    "..",
    "...",
    ".x",
    "../x",
    "../../etc/passwd",
    "/etc/passwd",
    "a/b",
    "a\\b",
    "\ud800",
    "\udcff",
    "x" * 200,
    "1" * 5000,
    "nan",
    "inf",
    "-inf",
    "Infinity",
    "1e309",
    "-1e309",
    "1e-400",
    "-0",
    "0",
    "-1",
    "٣",
    "\uff12",  # a fullwidth 2
    "1_000",
    "0x10",
    "\n",
    "a\nb",
    "\t5",
    "5\n",
    "1h30m",
    "500ms",
    "30s",
    "5m",
    "2h",
    "1d",
    "1y",
    "99999999999999999999999d",
    "2026-11-22T10:30:00Z",
    "9999-12-31T23:59:59Z",
    "1969-12-31T23:59:59Z",
    "0001-01-01",
    "2026-02-30",
    "2026-01-01T24:00",
    "2026-01-01T00:00+25:00",
    "now",
    "null",
    "true",
    "{}",
    "[]",
    "🙂",
    "é",
    "\u202e",
    "default",
    SEED_ID,
    "A=1",
    "=1",
    "A=",
    "PATH=/tmp",
    "1=2",
]
# Any code point, surrogates and NUL included.
ANY_CHAR = st.characters(exclude_categories=())
texts = st.one_of(
    st.text(ANY_CHAR, max_size=24),
    st.sampled_from(NASTY),
    st.text(st.sampled_from("0123456789.:-_/ msdhwTZ+e=xA"), max_size=24),
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**600), max_value=10**600),
    st.floats(),
    texts,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)

safe_text = st.text(
    st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=40
)
valid_command = st.one_of(
    safe_text.filter(str.strip),
    st.lists(safe_text, min_size=1, max_size=4),
)
valid_id = st.from_regex(DOCUMENTED_ID, fullmatch=True).filter(lambda i: i != SEED_ID)
valid_queue = st.from_regex(QUEUE_NAME, fullmatch=True)
valid_tag = st.from_regex(TAG, fullmatch=True)
valid_env = st.dictionaries(
    st.from_regex(ENV_NAME, fullmatch=True),
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=20),
    max_size=4,
)
UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


@st.composite
def documented_duration(draw: st.DrawFn, positive: bool) -> tuple[str, float]:
    """A duration as README.md writes them: ``30``, ``1.5``, ``500ms``, ``1h30m`` → seconds."""
    if draw(st.booleans()):
        amount = draw(st.integers(1 if positive else 0, 10**6))
        if draw(st.booleans()):
            return str(amount), float(amount)
        fraction = draw(st.integers(0, 999))
        return f"{amount}.{fraction:03d}", float(f"{amount}.{fraction:03d}")
    parts = draw(
        st.lists(
            st.tuples(st.integers(1 if positive else 0, 99), st.sampled_from(list(UNITS))),
            min_size=1,
            max_size=3,
        )
    )
    return "".join(f"{n}{unit}" for n, unit in parts), sum(n * UNITS[u] for n, u in parts)


@st.composite
def documented_instant(draw: st.DrawFn) -> tuple[str, float]:
    """ISO 8601 with a Z, an offset, or none (local time) → epoch seconds."""
    moment = draw(st.datetimes(datetime(1971, 1, 2), datetime(2099, 12, 30)))
    zone = draw(
        st.one_of(
            st.none(),
            st.just(UTC),
            st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m))),
        )
    )
    if zone is None:
        text = moment.isoformat()
        return text, datetime.fromisoformat(text).timestamp()
    aware = moment.replace(tzinfo=zone)
    text = aware.isoformat().replace("+00:00", "Z") if zone is UTC else aware.isoformat()
    return text, aware.timestamp()


def job_objects() -> st.SearchStrategy[dict[str, Any]]:
    """Job objects whose values are each either valid or anything at all."""
    valid: dict[str, st.SearchStrategy[Any]] = {
        "id": valid_id,
        "priority": st.integers(-(2**31 - 1), 2**31 - 1),
        "max_retries": st.integers(0, 1000),
        "timeout": st.floats(0.001, YEAR) | documented_duration(True).map(lambda d: d[0]),
        "run_at": documented_instant().map(lambda i: i[0]),
        "delay": st.floats(0, YEAR) | documented_duration(False).map(lambda d: d[0]),
        "queue": valid_queue,
        "cwd": safe_text,
        "env": valid_env,
        "tags": st.lists(valid_tag, max_size=4),
    }
    optional = {key: st.one_of(strategy, strategy, json_values) for key, strategy in valid.items()}
    return st.fixed_dictionaries(
        {"command": st.one_of(valid_command, valid_command, json_values)}, optional=optional
    )


# --- enqueue JSON -----------------------------------------------------------------------
@EXAMPLES
@given(
    raw=st.one_of(job_objects(), job_objects(), json_values),
    extra=st.dictionaries(texts, json_values, max_size=1),
    ascii_only=st.booleans(),
)
def test_enqueue_json_refuses_or_stores_exactly_what_was_given(
    template: Template, raw: Any, extra: dict[str, Any], ascii_only: bool
) -> None:
    if isinstance(raw, dict) and extra:
        raw = {**raw, **extra}
    text = json.dumps(raw, ensure_ascii=ascii_only)
    with template.fresh() as db:
        ran = run_main("--db", db, "enqueue", text)
        job = refused_or_well_formed(template, db, ran)
    if job is None:
        return
    assert isinstance(raw, dict)
    assert set(raw) <= set(KEYS), "an unknown key was accepted"
    assert job["command"] == raw["command"]
    if raw.get("id") is not None:
        assert job["id"] == raw["id"]
    else:
        assert GENERATED_ID.fullmatch(job["id"])
    assert job["priority"] == raw.get("priority", 0)
    assert job["max_retries"] == (3 if raw.get("max_retries") is None else raw["max_retries"])
    assert job["queue"] == raw.get("queue", "default")
    assert job["env_keys"] == sorted(raw.get("env") or {})
    assert job["tags"] == list(dict.fromkeys(raw.get("tags") or []))
    if raw.get("cwd") is not None:
        assert job["cwd"] == os.path.normpath(os.path.join(os.getcwd(), raw["cwd"]))
    timeout = raw.get("timeout")
    if timeout is None:
        assert job["timeout"] is None
    else:
        assert 0 < job["timeout"] <= YEAR
        if isinstance(timeout, int | float):
            assert job["timeout"] == float(timeout)
    run_at, created = instant(job["run_at"]), instant(job["created_at"])
    if raw.get("run_at") is not None:
        assert math.isclose(run_at, instant(raw["run_at"]), abs_tol=1e-5)
    elif isinstance(raw.get("delay"), int | float):
        assert math.isclose(run_at - created, raw["delay"], abs_tol=1e-4)
    elif raw.get("delay") is not None:
        assert created <= run_at <= created + YEAR + 1
    else:
        assert run_at == created


@pytest.mark.parametrize("depth", [1_000, 5_000, 100_000])
@pytest.mark.parametrize("where", ["document", "command", "id", "env", "timeout", "queue"])
def test_deeply_nested_json_is_refused(template: Template, depth: int, where: str) -> None:
    nested = "[" * depth + "]" * depth
    text = nested if where == "document" else f'{{"command": "true", "{where}": {nested}}}'
    with template.fresh() as db:
        ran = run_main("--db", db, "enqueue", text)
        refused_or_well_formed(template, db, ran)
    assert ran.code == 2, ran


@pytest.mark.parametrize(
    ("field", "size", "code"),
    [
        ("command", 131071, 0),  # the longest argument exec accepts
        ("command", 131072, 2),
        ("command", 10 * 1024 * 1024, 2),
        ("argv", 10 * 1024 * 1024, 2),
        ("env", 10 * 1024 * 1024, 2),
        ("cwd", 4097, 2),
        ("id", 129, 2),
        ("queue", 65, 2),
        ("env-count", 1000, 0),
        ("env-count", 1001, 2),
    ],
)
def test_huge_strings(template: Template, field: str, size: int, code: int) -> None:
    big = "x" * size
    raw: dict[str, Any] = {"command": "true"}
    if field == "command":
        raw["command"] = big
    elif field == "argv":
        raw["command"] = ["echo", *([big[: 100 * 1024]] * 100)]
    elif field == "env":
        raw["env"] = {"BIG": big}
    elif field == "env-count":
        raw["env"] = {f"V{n}": "x" for n in range(size)}
    else:
        raw[field] = big
    with template.fresh() as db:
        ran = run_main("--db", db, "enqueue", json.dumps(raw))
        refused_or_well_formed(template, db, ran)
    assert ran.code == code, ran


# --- enqueue flags ----------------------------------------------------------------------
def flag(valid: st.SearchStrategy[str]) -> st.SearchStrategy[tuple[str, bool]]:
    """A flag's text: (valid, True), or (anything at all, False)."""
    good = valid.map(lambda v: (v, True))
    return st.one_of(good, good, texts.map(lambda v: (v, False)))


def documented_seconds(text: str) -> float | None:
    """The documented duration grammar, independently of the code under test."""
    if re.fullmatch(r"\d+(\.\d+)?", text, re.ASCII):
        return float(text)
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)", text, re.ASCII)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * UNITS[u] for n, u in parts)


VALID_FLAGS: dict[str, st.SearchStrategy[str]] = {
    "--id": valid_id,
    "--priority": st.integers(-(2**31 - 1), 2**31 - 1).map(str),
    "--max-retries": st.integers(0, 1000).map(str),
    "--timeout": documented_duration(True).map(lambda d: d[0]),
    "--queue": valid_queue,
    "--cwd": safe_text,
}
FLAGS = {name: flag(strategy) for name, strategy in VALID_FLAGS.items()}
WHEN = st.one_of(
    st.none(),
    st.tuples(st.just("--delay"), flag(documented_duration(False).map(lambda d: d[0]))),
    st.tuples(st.just("--run-at"), flag(documented_instant().map(lambda i: i[0]))),
)
VALID_ENV_PAIR = st.tuples(st.from_regex(ENV_NAME, fullmatch=True), safe_text | st.just(""))
ENV_PAIR = flag(VALID_ENV_PAIR.map("=".join))


def valid(strategy: st.SearchStrategy[str]) -> st.SearchStrategy[tuple[str, bool]]:
    return strategy.map(lambda text: (text, True))


@EXAMPLES
@given(
    command=flag(safe_text.filter(str.strip)),
    flags=st.fixed_dictionaries({}, optional=FLAGS),
    when=WHEN,
    env=st.lists(ENV_PAIR, max_size=3),
)
def test_enqueue_flags_refuse_or_store_exactly_what_was_given(
    template: Template,
    command: tuple[str, bool],
    flags: dict[str, tuple[str, bool]],
    when: tuple[str, tuple[str, bool]] | None,
    env: list[tuple[str, bool]],
) -> None:
    check_flags(template, command, flags, when, env)


@settings(EXAMPLES, max_examples=60)
@given(
    command=valid(safe_text.filter(str.strip)),
    flags=st.fixed_dictionaries(
        {}, optional={name: valid(strategy) for name, strategy in VALID_FLAGS.items()}
    ),
    when=st.one_of(
        st.none(),
        st.tuples(st.just("--delay"), documented_duration(False).map(lambda d: (d[0], True))),
        st.tuples(st.just("--run-at"), documented_instant().map(lambda i: (i[0], True))),
    ),
    env=st.lists(valid(VALID_ENV_PAIR.map("=".join)), max_size=3),
)
def test_valid_enqueue_flags_are_stored_exactly(
    template: Template,
    command: tuple[str, bool],
    flags: dict[str, tuple[str, bool]],
    when: tuple[str, tuple[str, bool]] | None,
    env: list[tuple[str, bool]],
) -> None:
    check_flags(template, command, flags, when, env)


def check_flags(
    template: Template,
    command: tuple[str, bool],
    flags: dict[str, tuple[str, bool]],
    when: tuple[str, tuple[str, bool]] | None,
    env: list[tuple[str, bool]],
) -> None:
    given_flags = dict(flags)
    if when is not None:
        given_flags[when[0]] = when[1]
    argv = [f"--command={command[0]}"]
    argv += [f"{name}={text}" for name, (text, _) in given_flags.items()]
    argv += [f"--env={pair}" for pair, _ in env]
    all_valid = command[1] and all(ok for _, ok in [*given_flags.values(), *env])
    with template.fresh() as db:
        ran = run_main("--db", db, "enqueue", *argv)
        job = refused_or_well_formed(template, db, ran)
    if all_valid:
        assert job is not None, f"valid flags were refused: {argv!r}\n{ran}"
    if job is None:
        return
    text = {name: value for name, (value, _) in given_flags.items()}
    assert job["command"] == command[0]
    if "--id" in text:
        assert job["id"] == text["--id"]
    assert job["priority"] == int(text.get("--priority", "0"))
    assert job["max_retries"] == int(text.get("--max-retries", "3"))
    assert job["queue"] == text.get("--queue", "default")
    if "--cwd" in text:
        assert job["cwd"] == os.path.normpath(os.path.join(os.getcwd(), text["--cwd"]))
    assert job["env_keys"] == sorted({pair.partition("=")[0] for pair, _ in env})
    if "--timeout" in text:
        expected = documented_seconds(text["--timeout"])
        assert 0 < job["timeout"] <= YEAR
        if expected is not None:
            assert math.isclose(job["timeout"], expected, rel_tol=1e-9)
    run_at, created = instant(job["run_at"]), instant(job["created_at"])
    if "--run-at" in text:
        assert math.isclose(run_at, instant(text["--run-at"]), abs_tol=1e-5)
    elif "--delay" in text:
        delay = documented_seconds(text["--delay"])
        if delay is not None:
            assert math.isclose(run_at - created, delay, abs_tol=1e-4)
        assert created <= run_at <= created + YEAR + 1
    else:
        assert run_at == created


# --- durations and instants, on their own -------------------------------------------------
@EXAMPLES
@given(
    duration=st.one_of(documented_duration(False).map(lambda d: d[0]), texts),
    moment=st.one_of(documented_instant().map(lambda i: i[0]), texts),
)
def test_durations_and_instants(template: Template, duration: str, moment: str) -> None:
    seconds = documented_seconds(duration)
    for option, value in (("--delay", duration), ("--timeout", duration), ("--run-at", moment)):
        with template.fresh() as db:
            ran = run_main("--db", db, "enqueue", "--command=true", f"{option}={value}")
            refused_or_well_formed(template, db, ran)
        documented = seconds is not None and seconds <= YEAR
        if option != "--run-at" and documented and (option == "--delay" or seconds):
            assert ran.code == 0, f"the documented {option} {value!r} was refused\n{ran}"
    with template.fresh() as db:
        stop = run_main("--db", db, "worker", "stop", f"--timeout={duration}")
        assert stop.code in (0, 2), stop
        if stop.code == 2:
            assert_clean_error(stop, 2)


# --- config set -----------------------------------------------------------------------------
SETTING_KEYS = [
    "max-retries",
    "max_retries",
    "MAX-RETRIES",
    " lease ",
    "backoff-base",
    "max-backoff",
    "job-timeout",
    "kill-grace",
    "lease",
    "heartbeat",
    "poll-interval",
    "log-tail-bytes",
    "durability",
    "max-log-bytes",
]
SETTING_VALUES = st.one_of(
    texts,
    st.integers(-10, 5000).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    documented_duration(False).map(lambda d: d[0]),
    st.sampled_from(["none", "off", "OFF", "full", "normal", " 5 ", "2.5", "1e3", "100000000"]),
)


@EXAMPLES
@given(key=st.one_of(st.sampled_from(SETTING_KEYS), texts), value=SETTING_VALUES)
def test_config_set_refuses_or_stores_a_usable_value(
    template: Template, key: str, value: str
) -> None:
    with template.fresh() as db:
        ran = run_main("--db", db, "config", "set", "--", key, value)
        assert ran.code in (0, 2), ran
        event(f"exit {ran.code}")
        if ran.code == 2:
            assert_clean_error(ran, 2)
            assert dump(db) == template.dump, "the queue changed on exit 2"
            return
        assert_no_traceback(ran)
        got = run_main("--db", db, "config", "get", "--", key)
        assert got.code == 0, got
        stored = got.out.strip()
        # canonical: setting it again changes nothing
        again = run_main("--db", db, "config", "set", "--", key, stored)
        assert again.code == 0, again
        assert run_main("--db", db, "config", "get", "--", key).out.strip() == stored
        listed = run_main("--db", db, "config", "list", "--json")
        assert listed.code == 0, listed
        # every process can read every setting as its type, and they fit together
        with Queue(db) as queue:
            current = queue.settings
            numbers = [
                current.max_retries,
                current.backoff_base,
                current.max_backoff,
                current.kill_grace,
                current.lease,
                current.heartbeat,
                current.poll_interval,
                current.log_tail_bytes,
                current.max_log_bytes,
            ]
            assert all(math.isfinite(n) and n >= 0 for n in numbers), numbers
            assert current.job_timeout is None or current.job_timeout > 0
            assert current.durability in ("full", "normal", "off")
            assert current.heartbeat * 2 <= current.lease
        assert run_main("--db", db, "enqueue", "--command=true").code == 0


# --- ids ------------------------------------------------------------------------------------
ID_COMMANDS = [
    ("show",),
    ("show", "--json"),
    ("logs",),
    ("cancel",),
    ("dlq", "retry"),
    ("dlq", "purge"),
]


@EXAMPLES
@given(
    job_id=st.one_of(texts, st.from_regex(DOCUMENTED_ID, fullmatch=True)),
    command=st.sampled_from(ID_COMMANDS),
)
def test_job_ids_anywhere(template: Template, job_id: str, command: tuple[str, ...]) -> None:
    assume(job_id != SEED_ID)
    with template.fresh() as db:
        ran = run_main("--db", db, *command, "--", job_id)
        if DOCUMENTED_ID.fullmatch(job_id):
            assert_clean_error(ran, 1, "no job")  # valid, but there is no such job
        else:
            assert_clean_error(ran, 2, "job id")
        assert dump(db) == template.dump
        enq = run_main("--db", db, "enqueue", "--command=true", f"--id={job_id}")
        refused_or_well_formed(template, db, enq)
        assert (enq.code == 0) == bool(DOCUMENTED_ID.fullmatch(job_id)), enq


@pytest.mark.parametrize("name", ["a\x00b", "\udcff", "/", "no/such/file", ""])
def test_enqueue_file_names(template: Template, name: str) -> None:
    """Only reachable in-process for NUL (argv cannot hold one), but ``main`` is the
    console script's entry point and takes any list of strings."""
    with template.fresh() as db:
        refused_or_well_formed(template, db, run_main("--db", db, "enqueue", "--file", name))


def test_list_limit_out_of_range(tmp_path: Path) -> None:
    home = tmp_path / "home"
    cli_ok(home, "enqueue", "--command", "true")
    for limit in ("99999999999999999999", "9223372036854775808", "1" * 4000):
        ran = run_cli(home, "list", "--limit", limit)
        assert ran.code in (0, 2), ran
        if ran.code == 2:
            assert_clean_error(ran, 2)
        else:
            assert_no_traceback(ran)


# --- the real CLI ---------------------------------------------------------------------------
@pytest.fixture
def seeded(tmp_path: Path) -> tuple[Path, list[str]]:
    """A queue with one job, and its dump: every refusal below must leave it so."""
    home = tmp_path / "home"
    cli_ok(home, "enqueue", "--id", SEED_ID, "--command", "echo seed")
    return home, dump(home / "queuectl.db")


def _unchanged(seeded: tuple[Path, list[str]]) -> None:
    home, before = seeded
    assert dump(home / "queuectl.db") == before


def test_a_10_mb_command_through_a_file_and_stdin(
    tmp_path: Path, seeded: tuple[Path, list[str]]
) -> None:
    home, _ = seeded
    big = tmp_path / "big.jsonl"
    big.write_text(jsonl([{"command": "echo start"}, {"command": "echo " + "x" * 10**7}]))
    assert_clean_error(run_cli(home, "enqueue", "--file", big), 2, "line 2", "too long")
    ran = run_cli(home, "enqueue", "--file", "-", input=big.read_bytes())
    assert_clean_error(ran, 2, "line 2", "too long")
    _unchanged(seeded)


def test_json_nested_100000_levels(tmp_path: Path, seeded: tuple[Path, list[str]]) -> None:
    home, _ = seeded
    deep = "[" * 100_000 + "]" * 100_000
    lines = tmp_path / "deep.jsonl"
    lines.write_text('{"command": "true"}\n{"command": ' + deep + "}\n")
    assert_clean_error(run_cli(home, "enqueue", "--file", lines), 2, "line 2")
    assert_clean_error(run_cli(home, "enqueue", "--file", "-", input=lines.read_bytes()), 2)
    # as an argument, as deep as one exec argument allows (128 KiB)
    argument = "[" * 60_000 + "]" * 60_000
    assert_clean_error(run_cli(home, "enqueue", argument), 2)
    assert_clean_error(run_cli(home, "enqueue", '{"command":"x","env":' + argument + "}"), 2)
    _unchanged(seeded)


@pytest.mark.parametrize(
    "args",
    [
        (b"enqueue", b"--command", b"echo \xff\xfe"),
        (b"enqueue", b"--command", b"true", b"--id", b"\xff"),
        (b"enqueue", b"--command", b"true", b"--cwd", b"/tmp/\xff"),
        (b"enqueue", b"--command", b"true", b"--env", b"A=\xff"),
        (b"enqueue", b"--command", b"true", b"--queue", b"q\xff"),
        (b"enqueue", b"--command", b"true", b"--run-at", b"2030-01-01T00:00:00\xff"),
        (b"enqueue", b"--command", b"true", b"--delay", b"5\xffs"),
        (b"enqueue", b'{"command": "\xff"}'),
        (b"enqueue", b'{"command": "\\ud800"}'),
        (b"enqueue", b'{"command": "true", "id": "\\u0000"}'),
        (b"config", b"set", b"max-retries", b"\xff"),
        (b"config", b"set", b"\xff", b"1"),
        (b"show", b"\xff"),
        (b"show", b"../x"),
        (b"logs", b"/etc/passwd"),
        (b"cancel", b"a/b", b"..", b"."),
        (b"dlq", b"retry", b"../../x"),
        (b"dlq", b"purge", b".x"),
        (b"enqueue", b"--command", b"true", b"--id", b"../x"),
        (b"enqueue", b"--file", b"\xff"),
        (b"list", b"--state", b"\xff"),
        (b"worker", b"stop", b"--timeout", b"\xff"),
    ],
    ids=lambda args: b" ".join(args).decode("ascii", "backslashreplace")[:60],
)
def test_real_argv_that_is_not_utf8_or_points_elsewhere(
    seeded: tuple[Path, list[str]], args: tuple[bytes, ...]
) -> None:
    home, _ = seeded
    assert_clean_error(run_cli(home, *args), 2)
    _unchanged(seeded)


def test_one_bad_line_in_a_thousand_writes_nothing(
    tmp_path: Path, seeded: tuple[Path, list[str]]
) -> None:
    home, _ = seeded
    jobs: list[dict[str, object]] = [{"command": f"echo {n}"} for n in range(1000)]
    jobs[700] = {"command": "echo bad", "priority": "high"}
    batch = tmp_path / "batch.jsonl"
    batch.write_text(jsonl(jobs))
    assert_clean_error(run_cli(home, "enqueue", "--file", batch), 2, "line 701", "priority")
    jobs[700] = {"command": "echo dup", "id": SEED_ID}
    batch.write_text(jsonl(jobs))
    assert_clean_error(run_cli(home, "enqueue", "--file", batch), 2, SEED_ID)
    _unchanged(seeded)
    assert [job["id"] for job in cli_json(home, "list", "--json")] == [SEED_ID]


@pytest.mark.parametrize(
    "args",
    [
        ("enqueue", "--command", "true", "--cwd", "sub"),
        ("enqueue", "--command", "true", "--cwd", "/tmp"),
        ("--db", "relative.db", "list"),
    ],
    ids=" ".join,
)
def test_a_working_directory_that_was_deleted(tmp_path: Path, args: tuple[str, ...]) -> None:
    """The shell's current folder was removed under it (a common sight after `rm -rf`
    of a build tree): relative paths cannot be resolved; say so, no traceback."""
    home = tmp_path / "home"
    cli_ok(home, "enqueue", "--id", SEED_ID, "--command", "true")
    gone = tmp_path / "gone"
    gone.mkdir()
    ran = run_cli(home, *args, cwd=gone, preexec=lambda: os.rmdir(os.getcwd()))
    assert not gone.exists()
    if "/tmp" in args:  # an absolute --cwd needs no current folder: it simply works
        assert ran.code == 0 and "Traceback" not in ran.err, ran
        return
    assert ran.code in (1, 2), ran
    assert_clean_error(ran, ran.code)
