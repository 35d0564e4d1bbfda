"""The report of an evaluation run: ``results.json`` (summaries, CIs, paired tests), ``per_user.json``,
``results.md`` and ``results.png``."""

from __future__ import annotations

import json
import platform
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from ..datasets import Split
from .metrics import BEYOND, METRICS, SATISFACTION, paired_test, random_ndcg
from .protocols import full_mask, n_candidates
from .runner import ModelRun


def random_expectation(split: Split, protocol: str, users: Sequence[int]) -> float:
    """Expected NDCG@10 of a random ranking (the floor cold-item results are compared against)."""
    n = n_candidates(protocol)
    vals = []
    for u in users:
        c = n or int(full_mask(split, int(u), "test", protocol).sum())
        vals.append(random_ndcg(c))
    return float(np.mean(vals)) if vals else 0.0


def report(
    runs: list[ModelRun], split: Split, out: Path, *, seed: int, command: str, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Write results.json, per_user.json, results.md and results.png into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "dataset": split.dataset,
        "command": command,
        "seed": seed,
        "odrec_version": __version__,
        "python": sys.version.split()[0],
        "machine": platform.platform(),
        "split": {
            "users": split.n_users,
            "items": split.n_items,
            "train_interactions": int(sum(len(s) for s in split.train)),
            "protocol": "leave-one-out (last = test, second-to-last = validation), chronological, 5-core",
        },
        "results": {},
        "paired_tests": {},
        "notes": [
            "cold-user: only models that can use a natural-language profile (and Popularity) are evaluated",
            "ties in scores count half (expected rank under random tie-breaking)",
        ],
    }
    if extra:
        results.update(extra)
    for r in runs:
        results["results"].setdefault(r.scenario, {}).setdefault(r.protocol, {})[r.name] = r.summary(seed)
    # paired tests: every model against the first one in the same scenario/protocol
    groups: dict[tuple[str, str], list[ModelRun]] = {}
    for r in runs:
        groups.setdefault((r.scenario, r.protocol), []).append(r)
    for (scen, prot), rs in groups.items():
        base = rs[0]
        for r in rs[1:]:
            results["paired_tests"].setdefault(scen, {}).setdefault(prot, {})[f"{r.name} vs {base.name}"] = {
                k: round(v, 5)
                for k, v in paired_test(
                    np.asarray(r.per_user["NDCG@10"]), np.asarray(base.per_user["NDCG@10"]), seed=seed
                ).items()
            }
        if scen == "cold-item":
            idx = [split.user_ids.index(u) for u in base.users]
            results.setdefault("random_ndcg10", {}).setdefault(scen, {})[prot] = round(
                random_expectation(split, prot, idx), 5
            )
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "per_user.json").write_text(
        json.dumps(
            [
                {
                    "model": r.name,
                    "scenario": r.scenario,
                    "protocol": r.protocol,
                    "users": r.users,
                    **{m: [None if v != v else v for v in vs] for m, vs in r.per_user.items()},
                }  # NaN → null
                for r in runs
            ]
        )
        + "\n"
    )
    (out / "results.md").write_text(markdown_table(results))
    plot(results, out / "results.png")
    return results


def markdown_table(results: dict[str, Any]) -> str:
    lines = [
        f"# {results['dataset']} — leave-one-out, seed {results['seed']}",
        "",
        f"Command: `{results['command']}`",
        "",
        f"Split: {results['split']['users']} users, {results['split']['items']} items, "
        f"{results['split']['train_interactions']} training interactions.",
        "",
    ]
    for scen, by_prot in results["results"].items():
        for prot, by_model in by_prot.items():
            lines += [
                f"## {scen} / {prot}",
                "",
                "| model | " + " | ".join(METRICS) + " | users |",
                "|---|" + "---|" * (len(METRICS) + 1),
            ]
            for name, s in by_model.items():
                cells = [f"{s[m]['mean']:.4f} [{s[m]['ci95'][0]:.4f}, {s[m]['ci95'][1]:.4f}]" for m in METRICS]
                lines.append(f"| {name} | " + " | ".join(cells) + f" | {s['n_users']} |")
            rnd = results.get("random_ndcg10", {}).get(scen, {}).get(prot)
            if rnd is not None:
                lines.append(f"| random (expected) | {rnd:.4f} | | | | |")
            lines.append("")
            lines += _beyond_table(by_model)
            lines += _satisfaction_table(by_model)
            paired = results.get("paired_tests", {}).get(scen, {}).get(prot, {})
            if paired:
                lines += [
                    "Paired per-user NDCG@10 differences (bootstrap 95 % CI, sign-flip permutation p):",
                    "",
                    "| comparison | difference | 95 % CI | p |",
                    "|---|---|---|---|",
                ]
                for name, t in paired.items():
                    lines.append(
                        f"| {name} | {t['mean_diff']:+.4f} | [{t['ci_low']:+.4f}, {t['ci_high']:+.4f}] | "
                        f"{t['p_value']:.4f} |"
                    )
                lines.append("")
    return "\n".join(lines) + "\n"


