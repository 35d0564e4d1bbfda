"""What people who name these titles and genres went on to choose: the profile model of a student bundle, for a
user with no events of their own (cold start from words).

A naive-Bayes log-ratio model learned at export from the training histories. For a profile that names liked
titles ``J`` and genres ``G``, every item ``i`` gets

    Σ_j log((c(j, i) + α·p_i) / (n_j + α)) − log p_i  and  Σ_g (the same with c(g, i), n_g),

``c(j, i)`` the co-occurrence of ``j`` and ``i`` in a training history, ``c(g, i)`` how often the users "into"
genre ``g`` (the genres most over-represented in their history) had ``i``, each history weighted by
1/√(its length) so that a few very long histories do not decide every row; ``n`` a row's total; ``p_i`` the
item's share of training users (add-one); ``α`` the smoothing towards the prior. Each term is the smoothed
log P(i | j) − log P(i): 0 for an item chosen with ``j`` as often as its popularity predicts, above 0 for one
chosen more (what a reason may name), so with the popularity prior beside it the sum ranks as P(i | J, G) under
naive Bayes. The two sums are added to the runtime's score with weights chosen on validation at export; the
item-item blend (what follows what) reads a history's order, this model reads a set, which is what a profile is.

Only aggregate figures are kept (no one's history): a row per item holds the items co-occurring most with it
(the rest count as never co-occurring: the row's floor, log(α / (n_j + α))), a row per genre every item. One
implementation for the export (``fit_profile_model``) and the runtime.
"""

from __future__ import annotations

import io
import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import ArgumentError, missing_extra
from .cooccurrence import Neighbours, top_per_row

ALPHA = 30.0  # smoothing towards the prior, in (activity-weighted) users
ACTIVITY_POWER = 0.5  # each history counts 1/len^0.5
MAX_GENRES = 64  # genre rows kept (the most frequent): a catalogue with thousands of categories stays small
MIN_GENRE_USERS = 3  # a genre row needs at least this many users into it
WEIGHT_KEYS = ("titles", "genres_with_titles", "genres")


# Phrasings that name the same genre (English and French, accents folded, normalised as :func:`_norm` does):
# a catalogue genre whose name is one of a group's phrases is named by any of them, each in its plural forms.
GENRE_SYNONYMS: tuple[tuple[str, ...], ...] = (
    ("sci fi", "science fiction", "scifi"),
    ("children", "children s", "childrens", "kids", "family", "enfants", "jeunesse", "familial"),
    ("animation", "animated", "cartoon", "anime", "dessin anime", "dessins animes"),
    ("comedy", "comedic", "funny", "comedie", "comique"),
    ("romance", "romantic", "rom com", "romcom", "romantique"),
    ("drama", "dramatic", "drame", "dramatique"),
    ("horror", "scary", "horreur", "epouvante"),
    ("film noir", "noir"),
    ("crime", "gangster", "heist", "policier", "polar"),
    ("mystery", "whodunit", "detective", "mystere"),
    ("thriller", "suspense"),
    ("documentary", "documentaire"),
    ("adventure", "aventure"),
    ("fantasy", "fantastique"),
    ("war", "guerre"),
    ("western", "cowboy"),
    ("musical", "comedie musicale"),
)


def _norm(text: str) -> str:
    """Lower case, accents folded, every run of other characters one space; padded with spaces."""
    bare = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return " " + re.sub(r"[^0-9a-z]+", " ", bare.lower()).strip() + " "


def _forms(phrase: str) -> list[str]:
    """``phrase`` (normalised, unpadded) and its plurals, each padded: "comedy" → comedy, comedys, comedyes,
    comedies; French plurals in -x too."""
    out = [phrase, phrase + "s", phrase + "es", phrase + "x"]
    if phrase.endswith("y"):
        out.append(phrase[:-1] + "ies")
    return [f" {f} " for f in out]


def _genre_forms(name: str) -> list[str]:
    """Every padded form that names genre ``name``: its own and its synonyms' (:data:`GENRE_SYNONYMS`)."""
    own = _norm(name).strip()
    phrases = [own] + [p for group in GENRE_SYNONYMS if own in group for p in group if p != own]
    return [f for p in phrases for f in _forms(p)] if own else []


