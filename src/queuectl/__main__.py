"""``python -m queuectl``."""

import sys

from queuectl.cli import main

sys.exit(main())
