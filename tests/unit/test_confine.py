"""worker.confine without a kernel: the cgroup v2 path against a fake tree (a folder with
the files the kernel would show), the reading of /proc's cgroup files, and the preludes
of each mode. The v1 path runs for real in tests/e2e/test_resources.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from queuectl.lifecycle import Usage
from queuectl.worker.confine import (
    Confinement,
    Tree,
    cgroup_mounts,
    cgroup_paths,
    find_tree,
)

MIB = 1 << 20
V1_PROC = """9:name=systemd:/
8:pids:/
4:memory:/process_api/abc
2:cpuacct:/
1:cpu:/
0::/
"""
V1_MOUNTS = """31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""


def test_proc_cgroup_and_mountinfo_are_read_per_controller() -> None:
    paths = cgroup_paths(V1_PROC)
    assert paths["memory"] == "/process_api/abc"
    assert paths["pids"] == paths["cpu"] == paths[""] == "/"
    mounts = cgroup_mounts(V1_MOUNTS)
    assert mounts["memory"] == ("/sys/fs/cgroup/memory", "/")
    assert mounts[""] == ("/sys/fs/cgroup/unified", "/")
    assert "tmpfs" not in mounts and "rw" in mounts  # options other than controllers: unused


def _v2_tree(tmp_path: Path, controllers: str = "cpu io memory pids") -> tuple[Path, str, str]:
    """A fake unified hierarchy mounted at tmp_path/cg, the worker in /app (the mount's
    root is /srv, as in a container); → (the worker's cgroup folder, proc, mountinfo)."""
    where = tmp_path / "cg" / "app"
    where.mkdir(parents=True)
    (where / "cgroup.controllers").write_text(controllers + "\n")
    (where / "cgroup.subtree_control").write_text("")
    proc = "0::/srv/app\n"
    mounts = f"41 31 0:38 /srv {tmp_path / 'cg'} rw,relatime - cgroup2 cgroup2 rw\n"
    return where, proc, mounts


def test_v2_makes_a_subtree_that_hands_its_controllers_down(tmp_path: Path) -> None:
    where, proc, mounts = _v2_tree(tmp_path)
    tree = find_tree(4242, proc, mounts)
    assert tree is not None and tree.mode == "cgroup v2"
    assert (where / "cgroup.subtree_control").read_text() == "+memory +cpu +pids"
    sub = where / "queuectl-4242"
    assert (sub / "cgroup.subtree_control").read_text() == "+memory +cpu +pids"
    (sub / "cgroup.subtree_control").unlink()  # a fake's file: the kernel's go with rmdir
    tree.close()
    assert not sub.exists()


def test_v2_without_the_controllers_is_not_used(tmp_path: Path) -> None:
    _, proc, mounts = _v2_tree(tmp_path, controllers="cpu io")
    assert find_tree(4242, proc, mounts) is None
    assert not list((tmp_path / "cg" / "app").glob("queuectl-*"))


def test_a_v2_group_gets_the_limits_and_reports_what_it_used(tmp_path: Path) -> None:
    where, proc, mounts = _v2_tree(tmp_path)
    tree = find_tree(4242, proc, mounts)
    assert tree is not None
    confinement = Confinement(tree)
    prelude, group = confinement.prepare({"mem": 50 * MIB, "cpu": 1.5, "pids": 20, "nofile": 64})
    assert group is not None
    folder = where / "queuectl-4242" / "a1"
    assert (folder / "memory.max").read_text() == str(50 * MIB)
    assert (folder / "cpu.max").read_text() == "150000 100000"
    assert (folder / "pids.max").read_text() == "20"
    # the job's own shell enters the group before anything else runs, then takes nofile
    assert prelude == (f"{{ echo $$ > '{folder / 'cgroup.procs'}' && ulimit -n 64; }} || exit 126")
    # what the kernel would show once the attempt ended
    (folder / "cpu.stat").write_text("usage_usec 1500000\nuser_usec 1250000\nsystem_usec 250000\n")
    (folder / "memory.peak").write_text(str(200 * MIB) + "\n")
    (folder / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    (folder / "cgroup.procs").write_text("")
    assert group.kill(wait=0)
    assert group.usage() == (Usage(1.25, 0.25, 200 * 1024), True)
    for name in ("cpu.stat", "memory.peak", "memory.events", "cgroup.procs", "memory.max",
                 "cpu.max", "pids.max"):  # fmt: skip
        (folder / name).unlink()  # the kernel's files go with the folder; a fake's must go
    confinement.done(group)
    assert not folder.exists()
    (where / "queuectl-4242" / "cgroup.subtree_control").unlink()
    confinement.close()
    assert not (where / "queuectl-4242").exists()


def test_the_rlimit_mode_sets_what_rlimits_can_hold(tmp_path: Path) -> None:
    confinement = Confinement(None)
    assert confinement.mode == "rlimit"
    prelude, group = confinement.prepare({"mem": 50 * MIB, "cpu": 1.5, "pids": 20, "nofile": 64})
    assert group is None
    assert prelude == (
        "{ ulimit -v 51200 && { ulimit -u 20 2>/dev/null || ulimit -p 20; } && ulimit -n 64; }"
        " || exit 126"
    )
    assert confinement.prepare({"cpu": 2.0}) == ("", None)  # no rlimit holds a rate of CPU


def test_a_forced_rlimit_mode_looks_for_no_cgroup() -> None:
    assert Confinement.detect({"QUEUECTL_LIMIT_MODE": "rlimit"}).mode == "rlimit"


def test_a_group_that_cannot_be_made_is_an_error_and_leaves_nothing(tmp_path: Path) -> None:
    base = tmp_path / "pids" / "queuectl-1"
    base.mkdir(parents=True)
    tree = Tree(1, {"memory": str(tmp_path / "missing" / "queuectl-1"), "pids": str(base)})
    with pytest.raises(OSError):
        tree.make({"pids": 20})
    assert list(base.iterdir()) == []
