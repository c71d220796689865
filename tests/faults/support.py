"""Helpers of the fault, hostile-input and security tests.

- ``run_main``: the CLI in this process (``queuectl.cli.main``), for the many examples
  of the property tests; output captured, anything but ``SystemExit`` propagates (a
  traceback a user would see is a test failure here).
- ``run_cli``: the real CLI in a subprocess (``tests.support.cli``'s command line and
  environment) with what only these tests need: bytes argv, a umask or an rlimit, output
  that may not be UTF-8.
- ``Mounts``: small tmpfs mounts (disk full, read-only), always unmounted.
- ``dump``: the whole logical content of a SQLite queue, to prove it did not change.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sqlite3
import stat
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support.cli import QUEUECTL, cli_env

# The id rule as README.md states it: 1-128 of A-Z a-z 0-9 . _ : -, not starting with '.'.
DOCUMENTED_ID = re.compile(r"[A-Za-z0-9_:-][A-Za-z0-9._:-]{0,127}")
# A Python traceback, or the last line of one ("SomeError: ...").
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^\w+(\.\w+)*(Error|Exception):", re.M)


@dataclass
class Ran:
    """What a CLI run left: exit code, stdout, stderr (text)."""

    code: int
    out: str
    err: str

    def __str__(self) -> str:
        return f"exit {self.code}\nstdout: {self.out[:2000]!r}\nstderr: {self.err[:2000]!r}"


def run_main(*argv: str) -> Ran:
    """``queuectl ARGV`` in this process. Only ``SystemExit`` is caught: any other
    exception escaping ``main`` is what a user would see as a traceback."""
    from queuectl.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return Ran(code, out.getvalue(), err.getvalue())


def run_cli(
    home: str | os.PathLike[str],
    *args: str | bytes | os.PathLike[str],
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 60,
    preexec: Callable[[], None] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> Ran:
    """``python -m queuectl ARGS`` against the queue in ``home``; argv may hold bytes
    (not UTF-8), ``preexec`` runs in the child (umask, rlimit). Output decoded leniently."""
    argv: list[str | bytes] = [*QUEUECTL]
    argv += [a if isinstance(a, bytes | str) else os.fspath(a) for a in args]
    done = subprocess.run(
        argv,
        input=input if input is not None else b"",
        capture_output=True,
        env=cli_env(home, env),
        timeout=timeout,
        preexec_fn=preexec,
        cwd=cwd,
        check=False,
    )
    return Ran(
        done.returncode,
        done.stdout.decode("utf-8", "replace"),
        done.stderr.decode("utf-8", "replace"),
    )


def assert_clean_error(ran: Ran, code: int, *mentions: str) -> None:
    """Exit ``code``, nothing on stdout, exactly one line on stderr in queuectl's voice,
    no traceback, and the line names each of ``mentions`` (case-insensitive)."""
    assert ran.code == code, f"expected exit {code}\n{ran}"
    assert not TRACEBACK.search(ran.err), f"a traceback reached the user\n{ran}"
    assert ran.out == "", f"an error printed on stdout\n{ran}"
    assert ran.err.endswith("\n") and ran.err.count("\n") == 1, f"not one line\n{ran}"
    assert ran.err.startswith("queuectl"), f"not queuectl's message\n{ran}"
    for word in mentions:
        assert word.lower() in ran.err.lower(), f"the message does not mention {word!r}\n{ran}"


def assert_no_traceback(ran: Ran) -> None:
    assert not TRACEBACK.search(ran.err), f"a traceback reached the user\n{ran}"


def dump(db: str | os.PathLike[str]) -> list[str]:
    """Every table's schema and rows, as SQL text: equal dumps = an unchanged queue."""
    conn = sqlite3.connect(os.fspath(db))
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def rows(db: str | os.PathLike[str], sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(os.fspath(db))
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def integrity(db: str | os.PathLike[str]) -> str:
    """``PRAGMA integrity_check`` through the sqlite3 library ("ok" when intact)."""
    found = rows(db, "PRAGMA integrity_check")
    return "; ".join(str(r[0]) for r in found)


def tree(root: Path) -> dict[str, int]:
    """Every path under ``root`` (relative) → its permission bits."""
    found: dict[str, int] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            found[os.path.relpath(path, root)] = stat.S_IMODE(os.lstat(path).st_mode)
    return found


# --- mounts ----------------------------------------------------------------------------
class MountUnavailable(Exception):
    """This machine (or user) cannot mount a tmpfs."""


def _sh(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


class Mounts:
    """tmpfs mounts made by one test; ``cleanup`` unmounts them all (lazily if busy).

    Set ``QUEUECTL_TEST_NO_MOUNT=1`` to act as if mounting were impossible (to run the
    RLIMIT_FSIZE fallbacks on purpose)."""

    def __init__(self) -> None:
        self.mounted: list[Path] = []

    def tmpfs(self, where: Path, size: str = "1m", *, ro: bool = False, inodes: int = 0) -> Path:
        if os.environ.get("QUEUECTL_TEST_NO_MOUNT") == "1":
            raise MountUnavailable("QUEUECTL_TEST_NO_MOUNT=1")
        where.mkdir(parents=True, exist_ok=True)
        options = f"size={size},mode=0700" + (",ro" if ro else "")
        if inodes:
            options += f",nr_inodes={inodes}"
        done = _sh("mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where))
        if done.returncode != 0:
            raise MountUnavailable(done.stderr.strip() or f"mount exited {done.returncode}")
        self.mounted.append(where)
        return where

    def remount_ro(self, where: Path) -> None:
        done = _sh("mount", "-o", "remount,ro", str(where))
        assert done.returncode == 0, f"remount ro failed: {done.stderr}"

    def cleanup(self) -> None:
        errors = []
        for where in reversed(self.mounted):
            if _sh("umount", str(where)).returncode != 0:
                done = _sh("umount", "-l", str(where))
                if done.returncode != 0:
                    errors.append(f"{where}: {done.stderr.strip()}")
        self.mounted.clear()
        assert not errors, f"could not unmount: {errors}"


def fill(folder: Path, leave: int = 0) -> Path:
    """Write a junk file in ``folder`` until its file system has ``leave`` bytes free
    (0: until the disk refuses more)."""
    junk = folder / "junk.bin"
    fd = os.open(junk, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    block = b"\xa5" * 65536
    try:
        while True:
            free = os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize
            if free <= leave:
                break
            try:
                os.write(fd, block[: max(1, min(len(block), free - leave))])
            except OSError:
                break
    finally:
        os.close(fd)
    return junk


def free_bytes(folder: Path) -> int:
    st = os.statvfs(folder)
    return st.f_bavail * st.f_frsize


def jsonl(jobs: Sequence[Mapping[str, object]]) -> str:
    import json

    return "".join(json.dumps(job) + "\n" for job in jobs)
