"""Baselines trained by the harness: Popularity, ItemKNN, EASE, successors, BPR-MF, SASRec, and any odrec bundle
(zero-shot or a trained student, optionally with LLM re-ranking). Each is a typed config implementing :class:`Model`:
``fit(split) -> Fitted``; ``Fitted.score(users, histories)`` returns a ``(len(users), n_items)`` score matrix."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..datasets import Split
from ..errors import ArgumentError, missing_extra
from ..ranking.cooccurrence import (
    HALF_LIVES,
    cooccurrence_scores,
    cooccurrence_similarity,
    newest_first,
    recency_weights,
)
from .runtime import fit_bundle
from .sequential import SeqRecipe, train_sequential
from .sequential import scores as seq_scores

Progress = Callable[[str, float], None]  # (message, fraction done)


class Fitted(Protocol):
    def score(self, users: np.ndarray, histories: Sequence[np.ndarray]) -> np.ndarray: ...


class ProfileFitted(Fitted, Protocol):
    """A fitted model that can also rank for profile-only (cold) users."""

    def score_profiles(self, profiles: Sequence[str]) -> np.ndarray: ...


class Model(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def uses_profiles(self) -> bool:
        """Evaluated in the cold-user scenario (its Fitted implements ``score_profiles``)."""
        ...

    def cold_item_fair(self) -> bool:
        """Fair in the cold-item scenario (never saw the held-out items' interactions)."""
        ...

    def fit(self, split: Split, progress: Progress = ..., exclude: np.ndarray | None = None) -> Fitted: ...


class _IdModel:
    """Defaults of models trained by the harness on the split itself."""

    uses_profiles = False

    def cold_item_fair(self) -> bool:
        return True


def _noop(msg: str, frac: float) -> None:
    pass


# --- Popularity ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Popularity(_IdModel):
    name: str = "popularity"
    uses_profiles = True  # it ignores them: the honest comparator for cold users

    def fit(self, split: Split, progress: Progress = _noop, exclude: np.ndarray | None = None) -> Fitted:
        counts = np.zeros(split.n_items, dtype=np.float64)
        for seq in split.train:
            np.add.at(counts, seq, 1.0)
        return _PopFitted(counts.astype(np.float32))


@dataclass
class _PopFitted:
    counts: np.ndarray

    def score(self, users: np.ndarray, histories: Sequence[np.ndarray]) -> np.ndarray:
        return np.broadcast_to(self.counts, (len(users), len(self.counts))).copy()

    def score_profiles(self, profiles: Sequence[str]) -> np.ndarray:
        return np.broadcast_to(self.counts, (len(profiles), len(self.counts))).copy()


# --- ItemKNN -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ItemKNN(_IdModel):
    """Item co-occurrence cosine (:mod:`ondevice_rec.ranking.cooccurrence`)."""

    neighbours: int = 100
    name: str = "itemknn"

    def fit(self, split: Split, progress: Progress = _noop, exclude: np.ndarray | None = None) -> Fitted:
        return _KNNFitted(cooccurrence_similarity(split.train, split.n_items, self.neighbours))


@dataclass
class _KNNFitted:
    sim: np.ndarray

    def score(self, users: np.ndarray, histories: Sequence[np.ndarray]) -> np.ndarray:
        return cooccurrence_scores(self.sim, histories)


# --- Successors ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Successors(_IdModel):
    """What follows each item (:func:`~ondevice_rec.ranking.cooccurrence.successor_neighbours`: a directed,
    distance-decayed count of the items up to ``window`` places after it, cosine-normalised, every successor
    kept) summed over the history with the blend's recency weights, the half-life chosen on validation from
    :data:`~ondevice_rec.ranking.cooccurrence.HALF_LIVES`: a first-order sequential baseline (the table the
    export's blend adds to its chosen one, alone)."""

    window: int = 5
    decay: float = 0.7
    name: str = "successors"

    def fit(self, split: Split, progress: Progress = _noop, exclude: np.ndarray | None = None) -> Fitted:
        from ..ranking.cooccurrence import successor_neighbours

        table = successor_neighbours(split.train, split.n_items, self.window, self.decay, split.n_items)
        scores = {h: validation_ndcg(_SuccessorsFitted(table, h), split) for h in HALF_LIVES}
        best = max(HALF_LIVES, key=lambda h: (scores[h], -HALF_LIVES.index(h)))  # ties: the first
        return _SuccessorsFitted(table, best)


@dataclass
class _SuccessorsFitted:
    table: Any  # ranking.cooccurrence.Neighbours
    half_life: float | None

    @property
    def note(self) -> str:
        recency = "whole history" if self.half_life is None else f"recency half-life {self.half_life:g}"
        return f"{recency}, chosen on validation"

    def score(self, users: np.ndarray, histories: Sequence[np.ndarray]) -> np.ndarray:
        out = np.zeros((len(histories), self.table.n_items), dtype=np.float32)
        for r, h in enumerate(histories):
            hist = newest_first(h)
            self.table.scores(hist, out=out[r], entry_weights=recency_weights(len(hist), self.half_life))
        return out


# --- EASE ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EASE(_IdModel):
    """EASE (:mod:`ondevice_rec.ranking.ease`), its λ chosen on validation NDCG@10 (full protocol, up to 1,000
    validation users) from ``lambdas``, as its paper tunes it. ``recency``: each history item's row scaled by its
    recency as the export's item-item blend scales it (:func:`~ondevice_rec.ranking.cooccurrence.recency_weights`),
    the half-life chosen with λ from :data:`~ondevice_rec.ranking.cooccurrence.HALF_LIVES` — the blend's weighting
    on the whole EASE matrix (the export ships each item's 100 largest positive weights), as a baseline."""

    lambdas: tuple[float, ...] = (10.0, 50.0, 200.0, 500.0, 2000.0)
    name: str = "ease"
    recency: bool = False

    def fit(self, split: Split, progress: Progress = _noop, exclude: np.ndarray | None = None) -> Fitted:
        from ..ranking.ease import ease_weights

        half_lives = HALF_LIVES if self.recency else (None,)
        grid = [(lam, h) for lam in self.lambdas for h in half_lives]
        scores: dict[tuple[float, float | None], float] = {}
        fitted: _EASEFitted | None = None
        b: np.ndarray | None = None
        for i, lam in enumerate(self.lambdas):
            progress(f"EASE lambda {lam:g}", i / len(self.lambdas))
            fitted = b = None  # one n² matrix at a time: the previous one goes before the next inverse
            b = ease_weights(split.train, split.n_items, lam)
            for h in half_lives:
                fitted = _EASEFitted(b, lam, h)
                scores[lam, h] = validation_ndcg(fitted, split)
        best = max(grid, key=lambda k: (scores[k], -grid.index(k)))  # ties: the first
        if fitted is None or fitted.lam != best[0]:
            fitted = b = None
            fitted = _EASEFitted(ease_weights(split.train, split.n_items, best[0]), best[0], best[1])
        return replace(fitted, half_life=best[1])


@dataclass
class _EASEFitted:
    b: np.ndarray
    lam: float
    half_life: float | None = None

    @property
    def note(self) -> str:
        recency = "" if self.half_life is None else f", recency half-life {self.half_life:g}"
        return f"lambda {self.lam:g}{recency}, chosen on validation"

    def score(self, users: np.ndarray, histories: Sequence[np.ndarray]) -> np.ndarray:
        out = np.zeros((len(histories), self.b.shape[0]), dtype=np.float32)
        for r, h in enumerate(histories):
            if not len(h):
                continue
            if self.half_life is None:
                out[r] = self.b[np.unique(np.asarray(h, dtype=np.int64))].sum(axis=0)
            else:
                hist = newest_first(h)
                w = recency_weights(len(hist), self.half_life)
                assert w is not None
                keep = w > 0
                out[r] = w[keep] @ self.b[hist[keep]]
        return out


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise missing_extra("export", "torch", "the BPR and SASRec baselines train with torch") from None
    from ..backends import default_threads

    torch.set_num_threads(default_threads())
    return torch


# --- BPR-MF --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BPR(_IdModel):
    dim: int = 64
    epochs: int = 60
    lr: float = 5e-3
    reg: float = 1e-5
    batch: int = 2048
    seed: int = 0
    eval_every: int = 5
    patience: int = 3
    name: str = "bpr"

    def fit(self, split: Split, progress: Progress = _noop, exclude: np.ndarray | None = None) -> Fitted:
        torch = _torch()
        g = torch.Generator().manual_seed(self.seed)
        torch.manual_seed(self.seed)
        users = np.concatenate([np.full(len(s), u) for u, s in enumerate(split.train)])
        items = np.concatenate(split.train)
        seen = [set(s.tolist()) for s in split.train]
        U = torch.nn.Embedding(split.n_users, self.dim)
        V = torch.nn.Embedding(split.n_items, self.dim)
        torch.nn.init.normal_(U.weight, std=0.1, generator=g)
        torch.nn.init.normal_(V.weight, std=0.1, generator=g)
        opt = torch.optim.Adam([U.weight, V.weight], lr=self.lr)
        rng = np.random.default_rng(self.seed)
        best, best_state, bad = -1.0, None, 0
        for epoch in range(self.epochs):
            perm = rng.permutation(len(users))
            neg = rng.integers(0, split.n_items, size=len(users))
            for k in range(len(users)):  # resample negatives that the user has seen
                while neg[k] in seen[users[k]]:
                    neg[k] = rng.integers(0, split.n_items)
            for s in range(0, len(perm), self.batch):
                idx = perm[s : s + self.batch]
                u = torch.as_tensor(users[idx])
                i = torch.as_tensor(items[idx])
                j = torch.as_tensor(neg[idx])
                eu, ei, ej = U(u), V(i), V(j)
                x = (eu * (ei - ej)).sum(-1)
                loss = -torch.nn.functional.logsigmoid(x).mean() + self.reg * (
                    eu.pow(2).sum() + ei.pow(2).sum() + ej.pow(2).sum()
                ) / len(idx)
                opt.zero_grad()
                loss.backward()
                opt.step()
            progress(f"bpr epoch {epoch + 1}", (epoch + 1) / self.epochs)
            if (epoch + 1) % self.eval_every == 0:
                fitted = _MFFitted(U.weight.detach().numpy().copy(), V.weight.detach().numpy().copy())
                score = validation_ndcg(fitted, split)
                if score > best:
                    best, best_state, bad = score, fitted, 0
                else:
                    bad += 1
                    if bad >= self.patience:
                        break
        return best_state or _MFFitted(U.weight.detach().numpy().copy(), V.weight.detach().numpy().copy())


@dataclass
class _MFFitted:
    users: np.ndarray
    items: np.ndarray

    def score(self, users: np.ndarray, histories: Sequence[np.ndarray]) -> np.ndarray:
        return self.users[users] @ self.items.T


# --- SASRec and LRURec (LlamaRec's recipe) ------------------------------------------------------------------
@dataclass(frozen=True)
class Sequential(_IdModel):
    """SASRec or LRURec trained on LlamaRec's published recipe (:mod:`.sequential`)."""

    arch: str = "sasrec"
    recipe: SeqRecipe = field(default_factory=SeqRecipe)
    name: str = "sasrec"

    def fit(self, split: Split, progress: Progress = _noop, exclude: np.ndarray | None = None) -> Fitted:
        torch = _torch()
        net, info = train_sequential(torch, self.arch, split, self.recipe, progress)
        return _SeqFitted(net, self.recipe.max_len, torch, info)


@dataclass
class _SeqFitted:
    net: Any
    max_len: int
    torch: Any
    info: dict[str, Any]

    def score(self, users: np.ndarray, histories: Sequence[np.ndarray]) -> np.ndarray:
        return seq_scores(self.torch, self.net, histories, self.max_len)


# --- odrec bundles --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BundleModel:
    """Any odrec bundle as a ranker: items embedded as the runtime embeds them, the user state built exactly
    as the runtime builds it (recency-weighted history or the student's user tower; natural-language profile)."""

    path: str | None = None
    name: str = "bundle:default"
    batch: int = 64
    precision: str | None = None
    titles: bool = True  # resolve the titles a profile names (False: the ablation without)
    diversity: float = 0.0  # the runtime's MMR on the top 10 (``bundle:PATH@div=0.3``)
    uses_profiles = True

    def cold_item_fair(self) -> bool:
        """Fair in the cold-item scenario: a zero-shot bundle, or a student exported with --holdout-cold-items."""
        from ..bundle import read_manifest

        return read_manifest(self.path).trained_without_cold_items

    def fit(self, split: Split, progress: Progress = _noop, exclude: np.ndarray | None = None) -> ProfileFitted:
        return fit_bundle(
            self.path, split, precision=self.precision, exclude=exclude, batch=self.batch, progress=progress,
            titles=self.titles, diversity=self.diversity,
        )  # fmt: skip


@dataclass
class RerankModel:
    """A bundle's fast path, with its top ``top`` unseen items re-ranked by the bundle's GGUF LLM ranker on
    llama.cpp, exactly as ``recommend(rerank="llm")`` does (one history prefix per user)."""

    path: str
    top: int = 20
    name: str = "rerank"
    weight: float | str | None = "manifest"  # the fusion weight: the bundle's (chosen on validation), or given
    uses_profiles = False  # the LLM ranker reads the history; a profile-only user has none

    def cold_item_fair(self) -> bool:
        return BundleModel(self.path).cold_item_fair()

    def fit(self, split: Split, progress: Progress = _noop, exclude: np.ndarray | None = None) -> Fitted:
        from ..backends import open_reranker
        from ..bundle import load_bundle

        bundle = load_bundle(self.path)
        reranker = open_reranker(bundle)
        spec = bundle.manifest.llm_ranker
        manifest_weight = spec.fusion_weight if spec is not None else None
        weight = manifest_weight if isinstance(self.weight, str) else self.weight  # str: "manifest"
        fast = BundleModel(self.path).fit(split, progress, exclude)
        return _RerankFitted(fast, reranker, split.item_title, self.top, weight)


@dataclass
class _RerankFitted:
    fast: Fitted
    reranker: Any
    titles: Sequence[str]
    top: int
    weight: float | None

    def score(self, users: np.ndarray, histories: Sequence[np.ndarray]) -> np.ndarray:
        from ..ranking.rerank import fuse, llm_scores

        scores = np.asarray(self.fast.score(users, histories), dtype=np.float32).copy()
        if self.weight == 0:  # re-ranking disabled at export: the runtime skips the LLM too
            return scores
        for r, h in enumerate(histories):
            s = scores[r].copy()
            s[np.asarray(h, dtype=np.int64)] = -np.inf  # already seen: never candidates
            top = np.argsort(-s, kind="stable")[: self.top]
            margins = llm_scores(
                self.reranker, [self.titles[i] for i in np.asarray(h).tolist()], [self.titles[i] for i in top]
            )
            # re-ranked items go above the rest of the catalogue, in the fused order (as the runtime does)
            scores[r, top] = 1e6 + fuse(s[top], margins, self.weight)
        return scores


# --- shared ----------------------------------------------------------------------------------------------
def validation_ndcg(fitted: Fitted, split: Split, max_users: int = 1000, seed: int = 0) -> float:
    """Mean NDCG@10 on the validation item, full protocol (used for early stopping)."""
    from .protocols import full_protocol_ndcg

    users = np.arange(split.n_users)
    if len(users) > max_users:
        users = np.sort(np.random.default_rng(seed).choice(users, max_users, replace=False))
    return float(full_protocol_ndcg(split, "valid", fitted.score, users).mean())


BASELINES: dict[str, Callable[[int], Any]] = {
    "popularity": lambda seed: Popularity(),
    "itemknn": lambda seed: ItemKNN(),
    "ease": lambda seed: EASE(),
    "ease-recency": lambda seed: EASE(name="ease-recency", recency=True),
    "successors": lambda seed: Successors(),
    "bpr": lambda seed: BPR(seed=seed),
    "sasrec": lambda seed: Sequential("sasrec", SeqRecipe(seed=seed), "sasrec"),
    "lrurec": lambda seed: Sequential("lrurec", SeqRecipe(seed=seed), "lrurec"),
}


def make_model(spec: str, seed: int) -> Model:
    """``popularity``, ``itemknn``, ``ease``, ``ease-recency``, ``successors``, ``bpr``, ``sasrec``, ``bundle`` (the
    default bundle),
    ``bundle:PATH`` (with ``@div=X``: the runtime's diversity knob applied to the top 10) or ``rerank:PATH`` (a
    bundle's fast path with its top 20 re-ranked by its GGUF LLM ranker)."""
    spec = spec.strip()
    if spec in BASELINES:
        return BASELINES[spec](seed)
    if spec == "bundle" or spec == "bundle:default":
        return BundleModel(None, name="bundle:default")
    if spec.startswith("bundle:"):
        path, div = spec.removeprefix("bundle:"), 0.0
        if "@div=" in path:  # the runtime's diversity knob (MMR on the top 10), for its trade-off curve
            path, _, x = path.rpartition("@div=")
            try:
                div = float(x)
            except ValueError:
                div = -1.0
            if not 0.0 <= div <= 1.0:
                raise ArgumentError(f"{spec}: @div= takes a diversity between 0 and 1")
        name = f"bundle:{Path(path or 'default').name}" + (f"@div={div:g}" if "@div=" in spec else "")
        return BundleModel(None if path in ("", "default") else path, name=name, diversity=div)
    if spec.startswith("notitles:"):  # ablation: profiles read as words only, the titles they name unresolved
        path = spec.removeprefix("notitles:")
        return BundleModel(None if path in ("", "default") else path, name=f"notitles:{Path(path or 'default').name}",
                           titles=False)  # fmt: skip
    if spec.startswith("rerank:"):
        path = spec.removeprefix("rerank:")
        return RerankModel(path, name=f"rerank20:{Path(path).name}")
    if spec.startswith("llmonly:"):  # ablation: the LLM's order alone, whatever the bundle's fusion weight
        path = spec.removeprefix("llmonly:")
        return RerankModel(path, name=f"llm-only20:{Path(path).name}", weight=None)
    raise ArgumentError(
        f"unknown model {spec!r} (choose from {', '.join(BASELINES)}, bundle, bundle:PATH, bundle:PATH@div=X, "
        "notitles:PATH, rerank:PATH)"
    )
