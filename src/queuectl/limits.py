"""What a job may use: ``--limit mem=2G,cpu=1.5,pids=256,nofile=4096``, as pure values.

A job's limits and its queue's combine per key, the smaller winning (``combine``): a
queue's limit is a ceiling its jobs can lower, never raise. Values are stored as a JSON
object with whole bytes for ``mem`` (``to_json``), and printed the way they are typed
(``text``). How the worker enforces them (a cgroup, or rlimits) is worker.confine's.
"""

from __future__ import annotations

import json
import math

from queuectl.errors import InvalidInput

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    Limits = dict[str, int | float]

KEYS = ("mem", "cpu", "pids", "nofile")
# binary units: 1k = 1024 bytes (as config's sizes)
_UNITS = {"": 1, "k": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mib": 1 << 20, "g": 1 << 30,
          "gib": 1 << 30, "t": 1 << 40, "tib": 1 << 40}  # fmt: skip
MIN_MEM = 4 << 20  # less than this cannot even start a shell
MAX_MEM = 1 << 50
MIN_CPU, MAX_CPU = 0.01, 4096.0  # cores: cpu.max's quota is at least 1 ms of a 100 ms period
MAX_PIDS = 4_194_304  # Linux's pid_max ceiling
MAX_NOFILE = 1 << 30
EXAMPLE = "mem=2G,cpu=1.5,pids=256,nofile=4096"


def parse_size(text: str) -> int:
    """A size in bytes: ``65536``, ``64k``, ``50M``, ``2G``, ``1TiB`` (binary units) →
    bytes, or ValueError."""
    value = text.strip().lower()
    number = value.rstrip("kmgtib")
    unit = value[len(number) :]
    digits = number.strip()
    if unit not in _UNITS or not (digits.isascii() and digits.isdigit()):
        raise ValueError("expected a size such as 65536, 64k, 50M or 2G")
    return int(digits) * _UNITS[unit]


def parse(text: str) -> Limits:
    """``mem=SIZE,cpu=CORES,pids=N,nofile=N`` (any of them, each once) → the limits, or
    InvalidInput naming what is wrong."""
    found: dict[str, object] = {}
    for part in text.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep or not key:
            raise InvalidInput(f"--limit: expected KEY=VALUE pairs such as {EXAMPLE}, got {part!r}")
        if key in found:
            raise InvalidInput(f"--limit: {key} is given twice")
        found[key] = value.strip()
    return check(found)


def check(value: object) -> Limits:
    """A job's or a queue's ``limits`` as JSON gives them (an object of KEYS, or the
    ``--limit`` text) → the limits with ``mem`` in bytes, or InvalidInput."""
    if isinstance(value, str):
        return parse(value)
    if not isinstance(value, dict):
        raise InvalidInput('limits must be an object such as {"mem": "2G", "cpu": 1.5}')
    limits: Limits = {}
    for key, raw in value.items():
        if key not in KEYS:
            raise InvalidInput(f"unknown limit {key!r}; known limits: {', '.join(KEYS)}")
        limits[key] = _check_one(key, raw)
    return {key: limits[key] for key in KEYS if key in limits}


def _check_one(key: str, raw: object) -> int | float:
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        raise InvalidInput(f"limit {key} must be a number or a text, not {type(raw).__name__}")
    if key == "mem":
        try:
            size = parse_size(raw) if isinstance(raw, str) else raw
        except ValueError as exc:
            raise InvalidInput(f"limit mem: {exc}, got {raw!r}") from None
        if not isinstance(size, int) or not MIN_MEM <= size <= MAX_MEM:
            raise InvalidInput(f"limit mem must be whole bytes from 4M to 1P, got {raw!r}")
        return size
    if key == "cpu":
        try:
            cores = float(raw)
        except ValueError:
            cores = math.nan
        if not (math.isfinite(cores) and MIN_CPU <= cores <= MAX_CPU):
            raise InvalidInput(
                f"limit cpu must be cores from {MIN_CPU} to {MAX_CPU:g}, got {raw!r}"
            )
        return cores
    top = MAX_PIDS if key == "pids" else MAX_NOFILE
    try:
        number = int(raw, 10) if isinstance(raw, str) else raw
    except ValueError:
        number = None
    if not isinstance(number, int) or not 1 <= number <= top:
        raise InvalidInput(f"limit {key} must be a whole number from 1 to {top}, got {raw!r}")
    return number


def combine(
    job: Mapping[str, int | float] | None, queue: Mapping[str, int | float] | None
) -> Limits | None:
    """The limits an attempt runs under: per key, the smaller of the job's and its queue's
    (either alone where only one has it). None when neither has any."""
    if not queue:
        return dict(job) if job else None
    if not job:
        return dict(queue)
    both: Limits = {}
    for key in KEYS:
        if key in job and key in queue:
            both[key] = min(job[key], queue[key])
        elif key in job or key in queue:
            both[key] = job[key] if key in job else queue[key]
    return both


def to_json(limits: Mapping[str, int | float] | None) -> str | None:
    """As stored (None: no limits)."""
    return json.dumps(dict(limits), separators=(",", ":")) if limits else None


def from_json(text: str | None) -> Limits | None:
    return json.loads(text) if text else None


def size_text(size: int) -> str:
    """Bytes as the largest binary unit that divides them: 52428800 → ``50M``."""
    for unit, factor in (("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)


def text(limits: Mapping[str, int | float] | None) -> str:
    """``mem=50M,cpu=1.5,pids=20`` (the way ``--limit`` takes them), or ``-`` for none."""
    if not limits:
        return "-"
    parts = []
    for key in KEYS:
        if key in limits:
            value = limits[key]
            shown = size_text(int(value)) if key == "mem" else f"{value:g}"
            parts.append(f"{key}={shown}")
    return ",".join(parts)
