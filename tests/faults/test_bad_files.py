"""A queue location that holds the wrong thing, or cannot be written.

Each is a clear one-line error naming the file, exit 1, no traceback; a file that is
not ours is left exactly as it was (bytes, and no new files beside it).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.faults.support import (
    Mounts,
    MountUnavailable,
    assert_clean_error,
    jsonl,
    run_cli,
)
from tests.support.cli import cli_ok

# Commands that open the queue, each in its own way (reads, writes, the worker).
COMMANDS: list[tuple[str, ...]] = [
    ("list", "--json"),
    ("show", "job1"),
    ("enqueue", "--command", "true"),
    ("config", "set", "max-retries", "5"),
    ("worker", "start", "--burst"),
]


def random_bytes(path: Path) -> None:
    path.write_bytes(os.urandom(8192))


def text_file(path: Path) -> None:
    path.write_text("these are my notes, not a database\n" * 20)


def magic_then_garbage(path: Path) -> None:
    """SQLite's 16-byte magic header, then noise: looks like SQLite, is not."""
    path.write_bytes(b"SQLite format 3\x00" + os.urandom(8176))


def _foreign(path: Path, with_rows: bool) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount REAL)")
    if with_rows:
        conn.executemany("INSERT INTO invoices (amount) VALUES (?)", [(9.5,), (12.0,)])
    conn.commit()
    conn.close()


def foreign_empty(path: Path) -> None:
    """Another application's SQLite database: one (empty) table of its own."""
    _foreign(path, with_rows=False)


def foreign_with_rows(path: Path) -> None:
    _foreign(path, with_rows=True)


def truncated_queue(path: Path) -> None:
    """A real queue, cut short (a copy that stopped half-way)."""
    cli_ok(path.parent / "source", "enqueue", "--file", "-", input=jsonl(_jobs()))
    data = (path.parent / "source" / "queuectl.db").read_bytes()
    path.write_bytes(data[: len(data) // 3])


def _jobs() -> list[dict[str, object]]:
    return [{"id": f"j{n}", "command": "echo " + "y" * 400} for n in range(40)]


MAKERS: dict[str, Callable[[Path], None]] = {
    "random-bytes": random_bytes,
    "text-file": text_file,
    "magic-then-garbage": magic_then_garbage,
    "foreign-sqlite-empty-table": foreign_empty,
    "foreign-sqlite-with-rows": foreign_with_rows,
    "truncated-queue": truncated_queue,
}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("kind", list(MAKERS))
def test_a_file_that_is_not_a_queue_is_refused_and_left_unchanged(
    tmp_path: Path, kind: str
) -> None:
    folder = tmp_path / "files"
    folder.mkdir()
    db = folder / "queue.db"
    MAKERS[kind](db)
    before, beside = digest(db), sorted(os.listdir(folder))
    for command in COMMANDS:
        ran = run_cli(tmp_path / "home", "--db", db, *command)
        assert_clean_error(ran, 1, str(db))
        assert digest(db) == before, (
            f"`{' '.join(command)}` changed the {kind} file "
            f"(header bytes 18-19, the journal mode, are now {db.read_bytes()[18:20]!r})"
        )
        assert sorted(os.listdir(folder)) == beside, f"`{' '.join(command)}` left files"


def test_a_folder_where_the_queue_file_should_be(tmp_path: Path) -> None:
    db = tmp_path / "queue.db"
    db.mkdir()
    for command in COMMANDS:
        assert_clean_error(run_cli(tmp_path / "home", "--db", db, *command), 1, str(db))
    assert os.listdir(db) == []


# --- read-only locations ----------------------------------------------------------------
def _ro_mount(mounts: Mounts, where: Path) -> None:
    try:
        mounts.tmpfs(where, "1m", ro=True)
    except MountUnavailable as exc:
        if os.environ.get("CI") == "true":  # CI runs as root: mounts must work
            raise
        pytest.skip(f"cannot mount a read-only tmpfs ({exc}): root ignores chmod; fails under CI")


@pytest.mark.parametrize("how", ["--db file in a read-only folder", "QUEUECTL_HOME to create"])
def test_a_read_only_folder_without_a_queue(tmp_path: Path, mounts: Mounts, how: str) -> None:
    ro = tmp_path / "ro"
    _ro_mount(mounts, ro)
    if how.startswith("--db"):
        home, args, named = tmp_path / "home", ["--db", str(ro / "q.db")], ro / "q.db"
    else:
        home, args, named = ro / "queues" / "home", [], ro / "queues" / "home"
    for command in COMMANDS:
        assert_clean_error(run_cli(home, *args, *command), 1, str(named))
    assert os.listdir(ro) == []


def test_a_queue_on_a_read_only_mount(tmp_path: Path, mounts: Mounts) -> None:
    disk = tmp_path / "disk"
    try:
        mounts.tmpfs(disk, "1m")
    except MountUnavailable as exc:
        if os.environ.get("CI") == "true":  # CI runs as root: mounts must work
            raise
        pytest.skip(f"cannot mount a tmpfs here ({exc}); root ignores chmod; fails under CI")
    home = disk / "home"
    cli_ok(home, "enqueue", "--id", "job1", "--command", "echo hi")
    db = home / "queuectl.db"
    before = digest(db)
    mounts.remount_ro(disk)
    # every command, reads included (a WAL queue needs its -shm file even to read):
    # either it works, or it says clearly why not
    for command in [*COMMANDS, ("cancel", "job1"), ("dlq", "retry", "--all"), ("logs", "job1")]:
        ran = run_cli(home, *command)
        if command[0] in ("list", "status", "show") and ran.code == 0:
            continue
        assert_clean_error(ran, 1, str(db))
    assert digest(db) == before
