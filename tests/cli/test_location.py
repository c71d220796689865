"""Where a queue lives: one reading of a path for the file and its logs; never a queue
made where none was meant (an unknown scheme, a read of a missing queue); schema names."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.support.backends import pg_with_password
from tests.support.cli import cli, cli_json, cli_ok

FORMS = {
    "--db": (("--db", "~/q.db"), {}),
    "sqlite URL": (("--db", "sqlite://~/q.db"), {}),
    "QUEUECTL_DB": ((), {"QUEUECTL_DB": "~/q.db"}),
}


@pytest.mark.parametrize("form", FORMS, ids=str)
def test_a_queue_under_tilde_keeps_its_logs_beside_it(tmp_path: Path, form: str) -> None:
    """`~` is expanded once: the database and its logs folder are both in $HOME, so
    `logs` from any other folder finds the attempt's file."""
    args, env = FORMS[form]
    user = tmp_path / "user"
    here, elsewhere = tmp_path / "here", tmp_path / "elsewhere"
    for folder in (user, here, elsewhere):
        folder.mkdir(mode=0o700)
    env = {**env, "HOME": str(user)}
    unused = tmp_path / "unused"  # QUEUECTL_HOME: the location given wins over it

    enqueue = ("enqueue", "--id", "job", "--command", "echo found me")
    cli_ok(unused, *args, *enqueue, env=env, cwd=here)
    cli_ok(unused, *args, "worker", "start", "--burst", env=env, cwd=here, timeout=90)

    assert (user / "q.db").is_file()
    assert (user / "logs" / "job.1.log").read_text() == "found me\n"
    assert list(here.iterdir()) == [], "something was created in the current folder"
    shown = cli_ok(unused, *args, "logs", "job", env=env, cwd=elsewhere)
    assert (shown.stdout, shown.stderr) == ("found me\n", "")
    assert not unused.exists()


# --- never the wrong queue ---------------------------------------------------------------
def refused(done: subprocess.CompletedProcess[str], code: int, *mentions: str) -> None:
    """Exit ``code`` with one line on stderr naming each of ``mentions``, nothing on stdout."""
    assert done.returncode == code, (done.returncode, done.stderr)
    assert done.stdout == "", done.stdout
    assert done.stderr.startswith("queuectl: error: ") and done.stderr.count("\n") == 1, done.stderr
    for word in mentions:
        assert word in done.stderr, (word, done.stderr)


@pytest.mark.parametrize(
    "where", ["mysql://x/y", "redis://localhost/0", "file:///tmp/q.db", "Postgresql://h/db"]
)
@pytest.mark.parametrize(
    "args",
    [("enqueue", "--command", "true"), ("enqueue", '{"command":"true"}'), ("status",)],
    ids=" ".join,
)
def test_a_location_of_an_unknown_scheme_is_refused(
    tmp_path: Path, where: str, args: tuple[str, ...]
) -> None:
    """`--db mysql://x/y` once made a folder `mysql:` holding a SQLite file `y`."""
    home, here = tmp_path / "home", tmp_path / "here"
    here.mkdir()
    refused(cli(home, "--db", where, *args, cwd=here), 2, where.partition(":")[0] + "://")
    refused(cli(home, *args, env={"QUEUECTL_DB": where}, cwd=here), 2, "not a queue location")
    assert list(tmp_path.iterdir()) == [here] and list(here.iterdir()) == []


@pytest.mark.parametrize(
    ("url", "env"),
    [
        ("postgresql://h/db?schema=Team_A", {}),
        ("postgresql://h/db?schema=team-a", {}),
        ("postgresql://h/db?schema=1st", {}),
        ("postgresql://h/db?schema=pg_catalog", {}),
        ("postgresql://h/db?schema=", {}),
        ("postgresql://h/db?schema=a&schema=b", {}),
        ("postgresql://h/db", {"QUEUECTL_SCHEMA": "a.b"}),
        ("postgresql://h/db", {"QUEUECTL_SCHEMA": "x" * 41}),
    ],
)
def test_a_bad_schema_name_is_refused(tmp_path: Path, url: str, env: dict[str, str]) -> None:
    """Checked before anything connects: exit 2, one line naming the schema."""
    home = tmp_path / "home"
    for args in (("enqueue", "--command", "true"), ("status",), ("worker", "start")):
        refused(cli(home, "--db", url, *args, env=env), 2, "schema")
    assert not home.exists()


