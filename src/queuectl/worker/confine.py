"""Confining an attempt to its limits: a cgroup of its own where one can be made, else rlimits.

The worker picks a mode once, at its start (``Confinement.detect``), and says it on its
first line:

- ``cgroup v2``: the unified hierarchy, with the memory, cpu and pids controllers
  available in the worker's cgroup; an attempt's group sets ``memory.max`` (and
  ``memory.swap.max`` 0), ``cpu.max`` and ``pids.max``.
- ``cgroup v1``: separate ``memory``, ``cpu``, ``cpuacct`` and ``pids`` hierarchies (or
  some of them mounted together); an attempt has a group in each.
- ``rlimit``: no cgroup can be made (not root, no delegation, or forced with
  ``QUEUECTL_LIMIT_MODE=rlimit``): ``mem`` is RLIMIT_AS, ``pids`` RLIMIT_NPROC; ``cpu``
  cannot be enforced.

``nofile`` is always RLIMIT_NOFILE. The worker's groups live in a subtree of its own,
``queuectl-<pid>``, under the cgroups it runs in, removed when it exits.

Only jobs with limits get a group (DECISIONS.md, "Resources": a group per attempt for
every job costs more than the drain's budget). The job enters its group, and takes its
rlimits, in a one-line sh prelude before its command is exec'd (``prelude``): the shell
is the job's own process, so nothing the job starts can run before it is in the group.
"""

from __future__ import annotations

import os
import signal
import time

from queuectl.lifecycle import Usage

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Collection, Mapping

MODE_ENV = "QUEUECTL_LIMIT_MODE"  # "rlimit": never use cgroups (tests, or by choice)
V1_CONTROLLERS = ("memory", "cpu", "cpuacct", "pids")
V2_CONTROLLERS = ("memory", "cpu", "pids")
CPU_PERIOD_US = 100_000
KILL_WAIT = 1.0  # seconds a group's processes are given to die after SIGKILL
_ROOT_PREFIX = "queuectl-"


def _write(path: str, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)


def _read(path: str) -> str | None:
    try:
        with open(path) as handle:
            return handle.read()
    except OSError:
        return None


def _field(text: str | None, name: str) -> int | None:
    """``name N`` from a flat keyed file (memory.events, cpu.stat, memory.oom_control)."""
    for line in (text or "").splitlines():
        key, _, value = line.partition(" ")
        if key == name and value.strip().isdigit():
            return int(value)
    return None


def _number(text: str | None) -> int | None:
    value = (text or "").strip()
    return int(value) if value.isdigit() else None


def cgroup_paths(proc_cgroup: str) -> dict[str, str]:
    """/proc/PID/cgroup → {controller: path}; the unified hierarchy's path under ""."""
    found = {}
    for line in proc_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        for controller in controllers.split(",") if controllers else [""]:
            found[controller] = path
    return found


def cgroup_mounts(mountinfo: str) -> dict[str, tuple[str, str]]:
    """/proc/self/mountinfo → {controller: (mount point, root of the mount)}; cgroup2's
    under ""."""
    found: dict[str, tuple[str, str]] = {}
    for line in mountinfo.splitlines():
        head, sep, tail = line.partition(" - ")
        fields, rest = head.split(), tail.split()
        if not sep or len(fields) < 5 or len(rest) < 3:
            continue
        root, point = _unescape(fields[3]), _unescape(fields[4])
        if rest[0] == "cgroup2":
            found.setdefault("", (point, root))
        elif rest[0] == "cgroup":
            for option in rest[2].split(","):
                found.setdefault(option, (point, root))
    return found


def _unescape(field: str) -> str:
    return field.replace("\\040", " ").replace("\\011", "\t").replace("\\134", "\\")


def _under(point: str, root: str, path: str) -> str:
    """The directory of cgroup ``path`` in a hierarchy mounted at ``point`` from ``root``."""
    if root != "/" and (path == root or path.startswith(root + "/")):
        path = path[len(root) :]
    return os.path.join(point, path.lstrip("/"))


