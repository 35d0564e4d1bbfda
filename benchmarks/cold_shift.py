"""Why validation overrates profile-only personalisation on some splits: the held-out test item is the user's last
event, the validation item the one before, and where the test item comes strictly later (not at the validation
item's timestamp: a later visit) a profile written from earlier events says less about it.

For each user of a leave-one-out split: is the test item tied in time with the validation item? Then, by group,
the full-ranking NDCG@10 (``eval.metrics``) of the validation item and of the test item (the history before
each masked, as ``eval.protocols.full_mask`` does) for popularity alone (the log-scaled training counts) and for
popularity plus the shipped profile model's genre rows (``export.cold_start.profile_model_of``, weight 0.03 and
0.1) read from each user's v1 profile ("I like Drama, Comedy and Action movies, ..."), the runtime's words-only
path without the students. Nothing is chosen here; it only shows where validation and test part. Usage:

    python benchmarks/cold_shift.py ml-100k ../shared/data/ml-100k [--split-order stable|llamarec] \\
        [--protocol full|llamarec] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ondevice_rec.datasets import leave_one_out, load_dataset, profile_from_history
from ondevice_rec.eval.metrics import metrics_from_rank, rank_of_target
from ondevice_rec.eval.protocols import full_mask
from ondevice_rec.export.cold_start import profile_model_of
from ondevice_rec.live.snapshot import log_scaled


def tied_users(ds, split) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Per split user: does their test item share the validation item's timestamp?"""
    at: dict[tuple[str, str], float] = {}
    for u, i, t in zip(ds.users.tolist(), ds.items.tolist(), ds.timestamps.tolist()):
        at[(str(u), str(i))] = max(float(t), at.get((str(u), str(i)), -np.inf))
    ids = split.item_ids
    return np.array(
        [
            at[(uid, ids[int(split.test[u])])] == at[(uid, ids[int(split.valid[u])])]
            for u, uid in enumerate(split.user_ids)
        ]
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset")
    ap.add_argument("data_dir")
    ap.add_argument("--split-order", default="stable")
    ap.add_argument("--protocol", default="full", choices=("full", "llamarec"))
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    ds = load_dataset(args.dataset, args.data_dir)
    split = leave_one_out(ds, core=5, order=args.split_order)
    tied = tied_users(ds, split)
    counts = np.bincount(np.concatenate(split.train), minlength=split.n_items).astype(np.float64)
    prior = np.asarray(log_scaled(counts), np.float64)
    model = profile_model_of(split).with_weights({"titles": 0.0, "genres_with_titles": 0.0, "genres": 1.0})
    rows = {}
    for u in range(split.n_users):
        for stage, hist, target in (
            ("valid", split.train[u], split.valid[u]),
            ("test", split.history(u, "test"), split.test[u]),
        ):
            genres = model.genres_in([profile_from_history(split, hist)])
            g = model.scores(np.zeros(0, np.int64), np.zeros(0, np.float32), genres).astype(np.float64)
            cand = full_mask(split, u, stage, args.protocol)
            for name, w in (
                ("popularity", 0.0),
                ("popularity + genre rows x0.03", 0.03),
                ("popularity + genre rows x0.1", 0.1),
            ):
                nd = metrics_from_rank(rank_of_target(prior + w * g, int(target), np.flatnonzero(cand)))["NDCG@10"]
                rows.setdefault((name, stage), []).append(nd)
    report: dict[str, object] = {"dataset": args.dataset, "protocol": args.protocol, "users": split.n_users}
    report["tied"] = int(tied.sum())
    for group, mask in (("all", np.ones_like(tied)), ("tied", tied), ("later", ~tied)):
        for (name, stage), vals in rows.items():
            report[f"{group} | {name} | {stage}"] = round(float(np.mean(np.asarray(vals)[mask])), 4)
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
