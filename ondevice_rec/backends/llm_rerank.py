"""LLM re-ranking on llama.cpp (the ``gguf`` extra): Yes/No scores for candidates sharing one history prefix.

The history prefix is evaluated once per request; for each candidate the KV cache is cut back to the end of
the prefix and only the candidate's suffix is evaluated (prefix reuse).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import BundleError, missing_extra
from ..templates import RANKER_NO, RANKER_YES


def _llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError:
        raise missing_extra("gguf", "llama_cpp", "LLM re-ranking runs the bundle's GGUF model on llama.cpp") from None
    return llama_cpp


class LlamaRanker:
    """Owns one llama.cpp model and context."""

    def __init__(self, path: str, *, n_ctx: int = 2048, threads: int | None = None) -> None:
        self._lc = _llama_cpp()
        try:
            self.llm = self._lc.Llama(
                model_path=path,
                n_ctx=n_ctx,
                n_threads=threads or max(1, min(2, os.cpu_count() or 1)),
                logits_all=False,
                verbose=False,
            )
        except Exception as e:
            raise BundleError(f"cannot load GGUF model {path}: {e}") from None
        self.n_vocab = self.llm.n_vocab()
        yes = self.llm.tokenize(RANKER_YES.encode(), add_bos=False, special=False)
        no = self.llm.tokenize(RANKER_NO.encode(), add_bos=False, special=False)
        if len(yes) != 1 or len(no) != 1:
            raise BundleError(f"{path}: 'Yes'/'No' are not single tokens for this model")
        self.yes, self.no = yes[0], no[0]
        self._lock = threading.Lock()

    def _tok(self, text: str) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    def _last_logits(self) -> np.ndarray:
        ptr = self._lc.llama_get_logits_ith(self.llm.ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(self.n_vocab,)).copy()

    def next_token_logits(self, prompt: str) -> np.ndarray:
        with self._lock:
            self.llm.reset()
            self.llm.eval(self._tok(prompt))
            return self._last_logits()

    def score(self, prefix: str, suffixes: Sequence[str], *, reuse_prefix: bool = True) -> np.ndarray:
        """logit(Yes) − logit(No) for ``prefix + suffix`` of each candidate."""
        out = np.zeros(len(suffixes), dtype=np.float32)
        with self._lock:
            if reuse_prefix:
                self.llm.reset()
                self.llm.eval(self._tok(prefix))
                n_prefix = self.llm.n_tokens
                for i, suf in enumerate(suffixes):
                    self.llm._ctx.kv_cache_seq_rm(-1, n_prefix, -1)
                    self.llm.n_tokens = n_prefix
                    self.llm.eval(self._tok(suf))
                    logits = self._last_logits()
                    out[i] = logits[self.yes] - logits[self.no]
            else:
                for i, suf in enumerate(suffixes):
                    self.llm.reset()
                    self.llm._ctx.kv_cache_seq_rm(-1, 0, -1)
                    self.llm.eval(self._tok(prefix + suf))
                    logits = self._last_logits()
                    out[i] = logits[self.yes] - logits[self.no]
        return out

    def generate(self, prompt: str, max_tokens: int = 32) -> str:
        with self._lock:
            self.llm.reset()
            res = self.llm.create_completion(prompt, max_tokens=max_tokens, temperature=0.0, stop=["<|im_end|>", "\n"])
        return str(res["choices"][0]["text"]).strip()

    def close(self) -> None:
        try:
            self.llm.close()
        except Exception:
            pass
