"""``dashboard``: the web dashboard and /metrics, served by ``queuectl.web``.

Not a start-up path (starlette imports ``typing`` anyway): type-only imports the plain way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from queuectl.errors import InvalidInput

if TYPE_CHECKING:
    from argparse import Namespace


def cmd_dashboard(args: Namespace) -> int:
    from queuectl.credentials import TOKEN_ENV

    if args.token is not None:
        raise InvalidInput(
            "--token would be visible to every user of this machine (ps): "
            f"use --token-file FILE or set ${TOKEN_ENV}"
        )
    from queuectl.web.server import read_token_file, serve

    token = read_token_file(args.token_file) if args.token_file is not None else None
    return serve(args.db, args.host, args.port, token)
