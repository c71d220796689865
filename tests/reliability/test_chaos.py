"""Chaos, CI-sized: workers SIGKILLed about once a second for 15 s while 300 jobs run.

The logic is ``tests/support/chaos.py`` (its docstring says what is checked); the
full-size run is ``scripts/chaos.py`` (``make chaos``).
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.support.chaos import Chaos, Settings


@pytest.mark.timeout(240)
def test_chaos_at_least_once_never_twice_at_the_same_time(db: str | None, tmp_path: Path) -> None:
    seed = random.randrange(2**32)
    settings = Settings(jobs=300, duration=15.0, seed=seed)
    with Chaos(tmp_path / "chaos", db, settings) as chaos:
        report = chaos.run()
    print(f"seed {seed}\n{report.summary()}")

    assert not report.problems, f"seed {seed}\n{report.summary()}"
    assert len(report.kills) >= 10, "the chaos loop killed too few workers to mean much"
    assert report.lost_attempts > 0, "no kill ever hit a running job"
