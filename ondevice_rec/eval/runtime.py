"""The runtime's own scoring as a fitted model: what ``odrec eval`` measures a bundle with, and what an export
chooses its runtime settings on (the cold-start weight), so both score exactly as ``Recommender.recommend``."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..datasets import Split
from ..errors import DatasetError


@dataclass
class RuntimeFitted:
    """Scores exactly as ``Recommender.recommend`` ranks: the runtime's user state (recency-weighted history or
    the student's user tower; a profile split into clauses and embedded), one product with the catalogue, and
    the popularity prior an app ships with its catalogue (here: training-set counts). With ``diversity``, the
    top 10 the runtime's MMR picks (among unseen items) are put first, in its order, so every metric of the top
    10 measures the list an app would show."""

    encoder: Any
    matrix: np.ndarray
    split: Split
    popularity: np.ndarray
    config: Any = None
    titles: bool = True
    diversity: float = 0.0  # the runtime's MMR re-ranking of the top 10 (0: by score alone)

    def __post_init__(self) -> None:
        from ..live.snapshot import CatalogSnapshot

        n = self.split.n_items
        self._titles: Any = None  # the split's titles as a TitleTable, built on the first profile read
        self._reserved = frozenset(t for tags in self.split.item_tags for t in tags)
        self.configure(self.config)
        self.snap = CatalogSnapshot.build(
            "eval", np.arange(n), [tuple(t) for t in self.split.item_tags], self.matrix, self.popularity
        )
        self.snap.set_stats([], 0, self.cfg.popularity_min_users)
        self.pop = self.snap.prior("")
        assert self.pop is not None  # the overall prior always exists

    def configure(self, config: Any) -> None:
        """Score with ``config`` (a ``RankingConfig``; None: the default), resolved for the bundle as the runtime
        resolves it (its kind, the cold-start settings it chose)."""
        from ..ranking import RankingConfig
        from ..ranking.config import for_bundle_kind

        kind = "two-tower" if getattr(self.encoder, "learned_user", False) else "text-embedder"
        cold_start = getattr(getattr(self.encoder, "spec", None), "cold_start", None)
        self.config = config
        self.cfg = for_bundle_kind(config or RankingConfig(), kind, cold_start() if cold_start else None)

    def _scores(self, signals: Any) -> np.ndarray:
        from ..ranking.config import for_user
        from ..ranking.pipeline import Request, item_item_scores, named_titles, profile_model_scores, user_state
        from ..ranking.scoring import score_items

        cfg = for_user(self.cfg, len(signals.events), named_titles(signals.profile))
        state = user_state(self.snap, signals, Request(k=10, diversity=0.0), self.encoder, cfg)
        assert self.pop is not None
        scores = score_items(state, self.matrix, self.pop, None, cfg)
        ids_of = lambda iids: [self.split.item_ids[i] for i in iids]  # noqa: E731
        for part in (
            item_item_scores(self.snap, state, self.encoder, ids_of, cfg.item_item_scale),
            profile_model_scores(self.snap, signals, self.encoder, ids_of, cfg),
        ):
            if part is not None:
                scores = scores + part
        return scores

    def score(self, users: np.ndarray, histories: Sequence[np.ndarray]) -> np.ndarray:
        from ..ranking.pipeline import UserSignals
        from ..ranking.scoring import Events

        now = time.time()
        out = np.zeros((len(histories), self.matrix.shape[0]), dtype=np.float32)
        for r, h in enumerate(histories):
            newest = np.asarray(h, np.int64)[::-1][: self.cfg.history_limit].tolist()
            # a second apart, newest first: an app's events have times, and the blend's recency reads their order
            events = Events.of([(i, "like", None, now - k, "") for k, i in enumerate(newest)], self.cfg)
            out[r] = self._diversified(self._scores(UserSignals(True, True, [], events, None)), h)
        return out

    def _diversified(self, scores: np.ndarray, seen: np.ndarray | None = None) -> np.ndarray:
        from ..ranking.scoring import select_mmr

        if self.diversity <= 0.0:
            return scores
        allowed = np.ones(len(scores), dtype=bool)
        if seen is not None and len(seen):
            allowed[np.asarray(seen, np.int64)] = False
        top = select_mmr(scores, self.matrix, allowed, 10, self.diversity, self.cfg.candidate_pool)
        out = scores.copy()
        out[top] = float(scores.max()) + 1.0 + np.arange(len(top), 0, -1, dtype=np.float32)
        return out

    def score_profiles(self, profiles: Sequence[str]) -> np.ndarray:
        """As the runtime scores a user who only wrote a profile: its clauses, and the titles it names matched
        against the catalogue (the split's titles, its popularity breaking ties) as liked items."""
        return self.score_read(self.read_profiles(profiles))

    def read_profiles(self, profiles: Sequence[str]) -> list[Any]:
        """Each profile text as the runtime reads it (embedded clauses, titles resolved): independent of the
        ranking config, so one reading serves every weight tried."""
        from ..ranking.profile import read_profile
        from ..ranking.titles import TitleTable

        if self.titles and self._titles is None:
            sp = self.split
            self._titles = TitleTable((i, sp.item_title[i], float(self.popularity[i])) for i in range(sp.n_items))
        return [read_profile(text, self.encoder, self._titles, self._reserved) for text in profiles]

    def score_read(self, profiles: Sequence[Any]) -> np.ndarray:
        """Scores of profiles :meth:`read_profiles` read."""
        from ..ranking.pipeline import UserSignals
        from ..ranking.scoring import NO_EVENTS

        out = np.zeros((len(profiles), self.matrix.shape[0]), dtype=np.float32)
        for r, prof in enumerate(profiles):
            out[r] = self._diversified(self._scores(UserSignals(True, True, [], NO_EVENTS, prof)))
        return out


def fit_bundle(
    path: str | None,
    split: Split,
    *,
    precision: str | None = None,
    exclude: np.ndarray | None = None,
    before_last: bool = False,
    batch: int = 64,
    progress: Callable[[str, float], None] = lambda m, f: None,
    vectors: Sequence[Mapping[str, np.ndarray]] | None = None,
    **settings: Any,
) -> RuntimeFitted:
    """The bundle at ``path`` (None: the shipped one) scoring ``split`` as the runtime does: its items embedded as
    the runtime embeds them (items in ``exclude`` from their text alone, as items that arrived after training),
    training-set counts as the popularity prior (``before_last``: without each user's last training item, the one
    a teacher's training labels score). ``vectors``: each item's app-encoded vectors, for a bundle whose item
    tower reads them. ``settings``: :class:`RuntimeFitted`'s own (titles, diversity)."""
    from ..backends import open_encoder
    from ..bundle import load_bundle

    encoder = open_encoder(load_bundle(path), precision=precision)
    if encoder.item_modalities and vectors is None:
        encoder.close()
        raise DatasetError(
            f"bundle {path} reads item vectors of {encoder.item_modalities} beside the text; the dataset gives "
            "none, and ranking without them would measure another model (compare exports without --item-vectors, "
            "or score it through Recommender with the vectors in the store)"
        )
    vecs = []
    for s in range(0, split.n_items, batch):
        sl = slice(s, s + batch)
        unk = exclude[sl].tolist() if exclude is not None else None
        got = None if vectors is None else list(vectors[sl])
        vecs.append(encoder.item_vectors(split.item_ids[sl], split.item_text[sl], unknown=unk, vectors=got))
        progress("embedding items", min(1.0, (s + batch) / split.n_items))
    counts = np.zeros(split.n_items, dtype=np.float64)
    for seq in split.train:
        np.add.at(counts, seq[:-1] if before_last else seq, 1.0)
    return RuntimeFitted(encoder, np.concatenate(vecs), split, counts, **settings)
