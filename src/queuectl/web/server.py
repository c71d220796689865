"""``queuectl dashboard``: the token rule, the listening socket, uvicorn."""

from __future__ import annotations

import os
import signal
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from queuectl.credentials import TOKEN_ENV
from queuectl.errors import InvalidInput, QueuectlError
from queuectl.web.security import is_loopback

if TYPE_CHECKING:
    import uvicorn

TOKEN_FILE_LIMIT = 4096  # bytes: a token, not a document


def read_token_file(path: str) -> str:
    """The access token kept in ``path`` (one line; surrounding blanks and the final
    newline are not part of it)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(TOKEN_FILE_LIMIT + 1)
    except OSError as exc:
        raise InvalidInput(f"cannot read the token file {path}: {exc.strerror}") from None
    try:
        token = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise InvalidInput(f"the token file {path} is not UTF-8 text") from None
    if len(data) > TOKEN_FILE_LIMIT or not token or any(c.isspace() for c in token):
        raise InvalidInput(
            f"the token file {path} must hold the token alone, on one line "
            f"(up to {TOKEN_FILE_LIMIT} bytes, no spaces)"
        )
    return token


def serve(db: str | None, host: str, port: int, token: str | None) -> int:
    """Serve the dashboard until Ctrl+C or SIGTERM. Off loopback, a token is required:
    ``token`` (from --token-file), else $QUEUECTL_DASHBOARD_TOKEN."""
    token = token or os.environ.get(TOKEN_ENV) or None
    if not is_loopback(host) and token is None:
        raise InvalidInput(
            f"listening on {host} needs an access token: give --token-file FILE or set {TOKEN_ENV}"
        )
    from queuectl.web.app import create_app

    app = create_app(db, token)  # the queue opens here: an unreachable one is an error now
    listening = _listen(host, port)
    import uvicorn

    config = uvicorn.Config(
        app,
        log_level="warning",
        timeout_graceful_shutdown=2,  # live streams end with the server, not after it
        lifespan="off",
    )
    server = uvicorn.Server(config)
    shown = f"[{host}]" if ":" in host else host
    try:
        with _graceful_stop(server):  # before the address is told: from then on it may come
            sys.stderr.write(
                f"queuectl dashboard on http://{shown}:{listening.getsockname()[1]}/"
                f"{' (token required)' if token else ''}; Ctrl+C to stop\n"
            )
            sys.stderr.flush()
            server.run(sockets=[listening])
    finally:
        app.state.db.queue.close()
    return 0


@contextmanager
def _graceful_stop(server: uvicorn.Server) -> Iterator[None]:
    """SIGTERM and SIGINT stop the server, and the command exits 0, as a worker does.
    uvicorn takes both signals while it runs, then restores the handlers it found and
    raises the signal again: with Python's own, SIGTERM killed the process (exit 143) and
    SIGINT became exit 130. The handlers it finds are these, which ask the server to exit
    (also before uvicorn installs its own: a signal during start-up stops it as well)."""

    def stop(signum: int, frame: object) -> None:
        server.should_exit = True

    found = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in found.items():
            signal.signal(sig, handler)


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listening = socket.socket(family, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind((host.strip("[]"), port))
    except (OSError, OverflowError) as exc:
        listening.close()
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise QueuectlError(f"cannot listen on {host}:{port}: {why}") from None
    listening.listen(128)
    listening.set_inheritable(True)
    return listening
