"""Security: owner-only files, job ids that cannot address files, secrets that are never
printed, and bad input that writes nothing."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.support import (
    Ran,
    assert_clean_error,
    assert_no_traceback,
    rows,
    run_cli,
    tree,
)
from tests.support.backends import BACKENDS, reset_pg_queue
from tests.support.cli import QUEUECTL, cli_env, cli_json, cli_ok
from tests.support.jobs import gate_wait
from tests.support.polling import wait_for
from tests.support.processes import running

WORKER_DEADLINE = 90.0


def umask0() -> None:
    os.umask(0)  # the most permissive umask: modes must come from queuectl itself


def ok(ran: Ran) -> Ran:
    assert ran.code == 0, ran
    assert_no_traceback(ran)
    return ran


# --- owner-only files -----------------------------------------------------------------
def test_queue_files_and_logs_are_owner_only_even_with_umask_0(tmp_path: Path) -> None:
    home = tmp_path / "home"
    db = home / "queuectl.db"
    # a job that looks at the queue's files while the worker has the queue open
    look = f"stat -c '%a %n' {shlex.quote(str(db))} {shlex.quote(str(db))}-wal"
    look += f" {shlex.quote(str(db))}-shm"
    ok(run_cli(home, "enqueue", "--id", "look", "--command", look, preexec=umask0))
    ok(run_cli(home, "enqueue", "--id", "talk", "--command", "echo out; echo err >&2"))
    fail = "echo failing; exit 3"
    ok(run_cli(home, "enqueue", "--id", "fail", "--max-retries", "0", "--command", fail))
    burst = run_cli(home, "worker", "start", "--burst", preexec=umask0, timeout=WORKER_DEADLINE)
    assert burst.code == 1, burst  # job "fail" ended dead
    # and a detached worker, which writes its own log file
    started = ok(run_cli(home, "worker", "start", "--detach", "--burst", preexec=umask0))
    pid = int(started.out.split("pid", 1)[1].split()[0])
    wait_for(lambda: not running(pid), timeout=WORKER_DEADLINE, what="the detached worker")

    seen = (home / "logs" / "look.1.log").read_text().splitlines()
    modes = {name: mode for mode, name in (line.split(" ", 1) for line in seen)}
    assert modes == {str(db): "600", f"{db}-wal": "600", f"{db}-shm": "600"}, seen
    found = tree(tmp_path)
    assert found.pop("home") == 0o700
    assert found.pop("home/logs") == 0o700
    assert any(name.startswith("home/logs/worker-") for name in found), found
    assert {"home/queuectl.db", "home/logs/talk.1.log", "home/logs/fail.1.log"} <= set(found)
    loose = {name: oct(mode) for name, mode in found.items() if mode != 0o600}
    assert loose == {}, f"not owner-only: {loose}"


# --- job ids and log paths --------------------------------------------------------------
REFUSED_IDS = ["..", "...", ".", ".x", "../x", "a/../../x", "/tmp/x", "a/b", "x\\y", "\x00"]
DOTTY_IDS = [
    "a..b",
    "a.",
    "a..",
    "-",
    ":",
    "a:b",
    "x.1",
    "x.1.log",
    "-.-",
    ":..:",
    "_..",
    "A" * 128,
]


@pytest.mark.parametrize("job_id", REFUSED_IDS)
def test_ids_that_could_name_another_file_are_refused(tmp_path: Path, job_id: str) -> None:
    home = tmp_path / "home"
    cli_ok(home, "enqueue", "--id", "seed", "--command", "true")
    if "\x00" not in job_id:  # argv cannot carry NUL; JSON can
        assert_clean_error(run_cli(home, "enqueue", f"--id={job_id}", "--command", "true"), 2)
        for command in (("show",), ("logs",), ("cancel",), ("dlq", "retry"), ("dlq", "purge")):
            assert_clean_error(run_cli(home, *command, "--", job_id), 2, "job id")
    escaped = job_id.replace("\\", "\\\\").replace("\x00", "\\u0000")
    raw = f'{{"id": "{escaped}", "command": "true"}}'
    assert_clean_error(run_cli(home, "enqueue", raw), 2, "job id")
    assert [job["id"] for job in cli_json(home, "list", "--json")] == ["seed"]


def test_log_files_of_every_valid_id_land_inside_the_logs_folder(tmp_path: Path) -> None:
    home = tmp_path / "home"
    outside = tmp_path / "outside.txt"
    outside.write_text("not yours\n")
    for job_id in DOTTY_IDS:
        assert cli_ok(
            home, "enqueue", f"--id={job_id}", "--command", "echo $QUEUECTL_JOB_ID"
        ).stdout
    # a trap: the log file of job "evil" is already a symlink to a file outside
    cli_ok(home, "enqueue", "--id", "evil", "--command", "echo overwritten")
    (home / "logs").mkdir(mode=0o700)
    (home / "logs" / "evil.1.log").symlink_to(outside)
    before = {p for p in os.listdir(tmp_path) if p != "home"}

    ok(run_cli(home, "worker", "start", "--burst", timeout=WORKER_DEADLINE))

    states = {job["id"]: job["state"] for job in cli_json(home, "list", "--json")}
    assert set(states.values()) == {"completed"}, states
    assert outside.read_text() == "not yours\n", "a job wrote through a planted symlink"
    evil = home / "logs" / "evil.1.log"  # the link is left alone, or replaced by the log
    assert os.path.islink(evil) or evil.read_text() in ("", "overwritten\n")
    assert sorted(os.listdir(home / "logs")) == sorted(
        [f"{job_id}.1.log" for job_id in DOTTY_IDS] + ["evil.1.log"]
    )
    assert sorted(os.listdir(home)) == ["logs", "queuectl.db"]
    assert {p for p in os.listdir(tmp_path) if p != "home"} == before
    for job_id in DOTTY_IDS:
        assert cli_ok(home, "logs", "--", job_id).stdout == job_id + "\n"


# --- secrets given with --env -------------------------------------------------------------
SECRETS = {
    "FLAG_SECRET": "flagvalue-7d1e",
    "JSON_TOKEN": "jsonvalue-93ab",
    "RUN_KEY": "runvalue-4c2f",
}


def _no_secret(ran: Ran, where: str) -> None:
    assert_no_traceback(ran)
    for value in SECRETS.values():
        assert value not in ran.out + ran.err, f"`{where}` printed the value {value!r}\n{ran}"


def _inspect(home: Path, job_ids: list[str], when: str) -> None:
    commands: list[tuple[str, ...]] = [
        ("list",),
        ("list", "--json"),
        ("status",),
        ("status", "--json"),
        ("dlq", "list"),
        ("dlq", "list", "--json"),
        ("worker", "list"),
        ("worker", "list", "--json"),
        ("config", "list", "--json"),
    ]
    for job_id in job_ids:
        commands += [("show", job_id), ("show", job_id, "--json")]
    for command in commands:
        ran = run_cli(home, *command)
        assert ran.code == 0, ran
        _no_secret(ran, f"{' '.join(command)} ({when})")
    # the names are shown, so an operator knows what a job will get
    assert "FLAG_SECRET" in run_cli(home, "show", "pending").out


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[Path]:
    """A file whose existence lets the gated job end; always created at teardown, so the
    job (in a session of its own) never outlives the test."""
    path = tmp_path / "gate"
    try:
        yield path
    finally:
        path.touch()


def test_environment_values_are_never_printed(tmp_path: Path, gate: Path) -> None:
    home = tmp_path / "home"
    dead = '{"id": "dead", "command": "exit 3", "max_retries": 0, "env": {"JSON_TOKEN": "%s"}}'
    _no_secret(ok(run_cli(home, "enqueue", dead % SECRETS["JSON_TOKEN"])), "enqueue JSON env")
    run_env = f"RUN_KEY={SECRETS['RUN_KEY']}"
    ok(run_cli(home, "enqueue", "--id", "done", "--command", "true", "--env", run_env))
    wait = gate_wait(gate)
    ok(run_cli(home, "enqueue", "--id", "running", "--command", wait, "--env", run_env))
    flag_env = f"FLAG_SECRET={SECRETS['FLAG_SECRET']}"
    enqueued = run_cli(
        home, "enqueue", "--id", "pending", "--command", "true", "--env", flag_env, "--delay", "1h"
    )
    _no_secret(ok(enqueued), "enqueue --env")
    # one worker runs "dead", then "done", then the gated "running"; "pending" waits
    worker = subprocess.Popen(
        [*QUEUECTL, "worker", "start"],
        env=cli_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    jobs = ["pending", "dead", "running", "done"]
    try:
        wait_for(lambda: _state(home, "running") == "processing", timeout=30, what="the job")
        assert (_state(home, "dead"), _state(home, "done")) == ("dead", "completed")
        _inspect(home, jobs, "while a job runs")
        gate.touch()
        wait_for(lambda: _state(home, "running") == "completed", timeout=30, what="its end")
        _inspect(home, jobs, "afterwards")
    finally:
        gate.touch()
        os.killpg(worker.pid, signal.SIGTERM)  # graceful: the worker exits once idle
        out, err = worker.communicate(timeout=WORKER_DEADLINE)
    _no_secret(Ran(worker.returncode, out.decode(), err.decode()), "the worker's own output")


def _state(home: Path, job_id: str) -> str | None:
    found = rows(home / "queuectl.db", f"SELECT state FROM jobs WHERE id = '{job_id}'")
    return str(found[0][0]) if found else None


# --- bad input writes nothing -------------------------------------------------------------
BEFORE_THE_QUEUE = [
    ("enqueue",),
    ("enqueue", '{"command": "x"}', "--command", "x"),
    ("enqueue", '{"command": "x", "priority": 2}', "--priority", "1"),
    ("enqueue", "echo", "hello"),
    ("enqueue", "--command", "x", "--delay", "-5s"),
    ("enqueue", "--"),
    ("enqueue", "--command", "x", "--priority", "high"),
    ("enqueue", "--command", "x", "--max-retries", "-1"),
    ("enqueue", "--command", "x", "--delay", "1s", "--run-at", "2030-01-01T00:00:00Z"),
    ("list", "--limit", "-1"),
    ("logs", "x", "--attempt", "many"),
    ("dlq", "retry"),
    ("dlq", "purge", "--all", "x"),
    ("worker", "stop", "--timeout", "soon"),
    ("worker", "start", "--count", "0"),
    ("no-such-command",),
    ("config", "frobnicate"),
]


@pytest.mark.parametrize("args", BEFORE_THE_QUEUE, ids=" ".join)
def test_input_refused_before_the_queue_is_opened_creates_nothing(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    home = tmp_path / "home"
    ran = run_cli(home, *args)
    assert ran.code == 2, ran
    assert_no_traceback(ran)
    assert ran.err.count("\n") == 1, ran
    assert not home.exists(), f"created {sorted(os.listdir(home))}"


AFTER_OPENING = [
    ("enqueue", "not json"),
    ("enqueue", '{"command": "x", "surprise": 1}'),
    ("enqueue", "--command", "x", "--delay", "1y"),
    ("enqueue", "--command", "x", "--id", "../x"),
    ("enqueue", "--command", "x", "--env", "NOEQUALS"),
    ("enqueue", "--file", "/no/such/jobs.jsonl"),
    ("config", "set", "max-retries", "-1"),
    ("config", "set", "heartbeat", "60"),
    ("config", "get", "no-such-key"),
    ("show", "../x"),
    ("list", "--state", "bogus"),
    ("cancel", "../x"),
]


@pytest.mark.parametrize("args", AFTER_OPENING, ids=" ".join)
def test_input_refused_on_a_fresh_home_writes_no_job_or_setting(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    """These are validated after the queue is opened: today that creates an empty queue
    (folder and database) in a fresh home; what must hold is that nothing is in it."""
    home = tmp_path / "home"
    ran = run_cli(home, *args)
    assert_clean_error(ran, 2)
    db = home / "queuectl.db"
    if db.exists():
        for table in ("jobs", "attempts", "config", "workers"):
            assert rows(db, f"SELECT * FROM {table}") == [], table


# --- what a job can plant in the logs folder ----------------------------------------------
NOBODY = 65534
SECRET = "root-only secret 51c7"


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A file only root may read: what a job must not get `logs` to print."""
    path = tmp_path / "secret"
    path.write_text(SECRET + "\n")
    path.chmod(0o600)
    return path


