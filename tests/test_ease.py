"""EASE's in-place inverse against its textbook form, and the harness's EASE baseline."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("scipy")

from ondevice_rec import ArgumentError  # noqa: E402
from ondevice_rec.eval.baselines import EASE, make_model  # noqa: E402
from ondevice_rec.ranking.cooccurrence import HALF_LIVES  # noqa: E402
from ondevice_rec.ranking.ease import ease_weights  # noqa: E402
from tests.test_export_item_item import _split  # noqa: E402


def _textbook(sequences: list[np.ndarray], n: int, lam: float) -> np.ndarray:
    x = np.zeros((len(sequences), n))
    for u, s in enumerate(sequences):
        x[u, s] = 1.0
    p = np.linalg.inv(x.T @ x + lam * np.eye(n))
    b = -p / np.diag(p)[None, :]
    np.fill_diagonal(b, 0.0)
    return b


@pytest.mark.parametrize("lam,block", [(1.0, 7), (10.0, 16), (300.0, 512)])
def test_ease_weights_are_the_closed_form(lam: float, block: int) -> None:
    rng = np.random.default_rng(int(lam))
    seqs = [rng.choice(40, int(rng.integers(1, 9)), replace=True) for _ in range(90)]  # repeats count once
    got = ease_weights(seqs, 40, lam, block=block)
    assert got.dtype == np.float32 and got.shape == (40, 40)
    assert np.allclose(got, _textbook([np.unique(s) for s in seqs], 40, lam), atol=2e-5, rtol=1e-3)
    with pytest.raises(ArgumentError, match="positive lambda"):
        ease_weights(seqs, 40, 0.0)


@pytest.mark.parametrize("n,users,per_user", [(1500, 300, 5), (2000, 150, 600)])  # a sparse and a full Gram
def test_ease_weights_hold_one_matrix_at_a_time(n: int, users: int, per_user: int) -> None:
    """The Gram matrix is built and inverted in the one n² float32 buffer returned: no sparse Gram beside it and
    no copy on the way (a copy doubled the peak memory of Amazon Sports' item-item stage)."""
    import tracemalloc

    import scipy.linalg.lapack  # noqa: F401  (imported before measuring: modules are not the matrix)
    import scipy.sparse  # noqa: F401

    rng = np.random.default_rng(0)
    seqs = [rng.choice(n, per_user, replace=False) for _ in range(users)]
    ease_weights([s % 20 for s in seqs[:10]], 20, 10.0)  # first-call allocations of LAPACK's wrappers
    tracemalloc.start()
    try:
        ease_weights(seqs, n, 10.0, block=64)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1.5 * n * n * 4, peak / (n * n * 4)
    with pytest.raises(ArgumentError, match="1 to"):
        ease_weights(seqs, 0, 10.0)


def test_the_ease_baseline_chooses_lambda_on_validation() -> None:
    split = _split()
    assert isinstance(make_model("ease", 0), EASE)
    fitted = EASE(lambdas=(1.0, 30.0)).fit(split)
    assert fitted.lam in (1.0, 30.0) and fitted.note == f"lambda {fitted.lam:g}, chosen on validation"  # type: ignore[attr-defined]
    h = [np.array([0, 2, 2]), np.array([], dtype=np.int64)]
    s = fitted.score(np.array([0, 1]), h)
    b = ease_weights(split.train, split.n_items, fitted.lam)  # type: ignore[attr-defined]
    assert np.allclose(s[0], b[0] + b[2]) and not s[1].any()


def test_the_recency_ease_baseline_weights_the_newest_history_items_most() -> None:
    split = _split()
    model = make_model("ease-recency", 0)
    assert isinstance(model, EASE) and model.recency and model.name == "ease-recency"
    fitted = EASE(lambdas=(1.0, 30.0), recency=True).fit(split)
    lam, half_life = fitted.lam, fitted.half_life  # type: ignore[attr-defined]
    assert lam in (1.0, 30.0) and half_life in HALF_LIVES
    b = ease_weights(split.train, split.n_items, lam)
    forced = type(fitted)(b, lam, 1.0)  # type: ignore[call-arg]
    s = forced.score(np.array([0]), [np.array([3, 0, 2, 0])])[0]  # oldest first; 0 again as the newest
    assert np.allclose(s, b[0] + 0.5 * b[2] + 0.25 * b[3], atol=1e-6)  # 0 counts once, at its newest place
    assert "recency half-life 1" in forced.note
