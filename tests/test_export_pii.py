"""The PII tagger's recipe pieces: batches that a resumed run replays, checkpoints that resume where a run stopped,
recipes that load, synthetic text in the six languages."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ondevice_rec.errors import ExportError
from ondevice_rec.export.pii_data import LABELS, synthetic
from ondevice_rec.export.pii_ner import PiiNerConfig, _batches, _train, load_config

ROOT = Path(__file__).resolve().parents[1]


def test_an_epochs_batches_are_a_pure_function_of_seed_and_epoch() -> None:
    cfg = PiiNerConfig(batch=4, length_buckets=3)
    lengths = [(i * 7) % 23 + 1 for i in range(50)]
    a, b = _batches(50, lengths, cfg, 1), _batches(50, lengths, cfg, 1)
    assert a == b and a != _batches(50, lengths, cfg, 2)
    assert sorted(i for batch in a for i in batch) == list(range(50))
    # length buckets: within a batch the lengths are close (sorted inside groups of 3 batches)
    plain = _batches(50, lengths, replace(cfg, length_buckets=0), 1)
    spread = sum(max(lengths[i] for i in x) - min(lengths[i] for i in x) for x in a)
    assert spread < sum(max(lengths[i] for i in x) - min(lengths[i] for i in x) for x in plain)


@pytest.mark.parametrize("recipe", ["export/pii-ner.json", "export/pii-ner-eu.json"])
def test_the_shipped_recipes_load(recipe: str) -> None:
    cfg = load_config(ROOT / recipe)
    assert cfg.dev and all(isinstance(d, str) for d in cfg.dev)
    assert cfg.languages and cfg.train


def test_synthetic_text_in_each_language_is_labelled_where_it_says() -> None:
    docs = list(synthetic(60, 3, ("de", "es", "it", "nl", "pt")))
    assert docs == list(synthetic(60, 3, ("de", "es", "it", "nl", "pt")))
    kinds = {lab[2:] for lab in LABELS if lab != "O"}
    for d in docs:
        for s, e, lab in d["spans"]:
            assert lab in kinds and d["text"][s:e].strip() == d["text"][s:e] != ""
    with pytest.raises(ExportError, match="no synthetic templates"):
        list(synthetic(1, 0, ("sv",)))


class _Tiny:
    """A stand-in tagger for the training loop: one embedding, one linear head."""

    def __new__(cls, torch: Any) -> Any:
        nn = torch.nn

        class Tiny(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.emb = nn.Embedding(50, 8)
                self.head = nn.Linear(8, len(LABELS))

            def forward(self, ids: Any, mask: Any, case: Any) -> Any:
                return self.head(self.emb(ids))

        torch.manual_seed(0)
        return Tiny()


def test_an_interrupted_training_resumes_where_it_stopped(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    windows = [([1 + i % 40, 2, 3], [0, 0, 0], [0, 1 + i % 3, 0]) for i in range(40)]
    cfg = PiiNerConfig(batch=8, epochs=2, checkpoint_steps=3, lr=1e-2, head_lr=1e-2)
    straight = _Tiny(torch)
    _train(torch, straight, windows, cfg, lambda s: None, None)

    ckpt = tmp_path / "checkpoint.pt"

    class Stop(Exception):
        pass

    seen: list[str] = []
    first = _Tiny(torch)
    real_save = torch.save

    def save_then_stop(obj: Any, path: Any) -> None:
        real_save(obj, path)
        if obj["step"] >= 6:
            raise Stop

    torch.save = save_then_stop
    try:
        with pytest.raises(Stop):
            _train(torch, first, windows, cfg, seen.append, ckpt)
    finally:
        torch.save = real_save
    tmp = ckpt.with_suffix(".tmp")
    tmp.replace(ckpt)  # the interrupted save finished writing; the rename is what the stop cut off
    resumed = _Tiny(torch)
    log: list[str] = []
    _train(torch, resumed, windows, cfg, log.append, ckpt)
    assert any("resumed from" in m and "step 6/" in m for m in log), log
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6)
    with pytest.raises(ExportError, match="another recipe"):
        _train(torch, _Tiny(torch), windows, replace(cfg, lr=1e-3), log.append, ckpt)
