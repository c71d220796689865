"""Loads a backend's named SQL statements and numbered migrations from ``sql/<engine>/``."""

from __future__ import annotations

import os

SQL_DIR = os.path.join(os.path.dirname(__file__), "sql")


def queries(engine: str) -> dict[str, str]:
    """``-- name: x`` blocks of ``sql/<engine>/queries.sql`` → {name: statement}."""
    with open(os.path.join(SQL_DIR, engine, "queries.sql"), encoding="utf-8") as handle:
        text = handle.read()
    found: dict[str, str] = {}
    for block in text.split("-- name: ")[1:]:
        name, _, body = block.partition("\n")
        found[name.strip()] = body.strip().rstrip(";")
    return found


def migrations(engine: str) -> list[tuple[int, str]]:
    """[(version, script)] from ``sql/<engine>/migrations/NNNN_*.sql``, in order."""
    folder = os.path.join(SQL_DIR, engine, "migrations")
    found = []
    for name in sorted(os.listdir(folder)):
        if name.endswith(".sql"):
            with open(os.path.join(folder, name), encoding="utf-8") as handle:
                found.append((int(name.split("_", 1)[0]), handle.read()))
    return found
