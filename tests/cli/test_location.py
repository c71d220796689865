"""Where a queue given as a path lives: one reading of the path for the file and its logs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import cli_ok

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
