"""``python -m queuectl``."""

from queuectl.cli import run

run()
