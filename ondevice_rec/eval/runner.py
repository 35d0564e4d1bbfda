"""Run models × protocols × scenarios on one split (the report is written by :mod:`.report`)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from ..datasets import Split, cold_item_split, cold_user_profile, leave_one_out
from ..datasets.loaders import Dataset
from ..errors import ArgumentError
from .baselines import Fitted, ProfileFitted, make_model
from .metrics import (
    BEYOND,
    METRICS,
    SATISFACTION,
    beyond_accuracy,
    bootstrap_ci,
    item_popularity,
    metrics_from_rank,
    rank_of_target,
    satisfaction,
    tag_matrix,
    top_k,
)
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
    coverage: float | None = None  # Coverage@10: share of the catalogue in at least one user's top 10

    def summary(self, seed: int) -> dict[str, Any]:
        out: dict[str, Any] = {"n_users": len(self.users), "fit_seconds": round(self.fit_seconds, 2)}
        for m in (*METRICS, *BEYOND, *SATISFACTION):
            if m not in self.per_user:
                continue  # a run cached before the metric existed
            v = np.asarray([np.nan if x is None else x for x in self.per_user[m]], dtype=np.float64)
            v = v[~np.isnan(v)]  # the satisfaction view holds only the users of its group
            if not v.size:
                continue
            if m in SATISFACTION:
                out[f"{m} users"] = int(v.size)
            lo, hi = bootstrap_ci(v, seed=seed)
            out[m] = {"mean": round(float(v.mean()), 5), "ci95": [round(lo, 5), round(hi, 5)]}
        if self.coverage is not None:
            out["Coverage@10"] = round(self.coverage, 5)
        if self.note:
            out["note"] = self.note
        return out


def check_bundle_splits(
    specs: Sequence[str], ds: Dataset, split: Split, order: str, *, min_rating: float | None, core: int
) -> None:
    """Refuse a student bundle trained on this dataset split with another timestamp tie-break when that moves
    test items: it would be scored on items it was trained on. (On ml-latest-small both orders hold out the
    same test items; on ML-100K they differ for 30 % of users.)"""
    from ..bundle import read_manifest

    for spec in specs:
        kind, _, path = spec.split("@div=")[0].partition(":")
        if kind not in ("bundle", "rerank", "llmonly") or not path or path == "default":
            continue
        info = read_manifest(path).dataset
        if info is None or info.name != split.dataset or info.split_order == order:
            continue
        theirs = leave_one_out(ds, min_rating=min_rating, core=core, order=info.split_order)
        moved = int(np.sum(theirs.test != split.test)) if theirs.n_users == split.n_users else split.n_users
        if moved:
            raise ArgumentError(
                f"{spec} was trained on the {info.split_order!r} split of {split.dataset}, whose test items differ "
                f"from this {order!r} split for {moved} users (it would be scored on items it was trained on): "
                f"evaluate with --split {info.split_order} or export with --split {order}"
            )


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
    reuse: bool = False,
) -> list[ModelRun]:
    """Every model × scenario × protocol on ``split``. With ``reuse`` (and a ``cache_dir``), a model whose runs
    an earlier call cached under an identical key — the package's source code, the split, the model spec (and
    its bundle's manifest), scenario, protocols, users and seed — is not trained again: hours of SASRec need
    not be repeated to add a bundle to the same table."""
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
            key = _run_key(split, spec, scenario, protocols, eval_users, seed)
            cached = _cached_runs(cache_dir, key) if reuse else None
            if cached is not None:
                progress(f"{model.name}: reused the cached runs of an identical earlier evaluation", 1.0)
                for r in cached:
                    r.note = "; ".join(x for x in (r.note, "cached run of an identical earlier evaluation") if x)
                runs.extend(cached)
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
                run.note = "; ".join(x for x in (run.note, getattr(fitted, "note", "")) if x)  # e.g. EASE's λ
                runs.append(run)
            _store_runs(cache_dir, key, runs[-len(protocols) :])
    return runs


# what an id-based baseline's figures depend on: its training code, the data, the candidate sets and metrics
# (and this module's scoring loop); a bundle's run depends on the whole runtime, so on every source file
_BASELINE_SOURCES = ("eval/baselines.py", "eval/sequential.py", "eval/metrics.py", "eval/protocols.py", "datasets")


def _source_digest(baseline: bool) -> str:
    """sha256 of the Python sources a model's run depends on: changing them invalidates its cached runs."""
    h = hashlib.sha256()
    root = Path(__file__).resolve().parents[1]
    files = (
        [f for part in _BASELINE_SOURCES for f in sorted((root / part).rglob("*.py") if (root / part).is_dir()
         else [root / part])] + [Path(__file__)]
        if baseline
        else sorted(root.rglob("*.py"))
    )  # fmt: skip
    for f in files:
        h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def _run_key(split: Split, spec: str, scenario: str, protocols: Sequence[str], users: np.ndarray, seed: int) -> str:
    from .baselines import BASELINES

    h = hashlib.sha256()
    for part in (
        _source_digest(spec in BASELINES),
        split.dataset,
        str(split.n_items),
        spec,
        scenario,
        ",".join(protocols),
        str(seed),
    ):
        h.update(part.encode() + b"\0")
    for arr in (*split.train, split.valid, split.test, users):
        h.update(np.asarray(arr, dtype=np.int64).tobytes() + b"|")
    kind, _, path = spec.split("@div=")[0].partition(":")  # the knob is in the spec hashed above
    if kind in ("bundle", "rerank", "llmonly", "notitles"):
        from ..bundle import default_bundle_path
        from ..bundle.load import MANIFEST

        root = Path(path) if path and path != "default" else default_bundle_path()
        h.update((root / MANIFEST).read_bytes())
    return h.hexdigest()[:24]