# Every command that only reads (CLI.md, "Everywhere").
READS = (
    ("status",),
    ("status", "--json"),
    ("status", "--watch"),
    ("list",),
    ("list", "--json"),
    ("show", "job"),
    ("logs", "job"),
    ("stats",),
    ("dlq", "list"),
    ("config", "get", "lease"),
    ("config", "list"),
    ("queue", "list"),
    ("worker", "list"),
)


def test_a_read_of_a_missing_queue_creates_nothing(db: str | None, tmp_path: Path) -> None:
    """On SQLite no file and no folder; on PostgreSQL no schema. A write creates it."""
    home = tmp_path / "home"
    env = {} if db is None else {"QUEUECTL_DB": db}
    shown = str(home / "queuectl.db") if db is None else "(schema queuectl)"
    for args in READS:
        refused(cli(home, *args, env=env, timeout=30), 1, "no queue at", shown)
    assert not home.exists()
    if db is not None:
        assert schemas(db) & {"queuectl"} == set()

    cli_ok(home, "enqueue", "--id", "job", "--command", "true", env=env)
    assert cli_json(home, "list", "--json", env=env)[0]["id"] == "job"
    assert cli_ok(home, "config", "get", "lease", env=env).stdout == "30\n"


def test_a_read_names_the_missing_location_without_its_password(
    tmp_path: Path, pg_database: str
) -> None:
    home, deep = tmp_path / "home", tmp_path / "no" / "such" / "dir" / "q.db"
    refused(cli(home, "--db", str(deep), "status"), 1, f"no queue at {deep}")
    assert not (tmp_path / "no").exists()

    url = pg_with_password(pg_database, "s3cret") + "?schema=nowhere"
    done = cli(home, "--db", url, "list")
    refused(done, 1, f"no queue at {pg_database} (schema nowhere)")
    assert "s3cret" not in done.stderr
    assert "nowhere" not in schemas(pg_database)
    assert not home.exists()


def test_a_read_does_not_upgrade_a_queue_of_an_older_version(
    db: str | None, tmp_path: Path
) -> None:
    """Migrating is a write: a read of an older queue says how to upgrade it and changes
    nothing (on PostgreSQL other hosts' workers may still run the older queuectl)."""
    home = tmp_path / "home"
    env = {} if db is None else {"QUEUECTL_DB": db}
    older = make_older_queue(home / "queuectl.db" if db is None else db)

    for args in READS:
        refused(cli(home, *args, env=env, timeout=30), 1, "older queuectl", f"schema {older} of")
    assert version_of(home / "queuectl.db" if db is None else db) == older

    cli_ok(home, "enqueue", "--id", "job", "--command", "true", env=env)  # upgrades it
    assert cli_json(home, "list", "--json", env=env)[0]["id"] == "job"
    assert version_of(home / "queuectl.db" if db is None else db) > older


def make_older_queue(where: Path | str) -> int:
    """A queue as the previous release left it (every migration but the last); its version."""
    from queuectl.sqlfiles import migrations

    if isinstance(where, Path):
        steps = migrations("sqlite")[:-1]
        where.parent.mkdir(mode=0o700)
        conn = sqlite3.connect(where)
        for _, script in steps:
            conn.executescript(script)
        conn.execute(f"PRAGMA user_version = {steps[-1][0]}")
        conn.close()
        return steps[-1][0]
    import psycopg

    from queuectl.sqlfiles import queries

    steps, named = migrations("postgres")[:-1], queries("postgres")
    with psycopg.connect(where, autocommit=True) as pg:
        pg.execute(named["create_schema"])
        pg.execute(named["create_version_table"])
        for number, script in steps:
            pg.execute(script.encode())
            pg.execute(named["record_version"], {"version": number})
    return steps[-1][0]


def version_of(where: Path | str) -> int:
    if isinstance(where, Path):
        conn = sqlite3.connect(where)
        try:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(where) as pg:
        found = pg.execute("SELECT max(version) FROM queuectl.schema_version").fetchone()
    return int(found[0]) if found else 0


def schemas(url: str) -> set[str]:
    """The schemas of the database at ``url``."""
    import psycopg

    with psycopg.connect(url) as conn:
        return {row[0] for row in conn.execute("SELECT nspname FROM pg_namespace")}
