"""The two protocols every backend implements, and the factories that build them from a bundle.

- :class:`Encoder` maps item texts and profile clauses into one vector space where a dot product is relevance
  (per-candidate work is a dot product against vectors computed once at ingest). Encoders with a learned
  user model (``learned_user``) also turn a history of item vectors into a user vector.
- :class:`Reranker` scores (prompt prefix, candidate suffix) pairs with an LLM: logit(Yes) − logit(No).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from ..bundle import Bundle
from ..errors import BundleError
from ..ranking.cooccurrence import ItemItem
from ..ranking.profile_model import ProfileModel


@runtime_checkable
class Encoder(Protocol):
    space_id: str  # names the vector space (stored beside each vector): bundle content + precision
    dim: int
    max_length: int
    learned_user: bool  # True when user_vector() is a trained user tower, not None
    item_item: ItemItem | None  # a trained item-item blend (two-tower bundles exported with one), else None
    profile_model: ProfileModel | None  # what people who name these titles and genres chose (students), else None
    # app-encoded modalities (name → dimension) whose vectors the item tower reads beside the text (students
    # exported with ``--item-vectors``); empty for encoders of text alone
    item_modalities: dict[str, int]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Text-encoder vectors (unit norm), one row per text."""
        ...

    def item_vectors(
        self,
        item_ids: Sequence[str],
        texts: Sequence[str],
        *,
        unknown: Sequence[bool] | None = None,
        vectors: Sequence[Mapping[str, np.ndarray]] | None = None,
    ) -> np.ndarray:
        """Vectors stored for catalogue items (computed once, at ingest); ``unknown`` marks items to be seen
        by their text alone; ``vectors``: each item's app-encoded vectors per modality (read by encoders with
        ``item_modalities``)."""
        ...

    def profile_vectors(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of natural-language profile clauses, in the item space."""
        ...

    def user_vector(self, history: np.ndarray, profile: np.ndarray | None) -> np.ndarray | None:
        """A learned user vector from item vectors (oldest first) and a profile vector, or ``None`` when
        the encoder has no user model (the pipeline then uses its recency-weighted centroid)."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class Reranker(Protocol):
    def score(self, prefix: str, suffixes: Sequence[str]) -> np.ndarray:
        """logit(Yes) − logit(No) for ``prefix + suffix`` of each candidate (the prefix is shared)."""
        ...

    def generate(self, prompt: str, max_tokens: int = 32) -> str:
        """A short greedy completion (for worded reasons)."""
        ...

    def close(self) -> None: ...


def open_encoder(bundle: Bundle, *, threads: int | None = None, precision: str | None = None) -> Encoder:
    """The encoder the bundle's manifest describes. ``precision`` picks a user tower of a two-tower bundle
    (default: the manifest's ``default_precision``)."""
    from .onnx_text import OnnxTextEncoder

    m = bundle.manifest
    te = m.encoder
    text = OnnxTextEncoder(
        te,
        bundle.file(te.model),
        bundle.file(te.tokenizer),
        threads=threads,
        space_id=bundle.bundle_id,
        what=f"bundle {bundle.path}: text encoder",
    )
    if m.kind == "text-embedder":
        return text
    if m.kind == "two-tower" and m.two_tower is not None:
        from .two_tower import TwoTowerEncoder

        spec = m.two_tower
        prec = precision or spec.default_precision
        if prec not in spec.user_tower:
            raise BundleError(
                f"bundle {bundle.path} has no {prec!r} user tower (it has: {', '.join(sorted(spec.user_tower))})"
            )
        return TwoTowerEncoder(
            spec,
            text,
            user_tower=bundle.file(spec.user_tower[prec]),
            item_tower=bundle.file(spec.item_tower),
            item_ids=bundle.file(spec.item_ids),
            item_item=bundle.file(spec.item_item) if spec.item_item else None,
            profile_model=bundle.file(spec.profile_model) if spec.profile_model else None,
            precision=prec,
            threads=threads,
            space_id=bundle.bundle_id + ("" if prec == spec.default_precision else f"-{prec}"),
        )
    raise BundleError(f"bundle {bundle.path}: unsupported kind {m.kind!r}")


def probe_encoder(bundle: Bundle) -> list[str]:
    """Open the encoder ``bundle`` describes and run one input through every part of it (a text, a profile
    clause, an item, a user of that item and profile; the item-item table and the profile model on that item):
    what a bundle whose hashes verify can still fail at when an app opens it. Returns the parts run; raises
    :class:`BundleError` naming the part that failed (or that gave a non-finite output)."""
    enc = open_encoder(bundle)
    try:
        ran = {"text encoder": enc.embed(["a probe text"])}
        if enc.learned_user:
            ids = getattr(enc, "row_of", {})
            first = next(iter(ids), "")
            item = enc.item_vectors([first], ["a probe item"])
            prof = enc.profile_vectors(["I like a probe"])
            ran.update({"item tower": item, "profile projection": prof})
            ran["user tower"] = np.asarray(enc.user_vector(item, prof[0]))
            if enc.item_item is not None:
                ran["item-item table"] = enc.item_item.neighbours.scores([0])
            if enc.profile_model is not None:
                ran["profile model"] = enc.profile_model.scores(np.zeros(1, np.int64), np.ones(1), [0])
        for part, out in ran.items():
            if not np.all(np.isfinite(out)):
                raise BundleError(f"bundle {bundle.path}: its {part} gives non-finite output")
        return list(ran)
    finally:
        enc.close()


def open_text_encoder(bundle: Bundle, *, threads: int | None = None, precision: str = "int8") -> Encoder:
    """The bundle's plain text encoder (``precision`` "fp32" needs a bundle built with ``--keep-fp32``)."""
    from .onnx_text import OnnxTextEncoder

    te = bundle.manifest.encoder
    model = te.model if precision == "int8" else te.model_fp32
    if not model:
        raise BundleError(f"bundle {bundle.path} has no {precision} text encoder")
    return OnnxTextEncoder(
        te, bundle.file(model), bundle.file(te.tokenizer), threads=threads, space_id=bundle.bundle_id
    )


def open_reranker(bundle: Bundle, *, threads: int | None = None) -> Reranker:
    """The bundle's GGUF LLM ranker on llama.cpp (verified now: it is a lazily checked file)."""
    spec = bundle.manifest.llm_ranker
    if spec is None:
        raise BundleError(f"bundle {bundle.path} has no LLM ranker: export it with --formats gguf")
    from .llama import LlamaRanker

    return LlamaRanker(str(bundle.verified_path(spec.file)), threads=threads)
