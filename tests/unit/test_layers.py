"""The layer contracts in pyproject.toml hold, and they can fail: an upward import into
a copy of the package breaks them (a contract that cannot fail is not a contract)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")


def lint(project: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(project / "src")}
    return subprocess.run(
        [str(LINT), "--no-cache"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    shutil.copytree(ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def test_the_layers_are_kept(copy: Path) -> None:
    done = lint(copy)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        ("backends/common.py", "from queuectl.worker import runner", "queuectl.worker"),
        ("api.py", "from queuectl.web import app", "queuectl.web"),
        ("lifecycle.py", "from queuectl.backends import sqlite", "queuectl.backends"),
        ("models.py", "import sqlite3", "sqlite3"),
        ("logfiles.py", "from queuectl import logview", "queuectl.logview"),
    ],
)
def test_an_upward_import_breaks_a_contract(
    copy: Path, module: str, line: str, broken: str
) -> None:
    with open(copy / "src" / "queuectl" / module, "a", encoding="utf-8") as source:
        source.write(f"\n{line}  # a deliberate violation\n")
    done = lint(copy)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"is not allowed to import {broken}" in done.stdout
