"""Storage engines behind one job-level protocol (see base.Backend)."""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from queuectl.backends.base import Backend


def is_postgres(location: str) -> bool:
    return location.startswith(("postgresql://", "postgres://"))


def open_backend(location: str, long_lived: bool = False, relaxed_commits: bool = False) -> Backend:
    """A path or ``sqlite:///path`` → SQLite; ``postgresql://…`` → PostgreSQL.

    Each engine is imported only when used, so SQLite commands never load psycopg.
    ``long_lived`` (a worker, a dashboard) asks for connections that outlive a database
    restart; ``relaxed_commits`` (a worker only) for commits that skip the fsync wait.
    """
    if is_postgres(location):
        try:
            from queuectl.backends.postgres import PostgresBackend
        except ImportError as exc:
            from queuectl.errors import StorageError

            raise StorageError(
                f"PostgreSQL needs psycopg: pip install 'queuectl[postgres]' ({exc})"
            ) from exc
        return PostgresBackend(location, long_lived, relaxed_commits)
    from queuectl.backends.sqlite import SQLiteBackend

    return SQLiteBackend(sqlite_path(location), long_lived, relaxed_commits)


def sqlite_path(location: str) -> str:
    """The absolute path of a SQLite queue: ``sqlite://`` removed, ``~`` expanded, made
    absolute. The one place a SQLite location is read (the queue file and its logs
    folder are both derived from what it returns); applying it twice changes nothing."""
    path = location.removeprefix("sqlite://")
    try:
        return os.path.abspath(os.path.expanduser(path))
    except FileNotFoundError:  # a relative path, and the current directory was deleted
        from queuectl.errors import InvalidInput

        raise InvalidInput(f"{path}: a relative path needs a current directory") from None
