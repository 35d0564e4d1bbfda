"""Outputs of ``odrec bench``: Markdown tables, the JSON report, PNG charts."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .stats import compare


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 100 else f"{v:.1f}"
    return str(v)


def markdown(report: dict[str, Any], comparison: list[dict[str, Any]] | None = None) -> str:
    m = report["machine"]
    lines = [
        "# odrec bench",
        "",
        f"- CPU: {m['cpu']['model']} ({', '.join(m['cpu']['flags']) or 'no flags read'}); "
        f"{m['usable_cpus']} usable of {m['logical_cpus']} logical CPUs; {m.get('memory_gib')} GiB",
        f"- OS: {m['os']}; Python {m['python']}; SQLite {m['sqlite']}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v),
        f"- bundle: {report['bundle']['name']} ({report['bundle']['kind']}, {report['bundle']['total_mb']} MB); "
        f"manifest sha256 {(m.get('bundle') or {}).get('manifest_sha256', '?')}",
        f"- started {report['started_at']}, finished {report.get('finished_at', '?')}"
        + ("; **interrupted (partial results)**" if report.get("interrupted") else ""),
        "",
        "| scenario | parameters | unit | p50 | p95 | p99 | n | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        params = ", ".join(f"{k}={v}" for k, v in r.get("params", {}).items())
        if "skipped" in r:
            lines.append(f"| {r['scenario']} | {params} | skipped: {r['skipped']} | | | | | |")
            continue
        if "p50" not in r:  # a quality row (mean and min of a share), not a timing
            lines.append(
                f"| {r['scenario']} | {params} | {r['unit']} | mean {_fmt(r['mean'])} | min {_fmt(r['min'])} | "
                f"| {r['n']} | |"
            )
            continue
        lines.append(
            f"| {r['scenario']} | {params} | {r['unit']} | {_fmt(r['p50'])} | {_fmt(r['p95'])} | {_fmt(r['p99'])} "
            f"| {r['n']} | {_fmt(r.get('peak_rss_mb', ''))} |"
        )
    ing = [r for r in report["results"] if r["scenario"] == "ingest" and "items_per_s" in r]
    if ing:
        lines += ["", f"Ingest: {ing[0]['items_per_s']} items/s (embedding included)."]
    lines += ["", "Bundle files (MB): " + ", ".join(f"{k} {v}" for k, v in report["bundle"]["files_mb"].items())]
    if comparison:
        lines += [
            "",
            "## Compared with an earlier run (ratio = new p50 / old p50)",
            "",
            "| scenario | parameters | old p50 | new p50 | ratio |",
            "|---|---|---|---|---|",
        ]
        for c in comparison:
            params = ", ".join(f"{k}={v}" for k, v in c["params"].items())
            lines.append(f"| {c['scenario']} | {params} | {_fmt(c['old_p50'])} | {_fmt(c['new_p50'])} | {c['ratio']} |")
    return "\n".join(lines) + "\n"


def plot(report: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Latency vs catalogue size (per thread count and history length) and the latency distribution."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        from ..errors import missing_extra

        raise missing_extra("eval", "matplotlib", "odrec bench --plot draws PNG charts with matplotlib") from None
    rows = [r for r in report["results"] if r["scenario"] == "recommend" and "p50" in r]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    series: dict[tuple[int, int], list[tuple[int, float, float]]] = {}
    for r in rows:
        p = r["params"]
        series.setdefault((p["threads"], p["history"]), []).append((p["items"], r["p50"], r["p95"]))
    for (th, h), pts in sorted(series.items()):
        pts.sort()
        a.plot([x[0] for x in pts], [x[1] for x in pts], marker="o", label=f"p50, {th} thr, {h} events")
        a.plot([x[0] for x in pts], [x[2] for x in pts], ls="--", alpha=0.6, label=f"p95, {th} thr, {h} events")
    a.set_xscale("log")
    a.set_xlabel("catalogue size (items)")
    a.set_ylabel("recommend(k=10) latency, ms")
    a.set_title(f"{report['bundle']['name']}: latency vs catalogue size")
    a.legend(fontsize=6)
    a.grid(alpha=0.3)
    dist = [r for r in rows if r.get("samples")]
    if dist:
        labels = [f"{r['params']['items'] // 1000}k/{r['params']['history']}ev/{r['params']['threads']}t" for r in dist]
        b.boxplot([r["samples"] for r in dist], showfliers=True)
        b.set_xticks(range(1, len(labels) + 1), labels, rotation=70, fontsize=6)
        b.set_ylabel("ms")
        b.set_title("latency distribution (items/history/threads)")
        b.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_outputs(
    report: dict[str, Any],
    *,
    json_path: str | os.PathLike[str] | None = None,
    report_path: str | os.PathLike[str] | None = None,
    plot_path: str | os.PathLike[str] | None = None,
    compare_with: dict[str, Any] | None = None,
) -> list[dict[str, Any]] | None:
    comparison = compare(report, compare_with) if compare_with is not None else None
    if comparison is not None:
        report = {**report, "comparison": comparison}
    if json_path:
        _atomic_write(Path(json_path), json.dumps(report, indent=1, sort_keys=True) + "\n")
    if report_path:
        _atomic_write(Path(report_path), markdown(report, comparison))
    if plot_path and any(r["scenario"] == "recommend" and "p50" in r for r in report["results"]):
        plot(report, plot_path)
    return comparison


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(text)
    os.replace(tmp, path)
