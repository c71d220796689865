"""Storage engines behind one job-level protocol (see base.Backend)."""

from __future__ import annotations

from queuectl.location import COMMAND, GLANCE, Location, Role, locate

TYPE_CHECKING = False
if TYPE_CHECKING:
    from queuectl.backends.base import Backend


def open_backend(where: Location | str, role: Role = COMMAND) -> Backend:
    """The engine of ``where`` (a Location, or a location as a user writes it), opened
    for ``role``: created and migrated if need be.

    Each engine is imported only when used, so SQLite commands never load psycopg, nor
    do PostgreSQL commands that glance at a queue (backends.pgread).
    """
    if isinstance(where, str):
        where = locate(where)
    if where.is_postgres and role is GLANCE:
        from queuectl.backends.pgread import PostgresReader

        return PostgresReader(where)
    if where.is_postgres:
        try:
            from queuectl.backends.postgres import PostgresBackend
        except ImportError as exc:
            from queuectl.errors import StorageError

            raise StorageError(
                f"PostgreSQL needs psycopg: pip install 'queuectl[postgres]' ({exc})"
            ) from exc
        return PostgresBackend(where, role)
    from queuectl.backends.sqlite import SQLiteBackend

    return SQLiteBackend(where.target, role)
