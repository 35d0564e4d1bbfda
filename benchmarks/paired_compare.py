"""Paired comparison of one model across two ``odrec eval`` runs on the same split (``per_user.json`` of each):
the no-regression check of a new release against a committed result, user by user.

    python benchmarks/paired_compare.py OLD/per_user.json bundle:ml100k-noteacher NEW/per_user.json bundle:ml100k-new

Prints, per scenario and protocol present in both, NDCG@10 old and new, the mean paired difference with its
bootstrap 95 % CI and the sign-flip p-value (``ondevice_rec.eval.metrics.paired_test``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ondevice_rec.eval.metrics import paired_test


def runs(path: Path, model: str) -> dict[tuple[str, str], dict[str, float]]:
    out = {}
    for r in json.loads(path.read_text()):
        if r["model"] == model:
            out[(r["scenario"], r["protocol"])] = dict(zip(r["users"], r["NDCG@10"]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("old", type=Path)
    ap.add_argument("old_model")
    ap.add_argument("new", type=Path)
    ap.add_argument("new_model")
    a = ap.parse_args()
    old, new = runs(a.old, a.old_model), runs(a.new, a.new_model)
    print("| scenario | protocol | users | old NDCG@10 | new NDCG@10 | new − old [95 % CI] | p |")
    print("|---|---|---|---|---|---|---|")
    for key in sorted(set(old) & set(new)):
        users = sorted(set(old[key]) & set(new[key]))
        o = np.array([old[key][u] for u in users])
        n = np.array([new[key][u] for u in users])
        t = paired_test(n, o)
        print(
            f"| {key[0]} | {key[1]} | {len(users)} | {o.mean():.4f} | {n.mean():.4f} | "
            f"{t['mean_diff']:+.4f} [{t['ci_low']:+.4f}, {t['ci_high']:+.4f}] | {t['p_value']:.3f} |"
        )


if __name__ == "__main__":
    main()
