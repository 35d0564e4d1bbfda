"""Two-tower student bundles: item vectors = text projection (+ learned id embedding for items seen in
training), user vector = ONNX user tower over the user's recent item vectors and profile."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..bundle import Bundle
from ..errors import BundleError
from .onnx_text import OnnxTextEncoder


class TwoTowerRanker:
    def __init__(self, bundle: Bundle, *, threads: int | None = None, precision: str | None = None) -> None:
        import onnxruntime as ort

        spec: dict[str, Any] = bundle.manifest.get("two_tower") or {}
        try:
            towers = spec["user_tower"]
            arrays_file = spec["item_tower"]
            ids_file = spec["item_ids"]
            self.max_len = int(spec["max_len"])
        except (KeyError, TypeError, ValueError):
            raise BundleError(
                f"bundle {bundle.path}: manifest 'two_tower' lacks user_tower/item_tower/item_ids"
            ) from None
        self.precision = precision or os.environ.get("ODREC_PRECISION") or spec.get("default_precision", "int8")
        if self.precision not in towers:
            raise BundleError(
                f"bundle {bundle.path} has no {self.precision!r} user tower (it has: {', '.join(sorted(towers))})"
            )
        self.text = OnnxTextEncoder(bundle, threads=threads)
        self.max_length = self.text.max_length
        self.bundle_id = bundle.bundle_id + (
            "" if self.precision == spec.get("default_precision", "int8") else f"-{self.precision}"
        )
        arrays = np.load(io.BytesIO(bundle.file(arrays_file)))
        self.proj_w, self.proj_b = arrays["proj_w"], arrays["proj_b"]
        self.profile_w, self.profile_b = arrays["profile_w"], arrays["profile_b"]
        self.id_emb = arrays["id_emb"]
        self.dim = int(self.proj_w.shape[1])
        ids = json.loads(bundle.file(ids_file).decode("utf-8"))
        self.row_of = {str(i): r for r, i in enumerate(ids)}
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or max(1, min(2, os.cpu_count() or 1))
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(
                bundle.file(towers[self.precision]), opts, providers=["CPUExecutionProvider"]
            )
        except Exception as e:
            raise BundleError(f"bundle {bundle.path}: cannot load user tower ({type(e).__name__}: {e})") from None

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.text.embed(texts)

    def item_vectors(
        self, item_ids: Sequence[str], texts: Sequence[str], *, unknown: Sequence[bool] | None = None
    ) -> np.ndarray:
        vecs = self.text.embed(texts) @ self.proj_w + self.proj_b
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
        return self._session.run(None, {"history": h[None], "profile": p})[0][0]

    def user_vectors(self, histories: np.ndarray, profiles: np.ndarray) -> np.ndarray:
        """Batched variant: ``histories`` (B, L, dim) right-aligned, zero rows as padding."""
        return self._session.run(
            None, {"history": histories.astype(np.float32), "profile": profiles.astype(np.float32)}
        )[0]

    def close(self) -> None:
        self.text.close()
        self._session = None  # type: ignore[assignment]
