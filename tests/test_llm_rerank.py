from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("gguf")

from ondevice_rec import MissingExtraError, Recommender  # noqa: E402
from ondevice_rec.errors import BundleError  # noqa: E402
from ondevice_rec.export.pipeline import ExportConfig, run_export  # noqa: E402
from ondevice_rec.export.student import StudentConfig  # noqa: E402
from ondevice_rec.export.teacher import TeacherConfig  # noqa: E402
from tests.test_eval import _write_generic  # noqa: E402


def _has_llama() -> bool:
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not _has_llama(), reason="llama-cpp-python (the gguf extra) is not installed")
def test_whole_pipeline_with_gguf_and_llm_rerank(tiny_teacher: Path, tmp_path: Path) -> None:  # noqa: F811
    _write_generic(tmp_path / "data")
    cfg = ExportConfig(
        dataset="generic",
        data_dir=str(tmp_path / "data"),
        teacher=str(tiny_teacher),
        formats=("onnx", "gguf"),
        student=StudentConfig(dim=16, blocks=1, heads=1, epochs=2, eval_every=1, batch=8),
        teacher_cfg=TeacherConfig(steps=2, batch=4, negatives=1, candidates=5, label_users=4, label_if_weaker=True),
        max_ndcg_drop_int8=1.0,
    )
    m = run_export(cfg, tmp_path / "bundle")
    llm = m.llm_ranker
    assert llm is not None
    assert llm.type == "Q8_0" and llm.validation["logit_correlation_q8_0_vs_torch"] >= 0.99
    # the fusion weight was chosen on validation (0 = re-ranking off), with the figures behind it
    assert llm.fusion_weight is not None and set(llm.fusion_report["valid_ndcg10"]) >= {"0.0", "None"}
    with Recommender.open(tmp_path / "r.db", bundle=tmp_path / "bundle") as rec:
        rec.add_items([{"id": str(i), "title": f"item {i}", "text": "space" if i % 2 else "food"} for i in range(30)])
        rec.consent("u").grant("personalization")
        for i in (1, 3, 5):
            rec.record("u", str(i), kind="like")
        fast = rec.recommend("u", k=5)
        reranked = rec.recommend("u", k=5, rerank="llm", rerank_top=10)
        assert len(reranked) == 5 and {r.item_id for r in reranked} <= {r.item_id for r in rec.recommend("u", k=10)}
        assert len(fast) == 5
        explained = rec.recommend("u", k=2, explain="llm")
        assert all(isinstance(r.reason, str) and r.reason for r in explained)
        # prefix reuse gives the same scores as evaluating each prompt in full
        from ondevice_rec.ranking.templates import ranker_prefix, ranker_suffix

        ranker = rec._llm()
        prefix = ranker_prefix(["item 1", "item 3"])
        sufs = [ranker_suffix(f"item {i}") for i in range(6)]
        a = ranker.score(prefix, sufs, reuse_prefix=True)
        b = ranker.score(prefix, sufs, reuse_prefix=False)
        assert np.allclose(a, b, atol=1e-3)
        # micro-batching: one llama.cpp batch over all candidates, the prefix's KV copied to each sequence
        c = ranker.score_batched(prefix, sufs)
        d = ranker.score_batched(prefix, sufs, max_batch=4)  # two batches, the context reused
        print("batched vs sequential max |diff|", np.abs(a - c).max())
        assert np.allclose(a, c, atol=0.05) and np.allclose(c, d, atol=0.05)
    # the teacher labelled through llama.cpp (prefix reuse), and the harness evaluates the re-ranker
    assert (m.teacher or {})["labeller"].startswith("llama.cpp")
    from ondevice_rec.datasets import leave_one_out, load_dataset
    from ondevice_rec.eval.runner import evaluate

    split = leave_one_out(load_dataset("generic", str(tmp_path / "data")))
    runs = evaluate(split, [f"bundle:{tmp_path / 'bundle'}", f"rerank:{tmp_path / 'bundle'}"], max_users=6)
    fast, rr = runs
    assert rr.name == "rerank20:bundle" and len(rr.users) == len(fast.users) == 6
    assert all(np.isfinite(rr.per_user["NDCG@10"]))
    # the GGUF is verified lazily, on first use: a damaged one is refused then, by name
    import shutil

    from ondevice_rec.errors import BundleIntegrityError

    bad = tmp_path / "bad-bundle"
    shutil.copytree(tmp_path / "bundle", bad)
    gguf = bad / llm.file
    data = bytearray(gguf.read_bytes())
    data[len(data) // 2] ^= 0x01
    gguf.write_bytes(bytes(data))
    with Recommender.open(tmp_path / "r2.db", bundle=bad) as rec:
        rec.add_items([{"id": "a", "title": "a"}, {"id": "b", "title": "b"}])
        rec.consent("u").grant("personalization")
        rec.record("u", "a", kind="like")
        assert rec.recommend("u", k=1)  # the fast path does not need the GGUF
        with pytest.raises(BundleIntegrityError, match="llm_ranker"):
            rec.recommend("u", k=1, explain="llm")  # the first use of the LLM verifies it


def test_rerank_needs_an_llm_bundle_and_the_extra(rec_demo) -> None:
    rec_demo.consent("u").grant("personalization")
    rec_demo.record("u", "jazz-01", kind="like")
    with pytest.raises((BundleError, MissingExtraError), match="LLM ranker|gguf"):
        rec_demo.recommend("u", k=3, rerank="llm")
    with pytest.raises(ValueError):
        rec_demo.recommend("u", k=3, rerank="gpt")
