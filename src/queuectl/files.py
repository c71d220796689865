"""Folders and files queuectl creates or trusts: owner-only, owned by the right user.

- ``private_dirs``: a folder and every missing folder above it, created 0700 whatever
  the umask (``os.makedirs`` gives the folders above the last one the umask's mode).
- ``check_private``: a queue file, its folder and its logs folder must belong to the
  user running queuectl (or to root) and be writable by nobody else; otherwise another
  user could plant jobs that run as this one, or read and replace its output.
  ``QUEUECTL_ALLOW_SHARED=1`` turns the check off, for a queue shared on purpose.

Imports nothing of queuectl but its errors: the SQLite backend and the worker use it.
"""

from __future__ import annotations

import os
import stat

from queuectl.errors import StorageError

ALLOW_SHARED = "QUEUECTL_ALLOW_SHARED"


def private_dirs(path: str) -> None:
    """Create ``path`` and the folders above it that do not exist, each mode 0700.

    Folders that already exist are left as they are. Raises OSError."""
    missing: list[str] = []
    current = os.path.abspath(path)
    while not os.path.isdir(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            if not os.path.isdir(folder):
                raise
            continue  # created by another process meanwhile: its creator set its mode
        os.chmod(folder, 0o700)  # mkdir's mode went through the umask (e.g. 0277 → 0500)


def shared_allowed() -> bool:
    return os.environ.get(ALLOW_SHARED, "") not in ("", "0")


def check_private(path: str, what: str) -> None:
    """Refuse ``path`` (the queue's ``what``: "folder", "file", "logs folder") when it
    belongs to another user than this one and root, or when group or others may write
    it. A path that does not exist passes: queuectl creates it owner-only."""
    if shared_allowed():
        return
    try:
        found = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return
    except OSError as exc:
        raise StorageError(f"cannot check the queue's {what} {path}: {exc.strerror}") from None
    hint = f"set {ALLOW_SHARED}=1 to use it anyway"
    if found.st_uid not in (os.geteuid(), 0):
        raise StorageError(
            f"the queue's {what} {path} belongs to another user (uid {found.st_uid}); "
            f"refusing to use it ({hint})"
        )
    mode = stat.S_IMODE(found.st_mode)
    if mode & 0o022:
        raise StorageError(
            f"the queue's {what} {path} is writable by other users (mode {mode:04o}); "
            f"refusing to use it (chmod go-w, or {hint})"
        )