@dataclass(frozen=True)
class ProfileModel:
    """``titles``: the title rows (CSR over the bundle's item rows), each entry its log ratio above its row's
    floor ``title_floor`` (what every item not in the row gets); ``genres``: (n_genres, n_items) the same above
    ``genre_floor``, row ``k`` for ``genre_names[k]``; ``weights``: the factor on each sum, by
    :data:`WEIGHT_KEYS` — the titles', the genres' in a profile that names titles, the genres' in one that
    does not (chosen on validation at export)."""

    titles: Neighbours
    title_floor: np.ndarray
    genres: np.ndarray
    genre_floor: np.ndarray
    genre_names: tuple[str, ...]
    weights: dict[str, float]

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "_patterns", [(k, f) for k, g in enumerate(self.genre_names) if (f := _genre_forms(g))]
        )

    @property
    def n_items(self) -> int:
        return self.titles.n_items

    def genres_in(self, clauses: Sequence[str], said: Sequence[str] = ()) -> list[int]:
        """Genre rows named in ``clauses`` (whole words, any case, accents and punctuation, plurals, the
        synonyms of :data:`GENRE_SYNONYMS`): "I'm into film noir and crime comedies" names Film-Noir, Crime and
        Comedy. ``said``: the titles the profile names as written, left out first ("I loved Star Wars" names no
        War)."""
        text = "".join(_norm(c) for c in clauses)
        for title in said:
            if _norm(title).strip():
                text = text.replace(_norm(title), " ")
        return [k for k, forms in self._patterns if any(f in text for f in forms)]  # type: ignore[attr-defined]

    def scores(self, title_rows: np.ndarray, title_weights: np.ndarray, genres: Sequence[int]) -> np.ndarray:
        """(n_items,) float32: the weighted sums for the named titles (table rows, -1 = not in the table; each
        scaled by ``title_weights``, a match's confidence) and genre rows."""
        rows = np.asarray(title_rows, np.int64)
        ok = rows >= 0
        titled = bool(ok.any())
        out = np.zeros(self.n_items, np.float32)
        t_w = np.float32(self.weights["titles"])
        if titled and t_w:
            conf = np.asarray(title_weights, np.float32)
            out += self.titles.scores(rows, entry_weights=conf) * t_w
            out += np.float32((self.title_floor[rows[ok]] * conf[ok]).sum()) * t_w
        g_w = np.float32(self.weights["genres_with_titles" if titled else "genres"])
        if genres and g_w:
            ks = list(genres)
            out += (self.genres[ks].sum(axis=0, dtype=np.float32) + self.genre_floor[ks].sum()) * g_w
        return out

    def title_links(self, title_rows: np.ndarray, target: int) -> np.ndarray:
        """Per named title (table rows, -1 = none: 0), its weighted term for item row ``target``."""
        rows = np.asarray(title_rows, np.int64)
        above = self.titles.links(rows)(target)
        return np.where(rows >= 0, above + self.title_floor[rows.clip(min=0)], 0.0) * self.weights["titles"]

    def genre_term(self, genre: int, target: int, titled: bool) -> float:
        """Genre row ``genre``'s weighted term for item row ``target``."""
        w = self.weights["genres_with_titles" if titled else "genres"]
        return float(self.genres[genre, target] + self.genre_floor[genre]) * w

    def without_titles(self) -> ProfileModel:
        """The same genre rows with no title rows (what ships when the titles' weight is 0)."""
        empty = Neighbours(np.zeros(self.n_items + 1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float32))
        return ProfileModel(
            empty, np.zeros(self.n_items, np.float32), self.genres, self.genre_floor, self.genre_names, self.weights
        )

    def with_weights(self, weights: dict[str, float]) -> ProfileModel:
        return ProfileModel(
            self.titles, self.title_floor, self.genres, self.genre_floor, self.genre_names, _checked(weights)
        )

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez(
            buf,
            indptr=self.titles.indptr,
            indices=self.titles.indices.astype(np.uint16 if self.n_items <= 65536 else np.int32),
            values=self.titles.weights.astype(np.float16),
            title_floor=self.title_floor.astype(np.float32),
            genres=self.genres.astype(np.float16),
            genre_floor=self.genre_floor.astype(np.float32),
            meta=np.frombuffer(
                json.dumps({"genres": list(self.genre_names), "weights": self.weights}).encode(), np.uint8
            ),
        )
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> ProfileModel:
        """Raises ValueError (or KeyError/OSError from numpy) on a malformed file; the caller words it."""
        if not data.startswith(b"PK"):
            raise ArgumentError("not an .npz file")
        a = np.load(io.BytesIO(data))
        nb = Neighbours.checked(a["indptr"], a["indices"], a["values"])
        if not np.isfinite(nb.weights).all():
            raise ArgumentError("title rows must be finite")
        meta = json.loads(a["meta"].tobytes().decode("utf-8"))
        genres = a["genres"].astype(np.float32)
        t_floor, g_floor = a["title_floor"].astype(np.float32), a["genre_floor"].astype(np.float32)
        names = tuple(str(g) for g in meta["genres"])
        if genres.ndim != 2 or genres.shape != (len(names), nb.n_items) or not np.isfinite(genres).all():
            raise ArgumentError(f"genre rows of shape {genres.shape} for {len(names)} genres and {nb.n_items} items")
        if t_floor.shape != (nb.n_items,) or g_floor.shape != (len(names),):
            raise ArgumentError(f"floors of shape {t_floor.shape} and {g_floor.shape}")
        if not (np.isfinite(t_floor).all() and np.isfinite(g_floor).all()):
            raise ArgumentError("floors must be finite")
        return cls(nb, t_floor, genres, g_floor, names, _checked(meta["weights"]))


