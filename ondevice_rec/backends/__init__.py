"""Ranking backends. Raw inference sessions (onnxruntime, llama.cpp) stay inside this sub-package;
everything else talks to them through the :class:`~ondevice_rec.backends.base.Ranker` protocol."""

from .base import Ranker, open_ranker

__all__ = ["Ranker", "open_ranker"]
