"""Run models × protocols × scenarios on one split (the report is written by :mod:`.report`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from ..datasets import Split, cold_item_split, cold_user_profile
from ..errors import ArgumentError
from .baselines import Fitted, ProfileFitted, make_model
from .metrics import METRICS, bootstrap_ci, metrics_from_rank, rank_of_target
from .protocols import full_mask, n_candidates, sampled_candidates

SCENARIOS = ("warm", "cold-user", "cold-user-v2", "cold-item")
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
            raise ArgumentError(f"unknown scenario {s!r} (choose from {', '.join(SCENARIOS)})")
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
            if scenario.startswith("cold-user") and not model.uses_profiles:
                continue  # id-based models know nothing about a user with no events
            if scenario == "cold-item" and not model.cold_item_fair():
                # a trained bundle saw the held-out items' interactions unless exported with --holdout-cold-items
                progress(f"{model.name}: skipped in cold-item (not trained with --holdout-cold-items)", 1.0)
                continue
            t0 = time.perf_counter()

            def model_progress(msg: str, f: float, n: str = model.name) -> None:
                progress(f"{n}: {msg}", f)

            fitted = model.fit(
                train_split,
                progress=model_progress,
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
        if scenario.startswith("cold-user"):
            version = "v2" if scenario == "cold-user-v2" else "v1"
            profiles = [cold_user_profile(split, int(u), version, seed) for u in us]
            scores = cast(ProfileFitted, fitted).score_profiles(profiles)  # only models with uses_profiles
        else:
            hist = [split.history(int(u), "test") for u in us]
            if scenario == "cold-item":
                hist = [h[~cold_items[h]] for h in hist]
            scores = fitted.score(us, hist)
        for r, u in enumerate(us):
            u = int(u)
            target = split.target(u, "test")
            cand = sampled[u] if sampled is not None else np.flatnonzero(full_mask(split, u, "test", protocol))
            for m, v in metrics_from_rank(rank_of_target(scores[r], target, cand)).items():
                per_user[m].append(v)
        progress(f"{name}: scoring {scenario}/{protocol}", min(1.0, (s + 128) / max(1, len(users))))
    return ModelRun(name, scenario, protocol, per_user, [split.user_ids[int(u)] for u in users], 0.0, note)
