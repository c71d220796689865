"""What every workload shares: statistics, figures with their limits and targets, the
run's context (time budget, temp folders, the processes it started) and small helpers.

A figure is a measured value (one number per repetition) and the machine limit it is
compared with, measured in the same run; its ratio is value / limit per repetition.
"""

from __future__ import annotations

import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")

# Queue locations a developer may have set: never let a benchmark touch a real queue.
_INHERITED = ("QUEUECTL_DB", "QUEUECTL_DB_PATH", "QUEUECTL_HOME", "XDG_DATA_HOME")


# --- statistics --------------------------------------------------------------------------
def summary(reps: Sequence[float]) -> dict[str, Any]:
    """Median and spread of the repetitions (the JSON form of every measured value)."""
    if not reps:
        return {"median": None, "min": None, "max": None, "reps": []}
    return {
        "median": statistics.median(reps),
        "min": min(reps),
        "max": max(reps),
        "reps": list(reps),
    }


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear between closest ranks."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


# --- figures -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """A pass/fail bound on a figure's ratio (``on="ratio"``) or its bare value."""

    op: str  # ">=" or "<="
    threshold: float
    on: str = "ratio"

    def text(self, unit: str) -> str:
        sign = "≥" if self.op == ">=" else "≤"
        if self.on == "ratio":
            return f"{sign} {self.threshold:g}×"
        return f"{sign} {fmt_number(self.threshold)} {unit}"

    def met(self, ratio: float | None, value: float | None) -> bool | None:
        subject = ratio if self.on == "ratio" else value
        if subject is None:
            return None
        return subject >= self.threshold if self.op == ">=" else subject <= self.threshold


@dataclass(frozen=True)
class Limit:
    """A machine limit measured in this run: one value per repetition."""

    key: str
    name: str
    unit: str
    reps: tuple[float, ...]

    @property
    def value(self) -> float:
        return median(self.reps)

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "name": self.name, "unit": self.unit, **summary(self.reps)}


@dataclass
class Figure:
    """One row of the results table."""

    id: str
    workload: str
    backend: str
    name: str
    unit: str
    reps: list[float]
    limit: Limit | None
    target: Target | None = None
    note: str = ""
    # per-repetition limits measured right beside each repetition (paired ratios)
    paired_limits: list[float] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def ratios(self) -> list[float]:
        if self.limit is None or not self.reps:
            return []
        if self.paired_limits is not None:
            return [v / lim for v, lim in zip(self.reps, self.paired_limits, strict=True) if lim]
        base = self.limit.value
        return [v / base for v in self.reps] if base else []

    def limit_value(self) -> float | None:
        if self.limit is None:
            return None
        if self.paired_limits:
            return median(self.paired_limits)
        return self.limit.value

    def passed(self) -> bool | None:
        if self.target is None or not self.reps:
            return None
        ratios = self.ratios()
        return self.target.met(median(ratios) if ratios else None, median(self.reps))

    def to_json(self) -> dict[str, Any]:
        ratios = self.ratios()
        return {
            "id": self.id,
            "workload": self.workload,
            "backend": self.backend,
            "name": self.name,
            "unit": self.unit,
            "value": summary(self.reps),
            "limit": None
            if self.limit is None
            else {
                "key": self.limit.key,
                "name": self.limit.name,
                "unit": self.limit.unit,
                "value": self.limit_value(),
                "paired_reps": self.paired_limits,
            },
            "ratio": summary(ratios) if ratios else None,
            "target": None
            if self.target is None
            else {
                "text": self.target.text(self.unit),
                "op": self.target.op,
                "threshold": self.target.threshold,
                "on": self.target.on,
            },
            "pass": self.passed(),
            "note": self.note,
            **({"extra": self.extra} if self.extra else {}),
        }


def fmt_number(value: float) -> str:
    """Readable at a glance: 3 significant digits, thousands separated."""
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


# --- the run -----------------------------------------------------------------------------
class Budget:
    """Wall-clock budget of the whole run: optional parts (more chart repetitions,
    more samples) are sized from what is left."""

    def __init__(self, seconds: float) -> None:
        self.start = time.monotonic()
        self.seconds = seconds

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def left(self) -> float:
        return self.seconds - self.elapsed()


def log(message: str) -> None:
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


def child_env(
    pycache: str | None, extra: dict[str, str] | None = None, home: str | None = None
) -> dict[str, str]:
    """The environment of every process the benchmark starts.

    Queue locations inherited from the developer are dropped. Bytecode is cached in a
    folder of the run's own (``PYTHONPYCACHEPREFIX``), so interpreters start as they do
    after a normal install even where PYTHONDONTWRITEBYTECODE is set, and nothing is
    written next to the sources.
    """
    env = {k: v for k, v in os.environ.items() if k not in _INHERITED}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if pycache:
        env["PYTHONPYCACHEPREFIX"] = pycache
    if home:
        env["QUEUECTL_HOME"] = home
    if extra:
        env.update(extra)
    return env


@contextmanager
def temp_dir(root: str, prefix: str) -> Iterator[str]:
    path = tempfile.mkdtemp(prefix=prefix, dir=root)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def wait_until(
    predicate: Callable[[], T | None], timeout: float, interval: float = 0.01, what: str = ""
) -> T:
    """Poll until ``predicate`` returns something truthy, or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what or 'a condition'}")
        time.sleep(interval)


def queuectl_argv() -> list[str]:
    """The ``queuectl`` console script of this interpreter's environment (what users run)."""
    script = os.path.join(os.path.dirname(sys.executable), "queuectl")
    if os.access(script, os.X_OK):
        return [script]
    return [sys.executable, "-m", "queuectl"]


def timed(fn: Callable[[], object]) -> float:
    """Seconds ``fn`` took (perf_counter)."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []
