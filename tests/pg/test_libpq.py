"""backends.libpq against the server: every type it reads and every parameter it sends
give what psycopg gives for the same statement."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from queuectl.backends.libpq import Connection, LibpqError
from queuectl.backends.pgread import LINK_OPTIONS

EVERY_TYPE = """
SELECT true AS b, NULL::bool AS nb, '\\x00ff41'::bytea AS by, 'n'::name AS n,
       -2::int2 AS i2, 2147483647::int4 AS i4, '-9223372036854775808'::int8 AS i8,
       't, "ë" \\ x'::text AS t, 'v'::varchar AS v, 'c'::char(2) AS c,
       1.5::float4 AS f4, 'NaN'::float8 AS nan, '-Infinity'::float8 AS inf, 0.1::float8 AS f8,
       12.340::numeric AS num, '{"a": [1, null, "é"]}'::json AS js, '[1, 2.5]'::jsonb AS jb,
       ARRAY['a', 'b,c', NULL, 'NULL', 'd"e', 'f\\g', '', ' s '] AS ta,
       ARRAY[[1, 2], [NULL, 4]]::int4[] AS ia, ARRAY[]::int8[] AS ea, ARRAY[true, NULL] AS ba,
       ARRAY[1.5, NULL]::numeric[] AS na, ARRAY['{"x": 1}'::jsonb] AS ja,
       ARRAY['x'::varchar] AS va, NULL::text[] AS nt, 9::int8 AS "Mixed Case"
"""


@pytest.fixture
def both(pg_database: str) -> Any:
    mine = Connection(pg_database, LINK_OPTIONS)
    theirs = psycopg.connect(pg_database, row_factory=dict_row, autocommit=True)
    yield mine, theirs
    mine.close()
    theirs.close()


def same(found: Any, expected: Any) -> bool:
    if isinstance(expected, float) and expected != expected:
        return isinstance(found, float) and found != found
    if isinstance(expected, list):
        return (
            isinstance(found, list)
            and len(found) == len(expected)
            and all(same(a, b) for a, b in zip(found, expected, strict=True))
        )
    return type(found) is type(expected) and found == expected


def test_every_type_reads_as_psycopg_reads_it(both: Any) -> None:
    mine, theirs = both
    [found] = mine.execute(EVERY_TYPE, {}).fetchall()
    [expected] = theirs.execute(EVERY_TYPE, {}).fetchall()
    assert list(found) == list(expected)
    for name, value in expected.items():
        assert same(found[name], value), (name, found[name], value)


PARAMETERS: dict[str, Any] = {
    "s": 'quote\' "double" \\ back, comma {brace} NULL é',
    "small": 7,
    "big": 2**40,
    "huge": 2**70,
    "f": 0.1,
    "yes": True,
    "none": None,
    "texts": ["a", 'b"c', "d,e", "f\\g", None, "NULL", "", " {x} "],
    "ints": [1, None, 2**40],
    "empty": [],
}
ECHO = """
SELECT %(s)s::text AS s, %(small)s AS small, %(big)s AS big, %(huge)s AS huge, %(f)s AS f,
       %(yes)s AS yes, %(none)s::text AS none, %(texts)s::text[] AS texts, %(ints)s AS ints,
       cardinality(%(empty)s::text[]) AS empty, pg_typeof(%(small)s)::text AS t_small,
       pg_typeof(%(ints)s)::text AS t_ints, 'x' LIKE 'x%%' AS percent, %(big)s AS again,
       'b,c' = ANY(%(texts)s) AS found
"""


def test_parameters_arrive_as_psycopg_sends_them(both: Any) -> None:
    mine, theirs = both
    [found] = mine.execute(ECHO, PARAMETERS).fetchall()
    [expected] = theirs.execute(ECHO, PARAMETERS).fetchall()
    assert found == expected
    for name, value in expected.items():
        assert same(found[name], value), (name, found[name], value)


def test_without_parameters_a_statement_goes_as_it_is(both: Any) -> None:
    mine, theirs = both
    plain, escaped = "SELECT 7 % 4 AS m, 'a%(b)s' AS t", "SELECT 7 %% 4 AS m, 'a%%(b)s' AS t"
    assert mine.execute(plain).fetchall() == theirs.execute(plain).fetchall()
    assert mine.execute(escaped, {}).fetchall() == theirs.execute(escaped, {}).fetchall()
    assert mine.execute(plain).fetchall() == [{"m": 3, "t": "a%(b)s"}]


def test_errors_read_as_psycopg_words_them(both: Any, pg_database: str) -> None:
    mine, theirs = both
    with pytest.raises(psycopg.Error) as expected:
        theirs.execute("SELECT 1/0", {})
    with pytest.raises(LibpqError) as mistake:
        mine.execute("SELECT 1/0", {})
    assert str(mistake.value) == str(expected.value) == "division by zero"
    assert mistake.value.sqlstate == "22012"
    assert not mine.broken
    wrong = pg_database.replace("5432", "1")
    with pytest.raises(psycopg.Error) as expected:
        psycopg.connect(wrong)
    with pytest.raises(LibpqError) as refused:
        Connection(wrong, LINK_OPTIONS)
    assert str(refused.value) == str(expected.value)


def test_without_a_system_libpq_the_bundled_one_serves(
    pg_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A machine without libpq.so.5 installed uses the copy in psycopg's binary wheel."""
    import ctypes

    from queuectl.backends import libpq

    real = ctypes.CDLL

    def no_system_libpq(name: str, *args: Any, **kwargs: Any) -> ctypes.CDLL:
        if name == libpq.SONAME:
            raise OSError(f"{name}: cannot open shared object file")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(ctypes, "CDLL", no_system_libpq)
    monkeypatch.setattr(libpq, "_lib", None)
    connection = Connection(pg_database, LINK_OPTIONS)
    try:
        assert connection.execute("SELECT %(x)s + 1 AS y", {"x": 41}).fetchall() == [{"y": 42}]
    finally:
        connection.close()
    assert "psycopg_binary.libs" in str(libpq._libpq()._name)


def test_without_any_libpq_a_reading_command_says_so_in_one_line(
    pg_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Neither the system's libpq nor psycopg's copy: a StorageError (the CLI's one-line
    error, exit 1), not a traceback."""
    import ctypes

    from queuectl.backends import libpq
    from queuectl.backends.pgread import PostgresReader
    from queuectl.errors import StorageError
    from queuectl.location import locate

    def no_libpq(name: str, *args: Any, **kwargs: Any) -> ctypes.CDLL:
        raise OSError(f"{name}: cannot open shared object file")

    monkeypatch.setattr(ctypes, "CDLL", no_libpq)
    monkeypatch.setattr(libpq, "_lib", None)
    monkeypatch.setattr(libpq, "find_spec", lambda name: None)
    with pytest.raises(StorageError, match=r"no libpq\.so\.5 here"):
        PostgresReader(locate(pg_database))
