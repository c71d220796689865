"""Render a run's JSON as the Markdown table the README shows, and the drain chart.

Everything here reads only the JSON, so ``python -m bench.report RESULTS.json`` renders
an old run again.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from bench.core import fmt_number, median
from bench.peers import LIMITS as PEER_LIMITS
from bench.peers import PEERS

BACKENDS = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
SHORT = {
    "spawn_1proc": "1-process spawn rate",
    "spawn_2proc": "2-process spawn rate",
    "spawn_latency_p50": "direct spawn p50",
    "spawn_latency_p95": "direct spawn p95",
    "sqlite_commit_full": "SQLite FULL commits",
    "sqlite_commit_full_half": "SQLite FULL commits ÷ 2",
    "sqlite_commit_normal": "SQLite NORMAL commits",
    "sqlite_bulk": "SQLite rows in 1 transaction",
    "pg_commit": "PostgreSQL commits",
    "pg_commit_half": "PostgreSQL commits ÷ 2",
    "pg_bulk": "PostgreSQL COPY rows",
    "python_pass": "`python -c pass`",
    "python_sqlite_insert": "python + 1 SQLite insert",
    "python_pg_insert": "python + 1 PostgreSQL insert",
    "idle_python_rss": "idle python RSS",
    "idle_python_pss": "idle python PSS",
}


def _spread(stat: dict[str, Any] | None, unit: str = "", suffix: str = "") -> str:
    if not stat or stat.get("median") is None:
        return "–"
    text = f"{fmt_number(stat['median'])}{suffix}"
    if len(stat.get("reps", [])) > 1:
        text += f" [{fmt_number(stat['min'])}–{fmt_number(stat['max'])}]"
    return f"{text} {unit}".rstrip()


def _verdict(passed: bool | None) -> str:
    return {True: "✅ pass", False: "❌ fail", None: ""}[passed]


def results_table(data: dict[str, Any], only_targets: bool = False) -> list[str]:
    """Every figure (or only those with a target), one row each."""
    lines = [
        "| workload | figure | backend | queuectl: median [min–max] | limit (same run) "
        "| ratio to limit | target | |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for fig in data.get("figures", []):
        if only_targets and not fig.get("target"):
            continue
        limit = fig.get("limit")
        if limit is None:
            limit_text = "one CPU core" if "core" in fig["unit"] else "–"
        else:
            name = SHORT.get(limit["key"], limit["name"])
            limit_text = f"{name}: {fmt_number(limit['value'])} {limit['unit']}"
            if limit.get("paired_reps"):
                limit_text += " (paired per rep)"
        target = fig.get("target")
        lines.append(
            "| {w} | {n} | {b} | {v} | {lim} | {r} | {t} | {p} |".format(
                w=fig["workload"],
                n=fig["name"] + (f" — {fig['note']}" if fig.get("note") else ""),
                b=BACKENDS.get(fig["backend"], fig["backend"]),
                v=_spread(fig["value"], fig["unit"]),
                lim=limit_text,
                r=_spread(fig.get("ratio"), suffix="×"),
                t=target["text"] if target else "",
                p=_verdict(fig.get("pass")),
            )
        )
    for backend, reason in data.get("meta", {}).get("missing", {}).items():
        lines.append(
            f"| all | not measured | {BACKENDS.get(backend, backend)} | missing: {reason} | | | | |"
        )
    return lines


def limits_table(data: dict[str, Any]) -> list[str]:
    lines = ["| limit | median [min–max] |", "|---|---|"]
    for limit in data.get("limits", {}).values():
        lines.append(f"| {limit['name']} | {_spread(limit, limit['unit'])} |")
    return lines


def _figure(data: dict[str, Any], fid: str) -> dict[str, Any] | None:
    return next((f for f in data.get("figures", []) if f["id"] == fid), None)


def _cell(fig: dict[str, Any] | None) -> str:
    if fig is None or not fig.get("value") or fig["value"].get("median") is None:
        return "–"
    ratio = fig.get("ratio")
    text = fmt_number(fig["value"]["median"])
    return f"{text} ({fmt_number(ratio['median'])}×)" if ratio else text


def _ratio(value: float | None, limit_key: str | None) -> str:
    if value is None:
        return "–"
    if limit_key is None or limit_key not in PEER_LIMITS:
        return fmt_number(value)
    return f"{fmt_number(value)} ({fmt_number(value / PEER_LIMITS[limit_key])}×)"


def peers_table(data: dict[str, Any]) -> list[str]:
    limits = data.get("limits", {})

    def lim(key: str, beside: str | None = None) -> str:
        """A limit as measured beside figure ``beside`` (paired), else W0's median."""
        fig = _figure(data, beside) if beside else None
        if fig and fig.get("limit") and fig["limit"].get("value"):
            return fmt_number(fig["limit"]["value"])
        found = limits.get(key)
        return fmt_number(found["median"]) if found and found.get("median") else "–"

    lines = [
        "| system | enqueue, Python API, jobs/s | enqueue, CLI, ms per call "
        "| drain 2,000 jobs with 2 workers, jobs/s | pickup latency p50 / p95, ms "
        "| idle worker RSS, MB |",
        "|---|---|---|---|---|---|",
        f"| **machine limit, this run** | {lim('sqlite_commit_normal')} (SQLite NORMAL) · "
        f"{lim('sqlite_commit_full', 'w1.sqlite.api_single')} (FULL) · "
        f"{lim('pg_commit', 'w1.postgres.api_single')} (PostgreSQL) "
        f"| {lim('sh_c_true_ms')} (`sh -c true`) · {lim('python_pass')} (`python -c pass`) · "
        f"{lim('python_sqlite_insert', 'w1.sqlite.cli_single')} (python + one SQLite insert) "
        f"| **{lim('spawn_2proc', 'w2.sqlite.count2')}** (2 Python processes spawning "
        "`sh -c true`) "
        f"| **{lim('spawn_latency_p50', 'w3.sqlite.pickup_p50')} / "
        f"{lim('spawn_latency_p95', 'w3.sqlite.pickup_p95')}** (direct spawn) "
        f"| {lim('idle_python_rss')} (idle python) |",
    ]
    latency = data.get("workloads", {}).get("w3_latency", {})
    for backend, label in BACKENDS.items():
        if not _figure(data, f"w2.{backend}.count2") and not _figure(
            data, f"w1.{backend}.api_single"
        ):
            continue
        pickup = "–"
        reps = latency.get(backend, {}).get("reps", []) if isinstance(latency, dict) else []
        if reps:
            # per repetition over the direct spawns measured in turns with its jobs
            p50 = median([r["pickup_from_enqueue_return_p50_ms"] for r in reps])
            p95 = median([r["pickup_from_enqueue_return_p95_ms"] for r in reps])
            r50 = median(
                [r["pickup_from_enqueue_return_p50_ms"] / r["direct_spawn_p50_ms"] for r in reps]
            )
            r95 = median(
                [r["pickup_from_enqueue_return_p95_ms"] / r["direct_spawn_p95_ms"] for r in reps]
            )
            pickup = (
                f"{fmt_number(p50)} / {fmt_number(p95)} ({fmt_number(r50)}× / {fmt_number(r95)}×)"
            )
        lines.append(
            f"| **queuectl + {label}, this run** "
            f"| {_cell(_figure(data, f'w1.{backend}.api_single'))} "
            f"| {_cell(_figure(data, f'w1.{backend}.cli_single'))} "
            f"| {_cell(_figure(data, f'w2.{backend}.count2'))} | {pickup} "
            f"| {_cell(_figure(data, f'w4.{backend}.rss'))} |"
        )
    if _figure(data, "w7.tsp.drain"):
        p50, p95 = _figure(data, "w7.tsp.pickup_p50"), _figure(data, "w7.tsp.pickup_p95")
        pickup = "–"
        if p50 and p95 and p50.get("ratio") and p95.get("ratio"):
            pickup = (
                f"{fmt_number(p50['value']['median'])} / {fmt_number(p95['value']['median'])} "
                f"({fmt_number(p50['ratio']['median'])}× / {fmt_number(p95['ratio']['median'])}×)"
            )
        lines.append(
            "| task-spooler (`tsp -S 2`, C), **this run** | – "
            f"| {_cell(_figure(data, 'w7.tsp.cli'))} "
            f"| {_cell(_figure(data, 'w7.tsp.drain'))} | {pickup} | – |"
        )
    lines.append(
        "| *peers' machine limit (PEERS.md)* | 59,705 (NORMAL) · 5,723 (FULL) · "
        "3,692 (PostgreSQL) | 0.84 · 11.4 · 20.9 | 2,285 | 2.45 / 2.99 | 8.5 |"
    )
    for peer in PEERS:
        enqueue = _ratio(peer.enqueue_api, peer.enqueue_limit)
        if peer.enqueue_note:
            enqueue += f", {peer.enqueue_note}"
        pickup = "–"
        if peer.pickup_p50 is not None and peer.pickup_p95 is not None:
            pickup = (
                f"{fmt_number(peer.pickup_p50)} / {fmt_number(peer.pickup_p95)} "
                f"({fmt_number(peer.pickup_p50 / PEER_LIMITS['spawn_latency_p50'])}× / "
                f"{fmt_number(peer.pickup_p95 / PEER_LIMITS['spawn_latency_p95'])}×)"
            )
        drain = "–"
        if peer.drain is not None:
            drain = f"{fmt_number(peer.drain)} ({peer.drain_ratio:g}×)"
        lines.append(
            f"| {peer.name} | {enqueue} "
            f"| {_ratio(peer.cli_ms, 'python_sqlite_insert') if peer.cli_ms else 'no CLI'} "
            f"| {drain} | {pickup} | {_ratio(peer.idle_rss, 'idle_python_rss')} |"
        )
    return lines


