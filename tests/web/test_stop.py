"""``queuectl dashboard`` stops as a worker does: SIGTERM or SIGINT (Ctrl+C), exit 0."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.web.processes import dashboard_process


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_a_signal_stops_the_dashboard_with_exit_0(tmp_path: Path, sig: signal.Signals) -> None:
    home = tmp_path / "home"
    with dashboard_process(home, None) as (process, _):
        process.send_signal(sig)
        assert process.wait(timeout=30) == 0
        assert "Traceback" not in (process.stderr.read() if process.stderr else "")
