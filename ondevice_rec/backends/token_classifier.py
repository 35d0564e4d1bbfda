"""A token classifier on onnxruntime (the PII name/place/address detector): wordpiece logits → per-word
entity probabilities → character spans, thresholded per entity type (thresholds chosen on a dev split at
build time and recorded in the manifest)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..bundle.manifest import TokenClassifierSpec
from ._ort import session

# case class of a word: 0 special/padding, 1 lower, 2 Title, 3 UPPER, 4 mixed, 5 no letter
CASE_CLASSES = 6
Window = tuple[int, list[int], list[int], list[int], list[tuple[int, int]]]


def case_class(word: str) -> int:
    letters = [c for c in word if c.isalpha()]
    if not letters:
        return 5
    if all(c.islower() for c in letters):
        return 1
    if all(c.isupper() for c in letters):
        return 3 if len(letters) > 1 else 2
    if letters[0].isupper() and all(c.islower() for c in letters[1:]):
        return 2
    return 4


@dataclass(frozen=True)
class TokenEntity:
    label: str
    start: int
    end: int
    score: float


class WordPieces:
    """Texts → windows of at most ``max_length`` wordpieces (overlapping by ``stride``), each with the letter
    case of every piece's word: what the tagger reads, at training time and at run time alike."""

    def __init__(self, tokenizer: bytes, max_length: int, stride: int) -> None:
        from tokenizers import Tokenizer

        self._tok = Tokenizer.from_str(tokenizer.decode("utf-8"))
        self._tok.no_padding()
        self._tok.enable_truncation(max_length=max_length, stride=stride)
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str]) -> list[Window]:
        """(text index, ids, case ids, word ids, offsets) per window; word id -1 marks special tokens."""
        with self._lock:
            encs = self._tok.encode_batch(list(texts))
        out: list[Window] = []
        for t, enc in enumerate(encs):
            for e in [enc, *enc.overflowing]:
                words = [w if w is not None else -1 for w in e.word_ids]
                spans: dict[int, tuple[int, int]] = {}
                for w, (a, b) in zip(words, e.offsets):
                    if w >= 0:
                        s = spans.get(w)
                        spans[w] = (a, b) if s is None else (min(s[0], a), max(s[1], b))
                text = texts[t]
                cases = [0 if w < 0 else case_class(text[spans[w][0] : spans[w][1]]) for w in words]
                out.append((t, list(e.ids), cases, words, list(e.offsets)))
        return out


@dataclass
class WordProbabilities:
    """Per word of one text: its character span and the probability of each entity type."""

    spans: dict[int, tuple[int, int]]
    probs: dict[int, dict[str, float]]


class OnnxTokenClassifier:
    """Built from its spec and verified model/tokenizer bytes."""

    def __init__(
        self, spec: TokenClassifierSpec, model: bytes, tokenizer: bytes, *, threads: int | None = None
    ) -> None:
        self.spec = spec
        self.labels = list(spec.labels)
        self.pieces = WordPieces(tokenizer, spec.max_length, spec.stride)
        self._session = session(model, threads=threads, what="PII token classifier")
        self._types = sorted({lab[2:] for lab in self.labels if lab != "O"})
        self._cols = {t: [i for i, lab in enumerate(self.labels) if lab[2:] == t] for t in self._types}

    def logits(self, ids: np.ndarray, mask: np.ndarray, case: np.ndarray) -> np.ndarray:
        return np.asarray(self._session.run(None, {"input_ids": ids, "attention_mask": mask, "case_ids": case})[0])

    def probabilities(self, texts: Sequence[str], batch: int = 16) -> list[WordProbabilities]:
        """Per text: each word's span and entity-type probabilities (the maximum over its pieces and windows)."""
        wins = self.pieces.encode(texts)
        result = [WordProbabilities({}, {}) for _ in texts]
        for start in range(0, len(wins), batch):
            chunk = wins[start : start + batch]
            width = max(len(b[1]) for b in chunk)
            ids = np.zeros((len(chunk), width), dtype=np.int64)
            mask = np.zeros((len(chunk), width), dtype=np.int64)
            case = np.zeros((len(chunk), width), dtype=np.int64)
            for r, (_, i, c, _, _) in enumerate(chunk):
                ids[r, : len(i)] = i
                mask[r, : len(i)] = 1
                case[r, : len(c)] = c
            z = self.logits(ids, mask, case)
            z = z - z.max(axis=-1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(axis=-1, keepdims=True)
            # probability of each entity type per piece (B- and I- summed), as Python floats in one step
            by_type = np.stack([p[:, :, cols].sum(axis=-1) for cols in self._cols.values()], axis=-1).tolist()
            types = list(self._cols)
            for r, (t, _, _, words, offsets) in enumerate(chunk):
                wp = result[t]
                row = by_type[r]
                for k, w in enumerate(words):
                    if w < 0:
                        continue
                    a, b = offsets[k]
                    s = wp.spans.get(w)
                    wp.spans[w] = (a, b) if s is None else (min(s[0], a), max(s[1], b))
                    word = wp.probs.setdefault(w, {})
                    for typ, v in zip(types, row[k]):
                        if v > word.get(typ, 0.0):
                            word[typ] = v
        return result

    def entities(self, text: str, thresholds: dict[str, float] | None = None) -> list[TokenEntity]:
        """Character spans of the entity types that have a threshold: consecutive words whose probability of
        that type reaches it (a span runs across the spaces and hyphens between its words)."""
        th = thresholds if thresholds is not None else dict(self.spec.thresholds)
        wp = self.probabilities([text])[0]
        out: list[TokenEntity] = []
        cur: TokenEntity | None = None
        for w in sorted(wp.probs):
            a, b = wp.spans[w]
            best, ratio = None, 0.0
            for typ, limit in th.items():
                v = wp.probs[w].get(typ, 0.0)
                if v >= limit and v / limit > ratio:
                    best, ratio = typ, v / limit
            if best is None:
                cur = None
                continue
            v = wp.probs[w][best]
            gap = text[cur.end : a] if cur is not None else ""
            if cur is not None and cur.label == best and gap.strip(" \t-'’.,") == "" and "\n" not in gap:
                cur = TokenEntity(best, cur.start, b, max(cur.score, v))
                out[-1] = cur
            else:
                cur = TokenEntity(best, a, b, v)
                out.append(cur)
        return out

    def close(self) -> None:
        self._session = None
