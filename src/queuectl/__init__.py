"""queuectl: a background job queue for shell commands.

from queuectl import Queue
with Queue() as queue:
    queue.enqueue("echo hello", max_retries=2)
"""

from queuectl.api import Queue
from queuectl.errors import QueuectlError

__all__ = ["Queue", "QueuectlError"]
__version__ = "0.1.0"
