"""The storage engines every suite runs on, and the PostgreSQL the tests may use.

``BACKENDS`` is the one list of engines: each folder's engine parametrization reads it
(the ``location`` and ``db`` fixtures in tests/conftest.py give each a fresh queue).
PostgreSQL is the machine's server at ``ADMIN_URL`` (``$QUEUECTL_TEST_PG``), where a test
run creates a database of its own and a test a fresh queue schema in it.
"""

from __future__ import annotations

import os
import uuid
from urllib.parse import urlsplit, urlunsplit

BACKENDS = ("sqlite", "postgres")

# The server tests may create their own databases on (trust auth on this machine and CI).
ADMIN_URL = os.environ.get("QUEUECTL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def create_database(prefix: str, admin_url: str = ADMIN_URL) -> str:
    """A new, empty database ``PREFIX_<random>`` on the server of ``admin_url``; its URL."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = admin_url.rpartition("/")
    return f"{base}/{name}"


def drop_database(url: str, admin_url: str = ADMIN_URL) -> None:
    """Drop the database of ``url`` (made by ``create_database``), whoever is connected."""
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def reset_pg_queue(url: str) -> None:
    """Empty the queue in ``url`` (its next opening migrates a fresh schema)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS queuectl CASCADE")


def pg_with_password(url: str, password: str) -> str:
    """``url`` with ``password`` in its user part (this machine's server trusts local
    connections, so any password is accepted: a stand-in for a real one)."""
    parts = urlsplit(url)
    user, _, host = parts.netloc.rpartition("@")
    netloc = f"{user.split(':', 1)[0] or 'postgres'}:{password}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
