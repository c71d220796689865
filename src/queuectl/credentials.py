"""The queue's secrets (a PostgreSQL password, the dashboard's token) stay out of places
other people or programs read: process arguments, which every local user sees with
``ps``, and the environment of jobs.

Pure: the standard library only.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

TOKEN_ENV = "QUEUECTL_DASHBOARD_TOKEN"
LOCATION_ENV = ("QUEUECTL_DB", "QUEUECTL_DB_PATH")
# never handed to jobs: the worker's own credentials (a job that needs one is given it
# in its own env, which is applied after these are removed)
SECRET_ENV = ("PGPASSWORD", TOKEN_ENV)
# what a job enqueued with --clean-env keeps of the worker's environment
CLEAN_ENV = ("PATH", "HOME", "LANG", "TZ")
PASSWORD_HINT = (
    "give the password with $PGPASSWORD or a ~/.pgpass file, "
    "or the whole URL with $QUEUECTL_DB (the environment is private to your user)"
)


def _is_url(location: str) -> bool:
    return location.startswith(("postgresql://", "postgres://"))


def carries_password(location: str) -> bool:
    """A PostgreSQL URL with a password, in its user part or as ``?password=``."""
    if not _is_url(location):
        return False
    from urllib.parse import parse_qsl, urlsplit

    try:
        parts = urlsplit(location)
    except ValueError:
        return ":" in location.partition("//")[2].rpartition("@")[0]
    credentials = parts.netloc.rpartition("@")[0]
    return ":" in credentials or any(k == "password" for k, _ in parse_qsl(parts.query))


def without_password(location: str) -> str:
    """The location without its password: ``postgresql://user@host/db``; anything else
    as it is."""
    if not carries_password(location):
        return location
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    try:
        parts = urlsplit(location)
    except ValueError:
        return location.partition("//")[0] + "//"  # unreadable: keep nothing of it
    credentials, at, host = parts.netloc.rpartition("@")
    netloc = f"{credentials.split(':', 1)[0]}{at}{host}"
    query = parts.query
    if any(k == "password" for k, _ in parse_qsl(query)):
        query = urlencode([(k, v) for k, v in parse_qsl(query) if k != "password"])
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def job_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The worker's environment as its jobs get it: without ``$PGPASSWORD`` or the
    dashboard's token, and with the queue's location but not its password."""
    env = {k: v for k, v in environ.items() if k not in SECRET_ENV}
    for name in LOCATION_ENV:
        if name in env:
            env[name] = without_password(env[name])
    return env


def clean_environment(environ: Mapping[str, str], keep: tuple[str, ...] = ()) -> dict[str, str]:
    """What a job enqueued with ``--clean-env`` gets of the worker's environment (a job's
    base, ``job_environment``): CLEAN_ENV and the names of ``keep`` (the worker's own
    variables that the job needs, such as its fence's token), where it has them."""
    return {name: environ[name] for name in (*CLEAN_ENV, *keep) if name in environ}
