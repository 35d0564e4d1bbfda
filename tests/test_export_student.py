from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")

from ondevice_rec import ExportError, Recommender  # noqa: E402
from ondevice_rec.bundle import Manifest, verify_bundle  # noqa: E402
from ondevice_rec.export.pipeline import ExportConfig, run_export  # noqa: E402
from ondevice_rec.export.student import StudentConfig  # noqa: E402
from tests.test_eval import _write_generic  # noqa: E402


def tiny_config(data_dir: Path, *, epochs: int = 2, **kw: object) -> ExportConfig:
    """A student small enough to export in seconds (no teacher unless asked)."""
    kw.setdefault("use_teacher", False)
    return ExportConfig(
        dataset="generic",
        data_dir=str(data_dir),
        student=StudentConfig(dim=16, blocks=1, heads=1, epochs=epochs, eval_every=min(2, epochs), batch=8),
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory) -> tuple[Path, Manifest, Path]:
    root = tmp_path_factory.mktemp("exp")
    _write_generic(root / "data")
    manifest = run_export(tiny_config(root / "data", epochs=4, max_ndcg_drop_int8=1.0), root / "bundle")
    return root / "bundle", manifest, root / "data"


def test_export_writes_a_verified_two_tower_bundle(tiny_bundle) -> None:
    path, manifest, _ = tiny_bundle
    assert verify_bundle(path).kind == "two-tower"
    assert {
        "user_tower.fp32.onnx",
        "user_tower.int8.onnx",
        "item_tower.npz",
        "item_ids.json",
        "model.onnx",
        "tokenizer.json",
    } <= set(manifest.files)
    v = manifest.validation
    assert v["passed"] and v["max_abs_onnx_fp32_vs_torch"] < 1e-4
    for key in ("valid_ndcg10_torch", "valid_ndcg10_onnx_fp32", "valid_ndcg10_onnx_int8"):
        assert 0.0 <= v[key] <= 1.0
    assert set(manifest.stage_seconds or {}) >= {
        "data",
        "text_embeddings",
        "student_training",
        "onnx_export",
        "validation",
    }
    assert manifest.config_sha256 and manifest.recipe["config"]["dataset"] == "generic"


def test_student_bundle_runs_in_the_runtime(tiny_bundle, tmp_path: Path) -> None:
    path, _, _ = tiny_bundle
    with Recommender.open(tmp_path / "r.db", bundle=path) as rec:
        rec.add_items(
            [
                {"id": str(i), "title": f"item {i}", "text": "about space" if i % 3 == 0 else "cooking"}
                for i in range(30)
            ]
            + [{"id": "new", "title": "brand new", "text": "space opera"}]
        )
        rec.consent("u").grant("personalization")
        for i in (0, 3, 6):
            rec.record("u", str(i), kind="like")
        recs = rec.recommend("u", k=5)
        assert len(recs) == 5 and all(r.personalized for r in recs)
        rec.set_profile("cold", "space adventures")
        rec.consent("cold").grant("personalization")
        assert len(rec.recommend("cold", k=3)) == 3


def test_student_bundle_in_the_eval_harness(tiny_bundle) -> None:
    from ondevice_rec.datasets import leave_one_out, load_dataset
    from ondevice_rec.eval.runner import evaluate

    path, _, data = tiny_bundle
    split = leave_one_out(load_dataset("generic", data))
    runs = evaluate(split, ["popularity", f"bundle:{path}"], scenarios=["warm", "cold-user", "cold-item"])
    assert {r.name for r in runs} == {"popularity", "bundle:bundle"}
    assert all(np.isfinite(np.mean(r.per_user["NDCG@10"])) for r in runs)
    # the student saw the cold items' interactions, so the harness leaves it out of the cold-item scenario
    assert {r.name for r in runs if r.scenario == "cold-item"} == {"popularity"}