def drain_table(data: dict[str, Any]) -> list[str]:
    by_count = data.get("workloads", {}).get("w2_drain", {}).get("by_count", {})
    if not by_count:
        return []
    lines = [
        "| backend | workers | jobs/s: median [min–max] "
        "| ratio to 2-process spawn (paired) | reps |",
        "|---|---|---|---|---|",
    ]
    for backend, counts in by_count.items():
        for count, point in counts.items():
            spread = (
                f" [{fmt_number(point['min'])}–{fmt_number(point['max'])}]"
                if point["reps"] > 1
                else ""
            )
            lines.append(
                f"| {BACKENDS.get(backend, backend)} | {count} "
                f"| {fmt_number(point['rate'])}{spread} "
                f"| {fmt_number(point['ratio'])}× | {point['reps']} |"
            )
    return lines


def markdown(data: dict[str, Any], chart: str | None) -> str:
    meta = data.get("meta", {})
    head = [
        "# queuectl benchmarks",
        "",
        f"Run {meta.get('finished', '?')} on {meta.get('machine', '?')}; queuectl "
        f"{meta.get('commit', '?')}; {meta.get('mode', '?')} mode, {meta.get('reps', '?')} "
        f"reps, {fmt_number(meta.get('duration_s', 0))} s; Python {meta.get('python', '?')}, "
        f"SQLite {meta.get('sqlite', '?')}, PostgreSQL {meta.get('postgres') or 'missing'}.",
        "",
        f"Load average before / after: {meta.get('load_before', '?')} / "
        f"{meta.get('load_after', '?')}; the whole machine's CPU was "
        f"{meta.get('machine_cpu_busy_percent', '?')} % busy during the run (this run's own "
        "processes included). Other work on the machine moves absolute figures; the ratios, "
        "measured beside their limits, move less.",
        "",
        "Every figure is the median of its repetitions [min–max] and its ratio to this "
        "machine's own limit, measured in the same run (`python -m bench.run`; "
        "`make bench`). Jobs run `true` through `/bin/sh -c`.",
        "",
    ]
    figures = data.get("figures", [])
    passed = sum(1 for f in figures if f.get("pass") is True)
    judged = sum(1 for f in figures if f.get("pass") is not None)
    body = [
        f"## Targets: {passed} of {judged} met",
        "",
        *results_table(data, only_targets=True),
        "",
        "## All figures",
        "",
        *results_table(data),
        "",
        "## Machine limits of this run",
        "",
        *limits_table(data),
        "",
        "## Side by side with peers",
        "",
        "Our rows: this run, with ratios to the limits measured beside each figure (the "
        "machine-limit row shows those, else W0's medians). Peers' rows: `PEERS.md` (the same kind "
        "of machine, another run): drain ratios as given there, the others computed against "
        "their limit row (enqueue vs. FULL commits for SQLite and PostgreSQL commits for "
        "PostgreSQL systems, CLI vs. python + one SQLite insert, pickup vs. direct spawn, RSS "
        "vs. idle python). Pickup here is measured as the peers did: from the enqueue call's "
        "return to the command running. queuectl's CLI on PostgreSQL is compared with "
        "python + one PostgreSQL insert.",
        "",
        *peers_table(data),
        "",
        "## Drain throughput vs. worker count",
        "",
    ]
    if chart:
        body += [f"![drain throughput vs worker count]({chart})", ""]
    body += [*drain_table(data), ""]
    notes = meta.get("notes", [])
    if notes:
        body += ["## How it was measured", "", *[f"- {n}" for n in notes], ""]
    errors = data.get("errors", {})
    if errors:
        body += ["## Errors", "", *[f"- {k}: {v}" for k, v in errors.items()], ""]
    return "\n".join(head + body)


