"""Fixtures shared by every test folder."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A QUEUECTL_HOME that does not exist yet: the CLI creates it on first use."""
    return tmp_path / "home"
