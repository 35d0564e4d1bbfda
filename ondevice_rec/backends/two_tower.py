"""Two-tower student: item vectors = text projection (+ learned id embedding for items seen in training),
user vector = ONNX user tower over the user's recent item vectors and profile."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence

import numpy as np

from ..bundle.manifest import TwoTowerSpec
from ..errors import ArgumentError, BundleError
from ..ranking.cooccurrence import ItemItem, Neighbours
from ..ranking.profile_model import ProfileModel
from ._ort import session
from .onnx_text import OnnxTextEncoder


def modality_block(dims: Mapping[str, int], vectors: Sequence[Mapping[str, np.ndarray]] | None, n: int) -> np.ndarray:
    """The item tower's modality features of ``n`` items: per modality of ``dims`` (in its order), each item's
    vector at unit length, zeros where it has none (such an item is seen by its text and id alone)."""
    out = np.zeros((n, sum(dims.values())), dtype=np.float32)
    if vectors is None:
        return out
    if len(vectors) != n:
        raise ArgumentError(f"{len(vectors)} items' vectors for {n} items")
    at = 0
    for name, dim in dims.items():
        for r, got in enumerate(vectors):
            v = got.get(name)
            if v is not None:
                v = np.asarray(v, dtype=np.float32).reshape(-1)
                if v.size != dim:
                    raise ArgumentError(f"vectors[{name!r}] of item {r} has {v.size} numbers, the modality has {dim}")
                out[r, at : at + dim] = v / max(float(np.linalg.norm(v)), 1e-12)
        at += dim
    return out


class TwoTowerEncoder:
    """Built from its spec, the text encoder it projects from, and the verified bytes of its files."""

    learned_user = True

    def __init__(
        self,
        spec: TwoTowerSpec,
        text: OnnxTextEncoder,
        *,
        user_tower: bytes,
        item_tower: bytes,
        item_ids: bytes,
        precision: str,
        item_item: bytes | None = None,
        profile_model: bytes | None = None,
        threads: int | None = None,
        space_id: str = "",
    ) -> None:
        if precision not in spec.user_tower:
            raise BundleError(f"no {precision!r} user tower (have: {', '.join(sorted(spec.user_tower))})")
        self.spec = spec
        self.precision = precision
        self.text = text
        self.max_length = text.max_length
        self.max_len = spec.max_len
        self.space_id = space_id
        try:
            arrays = np.load(io.BytesIO(item_tower))
            self.proj_w, self.proj_b = arrays["proj_w"], arrays["proj_b"]
            self.profile_w, self.profile_b = arrays["profile_w"], arrays["profile_b"]
            self.id_emb = arrays["id_emb"]
            ids = json.loads(item_ids.decode("utf-8"))
        except (OSError, KeyError, ValueError) as e:
            raise BundleError(f"cannot read the item tower ({type(e).__name__}: {e})") from None
        self.dim = int(self.proj_w.shape[1])
        self.item_modalities = dict(spec.item_modalities or {})
        if self.proj_w.shape[0] != text.dim + sum(self.item_modalities.values()):
            raise BundleError(
                f"the item tower projects {self.proj_w.shape[0]} features, not the text encoder's {text.dim} plus "
                f"the modalities {self.item_modalities}"
            )
        self.row_of = {str(i): r for r, i in enumerate(ids)}
        for name, value in spec.cold_start().items():
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0):
                raise BundleError(f"the bundle's {name} must be a number of at least 0, not {value!r}")
        self.item_item: ItemItem | None = None
        if item_item is not None and spec.item_item_weight > 0:
            try:
                nb = Neighbours.from_bytes(item_item)
            except (OSError, KeyError, ValueError) as e:
                raise BundleError(f"cannot read the item-item table ({type(e).__name__}: {e})") from None
            if nb.n_items != len(ids):
                raise BundleError(f"the item-item table has {nb.n_items} rows for {len(ids)} items")
            hl = spec.item_item_half_life
            if hl is not None and (isinstance(hl, bool) or not isinstance(hl, int | float) or not hl > 0):
                raise BundleError(f"the item-item half-life must be a number above 0, not {hl!r}")
            self.item_item = ItemItem(nb, float(spec.item_item_weight), self.row_of, spec.item_item_half_life)
        self.profile_model: ProfileModel | None = None
        if profile_model is not None:
            try:
                self.profile_model = ProfileModel.from_bytes(profile_model)
            except (OSError, KeyError, ValueError, UnicodeDecodeError) as e:
                raise BundleError(f"cannot read the profile model ({type(e).__name__}: {e})") from None
            if self.profile_model.n_items != len(ids):
                raise BundleError(f"the profile model has {self.profile_model.n_items} rows for {len(ids)} items")
        self._session = session(user_tower, threads=threads, what=f"{precision} user tower")

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.text.embed(texts)

    def item_vectors(
        self,
        item_ids: Sequence[str],
        texts: Sequence[str],
        *,
        unknown: Sequence[bool] | None = None,
        vectors: Sequence[Mapping[str, np.ndarray]] | None = None,
    ) -> np.ndarray:
        """Projection of the text (and of the item's ``vectors`` of the modalities the student was exported
        with: :func:`modality_block`), plus the id embedding of items seen in training (unless ``unknown``)."""
        feats = self.text.embed(texts)
        if self.item_modalities:
            feats = np.concatenate([feats, modality_block(self.item_modalities, vectors, len(texts))], axis=1)
        vecs = feats @ self.proj_w + self.proj_b
        for r, item_id in enumerate(item_ids):
            row = self.row_of.get(str(item_id))
            if row is not None and not (unknown is not None and unknown[r]):
                vecs[r] += self.id_emb[row]
        return vecs.astype(np.float32)

    def profile_vectors(self, texts: Sequence[str]) -> np.ndarray:
        return (self.text.embed(texts) @ self.profile_w + self.profile_b).astype(np.float32)

    def user_vector(self, history: np.ndarray, profile: np.ndarray | None) -> np.ndarray | None:
        h = np.asarray(history, dtype=np.float32)[-self.max_len :]
        if h.ndim != 2:
            h = np.zeros((0, self.dim), dtype=np.float32)
        if len(h) == 0 and profile is None:
            return None
        if len(h) == 0:
            h = np.zeros((1, self.dim), dtype=np.float32)
        p = (
            np.zeros((1, self.dim), dtype=np.float32)
            if profile is None
            else np.asarray(profile, dtype=np.float32).reshape(1, self.dim)
        )
        return np.asarray(self._session.run(None, {"history": h[None], "profile": p})[0][0])

    def user_vectors(self, histories: np.ndarray, profiles: np.ndarray) -> np.ndarray:
        """Batched variant: ``histories`` (B, L, dim) right-aligned, zero rows as padding."""
        out = self._session.run(None, {"history": histories.astype(np.float32), "profile": profiles.astype(np.float32)})
        return np.asarray(out[0])

    def history_vectors(self, matrix: np.ndarray, histories: Sequence[np.ndarray]) -> np.ndarray:
        """User vectors (unnormalised) for each history (rows of ``matrix``, oldest first), no profile."""
        hists = [np.asarray(h)[-self.max_len :] for h in histories]
        width = max(1, max((len(h) for h in hists), default=1))
        batch = np.zeros((len(hists), width, self.dim), dtype=np.float32)
        for r, h in enumerate(hists):
            if len(h):
                batch[r, width - len(h) :] = matrix[h]
        prof = np.zeros((len(hists), self.dim), dtype=np.float32)
        return self.user_vectors(batch, prof)

    def score_histories(self, matrix: np.ndarray, histories: Sequence[np.ndarray]) -> np.ndarray:
        """Scores of every row of ``matrix`` for each history (catalogue row indices, oldest first)."""
        return np.asarray(self.history_vectors(matrix, histories) @ matrix.T)

    def score_profiles(self, matrix: np.ndarray, profiles: Sequence[str]) -> np.ndarray:
        """Scores of every row of ``matrix`` for profile-only users (the runtime's cold-start input)."""
        prof = self.profile_vectors(list(profiles))
        batch = np.zeros((len(profiles), 1, self.dim), dtype=np.float32)
        return np.asarray(self.user_vectors(batch, prof) @ matrix.T)

    def close(self) -> None:
        self.text.close()
        self._session = None
