"""onnxruntime + tokenizers sentence encoder (mean pooling, L2-normalised), as described by a bundle."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..bundle import Bundle
from ..errors import BundleError


def _default_threads() -> int:
    return max(1, min(2, os.cpu_count() or 1))


class OnnxTextEncoder:
    """Owns one onnxruntime session and one tokenizer, loaded from verified in-memory bundle bytes."""

    def __init__(self, bundle: Bundle, *, threads: int | None = None, precision: str = "int8") -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        spec: dict[str, Any] = bundle.manifest.get("text_encoder") or {}
        try:
            model_file = spec["model"] if precision == "int8" else spec.get("model_fp32")
            tok_file = spec["tokenizer"]
            self.dim = int(spec["dim"])
            self.max_length = int(spec["max_length"])
        except (KeyError, TypeError, ValueError):
            raise BundleError(
                f"bundle {bundle.path}: manifest 'text_encoder' lacks model/tokenizer/dim/max_length"
            ) from None
        if not model_file:
            raise BundleError(f"bundle {bundle.path} has no {precision} text encoder")
        self.pooling = spec.get("pooling", "mean")
        if self.pooling not in ("mean", "cls"):
            raise BundleError(f"bundle {bundle.path}: unknown pooling {self.pooling!r}")
        self.bundle_id = bundle.bundle_id
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or _default_threads()
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(bundle.file(model_file), opts, providers=["CPUExecutionProvider"])
            self._tokenizer = Tokenizer.from_str(bundle.file(tok_file).decode("utf-8"))
        except BundleError:
            raise
        except Exception as e:  # onnxruntime/tokenizers raise their own types
            raise BundleError(f"bundle {bundle.path}: cannot load model ({type(e).__name__}: {e})") from None
        self._tokenizer.enable_truncation(max_length=self.max_length)
        self._tokenizer.no_padding()
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._output = spec.get("output", self._session.get_outputs()[0].name)
        self._lock = threading.Lock()  # tokenizers' padding state is per-object

    def embed(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            encs = self._tokenizer.encode_batch(list(texts))
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
            hidden = self._session.run([self._output], feeds)[0]
            if self.pooling == "mean":
                m = mask[:, :, None].astype(np.float32)
                pooled = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
            else:
                pooled = hidden[:, 0, :]
            out[idx] = pooled
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)

    def item_vectors(self, item_ids: Sequence[str], texts: Sequence[str]) -> np.ndarray:
        return self.embed(texts)

    def profile_vectors(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed(texts)

    def user_vector(self, history: np.ndarray, profile: np.ndarray | None) -> np.ndarray | None:
        return None

    def close(self) -> None:
        self._session = None  # type: ignore[assignment]
