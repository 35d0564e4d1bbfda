from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
gguf = pytest.importorskip("gguf")

from ondevice_rec.export.gguf_export import tensor_map, write_gguf  # noqa: E402


def test_gguf_round_trip_carries_tokenizer_and_weights(tiny_teacher: Path, tmp_path: Path) -> None:  # noqa: F811
    import transformers

    from ondevice_rec.export.teacher import default_teacher_path

    model = transformers.AutoModelForCausalLM.from_pretrained(str(tiny_teacher))
    out = write_gguf(model, default_teacher_path(), tmp_path / "t.gguf")
    r = gguf.GGUFReader(str(out))
    src = gguf.GGUFReader(str(default_teacher_path()))
    assert r.fields["general.architecture"].contents() == "llama"
    assert r.fields["llama.block_count"].contents() == 2
    assert r.fields["tokenizer.ggml.tokens"].contents()[:5] == src.fields["tokenizer.ggml.tokens"].contents()[:5]
    assert r.fields["tokenizer.ggml.merges"].contents()[:5] == src.fields["tokenizer.ggml.merges"].contents()[:5]
    tensors = {t.name: t for t in r.tensors}
    for name, arr in tensor_map(model):
        got = np.asarray(tensors[name].data).reshape(arr.shape)
        assert np.array_equal(got, arr.astype(np.float32)), name
    assert not list(tmp_path.glob("*.partial"))
    # transformers reads it back with the same logits
    back = transformers.AutoModelForCausalLM.from_pretrained(str(tmp_path), gguf_file="t.gguf")
    import torch

    ids = torch.tensor([[1, 200, 300, 400, 500]])
    with torch.no_grad():
        a = model(ids).logits
        b = back(ids).logits
    assert float((a - b).abs().max()) < 1e-4
