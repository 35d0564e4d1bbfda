"""The export's stages one by one, each from its explicit inputs (the whole pipeline: test_export_student)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")

from ondevice_rec import ExportError  # noqa: E402
from ondevice_rec.export import pipeline as P  # noqa: E402
from tests.test_eval import _write_generic  # noqa: E402
from tests.test_export_student import tiny_config  # noqa: E402


def _log(message: str, fraction: float) -> None:
    pass


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    root = tmp_path_factory.mktemp("stages")
    _write_generic(root / "data")
    cfg = tiny_config(root / "data", epochs=2, max_ndcg_drop_int8=1.0)
    data = P.data_stage(cfg, _log)
    emb = P.embed_stage(data.split, None, _log)
    trained = P.train_stage(cfg, data.split, emb, P.Taught(), _log)
    towers = P.tower_stage(cfg, data.split, emb, trained.model, root)
    return cfg, data, emb, trained, towers


def test_check_request_fails_before_any_work(tmp_path: Path) -> None:
    cfg = P.ExportConfig(dataset="generic", data_dir=str(tmp_path / "none"), use_teacher=False)
    with pytest.raises(ExportError, match="needs the teacher stage"):
        P.check_request(replace(cfg, formats=("onnx", "gguf")), tmp_path / "out", False)
    with pytest.raises(ExportError, match="unknown export format"):
        P.check_request(replace(cfg, formats=("tflite",)), tmp_path / "out", False)
    with pytest.raises(ExportError, match="contradict each other"):
        P.check_request(replace(cfg, teacher="ensemble"), tmp_path / "out", False)
    P.check_request(cfg, tmp_path / "out", False)  # the data directory is the data stage's business


def test_data_stage_splits_and_counts(staged) -> None:
    _, data, *_ = staged
    assert data.split.n_users >= 10 and data.cold is None
    assert data.interactions == sum(len(s) for s in data.split.train)


def test_embed_stage_embeds_every_item_and_history(staged) -> None:
    _, data, emb, *_ = staged
    assert emb.items.shape[0] == data.split.n_items
    assert emb.profiles.shape[0] == data.split.n_users
    assert np.isfinite(emb.items).all()


def test_train_stage_without_a_teacher_trains_one_student(staged) -> None:
    *_, trained, _ = staged
    assert trained.distillation["candidates"] == [0.0]
    assert trained.distillation["reason"] == "no teacher"
    assert "best_valid_ndcg10" in trained.info


def test_the_automatic_ensemble_stops_at_the_time_budget(staged) -> None:
    """A deadline already past: the automatic ensemble's first student stops at its first validation (its best
    state kept), no further member is trained, and the report says what the budget cut; an ensemble asked for by
    number is trained in full whatever the budget."""
    import time

    cfg, data, emb, *_ = staged
    auto = replace(cfg, student=replace(cfg.student, ensemble=0, ensemble_max_interactions=10**9, epochs=6))
    trained = P.train_stage(auto, data.split, emb, P.Taught(), _log, deadline=time.monotonic())
    assert [e["epoch"] for e in trained.info["log"]] == [2] and trained.info["stopped_by"] == "time budget"
    report = trained.info["ensemble"]
    assert report["members"] == 1 and not report["used"]
    assert report["time_budget"]["members_asked"] == 3 and report["time_budget"]["members_trained"] == 1
    assert trained.shipped is not None and trained.shipped.ensemble == 1
    asked = replace(cfg, student=replace(cfg.student, ensemble=2, epochs=4))
    trained = P.train_stage(asked, data.split, emb, P.Taught(), _log, deadline=time.monotonic())
    assert trained.info["ensemble"]["members"] == 2 and "time_budget" not in trained.info["ensemble"]
    assert [e["epoch"] for e in trained.info["log"]] == [2, 4] and "stopped_by" not in trained.info


def test_a_budget_cut_is_the_run_s_not_the_student_s(staged, tmp_path: Path) -> None:
    """A student stopped by the budget leaves a checkpoint to train on from (no final state), so an export resumed
    with more time continues it; finished members load whatever the budget, as they cost no training."""
    import time

    from ondevice_rec.export.student import _Checkpoint, checkpoint_finished, train_student

    torch = pytest.importorskip("torch")
    cfg, data, emb, *_ = staged
    one = replace(cfg.student, epochs=6)
    path = tmp_path / "s.pt"
    _, info = train_student(data.split, emb.items, one, profiles=emb.profiles, checkpoint=path,
                            deadline=time.monotonic())  # fmt: skip
    assert info["stopped_by"] == "time budget" and not checkpoint_finished(path)
    cold = info.get("cold_stage")
    if cold is not None and cold["log"]:  # the cold-start stage past the deadline: the epoch under way, then stop
        assert len(cold["log"]) == 1 and cold["log"][-1]["stopped_by"] == "time budget"
    saved = _Checkpoint(torch, path).load()
    assert saved is not None and saved["epoch"] == 2 and not saved["stopped"] and saved["seconds"] > 0
    _, info = train_student(data.split, emb.items, one, profiles=emb.profiles, checkpoint=path)
    assert [e["epoch"] for e in info["log"]] == [2, 4, 6] and "stopped_by" not in info
    assert checkpoint_finished(path) and info["train_seconds"] >= saved["seconds"]
    auto = replace(cfg, student=replace(cfg.student, ensemble=0, ensemble_max_interactions=10**9))
    ckpt = P.Checkpoints(tmp_path / "students", "base", "None", resume=True)
    P.train_stage(auto, data.split, emb, P.Taught(), _log, ckpt)  # no budget: three members, all finished
    again = P.train_stage(auto, data.split, emb, P.Taught(), _log, ckpt, deadline=time.monotonic())
    assert again.info["ensemble"]["members"] == 3 and "time_budget" not in again.info["ensemble"]


def test_a_further_member_fits_only_when_it_ends_by_the_deadline() -> None:
    now = [85.0]
    budget = P._Budget(100.0, 1000.0, [4.0, 10.0], clock=lambda: now[0])
    assert budget.fits()  # 85 + the longest member (10) ends at 95
    now[0] = 95.0
    assert not budget.fits()
    assert P._Budget(None, None, [1e9]).fits()
    assert P._Stages().deadline(None) is None
    stages = P._Stages()
    assert stages.deadline(1000.0) == pytest.approx(stages.started + (1 - P.BUDGET_RESERVE) * 1000.0)
    with pytest.raises(ExportError, match="time budget"):
        P.ExportConfig(dataset="generic", data_dir=".", time_budget_s=0.0)


def test_tower_stage_writes_both_precisions_and_their_encoders(staged) -> None:
    _, data, _, _, towers = staged
    assert {"user_tower.fp32.onnx", "user_tower.int8.onnx", "item_tower.npz", "item_ids.json"} <= set(towers.files)
    assert set(towers.encoders) == {"fp32", "int8"}
    assert towers.item_vecs.shape == (data.split.n_items, towers.spec.dim)


def test_validate_stage_reports_against_its_gates(staged) -> None:
    cfg, data, emb, trained, towers = staged
    report = P.validate_stage(cfg, data, emb, trained.model, towers, None)
    report.require()
    d = report.to_dict()
    assert d["passed"] is True
    assert d["max_abs_onnx_fp32_vs_torch"] <= cfg.max_abs_onnx_vs_torch


def test_blend_stage_ships_the_neighbours_only_when_they_help(staged) -> None:
    _, data, _, _, towers = staged
    before = dict(towers.files)
    report = P.blend_stage(data.split, towers, P.item_item_tables_stage(data.split, _log), None, _log)
    assert report["used"] == ("item_item.npz" in towers.files)
    assert report["used"] == (towers.spec.item_item == "item_item.npz")
    assert set(before) <= set(towers.files)


def test_each_stage_records_its_own_peak_memory() -> None:
    """A stage after a memory-hungry one reports its own (lower) peak, not the process's high-water mark."""
    import numpy as np

    from ondevice_rec.export.pipeline import _Stages, peak_rss_mb

    stages = _Stages()

    def hungry() -> int:
        a = np.ones(400 * 1024 * 1024 // 8)  # 400 MB, touched
        return int(a[::4096].sum())

    stages.run("hungry", hungry)
    stages.run("small", lambda: sum(range(1000)))
    assert stages.peak_mb["hungry"] >= 400 and stages.peak_mb["hungry"] <= peak_rss_mb()
    assert 0 < stages.peak_mb["small"] < stages.peak_mb["hungry"] - 300
