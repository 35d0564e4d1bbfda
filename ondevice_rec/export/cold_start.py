"""A student bundle's cold-start settings, for users with a profile and no events: the popularity weight, the
factor on the item-item blend for profiles that name titles, and the profile model (``ranking.profile_model``:
what people who name the same titles and genres chose) with its weights — all chosen on validation profiles,
each scored exactly as the runtime scores it (``eval.runtime.RuntimeFitted``)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..datasets import Split, profile_from_history
from ..datasets.scenarios import genre_counts, lift_genres, onboarding_profile
from ..ranking.profile_model import ProfileModel, fit_profile_model

Log = Callable[[str, float], None]

COLD_WEIGHTS = (0.04, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)  # 0.04: a student's usual popularity weight
COLD_ITEM_ITEM_SCALES = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)  # factors on the item-item weight for named titles
PROFILE_MODEL_WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0)  # on the profile model's titles' and genres' sums


@dataclass(frozen=True)
class ColdStart:
    """What :func:`choose_cold_start` chose: ``settings`` (``TwoTowerSpec`` fields), the profile model to ship
    with its weights (None: it did not help on validation), and the report."""

    settings: dict[str, Any]
    model: ProfileModel | None
    report: dict[str, Any]


def profile_model_of(split: Split) -> ProfileModel:
    """The profile model of ``split``'s training histories, each user "into" the two genres most over-represented
    in their history (``datasets.scenarios.lift_genres``, as an onboarding profile names them); weights all 1."""
    catalogue = genre_counts(split)
    genres = [lift_genres(split, seq, 2, catalogue) for seq in split.train]
    return fit_profile_model(split.train, split.n_items, genres)


def choose_cold_start(
    split: Split,
    encoder: Any,
    item_vecs: np.ndarray,
    seed: int,
    log: Log,
    users: int = 1000,
    model_weights: tuple[float, ...] = PROFILE_MODEL_WEIGHTS,
) -> ColdStart:
    """The cold-start settings for users with a profile and no events, chosen on the validation item of up to
    ``users`` users, each scored as the runtime scores them (clauses, the titles named, the prior, the item-item
    blend and the profile model) with the two profiles ``odrec eval`` simulates, written from training items
    only: v1 (genres and decade) and v2 (three liked titles and genres). Profiles the runtime reads as words only
    choose the popularity weight and the profile model's genre weight; those naming catalogue titles (then the
    whole history) choose theirs, the factor on the item-item blend and the model's title and genre weights, each
    from ``model_weights`` (``(0.0,)``: without the model, its ablation)."""
    from ..eval.runtime import RuntimeFitted
    from ..ranking.pipeline import named_titles

    log("cold-start settings", 0.0)
    t0 = time.perf_counter()
    model = profile_model_of(split)
    fit_s = time.perf_counter() - t0
    rng = np.random.default_rng(seed)
    us = np.sort(rng.choice(split.n_users, min(users, split.n_users), replace=False))
    texts = [profile_from_history(split, split.train[u]) for u in us] + [onboarding_profile(split, u, seed) for u in us]
    counts = np.bincount(np.concatenate([t for t in split.train if len(t)]), minlength=split.n_items).astype(float)
    fitted = RuntimeFitted(encoder, item_vecs, split, counts)
    read = fitted.read_profiles(texts)  # independent of the weights: read once
    rows = np.concatenate([us, us])
    titled = np.asarray([named_titles(p) > 0 for p in read])
    scales = COLD_ITEM_ITEM_SCALES if getattr(encoder, "item_item", None) is not None else (1.0,)
    mw = model_weights
    words = _cold_grid(fitted, model, split, read, rows, ~titled, [(w, 1.0, 0.0, g) for w in COLD_WEIGHTS for g in mw])
    grid = [(w, s, t, g) for w in COLD_WEIGHTS for s in scales for t in mw for g in mw]
    titles = _cold_grid(fitted, model, split, read, rows, titled, grid)
    w_w, _, _, g_w = words["chosen"] or (None, None, 0.0, 0.0)
    t_w, t_s, t_t, t_g = titles["chosen"] or (None, None, 0.0, 0.0)
    weights = {"titles": t_t, "genres_with_titles": t_g, "genres": g_w}
    shipped = model.with_weights(weights) if any(weights.values()) else None
    if shipped is not None and not weights["titles"]:
        shipped = shipped.without_titles()  # the genre rows alone
    log(f"cold-start popularity weight {w_w}; profiles naming titles {t_w}, item-item × {t_s}; profile model "
        f"{weights if shipped else 'not used'}", 1.0)  # fmt: skip
    settings = {"cold_popularity_weight": w_w, "cold_titles_popularity_weight": t_w}
    settings["cold_titles_item_item_scale"] = t_s
    without = {
        "words": max((v for k, v in words["by"].items() if k[3] == 0), default=None),
        "titles": max((v for k, v in titles["by"].items() if k[2] == 0 and k[3] == 0), default=None),
    }
    report = {
        "chosen": w_w,
        "valid_ndcg10": {f"{w}/{g}": v for (w, _, _, g), v in words["by"].items()},
        "users": int(len(us)),
        "profiles": ["v1", "v2"],
        "words_only_profiles": int((~titled).sum()),
        "titles": {
            "profiles": int(titled.sum()),
            "chosen_popularity_weight": t_w,
            "chosen_item_item_scale": t_s,
            "valid_ndcg10": {f"{w}/{s}/{t}/{g}": v for (w, s, t, g), v in titles["by"].items()},
        },
        "profile_model": {
            "used": shipped is not None,
            "weights": weights,
            "fit_seconds": round(fit_s, 1),
            "genres": len(model.genre_names),
            "title_entries": int(model.titles.indptr[-1]),
            "bytes": len(shipped.to_bytes()) if shipped is not None else 0,
            "best_valid_ndcg10_without": without,
            "valid_ndcg10_chosen": {
                "words": words["by"].get(words["chosen"]) if words["chosen"] else None,
                "titles": titles["by"].get(titles["chosen"]) if titles["chosen"] else None,
            },
        },
    }
    return ColdStart(settings, shipped, report)


def _cold_grid(
    fitted: Any,
    model: ProfileModel,
    split: Split,
    read: list[Any],
    rows: np.ndarray,
    keep: np.ndarray,
    grid: list[tuple[float, float, float, float]],
    chunk: int = 128,
) -> dict[str, Any]:
    """Validation NDCG@10 of the profiles ``read[keep]`` (of users ``rows[keep]``) at each (popularity weight,
    item-item factor, profile model titles' weight, its genres' weight) of ``grid``, and the best (ties: the
    smaller weights, then the factor nearest 1). The runtime's score is a sum of terms, linear in each: every
    profile is scored five times (all 0, then each 1) and every grid point is that sum; ``chunk`` profiles at
    a time (five catalogue-wide rows each)."""
    from ..eval.metrics import metrics_from_rank
    from ..eval.protocols import full_mask
    from ..ranking import RankingConfig

    idx = np.flatnonzero(keep)
    if not idx.size:
        return {"by": {}, "chosen": None}
    runs = [
        (w, s, model.with_weights({"titles": t, "genres_with_titles": g, "genres": g}))
        for w, s, t, g in ((0.0, 0.0, 0, 0), (1.0, 0.0, 0, 0), (0.0, 1.0, 0, 0), (0.0, 0.0, 1, 0), (0.0, 0.0, 0, 1))
    ]
    coef = np.asarray(grid, np.float32)  # (grid, 4)
    ndcg = np.zeros((len(idx), len(grid)))
    before = getattr(fitted.encoder, "profile_model", None)
    try:
        for a in range(0, len(idx), chunk):
            part = idx[a : a + chunk]
            parts = []
            for w, s, m in runs:
                fitted.encoder.profile_model = m
                fitted.configure(
                    RankingConfig(
                        cold_popularity_weight=w, cold_titles_popularity_weight=w, cold_titles_item_item_scale=s
                    )
                )
                parts.append(fitted.score_read([read[i] for i in part]))
            base = parts[0]
            terms = np.stack([p - base for p in parts[1:]], axis=1)  # (profiles, 4, items)
            for r, i in enumerate(part):
                u = int(rows[i])
                cand = np.flatnonzero(full_mask(split, u, "valid"))
                ranks = _grid_ranks(base[r, cand], terms[r][:, cand], coef, int(np.searchsorted(cand, split.valid[u])))
                hit = np.flatnonzero(ranks < 10)  # NDCG@10 is 0 beyond
                ndcg[a + r, hit] = [metrics_from_rank(float(k))["NDCG@10"] for k in ranks[hit]]
    finally:
        fitted.encoder.profile_model = before
        fitted.configure(None)
    by = {g: round(float(v), 5) for g, v in zip(grid, ndcg.mean(axis=0))}
    best = max(by, key=lambda k: (by[k], -k[0], -k[2], -k[3], -abs(math.log2(k[1] or 2**-8))))
    return {"by": by, "chosen": best}


def _grid_ranks(base: np.ndarray, terms: np.ndarray, coef: np.ndarray, target: int) -> np.ndarray:
    """The rank of candidate ``target`` (as ``metrics.rank_of_target``: those above it, plus half its ties) under
    each grid point's score ``base + coef @ terms`` (``coef`` (grid, k) ≥ 0, ``terms`` (k, candidates)). Every
    score is taken relative to the target's, so a candidate's margin is linear in the coefficients and bounded
    by their range: one that is above the target at every grid point, or below it at every one, is counted (or
    left out) without scoring it at each; only the rest are (on a large catalogue, a few hundred of thousands)."""
    db = base.astype(np.float64) - float(base[target])
    dt = terms.astype(np.float64) - terms[:, target : target + 1].astype(np.float64)
    c = coef.astype(np.float64)
    lo_c, hi_c = c.min(axis=0)[:, None], c.max(axis=0)[:, None]
    pos, neg = np.maximum(dt, 0.0), np.minimum(dt, 0.0)
    highest = db + (hi_c * pos + lo_c * neg).sum(axis=0)
    lowest = db + (lo_c * pos + hi_c * neg).sum(axis=0)
    above = lowest > 0  # above the target at every grid point
    open_ = ~above & (highest >= 0)
    open_[target] = False
    if int(above.sum()) >= 10:  # ranked 10 or lower everywhere: NDCG@10 is 0 whatever the rest do
        return np.full(len(c), float(above.sum()))
    margin = db[open_] + c @ dt[:, open_]  # (grid, open candidates)
    return above.sum() + (margin > 0).sum(axis=1) + (margin == 0).sum(axis=1) / 2.0
