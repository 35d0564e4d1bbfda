import numpy as np
from collections import Counter
from ondevice_rec.export.pipeline import ExportConfig, _split
from ondevice_rec.eval.protocols import full_mask
split = _split(ExportConfig(dataset="ml-100k", data_dir="/work/shared/data/ml-100k"))
def ndcg(S):
    out = []
    for uu in range(split.n_users):
        mask = full_mask(split, uu, "test"); t = split.target(uu, "test")
        s = np.where(mask, S[uu], -np.inf); rank = (s > s[t]).sum() + 0.5 * ((s == s[t]).sum() - 1)
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
    print(alpha, ndcg(S))
