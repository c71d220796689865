"""``queuectl purge``: what it refuses before it touches a queue."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import cli


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["--state", "pending", "--yes"], "cannot purge 'pending' jobs: only ended ones"),
        (["--state", "done", "--yes"], "unknown state 'done'"),
        (["--older-than", "soon", "--yes"], "invalid --older-than 'soon'"),
        (["--older-than", "-1d", "--yes"], "--older-than"),
        (["--queue", "no such", "--yes"], "queue"),
        ([], "confirm with --yes (there is no terminal to ask on)"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_creates_nothing(
    home: Path, args: list[str], text: str
) -> None:
    done = cli(home, "purge", *args)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and text in done.stderr, done.stderr
    assert not home.exists()


def test_a_dry_run_only_reads_and_creates_no_queue(home: Path) -> None:
    done = cli(home, "purge", "--dry-run")
    assert done.returncode == 1
    assert "no queue at" in done.stderr
    assert not home.exists()
