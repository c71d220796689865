"""``worker unit``: a systemd service for a worker of this queue that works as printed,
checked by ``systemd-analyze verify`` and by starting its ``ExecStart`` with its
environment; the stop it asks of systemd is the one the worker makes."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests.support.cli import cli, cli_env, cli_ok, one_line_error
from tests.support.polling import wait_for
from tests.support.processes import kill_group

ANALYZE = shutil.which("systemd-analyze")


def verified(unit: str, folder: Path) -> None:
    """``systemd-analyze verify`` has nothing to say about the unit, saved as systemd
    would find it."""
    if ANALYZE is None:
        if os.environ.get("CI") == "true":
            raise AssertionError("systemd-analyze is missing (apt-get install systemd)")
        pytest.skip("systemd-analyze is missing")
    path = folder / "queuectl-worker.service"
    path.write_text(unit)
    done = subprocess.run(
        [ANALYZE, "verify", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    complaints = [line for line in done.stderr.splitlines() if path.name in line]
    assert done.returncode == 0 and not complaints, done.stderr


def settings_of(unit: str) -> dict[str, list[str]]:
    """Every ``Key=value`` of the unit (comments left out), values in order."""
    found: dict[str, list[str]] = {}
    for line in unit.splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


def environment(unit: str) -> dict[str, str]:
    """The unit's ``Environment="NAME=value"`` entries, as systemd reads them."""
    found = {}
    for value in settings_of(unit).get("Environment", []):
        (entry,) = shlex.split(value.replace("%%", "%"))
        name, _, text = entry.partition("=")
        found[name] = text
    return found


def exec_start(unit: str) -> list[str]:
    (line,) = settings_of(unit)["ExecStart"]
    return [w.replace("%%", "%").replace("$$", "$") for w in shlex.split(line)]


def test_the_unit_of_a_sqlite_queue_passes_systemd_analyze(home: Path, tmp_path: Path) -> None:
    cli_ok(home, "config", "set", "stop-timeout", "5m")
    unit = cli_ok(home, "worker", "unit", "--user", "queuectl", "--count", "4",
                  "--queue", "io", "--queue", "cpu").stdout  # fmt: skip
    verified(unit, tmp_path)
    found = settings_of(unit)
    assert found["KillMode"] == ["mixed"] and found["KillSignal"] == ["SIGTERM"]
    assert found["Restart"] == ["on-failure"] and found["User"] == ["queuectl"]
    assert found["TimeoutStopSec"] == [str(300 + 5 + 30 + 15)], "stop, kill, hooks, margin"
    argv = exec_start(unit)
    assert os.path.isabs(argv[0]) and os.access(argv[0], os.X_OK)
    assert os.path.basename(argv[0]) == "queuectl", "the console script, not python -m"
    assert argv[1:] == ["worker", "start", "--count", "4", "--queue", "io", "--queue", "cpu"]
    assert environment(unit) == {"QUEUECTL_DB": str(home / "queuectl.db")}


def test_without_stop_timeout_systemd_waits_for_the_jobs(home: Path, tmp_path: Path) -> None:
    done = cli_ok(home, "worker", "unit")
    verified(done.stdout, tmp_path)
    assert settings_of(done.stdout)["TimeoutStopSec"] == ["infinity"]
    assert "no queue at" in done.stderr and not home.exists(), "a unit creates no queue"


def test_a_location_with_spaces_and_percent_signs_is_written_as_systemd_reads_it(
    tmp_path: Path,
) -> None:
    home = tmp_path / "my queues" / "50% done"
    cli_ok(home, "config", "set", "lease", "30")
    unit = cli_ok(home, "worker", "unit").stdout
    verified(unit, tmp_path)
    assert environment(unit)["QUEUECTL_DB"] == str(home / "queuectl.db")


def test_the_unit_of_a_postgresql_queue_keeps_its_password_out(
    tmp_path: Path, pg_database: str
) -> None:
    user, rest = pg_database.split("://", 1)[1].split("@", 1)
    with_password = f"postgresql://{user}:s3cr3t@{rest}?schema=units_a"
    done = cli_ok(tmp_path / "home", "--db", with_password, "worker", "unit")
    verified(done.stdout, tmp_path)
    assert "s3cr3t" not in done.stdout
    assert "password was left out" in done.stderr and "PGPASSWORD" in done.stderr
    env = environment(done.stdout)
    assert env["QUEUECTL_DB"] == f"postgresql://{user}@{rest}"
    assert env["QUEUECTL_SCHEMA"] == "units_a"
    found = settings_of(done.stdout)
    assert found["EnvironmentFile"] == ["-/etc/queuectl/%N.env"]
    assert found["After"] == ["network-online.target"]


def test_the_unit_works_as_printed(home: Path, tmp_path: Path) -> None:
    """ExecStart with the unit's environment serves this queue, and SIGTERM (KillSignal,
    to the worker alone: KillMode=mixed) stops it with exit 0."""
    cli_ok(home, "enqueue", "--command", "true", "--id", "first")
    unit = cli_ok(home, "worker", "unit").stdout
    log = tmp_path / "worker.log"
    env = {k: v for k, v in cli_env(tmp_path / "elsewhere").items() if k != "QUEUECTL_HOME"}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            exec_start(unit),
            env={**env, **environment(unit)},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            cwd="/",
            start_new_session=True,
        )
    try:
        wait_for(lambda: "job first attempt 1: completed" in log.read_text(), 30,
                 what=lambda: log.read_text())  # fmt: skip
        assert f"serving {home / 'queuectl.db'}" in log.read_text()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        kill_group(proc)


@pytest.mark.parametrize(
    "args",
    [
        ["--user", "root user"],
        ["--user", "-rf"],
        ["--count", "0"],
        ["--queue", "io", "--queue", "!cpu"],
    ],
    ids=" ".join,
)
def test_bad_input_is_exit_2(home: Path, args: list[str]) -> None:
    one_line_error(cli(home, "worker", "unit", *args), 2)