def _plant(log: Path, how: str, secret: Path) -> None:
    log.unlink()
    if how == "symlink":
        log.symlink_to(secret)
    elif how == "hard link":  # the logs folder is another user's: the secret is not theirs
        os.link(secret, log)
    else:
        os.mkfifo(log)  # a reader that opened it would wait forever


@pytest.mark.parametrize("how", ["symlink", "hard link", "fifo"])
def test_logs_never_print_a_file_a_job_planted_at_its_log_path(
    tmp_path: Path, secret: Path, how: str
) -> None:
    """A worker runs as an unprivileged user (here: nobody owns the queue); its jobs can
    write in the logs folder. Root reading that queue's logs gets the attempt's stored
    tail, never the planted file."""
    home = tmp_path / "home"
    ok(run_cli(home, "enqueue", "--id", "job", "--command", "echo own output"))
    ok(run_cli(home, "worker", "start", "--burst", timeout=WORKER_DEADLINE))
    for path in [home, *home.rglob("*")]:
        os.chown(path, NOBODY, NOBODY, follow_symlinks=False)
    _plant(home / "logs" / "job.1.log", how, secret)

    shared = {"QUEUECTL_ALLOW_SHARED": "1"}  # root reads another user's queue on purpose
    ran = ok(run_cli(home, "logs", "job", env=shared, timeout=30))

    assert SECRET not in ran.out + ran.err
    assert ran.out == "own output\n"  # the tail stored with the attempt
    assert "not followed" in ran.err or "not read" in ran.err, ran


