"""PostgreSQL that cannot be reached, or a URL that cannot be used: a clear one-line
error, exit 1 (2 for a URL that is malformed), within a bounded time, and never the
password of the URL in anything printed or visible to other users."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.support import Ran, assert_clean_error, run_cli
from tests.support.backends import ADMIN_URL, reset_pg_queue
from tests.support.cli import cli_json, cli_ok
from tests.support.polling import poll, wait_for
from tests.support.processes import running

BOUND = 15.0  # seconds: a command facing an unreachable server gives up before this
SECRET = "S3cr3tPw9"
REFUSED = "postgresql://postgres@127.0.0.1:1/x"  # nothing listens on port 1
COMMANDS: list[tuple[str, ...]] = [
    ("list", "--json"),
    ("status",),
    ("enqueue", "--command", "true"),
    ("worker", "start", "--burst"),
]


def timed(home: Path, *args: str, env: dict[str, str] | None = None) -> tuple[Ran, float]:
    start = time.monotonic()
    ran = run_cli(home, *args, env=env, timeout=60)
    return ran, time.monotonic() - start


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
def test_a_refused_connection_is_a_clear_error(tmp_path: Path, command: tuple[str, ...]) -> None:
    ran, took = timed(tmp_path / "home", "--db", REFUSED, *command)
    assert_clean_error(ran, 1, "127.0.0.1")
    assert took < BOUND, f"took {took:.1f}s"


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts TCP connections (the kernel's backlog) and never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield sock.getsockname()[1]
    finally:
        sock.close()


@pytest.mark.parametrize("command", [("worker", "start", "--burst")], ids=" ".join)
def test_a_server_that_never_answers_is_given_up_on_in_bounded_time(
    tmp_path: Path, silent_server: int, command: tuple[str, ...]
) -> None:
    url = f"postgresql://postgres:{SECRET}@127.0.0.1:{silent_server}/x"
    # a long-running command takes a password from the environment, never from --db
    ran, took = timed(tmp_path / "home", *command, env={"QUEUECTL_DB": url})
    assert_clean_error(ran, 1, "127.0.0.1")
    assert took < BOUND, f"took {took:.1f}s"
    assert SECRET not in ran.err + ran.out


def test_a_database_that_does_not_exist(tmp_path: Path) -> None:
    base, _, _ = ADMIN_URL.rpartition("/")
    ran, took = timed(tmp_path / "home", "--db", f"{base}/queuectl_no_such_db_4f1c", "list")
    assert_clean_error(ran, 1)
    assert took < BOUND


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://postgres:{SECRET}@127.0.0.1:1/x",
        f"postgres://postgres:{SECRET}@127.0.0.1:1/x",
        f"postgresql://postgres:{SECRET}%40x@127.0.0.1:1/x",  # an '@' in the password
        f"postgresql://postgres@127.0.0.1:1/x?password={SECRET}",
        f"postgresql://127.0.0.1:1/x?user=postgres&password={SECRET}&connect_timeout=3",
    ],
)
@pytest.mark.parametrize("via", ["--db", "QUEUECTL_DB"])
def test_the_password_of_the_url_is_never_shown(tmp_path: Path, url: str, via: str) -> None:
    if via == "--db":
        ran, took = timed(tmp_path / "home", "--db", url, "list")
    else:
        ran, took = timed(tmp_path / "home", "list", env={"QUEUECTL_DB": url})
    assert ran.code == 1 and took < BOUND, ran
    assert SECRET not in ran.err + ran.out, f"the password was printed\n{ran}"
    assert_clean_error(ran, 1)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://[::1/x",  # unclosed IPv6 bracket
        "postgresql://127.0.0.1:1/x?no_such_option=1",
        f"postgresql://postgres:{SECRET}@[::1/x",
        f"postgresql://postgres:{SECRET}@127.0.0.1:1/x?sslmode=sometimes",
        "postgresql://postgres@127.0.0.1:99999999/x",
        "postgresql://postgres@127.0.0.1:1/%zz",
    ],
)
def test_a_malformed_url_is_a_clear_error(tmp_path: Path, url: str) -> None:
    ran, took = timed(tmp_path / "home", "--db", url, "list")
    assert ran.code in (1, 2), ran
    assert_clean_error(ran, ran.code)
    assert SECRET not in ran.err + ran.out, f"the password was printed\n{ran}"
    assert took < BOUND


# --- with the real server -----------------------------------------------------------------
def test_a_detached_worker_keeps_the_password_off_its_command_line(
    tmp_path: Path, pg_database: str
) -> None:
    """The URL given in the environment (private to the user) must not end up in the
    argv of the detached worker, which every user of the machine can read in ``ps``."""
    reset_pg_queue(pg_database)
    scheme, _, rest = pg_database.partition("://")
    user, _, where = rest.partition("@")
    url = f"{scheme}://{user}:{SECRET}@{where}"  # trust auth here: the password is ignored
    home = tmp_path / "home"
    env = {"QUEUECTL_DB": url}
    started = cli_ok(home, "worker", "start", "--detach", env=env)
    assert SECRET not in started.stdout + started.stderr
    pid = int(started.stdout.split("pid", 1)[1].split()[0])
    try:
        wait_for(
            lambda: any(
                w["pid"] == pid for w in cli_json(home, "worker", "list", "--json", env=env)
            ),
            timeout=20,
            what="the detached worker to register",
        )
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        assert SECRET not in cmdline, f"the password is in `ps` for every user: {cmdline}"
    finally:
        run_cli(home, "worker", "stop", "--timeout", "20", env=env)
        if not poll(lambda: not running(pid), 20):
            os.kill(pid, signal.SIGKILL)


def _registered(home: Path, env: dict[str, str], pid: int) -> bool:
    return any(w["pid"] == pid for w in cli_json(home, "worker", "list", "--json", env=env))