def _with_ci(s: dict[str, Any]) -> str:
    return f"{s['mean']:.4f} [{s['ci95'][0]:.4f}, {s['ci95'][1]:.4f}]"


def _beyond_table(by_model: dict[str, Any]) -> list[str]:
    """Coverage, novelty, intra-list diversity and serendipity of each model's top 10 (see ``metrics``)."""
    if not any("Coverage@10" in s for s in by_model.values()):
        return []
    lines = [
        "Beyond accuracy (top 10): Coverage = share of the catalogue listed for anyone; Novelty = mean −log2 "
        "popularity; ILD = mean tag (genre) Jaccard distance within a list; Serendipity = share of users whose "
        "held-out item is listed and not in the popularity baseline's top 10.",
        "",
        "| model | Coverage@10 | " + " | ".join(BEYOND) + " |",
        "|---|---|" + "---|" * len(BEYOND),
    ]
    for name, s in by_model.items():
        cov = f"{s['Coverage@10']:.4f}" if "Coverage@10" in s else "—"
        cells = [_with_ci(s[m]) if m in s else "—" for m in BEYOND]
        lines.append(f"| {name} | {cov} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _satisfaction_table(by_model: dict[str, Any]) -> list[str]:
    """NDCG@10 on next items rated 4+ and the regret rate on next items rated 2 or less (datasets with ratings)."""
    if not any(m in s for s in by_model.values() for m in SATISFACTION):
        return []
    lines = [
        "Satisfaction view: SatNDCG@10 over users who rated their held-out item 4 or more; Regret@10 = share of "
        "users who rated it 2 or less whose top 10 listed it (lower is better).",
        "",
        "| model | SatNDCG@10 | users | Regret@10 | users |",
        "|---|---|---|---|---|",
    ]
    for name, s in by_model.items():
        cells = [f"{_with_ci(s[m])} | {s[m + ' users']}" if m in s else "— | —" for m in SATISFACTION]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def plot(results: dict[str, Any], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        from ..errors import missing_extra

        raise missing_extra("eval", "matplotlib", "the results chart is drawn with matplotlib") from None
    scenarios = list(results["results"])
    protocols = list(dict.fromkeys(p for bp in results["results"].values() for p in bp))
    fig, axes = plt.subplots(
        len(scenarios), len(protocols), figsize=(4.0 * len(protocols), 3.2 * len(scenarios)), squeeze=False
    )
    for i, scen in enumerate(scenarios):
        for j, prot in enumerate(protocols):
            ax = axes[i][j]
            models = results["results"][scen].get(prot)
            if not models:
                ax.axis("off")
                continue
            names = list(models)
            means = [models[n]["NDCG@10"]["mean"] or 0 for n in names]
            lo = [m - models[n]["NDCG@10"]["ci95"][0] for m, n in zip(means, names)]
            hi = [models[n]["NDCG@10"]["ci95"][1] - m for m, n in zip(means, names)]
            ax.bar(range(len(names)), means, yerr=[lo, hi], capsize=3, color="#4C72B0")
            rnd = results.get("random_ndcg10", {}).get(scen, {}).get(prot)
            if rnd is not None:
                ax.axhline(rnd, color="#C44E52", linestyle="--", linewidth=1, label="random")
                ax.legend(fontsize=7)
            ax.set_xticks(range(len(names)))
            ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
            ax.set_title(f"{scen} / {prot}", fontsize=9)
            ax.set_ylabel("NDCG@10 (95% CI)", fontsize=8)
    fig.suptitle(f"{results['dataset']}: leave-one-out NDCG@10", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