def test_the_job_page_never_shows_a_file_planted_at_a_log_path(location: str, secret: Path) -> None:
    from queuectl.api import Queue
    from queuectl.lifecycle import Succeeded
    from tests.contract.support import add, claim, end
    from tests.web.conftest import app_client

    with Queue(location) as queue:
        add(queue.backend, "job", command="echo own output")
        assert end(queue.backend, claim(queue.backend), Succeeded(), log_tail="own output\n")
        os.makedirs(queue.logs_dir, mode=0o700, exist_ok=True)
        os.symlink(secret, os.path.join(queue.logs_dir, "job.1.log"))
    with app_client(location) as client:
        html = client.get("/jobs/job").text
    assert SECRET not in html
    assert "own output" in html


def test_a_job_that_swaps_its_live_log_for_a_link_still_leaves_its_own_output(
    tmp_path: Path, secret: Path
) -> None:
    """The job writes into the worker slot's live file, which the worker then gives the
    attempt's name: it must move what the job wrote, not a link the job put there."""
    home = tmp_path / "home"
    swap = (
        f'live=$(readlink /proc/$$/fd/1); rm -f "$live"; ln -s {shlex.quote(str(secret))} "$live"'
    )
    ok(run_cli(home, "enqueue", "--id", "swap", "--command", f"{swap}; echo mine"))
    ok(run_cli(home, "enqueue", "--id", "next", "--command", "echo next"))
    ok(run_cli(home, "worker", "start", "--burst", timeout=WORKER_DEADLINE))

    kept = home / "logs" / "swap.1.log"
    assert not kept.is_symlink(), f"the attempt's log is a link to {os.readlink(kept)}"
    assert kept.read_text() == "mine\n"
    assert secret.read_text() == SECRET + "\n"
    assert ok(run_cli(home, "logs", "swap")).out == "mine\n"
    assert ok(run_cli(home, "logs", "next")).out == "next\n"
    assert [p for p in os.listdir(home / "logs") if os.path.islink(home / "logs" / p)] == []


