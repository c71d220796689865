"""Fixtures of the PostgreSQL multi-host tests: two hosts on one queue, and a server of
the tests' own that may be restarted (the machine's shared server never is)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.backends import reset_pg_queue
from tests.support.harness import Queuectl
from tests.support.polling import wait_for
from tests.support.processes import running

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_USER = "postgres"  # initdb refuses to run as root
RUNUSER = shutil.which("runuser", path="/usr/sbin:/sbin:/usr/bin:/bin") or "runuser"


@pytest.fixture
def pg_url(pg_database: str) -> str:
    """The test run's database on the machine's server, with a fresh queue schema."""
    reset_pg_queue(pg_database)
    return pg_database


@dataclass
class Hosts:
    a: Queuectl
    b: Queuectl


def host(tmp_path: Path, name: str, db: str) -> Queuectl:
    """One "host": its own QUEUECTL_HOME (so its log files are its own) and host name."""
    folder = tmp_path / name
    folder.mkdir()
    return Queuectl(folder, db, env={"QUEUECTL_HOSTNAME": name})


@pytest.fixture
def hosts(tmp_path: Path, pg_url: str) -> Iterator[Hosts]:
    """Hosts ``host-a`` and ``host-b`` sharing one PostgreSQL queue; everything either
    started (workers, and the jobs of killed workers) is ended afterwards."""
    with host(tmp_path, "host-a", pg_url) as a, host(tmp_path, "host-b", pg_url) as b:
        yield Hosts(a, b)


# --- a PostgreSQL server of our own ------------------------------------------------------
def _as_postgres(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [RUNUSER, "-u", PG_USER, "--", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={"PATH": f"{PG_BIN}:/usr/bin:/bin", "LANG": "C.UTF-8"},
        cwd="/",
        check=False,
    )
    assert done.returncode == 0, f"{argv[0]} failed ({done.returncode}): {done.stderr}{done.stdout}"
    return done


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class OwnServer:
    """A throw-away PostgreSQL 15 cluster on 127.0.0.1:port (and any other ``listen``
    addresses of this machine), run by the postgres user."""

    folder: Path
    port: int
    listen: tuple[str, ...] = ("127.0.0.1",)

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def postmaster_pid(self) -> int | None:
        try:
            first = (self.data / "postmaster.pid").read_text().split("\n", 1)[0]
        except FileNotFoundError:
            return None
        return int(first) if first.strip().isdigit() else None

    def pg_ctl(self, *args: str) -> None:
        """``pg_ctl`` on this cluster; the server's output goes to its log file, never to
        our pipes (a server started by ``restart`` would otherwise hold them open)."""
        log = str(self.folder / "server.log")
        _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", log, *args)

    def start(self) -> None:
        options = (
            f"-c listen_addresses={','.join(self.listen)} -c port={self.port} "
            f"-c unix_socket_directories={self.folder} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        self.pg_ctl("-o", options, "-w", "-t", "60", "start")

    def restart(self) -> None:
        """Fast shutdown (every session is cut) and start again with the same options."""
        self.pg_ctl("-m", "fast", "-w", "-t", "60", "restart")

    def stop(self) -> None:
        pid = self.postmaster_pid()
        if pid is None:
            return
        try:
            self.pg_ctl("-m", "immediate", "-w", "stop")
        except (AssertionError, subprocess.TimeoutExpired):
            try:
                os.kill(pid, signal.SIGQUIT)  # the postmaster's "immediate shutdown"
            except ProcessLookupError:
                return
        wait_for(lambda: self.postmaster_pid() is None or not running(pid), 30, what="stop")


@contextmanager
def own_server(
    listen: Sequence[str] = ("127.0.0.1",), trusted: Sequence[str] = ()
) -> Iterator[OwnServer]:
    """A fresh cluster listening on ``listen`` (addresses of this machine), which also
    trusts TCP clients from the ``trusted`` networks (CIDR); removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="queuectl-pg-"))  # /tmp: the postgres user can reach
    shutil.chown(folder, PG_USER, PG_USER)
    server = OwnServer(folder, _free_port(), tuple(listen))
    try:
        _as_postgres(
            str(PG_BIN / "initdb"),
            "-D",
            str(server.data),
            "--auth=trust",
            "-U",
            PG_USER,
            "--no-sync",
            "-E",
            "UTF8",
            "--no-instructions",
        )
        with open(server.data / "pg_hba.conf", "a") as hba:
            hba.writelines(f"host all all {network} trust\n" for network in trusted)
        started = time.monotonic()
        server.start()
        print(f"own PostgreSQL on port {server.port} up in {time.monotonic() - started:.1f}s")
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def own_pg() -> Iterator[OwnServer]:
    """A PostgreSQL server that tests may restart. Missing binaries fail (never skip)."""
    with own_server() as server:
        yield server


@pytest.fixture
def own_pg_url(own_pg: OwnServer) -> str:
    reset_pg_queue(own_pg.url)
    return own_pg.url


@pytest.fixture
def own_qc(tmp_path: Path, own_pg_url: str) -> Iterator[Queuectl]:
    """The CLI against a fresh queue on the server of our own."""
    with Queuectl(tmp_path, own_pg_url) as qc:
        yield qc
