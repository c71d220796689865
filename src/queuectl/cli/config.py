"""``config get``, ``set``, ``unset``, ``list``: the settings stored in the queue."""

from __future__ import annotations

import sys

from queuectl.cli import open_queue, print_json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from argparse import Namespace


def cmd_config_get(args: Namespace) -> int:
    with open_queue(args) as queue:
        print(queue.config_get(args.key))
    return 0


def cmd_config_set(args: Namespace) -> int:
    with open_queue(args) as queue:
        value = queue.config_set(args.key, args.value)
    sys.stderr.write(f"{args.key} = {value}\n")
    return 0


def cmd_config_unset(args: Namespace) -> int:
    with open_queue(args) as queue:
        value = queue.config_unset(args.key)
    sys.stderr.write(f"{args.key} = {value} (default)\n")
    return 0


def cmd_config_list(args: Namespace) -> int:
    with open_queue(args) as queue:
        values = queue.config_list()
    if args.json:
        print_json(values)
    else:
        from queuectl.config import SETTINGS
        from queuectl.render import screen, settings_table

        rows = [(k.replace("_", "-"), v, SETTINGS[k][0], SETTINGS[k][2]) for k, v in values.items()]
        print(settings_table(rows, screen(sys.stdout)))
    return 0
