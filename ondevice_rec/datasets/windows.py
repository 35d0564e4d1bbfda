"""Training sequences for next-item models: every user's training history cut into windows, so a model with a
fixed input length learns from the whole history, not only its tail."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def training_windows(train: Sequence[np.ndarray], max_len: int, step: int | None = None) -> list[np.ndarray]:
    """LlamaRec's sliding windows (``dataloader/lru.py`` of Yueeeeeeee/LlamaRec, ``sliding_window_size`` 1.0):
    a sequence shorter than ``max_len + step`` is kept whole (its model input is its last ``max_len`` items);
    a longer one becomes windows of ``max_len`` items ending at its last item and every ``step`` items before
    it. Sequences of fewer than 2 items teach nothing and are left out."""
    step = step or max_len
    out: list[np.ndarray] = []
    for seq in train:
        seq = np.asarray(seq, dtype=np.int64)
        if len(seq) < 2:
            continue
        if len(seq) < max_len + step:
            out.append(seq)
        else:
            out.extend(seq[i : i + max_len] for i in range(len(seq) - max_len, -1, -step))
    return out


def next_item_batch(windows: Sequence[np.ndarray], max_len: int, offset: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Right-aligned (inputs, labels) for next-item training, item index + ``offset`` (0 = padding), padded to
    the longest window of the batch: ``labels[t]`` is the item after ``inputs[:t+1]``; the window's first item
    is the label of an empty prefix, as in LlamaRec's loader."""
    width = min(max_len, max(len(w) for w in windows))
    inp = np.zeros((len(windows), width), dtype=np.int64)
    lab = np.zeros((len(windows), width), dtype=np.int64)
    for r, w in enumerate(windows):
        x = w[:-1][-max_len:] + offset
        y = w[-max_len:] + offset
        if len(x):
            inp[r, width - len(x) :] = x
        lab[r, width - len(y) :] = y
    return inp, lab