# --- queues another user could have planted -------------------------------------------------
def _queue_with_logs(home: Path) -> None:
    ok(run_cli(home, "enqueue", "--id", "seed", "--command", "echo seed"))
    ok(run_cli(home, "worker", "start", "--burst", timeout=WORKER_DEADLINE))
    assert (home / "logs").is_dir()


UNSAFE = {
    "folder of another user": ("home", "chown", "another user"),
    "file of another user": ("home/queuectl.db", "chown", "another user"),
    "logs folder of another user": ("home/logs", "chown", "another user"),
    "folder writable by its group": ("home", 0o770, "writable by other users"),
    "sticky folder writable by all": ("home", 0o1777, "writable by other users"),
    "file writable by all": ("home/queuectl.db", 0o666, "writable by other users"),
    "logs folder writable by its group": ("home/logs", 0o770, "writable by other users"),
}


@pytest.mark.parametrize("case", UNSAFE, ids=str)
def test_a_queue_another_user_could_have_planted_is_refused(tmp_path: Path, case: str) -> None:
    home = tmp_path / "home"
    _queue_with_logs(home)
    where, change, said = UNSAFE[case]
    target = tmp_path / where
    if change == "chown":
        os.chown(target, NOBODY, NOBODY)
    else:
        assert isinstance(change, int)
        target.chmod(change)
    before = rows(home / "queuectl.db", "SELECT id, state FROM jobs")

    for args in (
        ("enqueue", "--id", "planted", "--command", "echo planted"),
        ("worker", "start", "--burst"),
        ("list",),
        ("logs", "seed"),
    ):
        ran = run_cli(home, *args, timeout=WORKER_DEADLINE)
        assert_clean_error(ran, 1, said, "QUEUECTL_ALLOW_SHARED")
    assert rows(home / "queuectl.db", "SELECT id, state FROM jobs") == before

    shared = {"QUEUECTL_ALLOW_SHARED": "1"}  # the documented way to share a queue on purpose
    assert ok(run_cli(home, "logs", "seed", env=shared)).out == "seed\n"


