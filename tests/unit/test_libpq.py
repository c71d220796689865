"""backends.libpq without a server: placeholders, the parameters it sends, the values it
reads (the same against a server and psycopg: tests/pg/test_libpq.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from queuectl.backends.libpq import (
    LibpqError,
    dump,
    load,
    message_of,
    placeholders,
    split_array,
)


def test_named_placeholders_become_numbered_ones() -> None:
    sql, names = placeholders("SELECT %(a)s, %(b)s, %(a)s WHERE x LIKE 'y%%' AND z %% 2 = 0")
    assert sql == "SELECT $1, $2, $1 WHERE x LIKE 'y%' AND z % 2 = 0"
    assert names == ["a", "b"]
    assert placeholders("SELECT 1") == ("SELECT 1", [])
    assert placeholders("%%(a)s") == ("%(a)s", [])


@pytest.mark.parametrize("query", ["SELECT %s", "SELECT %(a)", "SELECT 5 % 2", "x %"])
def test_other_placeholders_are_refused(query: str) -> None:
    with pytest.raises(ValueError, match="placeholders"):
        placeholders(query)


@pytest.mark.parametrize(
    ("value", "sent"),
    [
        (None, (0, None)),
        ("text", (0, "text")),
        (True, (16, "t")),
        (False, (16, "f")),
        (7, (21, "7")),
        (-32768, (21, "-32768")),
        (40000, (23, "40000")),
        (2**40, (20, str(2**40))),
        (-(2**70), (1700, str(-(2**70)))),
        (1.5, (701, "1.5")),
        ([], (0, "{}")),
        ([None], (0, "{NULL}")),
        (
            ["a", 'b"c', "d,e", "f\\g", None, "NULL", ""],
            (0, '{"a","b\\"c","d,e","f\\\\g",NULL,"NULL",""}'),
        ),
        ([1, 2**40], (1016, '{"1","1099511627776"}')),
        ([0.5], (1022, '{"0.5"}')),
        ([True, None], (1000, '{"t",NULL}')),
    ],
)
def test_parameters_are_sent_as_psycopg_sends_them(value: object, sent: tuple[int, str]) -> None:
    assert dump(value) == sent


@pytest.mark.parametrize("value", [b"bytes", {"a": 1}, [1, "a"], Decimal(1), (1, 2)])
def test_other_parameters_are_refused(value: object) -> None:
    with pytest.raises(TypeError):
        dump(value)


@pytest.mark.parametrize(
    ("oid", "text", "value"),
    [
        (16, "t", True),
        (16, "f", False),
        (17, "\\x00ff41", b"\x00\xffA"),
        (19, "name", "name"),
        (20, "-9223372036854775808", -(2**63)),
        (21, "-2", -2),
        (23, "2147483647", 2**31 - 1),
        (25, "tëxt", "tëxt"),
        (114, '{"a": [1, null]}', {"a": [1, None]}),
        (700, "1.5", 1.5),
        (701, "-Infinity", float("-inf")),
        (1042, "c ", "c "),
        (1043, "v", "v"),
        (1700, "12.340", Decimal("12.340")),
        (3802, '"s"', "s"),
        (
            1009,
            '{a,"b,c",NULL,"NULL","d\\"e","f\\\\g",""}',
            ["a", "b,c", None, "NULL", 'd"e', "f\\g", ""],
        ),
        (1007, "{{1,2},{NULL,4}}", [[1, 2], [None, 4]]),
        (1016, "{}", []),
        (1000, "{t,f}", [True, False]),
        (1231, "{1.5,-2}", [Decimal("1.5"), Decimal("-2")]),
        (3807, '{"{\\"a\\": 1}",null}', [{"a": 1}, None]),
        (25, None, None),
        (1009, None, None),
    ],
)
def test_values_are_read_as_psycopg_returns_them(oid: int, text: str | None, value: object) -> None:
    found = load(oid, text)
    assert found == value
    assert type(found) is type(value)


def test_an_unknown_type_raises() -> None:
    with pytest.raises(LibpqError, match="OID 1184"):
        load(1184, "2024-01-01 00:00:00+00")


def test_arrays_with_bounds_raise() -> None:
    with pytest.raises(ValueError):
        split_array("[0:1]={1,2}")


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (
            b'ERROR:  relation "nope" does not exist\nLINE 1: ...',
            'relation "nope" does not exist\nLINE 1: ...',
        ),
        (b'FATAL:  database "x" does not exist\n', 'database "x" does not exist'),
        (
            b"could not receive data from server: Connection reset by peer\n",
            "could not receive data from server: Connection reset by peer",
        ),
        (b"SSL SYSCALL error: EOF detected", "SSL SYSCALL error: EOF detected"),
        (b"", "no error details available"),
        (None, "no error details available"),
    ],
)
def test_error_messages_lose_only_their_severity(raw: bytes | None, shown: str) -> None:
    assert message_of(raw) == shown