def test_holdout_cold_items_makes_the_cold_item_scenario_fair(tmp_path: Path) -> None:
    from ondevice_rec.datasets import cold_item_split, leave_one_out, load_dataset
    from ondevice_rec.eval.runner import evaluate

    _write_generic(tmp_path / "data")
    cfg = tiny_config(tmp_path / "data", holdout_cold_items=True, max_ndcg_drop_int8=1.0)
    m = run_export(cfg, tmp_path / "held")
    assert m.dataset is not None and m.dataset.held_out_cold_items is True
    split = leave_one_out(load_dataset("generic", str(tmp_path / "data")))
    reduced, cold = cold_item_split(split, 0)
    assert cold.any() and not any(cold[s].any() for s in reduced.train)
    runs = evaluate(split, [f"bundle:{tmp_path / 'held'}"], scenarios=["cold-item"])
    assert [r.scenario for r in runs] == ["cold-item"]


def test_failed_validation_leaves_no_bundle(tmp_path: Path) -> None:
    _write_generic(tmp_path / "data")
    cfg = tiny_config(tmp_path / "data", max_abs_onnx_vs_torch=-1.0)
    with pytest.raises(ExportError, match="validation failed"):
        run_export(cfg, tmp_path / "bundle")
    assert not (tmp_path / "bundle").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["data"]


def test_bad_input(tmp_path: Path) -> None:
    _write_generic(tmp_path / "data")
    base = ExportConfig(dataset="generic", data_dir=str(tmp_path / "data"), use_teacher=False)
    with pytest.raises(ExportError, match="unknown export format"):
        run_export(replace(base, formats=("tflite",)), tmp_path / "b")
    with pytest.raises(ExportError, match="too small"):
        run_export(replace(base, max_users=5), tmp_path / "b")
    (tmp_path / "exists").mkdir()
    with pytest.raises(ExportError, match="already exists"):
        run_export(base, tmp_path / "exists")


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_every_file_of_a_student_bundle_is_verified(tiny_bundle, tmp_path: Path, damage: str) -> None:
    import shutil

    from ondevice_rec.bundle import load_bundle
    from ondevice_rec.errors import BundleIntegrityError

    path, manifest, _ = tiny_bundle
    for name in manifest.files:
        copy = tmp_path / f"{damage}-{name}"
        shutil.copytree(path, copy)
        data = bytearray((copy / name).read_bytes())
        if damage == "flip":
            data[len(data) // 2] ^= 0x40
        else:
            del data[-1]
        (copy / name).write_bytes(bytes(data))
        with pytest.raises(BundleIntegrityError, match=name.replace(".", r"\.")):
            load_bundle(copy)


def test_student_config_rejects_bad_id_dropout() -> None:
    with pytest.raises(ValueError, match="id_dropout"):
        StudentConfig(id_dropout=1.0)


def test_the_cold_start_stage_trains_only_the_profile_path(tmp_path: Path) -> None:
    """The second stage moves the profile projection alone: warm scores are unchanged, and it keeps the epoch
    with the best validation NDCG@10 of profile-only users (its first figure is the untouched model's)."""
    from ondevice_rec.datasets import leave_one_out, load_dataset, profile_from_history
    from ondevice_rec.export.distributed import TextEncoderFactory, embed_texts
    from ondevice_rec.export.student import student_scores, train_student

    _write_generic(tmp_path / "data")
    split = leave_one_out(load_dataset("generic", tmp_path / "data"))
    enc = TextEncoderFactory().build().encoder
    text = embed_texts(enc, split.item_text)
    prof = embed_texts(enc, [profile_from_history(split, s) for s in split.train])
    cfg = StudentConfig(dim=16, blocks=1, heads=1, epochs=2, eval_every=1, batch=8, cold_stage_epochs=0)
    plain, info0 = train_student(split, text, cfg, profiles=prof)
    staged, info1 = train_student(split, text, replace(cfg, cold_stage_epochs=3, cold_patience=3), profiles=prof)
    assert "cold_stage" not in info0
    stage = info1["cold_stage"]
    assert stage["best_valid_cold_ndcg10"] >= stage["valid_cold_ndcg10_before"]
    assert 1 <= len(stage["log"]) <= 3
    hists = [split.history(u, "valid") for u in range(split.n_users)]
    assert np.allclose(student_scores(plain, text, hists, cfg), student_scores(staged, text, hists, cfg), atol=1e-5)
    sp, ss = plain.state_dict(), staged.state_dict()
    moved = {k for k in sp if not np.allclose(sp[k].numpy(), ss[k].numpy())}
    assert moved <= {"profile_proj.weight", "profile_proj.bias", "user.profile_tag"}
