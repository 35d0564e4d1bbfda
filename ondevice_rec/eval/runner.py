"""Run models × protocols × scenarios on one split and write ``results.json``, a Markdown table and a PNG."""

from __future__ import annotations

import json
import platform
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from .baselines import Fitted, make_model
from .metrics import METRICS, bootstrap_ci, metrics_from_rank, paired_test, rank_of_target
from .protocols import PROTOCOLS, full_mask, n_candidates, sampled_candidates
from .splits import Split

SCENARIOS = ("warm", "cold-user", "cold-item")
Progress = Callable[[str, float], None]


@dataclass
class ModelRun:
    name: str
    scenario: str
    protocol: str
    per_user: dict[str, list[float]]  # metric → values, aligned with ``users``
    users: list[str]
    fit_seconds: float
    note: str = ""

    def summary(self, seed: int) -> dict[str, Any]:
        out: dict[str, Any] = {"n_users": len(self.users), "fit_seconds": round(self.fit_seconds, 2)}
        for m in METRICS:
            v = np.asarray(self.per_user[m])
            lo, hi = bootstrap_ci(v, seed=seed)
            out[m] = {"mean": round(float(v.mean()), 5) if v.size else None, "ci95": [round(lo, 5), round(hi, 5)]}
        if self.note:
            out["note"] = self.note
        return out


def profile_from_history(split: Split, items: np.ndarray) -> str:
    """Natural-language profile a cold user might write: their most frequent genres and decades."""
    genres: Counter[str] = Counter()
    decades: Counter[str] = Counter()
    for i in items.tolist():
        genres.update(g for g in split.item_tags[i] if g not in ("unknown", "(no genres listed)"))
        title = split.item_title[i].strip()
        if title.endswith(")") and title[-5:-1].isdigit():
            decades[title[-5:-2] + "0s"] += 1
    top_g = [g for g, _ in genres.most_common(3)]
    top_d = [d for d, _ in decades.most_common(1)]
    text = "I like " + (", ".join(top_g[:-1]) + " and " + top_g[-1] if len(top_g) > 1 else (top_g or ["all"])[0])
    text += " movies"
    if top_d:
        text += f", especially from the {top_d[0]}"
    return text + "."


def cold_item_split(split: Split, seed: int, share: float = 0.10) -> tuple[Split, np.ndarray]:
    """Remove ``share`` of the items from training altogether; return the reduced split and the cold items."""
    rng = np.random.default_rng(seed + 7)
    cold = np.zeros(split.n_items, dtype=bool)
    cold[rng.choice(split.n_items, max(1, int(round(share * split.n_items))), replace=False)] = True
    train = [s[~cold[s]] for s in split.train]
    return replace(split, train=train), cold


def evaluate(
    split: Split,
    model_specs: Sequence[str],
    *,
    protocols: Sequence[str] = ("full",),
    scenarios: Sequence[str] = ("warm",),
    seed: int = 0,
    max_users: int | None = None,
    cache_dir: Path | None = None,
    progress: Progress = lambda msg, frac: None,
) -> list[ModelRun]:
    for p in protocols:
        n_candidates(p)
    for s in scenarios:
        if s not in SCENARIOS:
            raise ValueError(f"unknown scenario {s!r} (choose from {', '.join(SCENARIOS)})")
    rng = np.random.default_rng(seed)
    all_users = np.arange(split.n_users)
    users = (
        np.sort(rng.choice(all_users, max_users, replace=False))
        if max_users and max_users < split.n_users
        else all_users
    )
    runs: list[ModelRun] = []
    cold_split, cold_items = cold_item_split(split, seed)
    for scenario in scenarios:
        train_split = cold_split if scenario == "cold-item" else split
        eval_users = users
        if scenario == "cold-item":
            eval_users = np.array([u for u in users if cold_items[split.test[u]]], dtype=np.int64)
        for spec in model_specs:
            model = make_model(spec, seed)
            if scenario == "cold-user" and not getattr(model, "uses_profiles", False):
                continue  # id-based models know nothing about a user with no events
            if scenario == "cold-item" and not getattr(model, "cold_item_fair", lambda: True)():
                # a trained bundle saw the held-out items' interactions unless exported with --holdout-cold-items
                progress(f"{model.name}: skipped in cold-item (not trained with --holdout-cold-items)", 1.0)
                continue
            t0 = time.perf_counter()
            fitted = model.fit(
                train_split,
                progress=lambda msg, f, n=model.name: progress(f"{n}: {msg}", f),
                exclude=cold_items if scenario == "cold-item" else None,
            )
            fit_s = time.perf_counter() - t0
            for protocol in protocols:
                run = _score_run(
                    split,
                    train_split,
                    fitted,
                    model.name,
                    scenario,
                    protocol,
                    eval_users,
                    seed,
                    cache_dir,
                    cold_items,
                    progress,
                )
                run.fit_seconds = fit_s
                runs.append(run)
    return runs


def _score_run(
    split: Split,
    train_split: Split,
    fitted: Fitted,
    name: str,
    scenario: str,
    protocol: str,
    users: np.ndarray,
    seed: int,
    cache_dir: Path | None,
    cold_items: np.ndarray,
    progress: Progress,
) -> ModelRun:
    n = n_candidates(protocol)
    sampled = sampled_candidates(split, "test", n, seed, cache_dir) if n else None
    per_user: dict[str, list[float]] = {m: [] for m in METRICS}
    note = ""
    for s in range(0, len(users), 128):
        us = users[s : s + 128]
        if scenario == "cold-user":
            profiles = [profile_from_history(split, split.history(int(u), "test")) for u in us]
            scores = (
                fitted.score_profiles(profiles)
                if hasattr(fitted, "score_profiles")
                else np.zeros((len(us), split.n_items), dtype=np.float32)
            )
        else:
            hist = [split.history(int(u), "test") for u in us]
            if scenario == "cold-item":
                hist = [h[~cold_items[h]] for h in hist]
            scores = fitted.score(us, hist)
        for r, u in enumerate(us):
            u = int(u)
            target = split.target(u, "test")
            cand = sampled[u] if sampled is not None else np.flatnonzero(full_mask(split, u, "test"))
            for m, v in metrics_from_rank(rank_of_target(scores[r], target, cand)).items():
                per_user[m].append(v)
        progress(f"{name}: scoring {scenario}/{protocol}", min(1.0, (s + 128) / max(1, len(users))))
    return ModelRun(name, scenario, protocol, per_user, [split.user_ids[int(u)] for u in users], 0.0, note)


def random_expectation(split: Split, protocol: str, users: Sequence[int]) -> float:
    """Expected NDCG@10 of a random ranking (the floor cold-item results are compared against)."""
    n = n_candidates(protocol)
    vals = []
    for u in users:
        c = n or int(full_mask(split, int(u), "test").sum())
        vals.append(sum(1 / np.log2(r + 2) for r in range(min(10, c))) / c)
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
                {"model": r.name, "scenario": r.scenario, "protocol": r.protocol, "users": r.users, **r.per_user}
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
    return "\n".join(lines) + "\n"


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


ALL_PROTOCOLS = PROTOCOLS