class Group:
    """One attempt's cgroup: a directory per hierarchy (one in v2)."""

    __slots__ = ("dirs", "memory", "procs", "version")

    def __init__(self, version: int, dirs: dict[str, str]) -> None:
        self.version = version
        self.dirs = dirs  # controller ("" in v2) → directory
        self.memory = dirs.get("memory") or dirs.get("", "")
        self.procs = [os.path.join(d, "cgroup.procs") for d in dict.fromkeys(dirs.values())]

    def pids(self) -> list[int]:
        """The processes in the group now."""
        text = _read(self.procs[0]) or ""
        return [int(word) for word in text.split()]

    def signal(self, sig: int, besides: Collection[int] = (), leader: int = 0) -> list[int]:
        """``sig`` to every process in the group (what left the job's session and scrubbed
        its environment cannot leave its cgroup), but those in ``besides`` (signalled
        already) and, unless it is a SIGKILL, the members of process group ``leader``
        (a SIGTERM reaches those once: executor.signal_attempt). → the processes found."""
        found = self.pids()
        for pid in found:
            if pid in besides or pid == leader:
                continue
            try:
                if sig == signal.SIGKILL or not leader or os.getpgid(pid) != leader:
                    os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        return found

    def kill(self, wait: float = KILL_WAIT) -> bool:
        """SIGKILL everything in the group until it is empty (at most ``wait`` seconds: a
        process in uninterruptible sleep dies only when it leaves it). → empty."""
        kill_file = os.path.join(self.dirs.get("", ""), "cgroup.kill")
        deadline = time.monotonic() + wait
        while True:
            if self.version == 2 and os.path.exists(kill_file):
                try:
                    _write(kill_file, "1")
                except OSError:
                    pass
            if not self.signal(signal.SIGKILL):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.001)

    def usage(self) -> tuple[Usage | None, bool]:
        """(what the group's processes used, or None where the files do not say; whether
        the kernel killed one of them at the memory limit)."""
        if self.version == 2:
            stat = _read(os.path.join(self.memory, "cpu.stat"))
            user, system = _field(stat, "user_usec"), _field(stat, "system_usec")
            peak = _number(_read(os.path.join(self.memory, "memory.peak")))
            oom = _field(_read(os.path.join(self.memory, "memory.events")), "oom_kill")
            scale = 1e-6
        else:
            acct = self.dirs["cpuacct"]
            user = _number(_read(os.path.join(acct, "cpuacct.usage_user")))
            system = _number(_read(os.path.join(acct, "cpuacct.usage_sys")))
            peak = _number(_read(os.path.join(self.memory, "memory.max_usage_in_bytes")))
            oom = _field(_read(os.path.join(self.memory, "memory.oom_control")), "oom_kill")
            scale = 1e-9
        killed = bool(oom)
        if user is None or system is None:
            return None, killed
        return Usage(user * scale, system * scale, (peak or 0) // 1024), killed

    def remove(self) -> bool:
        """Remove the group's directories (empty ones only). → all gone."""
        done = True
        for path in dict.fromkeys(self.dirs.values()):
            try:
                os.rmdir(path)
            except FileNotFoundError:
                pass
            except OSError:
                done = False
        return done


class Tree:
    """The worker's own subtree, in which each limited attempt gets a group."""

    def __init__(self, version: int, bases: dict[str, str]) -> None:
        self.version = version
        self.bases = bases  # controller ("" in v2) → the worker's subtree there
        self.count = 0
        self.left: list[Group] = []  # groups not removed yet (a process was slow to die)

    @property
    def mode(self) -> str:
        return f"cgroup v{self.version}"

    def make(self, limits: Mapping[str, int | float]) -> Group:
        """A new group with ``limits`` (mem, cpu, pids) set; OSError if it cannot be."""
        self.count += 1
        name = f"a{self.count}"
        dirs = {key: os.path.join(base, name) for key, base in self.bases.items()}
        made = []
        try:
            for path in dict.fromkeys(dirs.values()):
                os.mkdir(path, 0o755)
                made.append(path)
            group = Group(self.version, dirs)
            self._limit(group, limits)
        except OSError:
            for path in reversed(made):
                try:
                    os.rmdir(path)
                except OSError:
                    pass
            raise
        return group

    def _limit(self, group: Group, limits: Mapping[str, int | float]) -> None:
        mem, cpu, pids = limits.get("mem"), limits.get("cpu"), limits.get("pids")
        quota = None if cpu is None else max(1000, round(cpu * CPU_PERIOD_US))
        if self.version == 2:
            where = group.dirs[""]
            if mem is not None:
                _write(os.path.join(where, "memory.max"), str(int(mem)))
                swap = os.path.join(where, "memory.swap.max")
                if os.path.exists(swap):
                    _write(swap, "0")  # a limit that swaps instead of stopping is no limit
            if quota is not None:
                _write(os.path.join(where, "cpu.max"), f"{quota} {CPU_PERIOD_US}")
            if pids is not None:
                _write(os.path.join(where, "pids.max"), str(int(pids)))
            return
        if mem is not None:
            _write(os.path.join(group.dirs["memory"], "memory.limit_in_bytes"), str(int(mem)))
            both = os.path.join(group.dirs["memory"], "memory.memsw.limit_in_bytes")
            if os.path.exists(both):
                try:
                    _write(both, str(int(mem)))  # memory and swap together (swap accounting)
                except OSError:
                    pass
        if quota is not None:
            _write(os.path.join(group.dirs["cpu"], "cpu.cfs_period_us"), str(CPU_PERIOD_US))
            _write(os.path.join(group.dirs["cpu"], "cpu.cfs_quota_us"), str(quota))
        if pids is not None:
            _write(os.path.join(group.dirs["pids"], "pids.max"), str(int(pids)))

    def done(self, group: Group) -> None:
        """The attempt ended: its group goes (later, if a process is slow to die)."""
        self.left.append(group)
        self.left = [g for g in self.left if not g.remove()]

    def close(self) -> None:
        """The worker exits: what is left in its groups is killed, and the subtree goes."""
        for group in self.left:
            group.kill()
            group.remove()
        self.left = []
        for base in dict.fromkeys(self.bases.values()):
            try:
                os.rmdir(base)
            except OSError:
                pass


def find_tree(
    pid: int | None = None,
    proc_cgroup: str | None = None,
    mountinfo: str | None = None,
) -> Tree | None:
    """The worker's subtree (created), under the cgroups it runs in: v2 if its controllers
    are there, else v1; None if neither can be used. The texts of /proc/self/cgroup and
    /proc/self/mountinfo may be given (tests: a fake tree)."""
    pid = os.getpid() if pid is None else pid
    if proc_cgroup is None:
        proc_cgroup = _read("/proc/self/cgroup") or ""
    if mountinfo is None:
        mountinfo = _read("/proc/self/mountinfo") or ""
    paths, mounts = cgroup_paths(proc_cgroup), cgroup_mounts(mountinfo)
    name = f"{_ROOT_PREFIX}{pid}"
    if "" in paths and "" in mounts:
        point, root = mounts[""]
        tree = _v2(_under(point, root, paths[""]), name)
        if tree is not None:
            return tree
    if all(c in paths and c in mounts for c in V1_CONTROLLERS):
        bases = {}
        for controller in V1_CONTROLLERS:
            point, root = mounts[controller]
            bases[controller] = os.path.join(_under(point, root, paths[controller]), name)
        return _made(Tree(1, bases))
    return None


def _v2(where: str, name: str) -> Tree | None:
    """v2: the worker's cgroup must offer the controllers, and hand them to its children
    (cgroup.subtree_control; refused where the cgroup holds processes and is not the
    root: then a delegated subtree is needed, and this is not one)."""
    offered = (_read(os.path.join(where, "cgroup.controllers")) or "").split()
    if not all(c in offered for c in V2_CONTROLLERS):
        return None
    wanted = " ".join(f"+{c}" for c in V2_CONTROLLERS)
    try:
        enabled = (_read(os.path.join(where, "cgroup.subtree_control")) or "").split()
        if not all(c in enabled for c in V2_CONTROLLERS):
            _write(os.path.join(where, "cgroup.subtree_control"), wanted)
    except OSError:
        return None
    tree = _made(Tree(2, {"": os.path.join(where, name)}))
    if tree is not None:
        try:
            _write(os.path.join(tree.bases[""], "cgroup.subtree_control"), wanted)
        except OSError:
            tree.close()
            return None
    return tree


def _made(tree: Tree) -> Tree | None:
    """``tree`` once its directories exist (left by a worker with this pid: reused), the
    subtrees of dead workers beside it removed (``_sweep``)."""
    made = []
    try:
        for base in dict.fromkeys(tree.bases.values()):
            try:
                os.mkdir(base, 0o755)
                made.append(base)
            except FileExistsError:
                pass
    except OSError:
        for base in made:
            try:
                os.rmdir(base)
            except OSError:
                pass
        return None
    for base in dict.fromkeys(tree.bases.values()):
        _sweep(os.path.dirname(base), os.path.basename(base))
    return tree


def _sweep(parent: str, own: str) -> None:
    """Remove what workers killed before their exit left in ``parent``: a subtree
    ``queuectl-<pid>`` whose pid no longer runs, and its empty groups (a group that still
    holds a process stays)."""
    try:
        names = os.listdir(parent)
    except OSError:
        return
    for name in names:
        pid = name[len(_ROOT_PREFIX) :]
        if name == own or not name.startswith(_ROOT_PREFIX) or not pid.isdigit():
            continue
        if _alive(int(pid)):
            continue
        folder = os.path.join(parent, name)
        try:
            for entry in os.scandir(folder):
                if entry.is_dir(follow_symlinks=False):
                    os.rmdir(entry.path)
            os.rmdir(folder)
        except OSError:
            pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


class Confinement:
    """This worker's way of holding attempts to their limits (one per worker process)."""

    def __init__(self, tree: Tree | None) -> None:
        self.tree = tree

    @classmethod
    def detect(cls, environ: Mapping[str, str] = os.environ) -> Confinement:
        if environ.get(MODE_ENV, "").strip().lower() == "rlimit":
            return cls(None)
        return cls(find_tree())

    @property
    def mode(self) -> str:
        return "rlimit" if self.tree is None else self.tree.mode

    def prepare(self, limits: Mapping[str, int | float]) -> tuple[str, Group | None]:
        """For an attempt with ``limits``: its prelude (sh lines to run before exec'ing the
        command) and its group (None in rlimit mode). A group that cannot be made is an
        OSError (the attempt does not run unconfined)."""
        lines = []
        group = None
        if self.tree is not None:
            group = self.tree.make(limits)
            lines += [f"echo $$ > {_quote(path)}" for path in group.procs]
        else:
            if "mem" in limits:
                lines.append(f"ulimit -v {int(limits['mem']) // 1024}")
            if "pids" in limits:  # -u in bash, -p in dash: RLIMIT_NPROC either way
                n = int(limits["pids"])
                lines.append(f"{{ ulimit -u {n} 2>/dev/null || ulimit -p {n}; }}")
        if "nofile" in limits:
            lines.append(f"ulimit -n {int(limits['nofile'])}")
        prelude = " && ".join(lines)
        return f"{{ {prelude}; }} || exit 126" if prelude else "", group

    def done(self, group: Group | None) -> None:
        if group is not None and self.tree is not None:
            self.tree.done(group)

    def close(self) -> None:
        if self.tree is not None:
            self.tree.close()


def _quote(path: str) -> str:
    return "'" + path.replace("'", "'\"'\"'") + "'"
