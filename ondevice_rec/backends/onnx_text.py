"""onnxruntime + tokenizers sentence encoder (mean or CLS pooling, L2-normalised), built from its spec."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..bundle.manifest import TextEncoderSpec
from ..errors import BundleError
from ..ranking.cooccurrence import ItemItem
from ..ranking.profile_model import ProfileModel
from ._ort import refuse_if_telemetry_on, session


class OnnxTextEncoder:
    """Owns one onnxruntime session and one tokenizer, built from verified model and tokenizer bytes.

    ``space_id`` names the vector space the vectors live in (stored beside every vector in the store). The
    session and tokenizer are built on the first ``embed``: an app that only reads (recommend from stored
    vectors) starts 0.3-0.4 s sooner and never holds the model in memory. The bytes were verified against the
    manifest when the bundle was opened; a model this onnxruntime cannot load fails there as a ``BundleError``."""

    learned_user = False
    item_item: ItemItem | None = None  # a text encoder has no item-item blend
    profile_model: ProfileModel | None = None  # nor a profile model

    def __init__(
        self,
        spec: TextEncoderSpec,
        model: bytes,
        tokenizer: bytes,
        *,
        threads: int | None = None,
        space_id: str = "",
        what: str = "text encoder",
    ) -> None:
        if spec.pooling not in ("mean", "cls"):
            raise BundleError(f"{what}: unknown pooling {spec.pooling!r}")
        self.spec = spec
        self.dim = spec.dim
        self.item_modalities: dict[str, int] = {}  # a text encoder reads text alone
        self.max_length = spec.max_length
        self.space_id = space_id
        refuse_if_telemetry_on()  # at open, not at the first embed
        self._model: bytes | None = model
        self._tokenizer_json: bytes | None = tokenizer
        self._threads = threads
        self._what = what
        self._session: Any = None
        self._tokenizer: Any = None
        self._inputs: set[str] = set()
        self._output = spec.output
        self._lock = threading.Lock()  # tokenizers' truncation/padding state is per-object; built once

    def _load(self) -> None:
        """Build the session and tokenizer (caller holds the lock)."""
        from tokenizers import Tokenizer

        if self._model is None or self._tokenizer_json is None:
            raise BundleError(f"{self._what} is closed")
        sess = session(self._model, threads=self._threads, what=self._what)
        try:
            tok = Tokenizer.from_str(self._tokenizer_json.decode("utf-8"))
        except Exception as e:  # tokenizers raises its own types
            raise BundleError(f"cannot load {self._what} tokenizer ({type(e).__name__}: {e})") from None
        tok.enable_truncation(max_length=self.max_length)
        tok.no_padding()
        self._inputs = {i.name for i in sess.get_inputs()}
        self._session, self._tokenizer = sess, tok

    def embed(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        """Unit-norm vectors, one row per text."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            if self._session is None:
                self._load()
            encs = self._tokenizer.encode_batch(list(texts))
        sess = self._session
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = np.argsort([len(e.ids) for e in encs], kind="stable")  # batch similar lengths: less padding
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            width = max(len(encs[i].ids) for i in idx)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for r, i in enumerate(idx):
                n = len(encs[i].ids)
                ids[r, :n] = encs[i].ids
                mask[r, :n] = 1
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self._inputs:
                feeds["token_type_ids"] = np.zeros_like(ids)
            hidden = sess.run([self._output], feeds)[0]
            if self.spec.pooling == "mean":
                m = mask[:, :, None].astype(np.float32)
                pooled = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
            else:
                pooled = hidden[:, 0, :]
            out[idx] = pooled
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)

    def item_vectors(
        self,
        item_ids: Sequence[str],
        texts: Sequence[str],
        *,
        unknown: Sequence[bool] | None = None,
        vectors: Sequence[Mapping[str, np.ndarray]] | None = None,
    ) -> np.ndarray:
        return self.embed(texts)

    def profile_vectors(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed(texts)

    def user_vector(self, history: np.ndarray, profile: np.ndarray | None) -> np.ndarray | None:
        return None

    def close(self) -> None:
        with self._lock:
            self._session = self._tokenizer = self._model = self._tokenizer_json = None
