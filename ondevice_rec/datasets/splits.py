"""The one split implementation (evaluation and export both use it): rating filter, iterative k-core,
chronological order (stable on ties), leave-one-out (last = test, second-to-last = validation)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import DatasetError
from .loaders import Dataset


@dataclass
class Split:
    """Integer-indexed leave-one-out split. ``train[u]`` is user u's chronological training sequence."""

    dataset: str
    user_ids: list[str]  # index → raw user id
    item_ids: list[str]  # index → raw item id
    train: list[np.ndarray]  # per user, item indices, oldest first
    valid: np.ndarray  # per user, one item index
    test: np.ndarray  # per user, one item index
    item_text: list[str]
    item_title: list[str]
    item_tags: list[tuple[str, ...]]
    test_rating: np.ndarray | None = None  # per user, the rating given to the test item (None: no ratings)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def digest(self) -> str:
        """sha256 (hex) of the split's contents: dataset name, item ids, every training sequence, the validation
        and test items — what anything trained on the split is keyed by."""
        h = hashlib.sha256(self.dataset.encode() + b"\0" + json.dumps(self.item_ids).encode())
        for arr in (*self.train, self.valid, self.test):
            h.update(np.asarray(arr, dtype=np.int64).tobytes() + b"|")
        return h.hexdigest()

    def history(self, u: int, stage: str) -> np.ndarray:
        """What a model sees when predicting ``stage`` ('valid' or 'test')."""
        return self.train[u] if stage == "valid" else np.append(self.train[u], self.valid[u])

    def target(self, u: int, stage: str) -> int:
        return int(self.valid[u] if stage == "valid" else self.test[u])


def k_core(users: np.ndarray, items: np.ndarray, k: int) -> np.ndarray:
    """Boolean mask of interactions kept by the iterative k-core filter on users and items."""
    keep = np.ones(len(users), dtype=bool)
    while True:
        _, uinv, ucnt = np.unique(users[keep], return_inverse=True, return_counts=True)
        _, iinv, icnt = np.unique(items[keep], return_inverse=True, return_counts=True)
        ok = (ucnt[uinv] >= k) & (icnt[iinv] >= k)
        if ok.all():
            return keep
        idx = np.flatnonzero(keep)
        keep[idx[~ok]] = False
        if not keep.any():
            return keep


ORDERS = ("stable", "llamarec")


def llamarec_item_rank(items_in_file_order: Sequence[str]) -> dict[str, int]:
    """The item index LlamaRec's ``densify_index`` gives each item (``enumerate(set(df['sid']), start=1)`` over
    the filtered ratings in file order), which its split uses to break timestamp ties. CPython's iteration
    order of a set of ints depends only on the values and their insertion order, so this is reproducible."""
    try:
        ints = [int(x) for x in items_in_file_order]
    except ValueError:
        raise DatasetError(
            "the llamarec order needs integer item ids (it sorts ties by LlamaRec's item index)"
        ) from None
    return {str(s): i for i, s in enumerate(set(ints), start=1)}


def leave_one_out(ds: Dataset, *, min_rating: float | None = None, core: int = 5, order: str = "stable") -> Split:
    """Filter, order chronologically and split. ``order`` breaks timestamp ties: ``stable`` by the original
    position in the source file, ``llamarec`` by LlamaRec's item index (``datasets/base.py`` of
    Yueeeeeeee/LlamaRec sorts each user's ratings by ``(timestamp, sid)``). The iterative k-core is unique, so
    LlamaRec's items-then-users filtering loop keeps the same interactions as ours."""
    if order not in ORDERS:
        raise DatasetError(f"unknown split order {order!r} (choose from {', '.join(ORDERS)})")
    mask = np.ones(len(ds), dtype=bool)
    if min_rating is not None:
        mask &= np.nan_to_num(ds.ratings, nan=-np.inf) >= min_rating
    users, items, ts, ratings = ds.users[mask], ds.items[mask], ds.timestamps[mask], ds.ratings[mask]
    if core > 1:
        keep = k_core(users, items, core)
        users, items, ts, ratings = users[keep], items[keep], ts[keep], ratings[keep]
    if len(users) == 0:
        raise DatasetError(f"{ds.name}: no interactions left after filtering (min_rating={min_rating}, core={core})")
    user_ids = sorted(set(users.tolist()), key=_natural)
    item_ids = sorted(set(items.tolist()), key=_natural)
    uidx = {u: i for i, u in enumerate(user_ids)}
    iidx = {it: i for i, it in enumerate(item_ids)}
    u_arr = np.fromiter((uidx[u] for u in users), dtype=np.int64, count=len(users))
    i_arr = np.fromiter((iidx[i] for i in items), dtype=np.int64, count=len(items))
    if order == "llamarec":
        rank = llamarec_item_rank(items.tolist())
        tie = np.fromiter((rank[i] for i in items), dtype=np.int64, count=len(items))
    else:
        tie = np.arange(len(u_arr))  # the original position
    perm = np.lexsort((tie, ts, u_arr))  # by user, then time, then the tie-break
    u_arr, i_arr, r_arr = u_arr[perm], i_arr[perm], np.asarray(ratings, np.float64)[perm]
    bounds = np.flatnonzero(np.diff(u_arr)) + 1
    seqs = np.split(i_arr, bounds)
    short = [user_ids[int(u_arr[b])] for b, s in zip(np.r_[0, bounds], seqs) if len(s) < 3]
    if short:
        raise DatasetError(
            f"{ds.name}: {len(short)} users have fewer than 3 interactions after filtering "
            f"(e.g. user {short[0]}); raise --core or lower --min-rating"
        )
    info = [ds.item_info[i] for i in item_ids]
    return Split(
        dataset=ds.name,
        user_ids=user_ids,
        item_ids=item_ids,
        train=[s[:-2] for s in seqs],
        valid=np.array([s[-2] for s in seqs]),
        test=np.array([s[-1] for s in seqs]),
        item_text=[x[1] for x in info],
        item_title=[x[0] for x in info],
        item_tags=[x[2] for x in info],
        test_rating=None if np.isnan(r_arr).all() else np.array([r[-1] for r in np.split(r_arr, bounds)]),
    )


def _natural(s: str) -> tuple[int, int | str]:
    return (0, int(s)) if s.isdigit() else (1, s)