def chart(data: dict[str, Any], path: str) -> str | None:
    """Write the drain chart; returns why not if it cannot (matplotlib missing, no data)."""
    by_count = data.get("workloads", {}).get("w2_drain", {}).get("by_count", {})
    if not by_count:
        return "no drain figures"
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (make bench installs it)"
    fig, ax = plt.subplots(figsize=(7.5, 5.2), dpi=110)
    styles = {"sqlite": ("tab:blue", "o"), "postgres": ("tab:orange", "s")}
    for backend, counts in by_count.items():
        xs = [int(c) for c in counts]
        ys = [p["rate"] for p in counts.values()]
        low = [p["rate"] - p["min"] for p in counts.values()]
        high = [p["max"] - p["rate"] for p in counts.values()]
        color, marker = styles.get(backend, ("tab:gray", "^"))
        for x, y, point in zip(xs, ys, counts.values(), strict=True):
            ax.annotate(
                f"{point['ratio']:.2f}×",
                (x, y),
                textcoords="offset points",
                xytext=(8, -12),
                fontsize=7,
                color=color,
            )
        ax.errorbar(
            xs,
            ys,
            yerr=[low, high],
            color=color,
            marker=marker,
            capsize=4,
            label=f"queuectl + {BACKENDS.get(backend, backend)}",
        )
    paired = [v for c in by_count.values() for p in c.values() for v in p["paired_limits"]]
    if paired:
        ax.axhline(
            median(paired),
            color="black",
            label="limit: 2 Python processes spawning `sh -c true` (median, measured "
            "beside each drain)",
        )
        ax.axhspan(min(paired), max(paired), color="gray", alpha=0.12, label="its range")
    ax.set_xscale("log", base=2)
    ax.set_xticks([1, 2, 4, 8])
    ax.set_xticklabels(["1", "2", "4", "8"])
    ax.set_xlabel("worker slots (`worker start --count N --burst`)")
    ax.set_ylabel("jobs/s (2,000 `true` jobs)")
    ax.set_ylim(bottom=0)
    ax.set_title("Drain throughput vs. worker count (median, min–max; ratio to paired limit)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    fig.tight_layout()
    fig.savefig(path + ".tmp", format="png")
    plt.close(fig)
    os.replace(path + ".tmp", path)
    return None


def main(argv: list[str]) -> int:
    """Render RESULTS.json again: its .md and drain.png beside it."""
    if len(argv) != 1:
        sys.stderr.write("usage: python -m bench.report RESULTS.json\n")
        return 2
    with open(argv[0]) as handle:
        data = json.load(handle)
    folder = os.path.dirname(os.path.abspath(argv[0]))
    problem = chart(data, os.path.join(folder, "drain.png"))
    text = markdown(data, None if problem else "drain.png")
    with open(os.path.splitext(argv[0])[0] + ".md", "w") as handle:
        handle.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
