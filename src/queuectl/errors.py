"""Errors of queuectl itself.

A failed *command* is data (see lifecycle.Outcome), never an exception. These are
failures of queuectl: bad input (exit 2) or an operation that could not be done
(exit 1). Backends translate driver errors into them and keep the original as
``__cause__``.
"""


def brief(value: object, limit: int = 60) -> str:
    """A value's repr, cut short: error messages stay one readable line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class QueuectlError(Exception):
    """Base of every error queuectl raises on purpose; ``exit_code`` is the CLI's."""

    exit_code = 1


class InvalidInput(QueuectlError):
    """The user asked for something malformed; nothing was written."""

    exit_code = 2


class NotFound(QueuectlError):
    """A job (or attempt) that the user named does not exist."""


class Conflict(QueuectlError):
    """The job exists but is in a state that forbids the operation."""


class StorageError(QueuectlError):
    """The queue's storage could not be opened, read or written."""


class TimedOut(QueuectlError):
    """``--timeout`` passed before what was awaited happened (``wait``, ``logs --follow``):
    exit 124, as timeout(1) does."""

    exit_code = 124
