"""The benchmark harness runs end to end: ``python -m bench.run --quick`` on SQLite only.

A smoke test of the harness, not of speed: it asserts that every workload reported
and that the outputs were written, never how fast anything was.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PER_BACKEND = ("w1_enqueue", "w3_latency", "w4_memory", "w5_scale", "w6_flow", "w8_output")
WORKLOADS = ("w0_limits", "w2_drain", "w7_tsp", *PER_BACKEND)


@pytest.mark.timeout(180)
def test_quick_run_reports_every_workload(tmp_path: Path) -> None:
    out = tmp_path / "results"
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUEUECTL_")}
    env["TMPDIR"] = str(scratch)
    proc = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--no-postgres", "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]

    data = json.loads((out / "latest.json").read_text())
    assert data["errors"] == {}
    assert set(WORKLOADS) <= set(data["workloads"])
    for key in WORKLOADS:
        assert data["workloads"][key], f"{key} reported nothing"
        assert "error" not in data["workloads"][key], data["workloads"][key]
    for key in PER_BACKEND:
        assert "error" not in data["workloads"][key]["sqlite"], data["workloads"][key]
        assert "missing" in data["workloads"][key]["postgres"]
    assert "sqlite" in data["workloads"]["w2_drain"]["by_count"]
    assert "spawn_2proc" in data["limits"]

    workloads_seen = {figure["id"].split(".")[0] for figure in data["figures"]}
    # task-spooler is measured where it is installed, else said to be missing
    peer = "missing" not in data["workloads"]["w7_tsp"]
    assert workloads_seen == {"w1", "w2", "w3", "w4", "w5", "w6"} | ({"w7"} if peer else set())
    for figure in data["figures"]:
        assert figure["value"]["median"] is not None, figure["id"]
        assert figure["backend"] == ("task-spooler" if figure["id"][:2] == "w7" else "sqlite")

    table = (out / "latest.md").read_text()
    assert table.startswith("# queuectl benchmarks")
    assert "| W2 drain |" in table
    assert "| W6 flow |" in table
    assert not list(scratch.iterdir()), "the run left files behind in its temporary folder"