def test_a_logs_folder_of_another_user_is_refused_on_both_engines(
    location: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from queuectl.api import Queue
    from queuectl.errors import StorageError

    home = tmp_path / "home"  # QUEUECTL_HOME of `location`; the SQLite file's folder too
    (home / "logs").mkdir(mode=0o700, parents=True)
    home.chmod(0o700)
    os.chown(home / "logs", NOBODY, NOBODY)
    with pytest.raises(StorageError, match="belongs to another user"):
        Queue(location).open()  # a Queue touches nothing until it is opened or used
    monkeypatch.setenv("QUEUECTL_ALLOW_SHARED", "1")
    Queue(location).open().close()


# --- folders created under umask 000 --------------------------------------------------------
@pytest.mark.parametrize("engine", BACKENDS)
def test_every_folder_queuectl_creates_is_owner_only_under_umask_0(
    tmp_path: Path, request: pytest.FixtureRequest, engine: str
) -> None:
    """The folders above the queue (SQLite) and $QUEUECTL_HOME with its logs (PostgreSQL)
    are created by queuectl: 0700 each, whatever the umask; files 0600."""
    top = tmp_path / "top"
    if engine == "sqlite":
        home, env = tmp_path / "unused", {}
        where = top / "a" / "b" / "queue.db"
        args: tuple[str, ...] = ("--db", str(where))
    else:
        url = request.getfixturevalue("pg_database")
        reset_pg_queue(url)
        home, env, args = top / "a" / "b", {"QUEUECTL_DB": url}, ()
    enqueue = (*args, "enqueue", "--id", "talk", "--command", "echo out")
    ok(run_cli(home, *enqueue, env=env, preexec=umask0))
    ok(run_cli(home, *args, "worker", "start", "--burst", env=env, preexec=umask0))

    found = tree(tmp_path)
    folders = {name: oct(mode) for name, mode in found.items() if (tmp_path / name).is_dir()}
    assert folders == {name: "0o700" for name in ("top", "top/a", "top/a/b", "top/a/b/logs")}
    assert "top/a/b/logs/talk.1.log" in found
    loose = {name: oct(mode) for name, mode in found.items() if name not in folders}
    assert {name: mode for name, mode in loose.items() if mode != "0o600"} == {}
    assert not (tmp_path / "unused").exists()
