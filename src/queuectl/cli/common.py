"""What the command functions share: the queue named by ``--db``, and JSON on stdout."""

from __future__ import annotations

import json
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from argparse import Namespace

    from queuectl.api import Queue


def open_queue(args: Namespace) -> Queue:
    from queuectl.api import Queue

    return Queue(args.db)


def print_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