def _cached_runs(cache_dir: Path | None, key: str) -> list[ModelRun] | None:
    path = cache_dir / "runs" / f"{key}.json" if cache_dir is not None else None
    if path is None or not path.is_file():
        return None
    try:
        return [ModelRun(**r) for r in json.loads(path.read_text())]
    except (ValueError, TypeError):
        return None  # damaged: compute again


def _store_runs(cache_dir: Path | None, key: str, runs: list[ModelRun]) -> None:
    if cache_dir is None:
        return
    path = cache_dir / "runs" / f"{key}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps([asdict(r) for r in runs]))
    tmp.replace(path)


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
    per_user: dict[str, list[float]] = {m: [] for m in (*METRICS, *BEYOND, *SATISFACTION)}
    rated = split.test_rating is not None and scenario != "cold-item"
    counts, n_train = item_popularity(train_split.train, split.n_items)
    pop_scores = np.zeros(split.n_items, dtype=np.float64)  # the Popularity baseline's own scores: interactions
    for seq in train_split.train:
        np.add.at(pop_scores, seq, 1.0)
    tags = tag_matrix(split.item_tags)
    listed = np.zeros(split.n_items, dtype=bool)
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
            values = metrics_from_rank(rank_of_target(scores[r], target, cand))
            if rated:
                assert split.test_rating is not None
                values.update(satisfaction(values, float(split.test_rating[u])))
            for m, v in values.items():
                per_user[m].append(v)
            top = top_k(scores[r], cand)
            listed[top] = True
            for m, v in beyond_accuracy(top, target, top_k(pop_scores, cand), counts, n_train, tags).items():
                per_user[m].append(v)
        progress(f"{name}: scoring {scenario}/{protocol}", min(1.0, (s + 128) / max(1, len(users))))
    per_user = {m: v for m, v in per_user.items() if v}  # ILD@10 only where items have tags
    coverage = float(listed.mean()) if split.n_items else 0.0
    return ModelRun(name, scenario, protocol, per_user, [split.user_ids[int(u)] for u in users], 0.0, note, coverage)
