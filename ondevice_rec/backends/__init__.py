"""Inference backends. Raw sessions (onnxruntime, llama.cpp) stay inside this sub-package; everything else
talks to them through the :class:`Encoder` and :class:`Reranker` protocols."""

from ._ort import default_threads, set_default_threads
from .base import Encoder, Reranker, open_encoder, open_reranker, open_text_encoder

__all__ = [
    "Encoder",
    "Reranker",
    "default_threads",
    "set_default_threads",
    "open_encoder",
    "open_reranker",
    "open_text_encoder",
]