def _checked(weights: object) -> dict[str, float]:
    if not isinstance(weights, dict) or set(weights) != set(WEIGHT_KEYS):
        raise ArgumentError(f"profile model weights must name {', '.join(WEIGHT_KEYS)}")
    for k, v in weights.items():
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v < float("inf"):
            raise ArgumentError(f"profile model weight {k} must be a finite number of at least 0, not {v!r}")
    return {k: float(weights[k]) for k in WEIGHT_KEYS}


def fit_profile_model(
    train: Sequence[np.ndarray],
    n_items: int,
    genres_of_user: Sequence[Sequence[str]],
    max_bytes: int = 6_000_000,
    chunk: int = 512,
) -> ProfileModel:
    """The model from training histories (item rows) and the genres each user is into, its weights all 1 (the
    export chooses them). Title rows keep the items co-occurring most with each (as many per row as fit
    ``max_bytes`` at 4 bytes an entry; the rest count as never co-occurring)."""
    try:
        from scipy import sparse
    except ImportError:
        raise missing_extra("export", "scipy", "the profile model is fitted with scipy's sparse matrices") from None
    users = [np.unique(np.asarray(s, np.int64)) for s in train]
    lens = np.asarray([len(s) for s in users], np.float64)
    rows = np.repeat(np.arange(len(users)), lens.astype(np.int64))
    cols = np.concatenate(users) if users else np.zeros(0, np.int64)
    x = sparse.csr_matrix((np.ones(len(cols), np.float32), (rows, cols)), shape=(len(users), n_items))
    xw = sparse.diags((1.0 / np.maximum(lens, 1.0) ** ACTIVITY_POWER).astype(np.float32)) @ x
    counts = np.asarray(x.sum(axis=0)).ravel()
    prior = ((counts + 1.0) / (counts.sum() + n_items)).astype(np.float32)
    floor = np.float32(ALPHA) * prior
    keep = int(min(max(1, n_items - 1), max(50, max_bytes // (4 * max(1, n_items)))))
    xwt, xc = xw.T.tocsr(), x.tocsc()
    parts, totals = [], []
    for a in range(0, n_items, chunk):
        co = (xwt[a : a + chunk] @ xc).toarray()
        co[np.arange(co.shape[0]), np.arange(a, a + co.shape[0])] = 0.0
        totals.append(co.sum(axis=1))
        parts.append(top_per_row(sparse.csr_matrix(np.log1p(co * (co >= _kth(co, keep)) / floor)), keep))
    titles = Neighbours(
        np.concatenate([[0], np.cumsum(np.concatenate([np.diff(p.indptr) for p in parts]))]).astype(np.int64),
        np.concatenate([p.indices for p in parts]).astype(np.int32),
        np.concatenate([p.weights for p in parts]).astype(np.float16).astype(np.float32),
    )
    held: dict[str, int] = {}
    for gs in genres_of_user:
        for g in set(gs):
            held[g] = held.get(g, 0) + 1
    names = tuple(
        sorted((g for g, c in held.items() if c >= MIN_GENRE_USERS), key=lambda g: (-held[g], g))[:MAX_GENRES]
    )
    at = {g: k for k, g in enumerate(names)}
    gr = [(at[g], u) for u, gs in enumerate(genres_of_user) for g in set(gs) if g in at]
    member = sparse.csr_matrix(
        (np.ones(len(gr), np.float32), ([k for k, _ in gr], [u for _, u in gr])), shape=(len(names), len(users))
    )
    by_genre = np.asarray((member @ xw).toarray(), np.float32)
    genres = np.log1p(by_genre / floor[None, :]).astype(np.float16).astype(np.float32)
    t_floor = np.log(ALPHA / (np.concatenate(totals) + ALPHA)) if totals else np.zeros(0)
    g_floor = np.log(ALPHA / (by_genre.sum(axis=1) + ALPHA))
    return ProfileModel(
        titles, t_floor.astype(np.float32), genres, g_floor.astype(np.float32), names, dict.fromkeys(WEIGHT_KEYS, 1.0)
    )


def _kth(co: np.ndarray, keep: int) -> np.ndarray:
    """Per row, the ``keep``-th largest value (entries below it are dropped; zero rows keep nothing)."""
    if keep >= co.shape[1]:
        return np.full((co.shape[0], 1), 1e-30, np.float32)
    kth = -np.partition(-co, keep - 1, axis=1)[:, keep - 1 : keep]
    return np.maximum(kth, 1e-30)
