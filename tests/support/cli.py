"""The real ``queuectl`` CLI in subprocesses: one-shot commands, and ``Worker``, the
handle of a long-running ``worker start``.

Every run's queue lives under a test's own ``home`` (``QUEUECTL_HOME``); any queue
location inherited from the developer's environment is removed, so a test can never
touch a real queue.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from tests.support.polling import wait_for
from tests.support.processes import kill_group

QUEUECTL = (sys.executable, "-m", "queuectl")
# a developer's queue, and how their terminal wants output (width, colour): a test says
_INHERITED = (
    "QUEUECTL_DB",
    "QUEUECTL_DB_PATH",
    "QUEUECTL_HOME",
    "XDG_DATA_HOME",
    "COLUMNS",
    "NO_COLOR",
)

Args = Sequence[str | os.PathLike[str]]


def cli_env(home: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a CLI run: this process's, minus queue locations and the
    terminal's width and colour settings, plus ``env``."""
    full = {k: v for k, v in os.environ.items() if k not in _INHERITED}
    full["QUEUECTL_HOME"] = os.fspath(home)
    full["PYTHONDONTWRITEBYTECODE"] = "1"
    if env:
        full.update(env)
    return full


def run(
    args: Args,
    env: Mapping[str, str],
    *,
    input: str | None = None,
    timeout: float = 60,
    cwd: str | os.PathLike[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``python -m queuectl ARGS`` with exactly ``env``; never raises on the exit code.

    ``subprocess.run`` kills the child if ``timeout`` passes, so nothing outlives a test.
    """
    return subprocess.run(
        [*QUEUECTL, *(os.fspath(a) for a in args)],
        input=input,
        capture_output=True,
        text=True,
        env=dict(env),
        timeout=timeout,
        cwd=cwd,
        check=False,
    )


def succeeded(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    """``done``, asserting it exited 0 (the failure shows its output)."""
    assert done.returncode == 0, (
        f"queuectl {_shown(done)} exited {done.returncode}\n"
        f"stdout: {done.stdout}\nstderr: {done.stderr}"
    )
    return done


def one_line_error(done: subprocess.CompletedProcess[str], code: int) -> None:
    """``done`` exited ``code``, printed nothing on stdout and one line on stderr (no
    traceback)."""
    assert done.returncode == code, f"exit {done.returncode}: {done.stderr!r}"
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.endswith("\n"), done.stderr
    assert "Traceback" not in done.stderr


def parsed(done: subprocess.CompletedProcess[str]) -> Any:
    """The JSON ``done`` printed on stdout, asserting it printed nothing else."""
    try:
        return json.loads(done.stdout)
    except ValueError:
        raise AssertionError(
            f"queuectl {_shown(done)} printed no pure JSON on stdout: {done.stdout!r}"
        ) from None


def _shown(done: subprocess.CompletedProcess[str]) -> str:
    return shlex.join(done.args[len(QUEUECTL) :])


def collect_lines(stream: IO[bytes]) -> list[str]:
    """The lines a running command writes to ``stream`` (a pipe), appended as they come by
    a thread of their own: a test waits on the list, never on a read that may block."""
    lines: list[str] = []

    def read() -> None:
        for line in iter(stream.readline, b""):
            lines.append(line.decode())

    threading.Thread(target=read, daemon=True).start()
    return lines


# --- against a test's home ----------------------------------------------------------------
def cli(
    home: str | os.PathLike[str],
    *args: str | os.PathLike[str],
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 60,
    cwd: str | os.PathLike[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m queuectl ARGS`` against the queue in ``home``; never raises on exit code."""
    return run(args, cli_env(home, env), input=input, timeout=timeout, cwd=cwd)


def cli_ok(
    home: str | os.PathLike[str],
    *args: str | os.PathLike[str],
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 60,
    cwd: str | os.PathLike[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Like ``cli`` but asserts exit code 0 (the failure message shows its output)."""
    return succeeded(cli(home, *args, input=input, env=env, timeout=timeout, cwd=cwd))


def cli_json(
    home: str | os.PathLike[str],
    *args: str | os.PathLike[str],
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 60,
) -> Any:
    """Run a ``--json`` command (add ``--json`` yourself), assert exit 0, return parsed stdout."""
    return parsed(cli_ok(home, *args, input=input, env=env, timeout=timeout))


def on_terminal(
    home: str | os.PathLike[str],
    *args: str,
    columns: int = 80,
    env: Mapping[str, str] | None = None,
    timeout: float = 60,
) -> tuple[int, str]:
    """Run ``python -m queuectl ARGS`` against the queue in ``home`` with its stdout and
    stderr on a terminal (a pseudo-terminal ``columns`` wide); its exit code and what
    it printed there (line ends as ``\\n``)."""
    import fcntl
    import pty
    import select
    import struct
    import termios
    import time

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    try:
        proc = subprocess.Popen(
            [*QUEUECTL, *args],
            stdin=subprocess.DEVNULL,
            stdout=follower,
            stderr=follower,
            env=cli_env(home, env),
        )
    finally:
        os.close(follower)
    chunks = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            ready, _, _ = select.select([leader], [], [], max(deadline - time.monotonic(), 0))
            if not ready:
                raise AssertionError(f"queuectl {shlex.join(args)} printed nothing for {timeout}s")
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: every end of the terminal closed, the command is done
                break
            if not chunk:
                break
            chunks.append(chunk)
        code = proc.wait(timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(leader)
    return code, b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")


# --- a long-running worker ------------------------------------------------------------------
class Worker:
    """A ``queuectl worker start`` process leading its own session (its pid is its
    process group); its stdout and stderr go to a log file."""

    def __init__(self, proc: subprocess.Popen[bytes], log: Path, args: tuple[str, ...]) -> None:
        self.proc = proc
        self.log_path = log
        self.args = args

    @classmethod
    def start(
        cls,
        argv: Sequence[str],
        env: Mapping[str, str],
        log: Path,
        cwd: Path,
        label: tuple[str, ...],
    ) -> Worker:
        """Start ``argv`` (a command line that ends in ``queuectl worker start …``)."""
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                env=dict(env),
                cwd=cwd,
                start_new_session=True,
            )
        return cls(proc, log, label)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for_log(self, *texts: str, timeout: float = 10.0) -> None:
        """Wait until the worker's log holds one of ``texts``."""
        wait_for(
            lambda: any(text in self.log() for text in texts),
            timeout,
            what=lambda: f"one of {texts} in the log of worker {self.args}:\n{self.log()}",
        )

    def send(self, sig: int) -> None:
        """A signal to the worker process itself (as a terminal's Ctrl+C or `kill` would)."""
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"worker {self.args} still running after {timeout:g}s; its log:\n{self.log()}"
            ) from None

    def kill_group(self, timeout: float = 10) -> None:
        """SIGKILL to the worker's whole process group (its jobs are in their own sessions)."""
        kill_group(self.proc, timeout)
