"""``logs --follow --all [--queue Q]``: every running job's output as it is written, each
line prefixed with ``[ID#ATTEMPT]``, jobs that start later too; on both engines, and on
PostgreSQL also from another host (which reads the chunks the worker stores)."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from tests.support.cli import collect_lines, one_line_error
from tests.support.harness import Queuectl
from tests.support.jobs import gate_wait
from tests.support.polling import wait_for


def follower(qc: Queuectl, *flags: str) -> tuple[subprocess.Popen[bytes], list[str]]:
    proc = qc.popen("logs", "--follow", "--all", *flags)
    assert proc.stdout is not None
    return proc, collect_lines(proc.stdout)


def await_lines(readers: list[list[str]], *wanted: str) -> None:
    """Every reader has printed every ``wanted`` line (in any order)."""
    for lines in readers:
        wait_for(
            lambda got=lines: all(line + "\n" in got for line in wanted),  # type: ignore[misc]
            20,
            what=lambda got=lines: f"{wanted} in {got}",  # type: ignore[misc]
        )


def test_follow_all_prefixes_every_running_jobs_lines_also_of_jobs_started_later(
    qc: Queuectl, db: str | None, tmp_path: Path
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    (tmp_path / "elsewhere").mkdir()
    with Queuectl(tmp_path / "elsewhere", db, env={"QUEUECTL_HOSTNAME": "elsewhere"}) as other:
        if db is None:  # SQLite: one host, one queue file
            other = qc
        qc.enqueue(f"echo a-one; {gate_wait(first)}; echo a-two", "--id", "a")
        qc.enqueue(f"echo b-one; {gate_wait(first)}; echo b-two", "--id", "b", "--queue", "io")
        everything, seen = follower(qc)
        io_only, io_seen = follower(qc, "--queue", "io")
        remote, remote_seen = follower(other)  # PostgreSQL: another host, reading chunks
        both = [seen, remote_seen]
        qc.start_worker("--count", "2")
        await_lines(both, "[a#1] a-one", "[b#1] b-one")
        await_lines([io_seen], "[b#1] b-one")
        first.touch()
        await_lines(both, "[a#1] a-two", "[b#1] b-two")
        await_lines([io_seen], "[b#1] b-two")

        # a job that starts after the followers did; its last line has no newline
        qc.enqueue(f"echo c-late; {gate_wait(second)}; printf 'no newline'", "--id", "c")
        await_lines(both, "[c#1] c-late")
        second.touch()
        await_lines(both, "[c#1] no newline")

        for proc in (everything, io_only, remote):
            proc.send_signal(signal.SIGINT)
            assert proc.wait(10) == 130
        every = ["[a#1] a-one", "[a#1] a-two", "[b#1] b-one", "[b#1] b-two", "[c#1] c-late"]
        for lines in both:
            assert sorted(lines) == sorted(f"{line}\n" for line in [*every, "[c#1] no newline"])
            assert lines.index("[a#1] a-one\n") < lines.index("[a#1] a-two\n")
        assert io_seen == ["[b#1] b-one\n", "[b#1] b-two\n"]


@pytest.mark.parametrize(
    "args",
    [
        ("logs", "--all"),
        ("logs", "--follow", "--all", "some-id"),
        ("logs", "--follow", "--all", "--attempt", "2"),
        ("logs",),
        ("logs", "some-id", "--queue", "io"),
    ],
)
def test_follow_all_refuses_what_does_not_go_with_it(qc: Queuectl, args: tuple[str, ...]) -> None:
    one_line_error(qc.run(*args, check=False), 2)


def test_follow_all_ends_with_124_at_its_timeout(qc: Queuectl, tmp_path: Path) -> None:
    qc.enqueue(f"echo waiting; {gate_wait(tmp_path / 'never')}", "--id", "w")
    qc.start_worker()
    done = qc.run("logs", "--follow", "--all", "--timeout", "3s", check=False, timeout=30)
    assert (done.returncode, done.stdout) == (124, "[w#1] waiting\n"), done.stderr
