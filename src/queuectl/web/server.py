"""``queuectl dashboard``: the token rule, the listening socket, uvicorn."""

from __future__ import annotations

import os
import socket
import sys

from queuectl.errors import InvalidInput, QueuectlError
from queuectl.web.security import is_loopback

TOKEN_ENV = "QUEUECTL_DASHBOARD_TOKEN"


def serve(db: str | None, host: str, port: int, token: str | None) -> int:
    """Serve the dashboard until Ctrl+C or SIGTERM. Off loopback, a token is required."""
    token = token or os.environ.get(TOKEN_ENV) or None
    if not is_loopback(host) and token is None:
        raise InvalidInput(
            f"listening on {host} needs an access token: give --token or set {TOKEN_ENV}"
        )
    from queuectl.web.app import create_app

    app = create_app(db, token)  # the queue opens here: an unreachable one is an error now
    listening = _listen(host, port)
    shown = f"[{host}]" if ":" in host else host
    sys.stderr.write(
        f"queuectl dashboard on http://{shown}:{listening.getsockname()[1]}/"
        f"{' (token required)' if token else ''}; Ctrl+C to stop\n"
    )
    sys.stderr.flush()
    import uvicorn

    config = uvicorn.Config(
        app,
        log_level="warning",
        timeout_graceful_shutdown=2,  # live streams end with the server, not after it
        lifespan="off",
    )
    try:
        uvicorn.Server(config).run(sockets=[listening])
    finally:
        app.state.db.queue.close()
    return 0


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
