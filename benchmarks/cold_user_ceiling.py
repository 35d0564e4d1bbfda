"""How much can the cold-user profile (top-3 genres + favourite decade, as ``odrec eval`` writes it) tell us?

Scores popularity boosted by genre/decade matches with the profile, for several boost weights, under the same
leave-one-out full protocol: if no weight beats plain popularity, the profile carries no signal about the
held-out item beyond popularity. Usage: python benchmarks/cold_user_ceiling.py [DATA_DIR]
"""

import sys
from collections import Counter

import numpy as np

from ondevice_rec.datasets import leave_one_out, load_dataset
from ondevice_rec.eval.protocols import full_mask

split = leave_one_out(load_dataset("ml-100k", sys.argv[1] if len(sys.argv) > 1 else "../shared/data/ml-100k"))


def ndcg(S):
    out = []
    for uu in range(split.n_users):
        mask = full_mask(split, uu, "test")
        t = split.target(uu, "test")
        s = np.where(mask, S[uu], -np.inf)
        rank = (s > s[t]).sum() + 0.5 * ((s == s[t]).sum() - 1)
        out.append(1 / np.log2(rank + 2) if rank < 10 else 0)
    return np.mean(out)


pop = np.bincount(np.concatenate(split.train), minlength=split.n_items).astype(float)
# recency-weighted popularity: last 10 items of each user's train sequence
rec = np.bincount(np.concatenate([s[-10:] for s in split.train]), minlength=split.n_items).astype(float)
tags = sorted({g for t in split.item_tags for g in t})
G = np.array([[g in t for g in tags] for t in split.item_tags], float)


def decade(i):
    t = split.item_title[i].strip()
    return t[-5:-2] + "0s" if t.endswith(")") and t[-5:-1].isdigit() else None


dec = [decade(i) for i in range(split.n_items)]
print("pop", ndcg(np.tile(pop, (split.n_users, 1))), "recent-pop", ndcg(np.tile(rec, (split.n_users, 1))))
for alpha in (0.5, 1, 2, 4):
    S = np.zeros((split.n_users, split.n_items))
    for u in range(split.n_users):
        h = split.history(u, "test")
        gc = Counter(g for i in h for g in split.item_tags[i] if g not in ("unknown",))
        top = [g for g, _ in gc.most_common(3)]
        dc = Counter(dec[i] for i in h if dec[i]).most_common(1)
        m = G[:, [tags.index(g) for g in top]].sum(1)
        d = np.array([dec[i] == dc[0][0] for i in range(split.n_items)], float) if dc else 0
        S[u] = np.log(pop + 1) + alpha * (m / 3 + d)
    print("genre/decade boost", alpha, ndcg(S))
