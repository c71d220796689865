"""A PostgreSQL connection for commands that only read, through libpq by ``ctypes``.

Importing psycopg costs a short command about 130 ms (DECISIONS.md §28); libpq itself
loads in a few. libpq still does everything a client must get right (URLs, services,
``PGPASSWORD`` and .pgpass, SCRAM, TLS); this module only sends statements with
``PQexecParams`` in text format and reads the results as psycopg would return them.

It offers the subset the PostgreSQL reads use (backends.pgread): ``execute(query,
params).fetchall()`` with rows as dicts and ``%(name)s`` parameters. A value or a
column type it does not know raises: a new query's types show up in the tests, never as
a wrong value.
"""

from __future__ import annotations

import ctypes
import json
import os
from decimal import Decimal
from importlib.util import find_spec
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

SONAME = "libpq.so.5"
CONNECTION_OK = 0
COMMAND_OK, TUPLES_OK = 1, 2
SQLSTATE = ord("C")  # PG_DIAG_SQLSTATE


class LibpqError(Exception):
    """A failed connection or statement: its message as psycopg words it."""

    def __init__(self, message: str, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


# --- the library ------------------------------------------------------------------
def _find() -> ctypes.CDLL:
    """The system's libpq, else the one psycopg's binary wheel bundles (found without
    importing psycopg)."""
    try:
        return ctypes.CDLL(SONAME)
    except OSError:
        pass
    spec = find_spec("psycopg_binary")
    if spec is not None and spec.origin is not None:
        bundled = os.path.join(os.path.dirname(os.path.dirname(spec.origin)), "psycopg_binary.libs")
        for name in sorted(os.listdir(bundled)) if os.path.isdir(bundled) else ():
            if name.startswith("libpq"):
                return ctypes.CDLL(os.path.join(bundled, name))
    raise LibpqError(f"no {SONAME} here: install libpq, or pip install 'queuectl[postgres]'")


_P = ctypes.c_void_p
_SIGNATURES: dict[str, tuple[Any, list[Any] | None]] = {
    "PQconnectdbParams": (_P, [ctypes.POINTER(ctypes.c_char_p)] * 2 + [ctypes.c_int]),
    "PQstatus": (ctypes.c_int, [_P]),
    "PQerrorMessage": (ctypes.c_char_p, [_P]),
    "PQfinish": (None, [_P]),
    "PQsetNoticeProcessor": (_P, [_P, _P, _P]),
    "PQexecParams": (
        _P,
        [
            _P,
            ctypes.c_char_p,
            ctypes.c_int,
            ctypes.POINTER(ctypes.c_uint),
            ctypes.POINTER(ctypes.c_char_p),
            _P,
            _P,
            ctypes.c_int,
        ],
    ),
    "PQresultStatus": (ctypes.c_int, [_P]),
    "PQresultErrorMessage": (ctypes.c_char_p, [_P]),
    "PQresultErrorField": (ctypes.c_char_p, [_P, ctypes.c_int]),
    "PQntuples": (ctypes.c_int, [_P]),
    "PQnfields": (ctypes.c_int, [_P]),
    "PQfname": (ctypes.c_char_p, [_P, ctypes.c_int]),
    "PQftype": (ctypes.c_uint, [_P, ctypes.c_int]),
    # called once a cell: without argtypes, a call costs 0.8 µs instead of 1.9 (the
    # result then goes as a c_void_p, row and column as Python ints)
    "PQgetisnull": (ctypes.c_int, None),
    "PQgetvalue": (ctypes.c_char_p, None),
    "PQclear": (None, [_P]),
    "PQconninfoParse": (_P, [ctypes.c_char_p, ctypes.POINTER(_P)]),
    "PQconninfoFree": (None, [_P]),
    "PQfreemem": (None, [_P]),
}
_lib: ctypes.CDLL | None = None
# libpq prints the server's notices on stderr unless told otherwise; psycopg drops them too
_QUIET = ctypes.CFUNCTYPE(None, _P, ctypes.c_char_p)(lambda _arg, _message: None)


def _libpq() -> ctypes.CDLL:
    global _lib
    if _lib is None:
        lib = _find()
        for name, (restype, argtypes) in _SIGNATURES.items():
            function = getattr(lib, name)
            function.restype, function.argtypes = restype, argtypes
        _lib = lib
    return _lib


def valid(url: str) -> bool:
    """Whether libpq can parse ``url`` (a connection string or URI)."""
    lib = _libpq()
    error = _P()
    options = lib.PQconninfoParse(url.encode(), ctypes.byref(error))
    if error:
        lib.PQfreemem(error)
    if not options:
        return False
    lib.PQconninfoFree(options)
    return True


# --- parameters: what psycopg sends -----------------------------------------------
UNKNOWN, BOOL, INT2, INT4, INT8, NUMERIC, FLOAT8, TEXT = 0, 16, 21, 23, 20, 1700, 701, 25
ARRAY_OF = {BOOL: 1000, INT2: 1005, INT4: 1007, INT8: 1016, NUMERIC: 1231, FLOAT8: 1022}


def _int_oid(value: int) -> int:
    """psycopg's choice: the smallest integer type that holds the value."""
    for oid, bits in ((INT2, 15), (INT4, 31), (INT8, 63)):
        if -(1 << bits) <= value < (1 << bits):
            return oid
    return NUMERIC


def _scalar(value: object) -> tuple[int, str]:
    if isinstance(value, bool):
        return BOOL, "t" if value else "f"
    if isinstance(value, int):
        return _int_oid(value), str(value)
    if isinstance(value, float):
        return FLOAT8, repr(value)
    if isinstance(value, str):
        return UNKNOWN, value
    raise TypeError(f"cannot send a {type(value).__name__} to PostgreSQL here")


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _array(values: list[object]) -> tuple[int, str]:
    """An array of its elements' type: for integers the widest needed; for strings, or
    none but NULLs, an untyped literal the server types from its context (as psycopg)."""
    oids = set()
    items = []
    for value in values:
        if value is None:
            items.append("NULL")
            continue
        oid, text = _scalar(value)
        oids.add(oid)
        items.append(_quoted(text))
    literal = "{" + ",".join(items) + "}"
    integers = [INT2, INT4, INT8, NUMERIC]
    if oids and oids <= set(integers):
        return ARRAY_OF[max(oids, key=integers.index)], literal
    if len(oids) > 1:
        raise TypeError(f"cannot send a list of mixed types to PostgreSQL: {sorted(oids)}")
    return ARRAY_OF.get(oids.pop(), UNKNOWN) if oids else UNKNOWN, literal


def dump(value: object) -> tuple[int, str | None]:
    """(type OID, text) of a parameter; None is NULL. A list is an array; a tuple, which
    psycopg sends as a record, is refused."""
    if value is None:
        return UNKNOWN, None
    if isinstance(value, list):
        return _array(value)
    return _scalar(value)


def placeholders(query: str) -> tuple[str, list[str]]:
    """``%(name)s`` → ``$n`` (a name used twice is one parameter), ``%%`` → ``%``: the
    query as the server takes it, and the names in parameter order."""
    names: list[str] = []
    out: list[str] = []
    i = 0
    while True:
        j = query.find("%", i)
        if j < 0:
            out.append(query[i:])
            break
        out.append(query[i:j])
        if query.startswith("%%", j):
            out.append("%")
            i = j + 2
            continue
        end = query.find(")s", j)
        if not query.startswith("%(", j) or end < 0:
            raise ValueError(f"only %(name)s and %% placeholders go here: {query[j : j + 10]!r}")
        name = query[j + 2 : end]
        if name not in names:
            names.append(name)
        out.append(f"${names.index(name) + 1}")
        i = end + 2
    return "".join(out), names


# --- results: what psycopg returns ------------------------------------------------
def _bool(text: str) -> bool:
    return text == "t"


def _bytea(text: str) -> bytes:
    if not text.startswith("\\x"):
        raise ValueError("bytea not in hex format")
    return bytes.fromhex(text[2:])


LOADERS: dict[int, Callable[[str], Any]] = {
    BOOL: _bool,
    17: _bytea,
    19: str,  # name
    INT8: int,
    INT2: int,
    INT4: int,
    TEXT: str,
    114: json.loads,  # json
    700: float,  # float4
    FLOAT8: float,
    1042: str,  # bpchar
    1043: str,  # varchar
    NUMERIC: Decimal,
    3802: json.loads,  # jsonb
}
ELEMENT_OF = {1000: BOOL, 1001: 17, 1003: 19, 1005: INT2, 1007: INT4, 1009: TEXT, 1014: 1042}
ELEMENT_OF |= {1015: 1043, 1016: INT8, 1021: 700, 1022: FLOAT8, 1231: NUMERIC, 199: 114, 3807: 3802}


def split_array(text: str) -> list[Any]:
    """A one- or many-dimensional array literal → nested lists of str, None for NULL."""
    if not text.startswith("{"):
        raise ValueError(f"array with explicit bounds not supported: {text[:20]!r}")
    stack: list[list[Any]] = []
    result: list[Any] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == "{":
            stack.append([])
            i += 1
        elif char == "}":
            done = stack.pop()
            if stack:
                stack[-1].append(done)
            else:
                result = done
            i += 1
        elif char == ",":
            i += 1
        elif char == '"':
            i += 1
            piece = []
            while text[i] != '"':
                if text[i] == "\\":
                    i += 1
                piece.append(text[i])
                i += 1
            stack[-1].append("".join(piece))
            i += 1
        else:
            start = i
            while text[i] not in ",}":
                i += 1
            word = text[start:i]
            stack[-1].append(None if word == "NULL" else word)
    return result


def _loader(oid: int) -> Callable[[str], Any]:
    if oid in LOADERS:
        return LOADERS[oid]
    if oid in ELEMENT_OF:
        element = LOADERS[ELEMENT_OF[oid]]

        def load(items: Any) -> Any:
            if isinstance(items, list):
                return [load(item) for item in items]
            return None if items is None else element(items)

        return lambda text: load(split_array(text))
    raise LibpqError(f"column of type OID {oid}: not decoded by backends.libpq")


def load(oid: int, text: str | None) -> Any:
    """A column's value from its text form, as psycopg returns it."""
    return None if text is None else _loader(oid)(text)


# --- the connection -----------------------------------------------------------------
class Cursor:
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    def fetchall(self) -> list[dict[str, Any]]:
        return self.rows


_SEVERITIES = frozenset({"ERROR", "FATAL", "PANIC"})


def message_of(raw: bytes | None) -> str:
    """psycopg's wording: the message without its severity ("ERROR:  …"). A message of
    libpq's own ("could not receive data from server: …") is kept whole."""
    text = (raw or b"").decode("utf-8", "replace").strip()
    severity, colon, rest = text.partition(":")
    if colon and severity in _SEVERITIES:
        text = rest.strip()
    return text or "no error details available"


class Connection:
    """One libpq connection in autocommit, its statements in text format, the client
    encoding UTF-8."""

    def __init__(self, url: str, options: Mapping[str, str | int]) -> None:
        lib = _libpq()
        # expand_dbname: the URL in "dbname" is parsed as libpq parses any; the options
        # after it override its own, as psycopg's make_conninfo does.
        pairs = {"dbname": url, **{k: str(v) for k, v in options.items()}}
        pairs["client_encoding"] = "UTF8"
        keys = (ctypes.c_char_p * (len(pairs) + 1))(*(k.encode() for k in pairs), None)
        values = (ctypes.c_char_p * (len(pairs) + 1))(*(v.encode() for v in pairs.values()))
        self.pgconn: int | None = lib.PQconnectdbParams(keys, values, 1)
        if lib.PQstatus(self.pgconn) != CONNECTION_OK:
            reason = (lib.PQerrorMessage(self.pgconn) or b"").decode("utf-8", "replace").strip()
            self.close()
            raise LibpqError(f"connection failed: {reason}")
        lib.PQsetNoticeProcessor(self.pgconn, ctypes.cast(_QUIET, _P), None)
        self._converted: dict[str, tuple[bytes, list[str]]] = {}

    @property
    def broken(self) -> bool:
        return self.pgconn is None or _libpq().PQstatus(self.pgconn) != CONNECTION_OK

    def execute(self, query: str, params: Mapping[str, Any] | None = None) -> Cursor:
        if self.pgconn is None:
            raise LibpqError("the connection is closed")
        if params is None:  # as psycopg: no parameters, no placeholders ("%" is itself)
            sql_bytes, sent = query.encode(), []
        else:
            if query not in self._converted:
                sql, names = placeholders(query)
                self._converted[query] = sql.encode(), names
            sql_bytes, names = self._converted[query]
            sent = [dump(params[name]) for name in names]
        count = len(sent)
        oids = (ctypes.c_uint * count)(*(oid for oid, _ in sent))
        texts = (ctypes.c_char_p * count)(*(None if t is None else t.encode() for _, t in sent))
        lib = _libpq()
        res = lib.PQexecParams(self.pgconn, sql_bytes, count, oids, texts, None, None, 0)
        try:
            status = lib.PQresultStatus(res) if res else -1
            if status not in (COMMAND_OK, TUPLES_OK):
                raw = lib.PQresultErrorMessage(res) if res else lib.PQerrorMessage(self.pgconn)
                state = lib.PQresultErrorField(res, SQLSTATE) if res else None
                raise LibpqError(message_of(raw), state.decode() if state else None)
            return Cursor(_rows(lib, res) if status == TUPLES_OK else [])
        finally:
            lib.PQclear(res)

    def close(self) -> None:
        if self.pgconn is not None:
            _libpq().PQfinish(self.pgconn)
            self.pgconn = None


def _rows(lib: ctypes.CDLL, res: int) -> list[dict[str, Any]]:
    columns = range(lib.PQnfields(res))
    names = [lib.PQfname(res, c).decode() for c in columns]
    loaders = [_loader(lib.PQftype(res, c)) for c in columns]
    getvalue, isnull, cells = lib.PQgetvalue, lib.PQgetisnull, ctypes.c_void_p(res)
    rows = []
    for r in range(lib.PQntuples(res)):
        row = {}
        for c in columns:
            raw = getvalue(cells, r, c)  # b"" for NULL too: only then ask which it is
            row[names[c]] = None if not raw and isnull(cells, r, c) else loaders[c](raw.decode())
        rows.append(row)
    return rows
