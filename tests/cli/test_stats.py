"""What users see from `queuectl stats` and `queuectl status --watch`."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import termios
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from queuectl.lifecycle import Failed, Succeeded
from tests.contract.support import add, claim, make_completed, run_once, wait_past
from tests.support.cli import QUEUECTL, cli, cli_env, cli_json, cli_ok

if TYPE_CHECKING:
    from queuectl.backends.base import Backend


def one_line_error(done: Any, text: str) -> None:
    assert done.returncode == 2, f"exit {done.returncode}: {done.stderr!r}"
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.endswith("\n"), done.stderr
    assert text in done.stderr
    assert "Traceback" not in done.stderr


def some_history(store: Backend) -> None:
    """default: 2 succeeded; io: 1 succeeded, 1 failed then dead."""
    make_completed(store, "a", "b")
    add(store, "c", queue="io")
    add(store, "d", queue="io", max_retries=0)
    run_once(store, "c", Succeeded())
    run_once(store, "d", Failed(1))


# --- stats --------------------------------------------------------------------------
@pytest.mark.usefixtures("made")
def test_stats_of_an_empty_queue(home: Path) -> None:
    lines = cli_ok(home, "stats").stdout.splitlines()
    assert lines[0].split()[:4] == ["QUEUE", "FINISHED", "SUCCEEDED", "FAILED"]
    assert lines[1].split()[:4] == ["(all)", "0", "0", "0"]


def test_stats_table_has_a_row_per_queue_and_a_total(home: Path, store: Backend) -> None:
    some_history(store)
    lines = cli_ok(home, "stats").stdout.splitlines()
    assert lines[0].split() == [
        "QUEUE",
        "FINISHED",
        "SUCCEEDED",
        "FAILED",
        "SUCCESS",
        "PER",
        "MIN",
        "P50",
        "P95",
        "MAX",
        "CPU",
        "P50",
        "CPU",
        "P95",
        "RSS",
        "P50",
        "RSS",
        "P95",
    ]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert list(rows) == ["default", "io", "(all)"]
    assert rows["default"][1:5] == ["2", "2", "0", "100.0%"]
    assert rows["io"][1:5] == ["2", "1", "1", "50.0%"]
    assert rows["(all)"][1:5] == ["4", "3", "1", "75.0%"]
    for row in rows.values():
        assert all(re.fullmatch(r"\d+(ms|\.\d+s)", cell) for cell in row[6:9]), row


def test_stats_json(home: Path, store: Backend) -> None:
    some_history(store)
    figures = cli_json(home, "stats", "--since", "1h", "--json")
    assert set(figures) == {"since", "until", "total", "queues"}
    assert figures["since"].endswith("Z") and figures["until"].endswith("Z")
    assert set(figures["queues"]) == {"default", "io"}
    total = figures["total"]
    assert (total["finished"], total["succeeded"], total["failed"]) == (4, 3, 1)
    assert total["success_rate"] == 0.75
    assert total["throughput_per_min"] == pytest.approx(4 / 60, rel=0.01)  # 4 in the last hour
    assert 0 <= total["duration_p50"] <= total["duration_p95"] <= total["duration_max"]


def test_stats_since_leaves_out_older_attempts(home: Path, store: Backend) -> None:
    make_completed(store, "old")
    finished = store.get("old")
    assert finished is not None and finished.finished_at is not None
    wait_past(store, finished.finished_at + 1.05)  # the clock past a 1 s window
    assert cli_json(home, "stats", "--since", "1s", "--json")["total"]["finished"] == 0
    assert cli_json(home, "stats", "--json")["total"]["finished"] == 1


@pytest.mark.parametrize(
    ("value", "text"),
    [("bogus", "invalid --since"), ("-5m", "--since"), ("0", "longer than 0"), ("2y", "--since")],
)
def test_stats_refuses_a_bad_since(home: Path, value: str, text: str) -> None:
    one_line_error(cli(home, "stats", f"--since={value}"), text)
    assert not home.exists()  # nothing was created


# --- status --watch: refused combinations ---------------------------------------------
def test_watch_and_json_cannot_be_combined(home: Path) -> None:
    one_line_error(
        cli(home, "status", "--watch", "--json"), "--watch and --json cannot be combined"
    )
    assert not home.exists()


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["--watch", "--interval", "soon"], "invalid --interval"),
        (["--watch", "--interval", "10ms"], "at least 100ms"),
        (["--interval", "5"], "--interval goes with --watch"),
    ],
)
def test_watch_refuses_a_bad_interval(home: Path, args: list[str], text: str) -> None:
    one_line_error(cli(home, "status", *args), text)


def test_help_names_stats_and_watch(home: Path) -> None:
    assert "stats" in cli_ok(home, "--help").stdout
    assert "--since" in cli_ok(home, "stats", "--help").stdout
    shown = cli_ok(home, "status", "--help").stdout
    assert "--watch" in shown and "--interval" in shown


# --- status --watch: running ----------------------------------------------------------
# terminal control sequences and rich's box-drawing lines: what is left reads like a table
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\r|[\u2500-\u257f]")


class Watch:
    """`queuectl status --watch` in a subprocess whose output is a pseudo-terminal or a pipe."""

    def __init__(self, home: Path, terminal: bool) -> None:
        args = [*QUEUECTL, "status", "--watch", "--interval", "0.2"]
        env = cli_env(home, {"TERM": "xterm-256color", "COLUMNS": "140", "LINES": "40"})
        self.text = ""
        if terminal:
            self.fd, child = pty.openpty()
            fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 140, 0, 0))
            self.proc = subprocess.Popen(
                args, stdin=child, stdout=child, stderr=child, env=env, close_fds=True
            )
            os.close(child)
        else:
            self.proc = subprocess.Popen(
                args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env
            )
            assert self.proc.stdout is not None
            self.fd = self.proc.stdout.fileno()

    def read(self, timeout: float = 0.1) -> bool:
        """Take what arrived; False at the end of the output."""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(self.fd, 65536)
        except OSError:  # a pseudo-terminal whose other end has closed
            return False
        self.text += ANSI.sub("", chunk.decode("utf-8", "replace"))
        return bool(chunk)

    def wait_for(self, pattern: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.text):
            assert self.proc.poll() is None, f"watch exited {self.proc.returncode}: {self.text}"
            assert time.monotonic() < deadline, f"no {pattern!r} in {self.text!r}"
            self.read()

    def interrupt(self, times: int = 1, timeout: float = 20.0) -> int:
        """Ctrl+C (pressed ``times`` times); read to the end; the exit code."""
        for _ in range(times):
            self.proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + timeout
        while self.read() and time.monotonic() < deadline:
            pass
        return self.proc.wait(timeout=max(deadline - time.monotonic(), 1))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        else:
            os.close(self.fd)


@pytest.mark.parametrize("terminal", [True, False], ids=["terminal", "pipe"])
def test_watch_redraws_until_ctrl_c(home: Path, store: Backend, terminal: bool) -> None:
    make_completed(store, "done-1", "done-2", "done-3")
    add(store, "busy", queue="io")
    store.register_workers(["host-b.7.0"], "host-b", 7, None, None)
    claim(store, "host-b.7.0")
    watch = Watch(home, terminal)
    try:
        # the counts of both queues, every queue's total, and the worker with its job
        watch.wait_for(r"default\s.*\b3\b")
        watch.wait_for(r"\(all\)\s+0\s+1\s+3\s+0\s+0\s+0\s+0\s+4")
        watch.wait_for(r"host-b\.7\.0.*busy")
        # a change shows up at the next redraw
        add(store, "new-1", "new-2")
        watch.wait_for(r"\(all\)\s+2\s+1\s+3\s+0\s+0\s+0\s+0\s+6")
        code = watch.interrupt(times=2 if terminal else 1)  # impatient people press twice
    finally:
        watch.close()
    assert code == 0, watch.text
    assert "Traceback" not in watch.text
    assert "KeyboardInterrupt" not in watch.text
