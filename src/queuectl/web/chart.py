"""The overview's chart: finished jobs per minute over the last hour, as inline SVG
geometry (the template draws it; no script, no image file)."""

from __future__ import annotations

from dataclasses import dataclass

WIDTH, HEIGHT = 720, 160
LEFT, BOTTOM, TOP = 36, 20, 8  # room for the axis labels


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    width: float
    ok_y: float
    ok_height: float
    failed_y: float
    failed_height: float
    title: str


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    peak: int
    grid: list[tuple[float, int]]  # (y, value) of the horizontal guide lines
    ticks: list[tuple[float, str]]  # (x, label) under the time axis
    succeeded: int
    failed: int


def build(buckets: list[dict[str, float]], bucket_seconds: float) -> Chart:
    """Stacked bars (succeeded below, failed on top), one per bucket, oldest on the left."""
    from datetime import UTC, datetime

    peak = max((int(b["succeeded"] + b["failed"]) for b in buckets), default=0)
    scale = _nice_ceiling(peak)
    plot_w, plot_h = WIDTH - LEFT, HEIGHT - BOTTOM - TOP
    step = plot_w / max(len(buckets), 1)
    bars = []
    ticks = []
    for i, bucket in enumerate(buckets):
        ok, failed = int(bucket["succeeded"]), int(bucket["failed"])
        ok_h, failed_h = plot_h * ok / scale, plot_h * failed / scale
        x = LEFT + i * step
        start = datetime.fromtimestamp(bucket["t"], UTC)
        bars.append(
            Bar(
                x=round(x + step * 0.1, 2),
                width=round(step * 0.8, 2),
                ok_y=round(TOP + plot_h - ok_h, 2),
                ok_height=round(ok_h, 2),
                failed_y=round(TOP + plot_h - ok_h - failed_h, 2),
                failed_height=round(failed_h, 2),
                title=f"{start:%H:%M} UTC: {ok} succeeded, {failed} failed",
            )
        )
        if i % max(1, round(len(buckets) / 6)) == 0 and x < WIDTH - 40:
            ticks.append((round(x, 2), f"{start:%H:%M}"))
    grid = [(round(TOP + plot_h * (1 - f), 2), round(scale * f)) for f in (0, 0.5, 1)]
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        bars=bars,
        peak=peak,
        grid=grid,
        ticks=ticks,
        succeeded=sum(int(b["succeeded"]) for b in buckets),
        failed=sum(int(b["failed"]) for b in buckets),
    )


def _nice_ceiling(value: int) -> int:
    """The next of 2, 4, 10, 20, 40, 100 … at or above ``value`` (a readable axis)."""
    ceiling = 2
    while ceiling < value:
        ceiling = ceiling * 5 // 2 if str(ceiling).startswith("4") else ceiling * 2
    return ceiling
