"""EASE (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019): the closed-form item-item
regression B = I − P·diag(1/diag P) with P = (XᵀX + λI)⁻¹ and diag B = 0, X the binary user × item matrix. A
user's score for item j sums ``B[i, j]`` over their history items i.

One implementation for the evaluation harness's EASE baseline and the export's item-item table. The inverse is
dense: one n² float32 buffer, overwritten in place by LAPACK (Cholesky, then its inverse), so 16,000 items take
about 1 GB and a minute on 2 cores. Needs scipy (the ``export`` and ``eval`` extras).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import ArgumentError, missing_extra

MAX_ITEMS = 40_000  # n² float32: 6.4 GB


def ease_weights(sequences: Sequence[np.ndarray], n_items: int, lam: float, block: int = 512) -> np.ndarray:
    """EASE's (n_items, n_items) float32 weight matrix B (row: history item, column: scored item; zero
    diagonal) from the items of each sequence (repeats count once)."""
    try:
        from scipy import sparse
        from scipy.linalg import lapack
    except ImportError:
        raise missing_extra("eval", "scipy", "EASE inverts the item Gram matrix with scipy's LAPACK") from None
    if lam <= 0:
        raise ArgumentError(f"EASE needs a positive lambda, got {lam}")
    if not 0 < n_items <= MAX_ITEMS:
        raise ArgumentError(
            f"EASE inverts a dense {n_items} x {n_items} matrix: it takes 1 to {MAX_ITEMS:,} items "
            f"({MAX_ITEMS**2 * 4 / 1e9:.1f} GB at the most)"
        )
    sets = [np.unique(np.asarray(s, dtype=np.int64)) for s in sequences]
    rows = np.repeat(np.arange(len(sets)), [len(s) for s in sets])
    cols = np.concatenate(sets) if sets else np.zeros(0, np.int64)
    x = sparse.csr_matrix((np.ones(len(cols), np.float32), (rows, cols)), shape=(len(sets), n_items))
    xt = x.T.tocsr()  # items × users
    # the Gram matrix XᵀX filled a block of rows at a time into the one buffer: never a whole sparse copy beside it
    g = np.empty((n_items, n_items), dtype=np.float32)
    for a in range(0, n_items, block):
        g[a : a + block] = (xt[a : a + block] @ x).toarray()
    g[np.diag_indices(n_items)] += np.float32(lam)
    # g's transpose is a Fortran-ordered view of the same memory, which LAPACK overwrites in place
    c, info = lapack.spotrf(g.T, lower=0, overwrite_a=1, clean=0)
    if info == 0:
        c, info = lapack.spotri(c, lower=0, overwrite_c=1)
    if info == 0 and not np.may_share_memory(c, g):
        g = np.ascontiguousarray(c.T)  # LAPACK worked on a copy (never seen with scipy's float32 wrappers)
    if info != 0:
        raise ArgumentError(f"EASE at lambda {lam}: the Gram matrix could not be inverted (LAPACK info {info})")
    for a in range(0, n_items, block):  # the inverse is in g's lower triangle: mirror it, block by block
        b = min(n_items, a + block)
        d = g[a:b, a:b]
        g[a:b, a:b] = np.tril(d) + np.tril(d, -1).T
        if b < n_items:
            g[a:b, b:] = g[b:, a:b].T
    scale = (-1.0 / np.diag(g).astype(np.float64)).astype(np.float32)
    for a in range(0, n_items, block):  # B = −P / diag(P) column-wise, in place
        g[a : a + block] *= scale[None, :]
    g[np.diag_indices(n_items)] = 0.0
    return g
