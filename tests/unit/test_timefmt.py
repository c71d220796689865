"""Durations and instants as users type them, and as queuectl prints them."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from queuectl.errors import InvalidInput
from queuectl.timefmt import MAX_DURATION, format_duration, iso, parse_duration, parse_instant

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3,}Z$")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("5m", 300.0),
        ("2h", 7200.0),
        ("1h30m", 5400.0),
        ("500ms", 0.5),
        ("1.5h", 5400.0),
        ("2d", 172800.0),
        ("1w", 604800.0),
        ("1m30s", 90.0),
        ("5ms", 0.005),
        ("30", 30.0),
        ("1.5", 1.5),
        ("0", 0.0),
        (" 30S ", 30.0),
        (30, 30.0),
        (0.25, 0.25),
        ("366d", MAX_DURATION),
    ],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "bad",
    [
        "-1",
        -1,
        -0.5,
        "abc",
        "",
        "  ",
        "s",
        "5x",
        "5m30",
        "1h 30m",
        "m5",
        "--5s",
        "inf",
        "nan",
        math.inf,
        -math.inf,
        math.nan,
        True,
        False,
        None,
        [30],
        "367d",
        MAX_DURATION + 1,
        "9" * 65,
    ],
    ids=repr,
)
def test_bad_durations_are_invalid_input(bad: object) -> None:
    with pytest.raises(InvalidInput, match="timeout"):
        parse_duration(bad, "timeout")


def test_a_huge_integer_duration_is_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        parse_duration(10**400)


@given(st.text(max_size=20) | st.integers() | st.floats())
def test_parse_duration_returns_a_finite_non_negative_number_or_invalid_input(
    value: object,
) -> None:
    try:
        seconds = parse_duration(value)
    except InvalidInput:
        return
    assert math.isfinite(seconds)
    assert 0 <= seconds <= MAX_DURATION


@pytest.mark.parametrize(
    ("text", "epoch"),
    [
        ("2030-01-01T00:00:00Z", 1893456000.0),
        ("2030-01-01T00:00:00.250Z", 1893456000.25),
        ("2030-01-01T01:00:00+01:00", 1893456000.0),
        ("2029-12-31T19:00:00-05:00", 1893456000.0),
        ("2030-01-01 00:00:00Z", 1893456000.0),
        ("1970-01-01T00:00:00Z", 0.0),
    ],
)
def test_iso_instants(text: str, epoch: float) -> None:
    assert parse_instant(text) == epoch


@pytest.mark.parametrize(
    "bad", ["", "tomorrow", "2030-13-01T00:00:00Z", "2030-01-01T25:00:00Z", "2030\x00", "x" * 65]
)
def test_bad_instants_are_invalid_input(bad: str) -> None:
    with pytest.raises(InvalidInput):
        parse_instant(bad)


def test_iso_prints_utc_with_z_and_microseconds() -> None:
    assert iso(1893456000.25) == "2030-01-01T00:00:00.250000Z"
    assert iso(0.0) == "1970-01-01T00:00:00.000000Z"
    assert iso(None) is None


@given(st.floats(min_value=0, max_value=253402300799.0))  # 1970 … 9999-12-31T23:59:59
def test_iso_round_trips_through_parse_instant(epoch: float) -> None:
    text = iso(epoch)
    assert text is not None and TIMESTAMP.match(text)
    assert abs(parse_instant(text) - epoch) < 1e-5 * max(1.0, abs(epoch) / 1e9)


def test_instants_outside_1970_to_9999_are_refused() -> None:
    # iso() prints four-digit years only in this range, so nothing outside it is stored
    for text in ("0999-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "0001-01-01T00:00:00+01:00"):
        with pytest.raises(InvalidInput, match="out of range"):
            parse_instant(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.85, "850ms"), (12.34, "12.3s"), (245, "4m05s"), (7800, "2h10m")],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
