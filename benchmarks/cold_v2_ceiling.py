"""How far can a v2 onboarding profile ("I loved A, B and C. I'm into X and Y.") take a profile-only user?

Issue 29 asks cold-user v2 to reach 1.5 × popularity. This bounds what any ranker can do with what such a profile
says, by giving models the three liked titles as *exactly resolved* items — the same picks ``odrec eval``'s v2
profile names (``datasets.scenarios.onboarding_profile``) — and blending popularity in with a weight chosen on
the validation item (and, as an oracle no method can use, the best weight on test). Models: ItemKNN on the three
items (co-occurrence cosine) and a student bundle scoring the three items as liked events exactly as the runtime
does. Full protocol, ML-100K-style leave-one-out split, every user. Usage:

    python benchmarks/cold_v2_ceiling.py DATASET DATA_DIR BUNDLE [--split stable|llamarec] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

import numpy as np

from ondevice_rec.datasets import leave_one_out, load_dataset
from ondevice_rec.eval.baselines import ItemKNN
from ondevice_rec.eval.protocols import full_protocol_ndcg
from ondevice_rec.eval.runtime import fit_bundle
from ondevice_rec.ranking import RankingConfig

WEIGHTS = (0.0, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)


def picks(split, u: int, seed: int = 0, titles: int = 3) -> np.ndarray:
    """The items ``onboarding_profile`` names for user ``u`` (same generator, same draw)."""
    hist = np.asarray(split.train[u])
    rng = np.random.default_rng([seed, u])
    return rng.choice(hist, min(titles, len(hist)), replace=False) if len(hist) else np.zeros(0, np.int64)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset")
    ap.add_argument("data_dir")
    ap.add_argument("bundle")
    ap.add_argument("--split", default="stable")
    ap.add_argument("--out")
    a = ap.parse_args()
    split = leave_one_out(load_dataset(a.dataset, a.data_dir), order=a.split)
    named = [picks(split, u) for u in range(split.n_users)]
    counts = np.bincount(np.concatenate(split.train), minlength=split.n_items).astype(np.float64)
    logpop = np.log1p(counts)
    logpop = (logpop - logpop.mean()) / logpop.std()

    def per_user(stage: str, base: np.ndarray | None, w: float) -> np.ndarray:
        def score(us: np.ndarray, _hists: Sequence[np.ndarray]) -> np.ndarray:
            pop = np.broadcast_to(logpop, (len(us), split.n_items))
            if base is None:
                return pop.copy()
            b = base[us]
            b = (b - b.mean(1, keepdims=True)) / np.maximum(b.std(1, keepdims=True), 1e-9)
            return b + w * pop

        return full_protocol_ndcg(split, stage, score)

    knn = ItemKNN().fit(split).score(np.arange(split.n_users), named)
    fitted = fit_bundle(a.bundle, split, config=RankingConfig(popularity_weight=0.0))
    student = fitted.score(np.arange(split.n_users), named)
    report: dict[str, object] = {"users": split.n_users, "weights": list(WEIGHTS)}
    pop_test = float(per_user("test", None, 0.0).mean())
    report["popularity_test"] = round(pop_test, 5)
    for name, base in (("itemknn_3_titles", knn), ("student_3_titles", student)):
        valid = {w: float(per_user("valid", base, w).mean()) for w in WEIGHTS}
        test = {w: float(per_user("test", base, w).mean()) for w in WEIGHTS}
        chosen = max(WEIGHTS, key=lambda w: valid[w])
        report[name] = {
            "valid_by_weight": {str(w): round(v, 5) for w, v in valid.items()},
            "test_by_weight": {str(w): round(v, 5) for w, v in test.items()},
            "chosen_on_valid": chosen,
            "test_at_chosen": round(test[chosen], 5),
            "ratio_to_popularity": round(test[chosen] / pop_test, 3),
            "oracle_best_test": round(max(test.values()), 5),
            "oracle_ratio": round(max(test.values()) / pop_test, 3),
        }
    text = json.dumps(report, indent=1)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
