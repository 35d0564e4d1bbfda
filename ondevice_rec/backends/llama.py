"""The :class:`~ondevice_rec.backends.base.Reranker` on llama.cpp (the ``gguf`` extra): Yes/No scores for
candidates sharing one history prefix.

The history prefix is evaluated once per request; for each candidate the KV cache is cut back to the end of
the prefix and only the candidate's suffix is evaluated (prefix reuse). Only llama-cpp-python's public API is
used, plus its ctypes bindings of llama.cpp's C API (``llama_memory_*``, ``llama_batch_*``) for what the
high-level ``Llama`` object does not offer: cutting the KV cache and micro-batched sequences.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import BundleError, missing_extra
from ..ranking.templates import RANKER_NO, RANKER_YES
from ._ort import default_threads


def _llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError:
        raise missing_extra("gguf", "llama_cpp", "LLM re-ranking runs the bundle's GGUF model on llama.cpp") from None
    return llama_cpp


class LlamaRanker:
    """Owns one llama.cpp model and context (and, once micro-batching is used, a batch context)."""

    def __init__(self, path: str, *, n_ctx: int = 2048, threads: int | None = None) -> None:
        self._lc = _llama_cpp()
        try:
            self.llm = self._lc.Llama(
                model_path=path,
                n_ctx=n_ctx,
                n_threads=threads or default_threads(),
                # prompt batches too: llama-cpp-python's default is every core, so two 1-thread workers on 2
                # cores oversubscribed and labelled 2.3x slower together than one alone
                n_threads_batch=threads or default_threads(),
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
        self._bctx: tuple[Any, int, int] | None = None  # (context, n_seq, n_ctx) for score_batched

    def _tok(self, text: str) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    def _last_logits(self) -> np.ndarray:
        ptr = self._lc.llama_get_logits_ith(self.llm.ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(self.n_vocab,)).copy()

    def _cut_kv(self, n: int) -> None:
        """Drop every cached position from ``n`` on (all sequences)."""
        self._lc.llama_memory_seq_rm(self._lc.llama_get_memory(self.llm.ctx), -1, n, -1)

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
                    self._cut_kv(n_prefix)
                    self.llm.n_tokens = n_prefix
                    self.llm.eval(self._tok(suf))
                    logits = self._last_logits()
                    out[i] = logits[self.yes] - logits[self.no]
            else:
                for i, suf in enumerate(suffixes):
                    self.llm.reset()
                    self._cut_kv(0)
                    self.llm.eval(self._tok(prefix + suf))
                    logits = self._last_logits()
                    out[i] = logits[self.yes] - logits[self.no]
        return out

    def score_batched(self, prefix: str, suffixes: Sequence[str], *, max_batch: int = 32) -> np.ndarray:
        """As :meth:`score` with prefix reuse, but every candidate's suffix is evaluated in one llama.cpp batch:
        the prefix's KV cache is copied to one sequence per candidate (micro-batching), so the matrix products
        run over all candidates at once instead of one short suffix at a time."""
        lc = self._lc
        out = np.zeros(len(suffixes), dtype=np.float32)
        with self._lock:
            pre = self._tok(prefix)
            for start in range(0, len(suffixes), max_batch):
                chunk = [self._tok(s) for s in suffixes[start : start + max_batch]]
                total = len(pre) + sum(len(c) for c in chunk)
                ctx = self._batch_context(len(chunk) + 1, total)
                batch = lc.llama_batch_init(max(len(pre), total), 0, len(chunk) + 1)
                try:
                    mem = lc.llama_get_memory(ctx)
                    lc.llama_memory_clear(mem, True)
                    self._fill(batch, [(pre, 0, 0)])
                    if lc.llama_decode(ctx, batch) != 0:
                        raise BundleError("llama.cpp could not evaluate the prompt prefix")
                    for s in range(1, len(chunk) + 1):
                        lc.llama_memory_seq_cp(mem, 0, s, 0, len(pre))
                    ends = self._fill(batch, [(c, s + 1, len(pre)) for s, c in enumerate(chunk)])
                    if lc.llama_decode(ctx, batch) != 0:
                        raise BundleError("llama.cpp could not evaluate the candidates")
                    for i, idx in enumerate(ends):
                        ptr = lc.llama_get_logits_ith(ctx, idx)
                        logits = np.ctypeslib.as_array(ptr, shape=(self.n_vocab,))
                        out[start + i] = logits[self.yes] - logits[self.no]
                finally:
                    lc.llama_batch_free(batch)
        return out

    def _batch_context(self, n_seq: int, n_tokens: int) -> Any:
        """A context for micro-batches (kept while its sizes suffice): unified KV cache, ``n_seq`` sequences."""
        cur = self._bctx
        if cur is not None and cur[1] >= n_seq and cur[2] >= n_tokens:
            return cur[0]
        if cur is not None:
            self._lc.llama_free(cur[0])
        lc = self._lc
        params = lc.llama_context_default_params()
        size = max(512, 1 << (n_tokens - 1).bit_length())
        params.n_ctx = size
        params.n_batch = size
        params.n_ubatch = min(size, 512)
        params.n_seq_max = n_seq
        params.kv_unified = True
        main = self.llm.context_params
        params.n_threads, params.n_threads_batch = main.n_threads, main.n_threads_batch
        for name in ("flash_attn_type", "flash_attn", "type_k", "type_v", "offload_kqv"):
            if hasattr(main, name):  # the same kernels as the main context, so scores agree with score()
                setattr(params, name, getattr(main, name))
        ctx = lc.llama_init_from_model(self.llm.model, params)
        if ctx is None:
            raise BundleError("llama.cpp could not create a batch context")
        self._bctx = (ctx, n_seq, size)
        return ctx

    @staticmethod
    def _fill(batch: Any, seqs: Sequence[tuple[list[int], int, int]]) -> list[int]:
        """Put (tokens, sequence id, first position) runs into ``batch``; logits only for each run's last token.
        Returns the batch index of each run's last token."""
        n, ends = 0, []
        for tokens, seq, pos0 in seqs:
            for i, tok in enumerate(tokens):
                batch.token[n] = tok
                batch.pos[n] = pos0 + i
                batch.n_seq_id[n] = 1
                batch.seq_id[n][0] = seq
                batch.logits[n] = i == len(tokens) - 1
                n += 1
            ends.append(n - 1)
        batch.n_tokens = n
        return ends

    def generate(self, prompt: str, max_tokens: int = 32) -> str:
        with self._lock:
            self.llm.reset()
            res = self.llm.create_completion(prompt, max_tokens=max_tokens, temperature=0.0, stop=["<|im_end|>", "\n"])
        return str(res["choices"][0]["text"]).strip()

    def close(self) -> None:
        bctx = self._bctx
        if bctx is not None:
            self._lc.llama_free(bctx[0])
            self._bctx = None
        try:
            self.llm.close()
        except Exception:
            pass
