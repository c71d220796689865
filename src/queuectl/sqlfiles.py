"""Loads a backend's named SQL statements and numbered migrations from ``sql/<engine>/``.

PostgreSQL's SQL is written for the schema ``queuectl``: the word ``queuectl`` names the
schema (``queuectl.jobs``, ``queuectl.now_s()``, ``CREATE SCHEMA … queuectl``) and a word
``queuectl_NAME`` names a notification channel (``queuectl_jobs``, ``queuectl_control``).
``in_schema`` rewrites exactly those words for a queue in another schema, in queries and
migrations alike (so a trigger's body notifies its own schema's channel).
"""

from __future__ import annotations

import os

SQL_DIR = os.path.join(os.path.dirname(__file__), "sql")
WRITTEN_FOR = "queuectl"  # the schema PostgreSQL's SQL files name
# Markers in statements → the named fragment, in this order (a fragment may use a later one).
FRAGMENTS = (
    ("QUEUE_REOPENS", "queue_reopens"),
    ("QUEUE_CLOSED", "queue_closed"),
    ("QUEUE_PAUSED", "queue_paused"),
    ("PURGEABLE", "purgeable"),
    ("END_ATTEMPT", "end_attempt"),
    ("END_JOB_ROW", "end_job_row"),
)
# A statement named ``x_for_worker`` is written once for a worker's queues and becomes three:
# ``x_any`` (every queue), ``x_in`` (only some) and ``x_out`` (all but some), each marker
# below replaced by the fragment ``<marker in lower case>_<variant>`` (SqlBackend._by_queue).
VARIANTS = ("any", "in", "out")
VARIANT_MARKERS = ("BY_QUEUE", "READY_INDEX")


def queries(engine: str, schema: str = WRITTEN_FOR) -> dict[str, str]:
    """``-- name: x`` blocks of ``sql/<engine>/queries.sql`` → {name: statement}, for the
    queue in ``schema`` (PostgreSQL). A marker of FRAGMENTS stands for its fragment."""
    with open(os.path.join(SQL_DIR, engine, "queries.sql"), encoding="utf-8") as handle:
        text = in_schema(handle.read(), schema)
    found: dict[str, str] = {}
    for block in text.split("-- name: ")[1:]:
        name, _, body = block.partition("\n")
        found[name.strip()] = body.strip().rstrip(";")
    for name in [key for key in found if key.endswith("_for_worker")]:
        template = found.pop(name)
        for variant in VARIANTS:
            sql = template
            for marker in VARIANT_MARKERS:
                fragment = found.get(f"{marker.lower()}_{variant}")
                if fragment is not None:
                    sql = sql.replace(marker, _code(fragment))
            found[f"{name.removesuffix('_for_worker')}_{variant}"] = sql
    for marker, name in FRAGMENTS:  # one predicate, read by every claim and by `queue list`
        if name in found:
            part = "(" + _code(found[name]) + ")"
            found = {key: sql.replace(marker, part) for key, sql in found.items()}
    return found


def _code(fragment: str) -> str:
    """A fragment without its comment lines."""
    return "\n".join(line for line in fragment.splitlines() if not line.startswith("--"))


def migrations(engine: str, schema: str = WRITTEN_FOR) -> list[tuple[int, str]]:
    """[(version, script)] from ``sql/<engine>/migrations/NNNN_*.sql``, in order, for the
    queue in ``schema`` (PostgreSQL)."""
    folder = os.path.join(SQL_DIR, engine, "migrations")
    found = []
    for name in sorted(os.listdir(folder)):
        if name.endswith(".sql"):
            with open(os.path.join(folder, name), encoding="utf-8") as handle:
                found.append((int(name.split("_", 1)[0]), in_schema(handle.read(), schema)))
    return found


def in_schema(text: str, schema: str) -> str:
    """``text`` with the schema ``queuectl`` and its channels ``queuectl_*`` renamed for
    ``schema`` (a name checked by location.check_schema), whole words only:
    ``queuectl.jobs`` → ``"team_a".jobs`` (quoted: a name such as ``user`` is a keyword)
    and ``'queuectl_jobs'`` → ``'team_a_jobs'``."""
    if schema == WRITTEN_FOR:
        return text
    import re

    return re.sub(
        r"\bqueuectl(?:(_)|\b)",
        lambda found: f"{schema}_" if found[1] else f'"{schema}"',
        text,
    )


def channel(schema: str, name: str) -> str:
    """The notification channel ``name`` ("jobs", "control") of the queue in ``schema``."""
    return f"{schema}_{name}"
