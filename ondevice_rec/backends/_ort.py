"""onnxruntime, configured once: the default thread count and the session options every backend uses."""

from __future__ import annotations

import os
from typing import Any

from ..errors import BundleError


def default_threads() -> int:
    """Threads for inference when the caller does not say: at most 2 (small models gain nothing from more,
    and an app shares the machine with its own work)."""
    return max(1, min(2, os.cpu_count() or 1))


def session(model: bytes, *, threads: int | None, what: str) -> Any:
    """An onnxruntime CPU session over verified in-memory model bytes."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or default_threads()
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own types
        raise BundleError(f"cannot load {what} ({type(e).__name__}: {e})") from None
