from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")

from ondevice_rec import ArgumentError, ExportError, Recommender  # noqa: E402
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
        student=StudentConfig(dim=16, blocks=1, heads=1, epochs=epochs, eval_every=min(2, epochs), batch=8, ensemble=1),
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory) -> tuple[Path, Manifest, Path]:
    root = tmp_path_factory.mktemp("exp")
    _write_generic(root / "data")
    manifest = run_export(tiny_config(root / "data", epochs=4), root / "bundle")
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
    # the int8 gates (issue 29): the paired bound and the ranking agreement are recorded with their limits
    assert v["int8_minus_fp32_ndcg10_upper95"] >= -0.003 and v["int8_top10_agreement"] >= 0.8
    assert v["gates"]["min_top10_agreement_int8"] == 0.8
    print("tiny export int8 figures", {k: v[k] for k in v if k.startswith("int8")})
    # the cold-start popularity weight, chosen on validation profiles (v1 and v2) and shipped in the bundle
    cold = manifest.training["cold_start"]
    tt = manifest.two_tower
    assert tt is not None and tt.cold_popularity_weight == cold["chosen"]
    assert {k.split("/")[0] for k in cold["valid_ndcg10"]} == {
        str(w) for w in (0.04, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
    }
    # the profile model ships only when a weight of it above 0 won on validation, with the weights it chose
    pm = cold["profile_model"]
    assert pm["used"] == (tt.profile_model is not None) == any(pm["weights"].values())
    if pm["used"]:
        assert tt.profile_model in manifest.files and pm["bytes"] > 0
    # profiles that name catalogue titles choose their own weight (and item-item factor, with a table)
    titles = cold["titles"]
    assert titles["profiles"] + cold["words_only_profiles"] == 2 * cold["users"]
    assert tt.cold_titles_popularity_weight == titles["chosen_popularity_weight"]
    assert tt.cold_titles_item_item_scale == titles["chosen_item_item_scale"]
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
    # what the export used and cost is recorded: counts, and the peak memory at the end of every stage
    from ondevice_rec.datasets import leave_one_out, load_dataset

    split = leave_one_out(load_dataset("generic", tiny_bundle[2]))
    assert manifest.dataset is not None and manifest.dataset.interactions == sum(len(s) for s in split.train)
    assert set(manifest.peak_rss_mb or {}) == set(manifest.stage_seconds or {})
    assert all(v > 0 for v in (manifest.peak_rss_mb or {}).values())
    assert manifest.training is not None and manifest.training["loss"] == "full"


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


def test_the_profile_model_ranks_users_without_events(tiny_bundle, tmp_path: Path) -> None:
    """Issue 29: a bundle's profile model adds, for a user with a profile and no events, what people who named
    the same titles and genres chose; ``profile_model_scale=0`` leaves it out, and a user with events of their
    own never reads it."""
    from dataclasses import replace

    from ondevice_rec.bundle import load_bundle, write_bundle
    from ondevice_rec.datasets import leave_one_out, load_dataset
    from ondevice_rec.export.cold_start import profile_model_of
    from ondevice_rec.ranking import RankingConfig

    path, manifest, data = tiny_bundle
    split = leave_one_out(load_dataset("generic", data))
    model = profile_model_of(split).with_weights({"titles": 4.0, "genres_with_titles": 4.0, "genres": 4.0})
    assert manifest.two_tower is not None
    files: dict[str, bytes | Path] = {n: path / n for n in manifest.files if n != manifest.two_tower.profile_model}
    files["profile_model.npz"] = model.to_bytes()
    spec = replace(manifest.two_tower, profile_model="profile_model.npz")
    write_bundle(tmp_path / "b", replace(manifest, files={}, two_tower=spec), files)
    assert load_bundle(tmp_path / "b").manifest.two_tower.profile_model == "profile_model.npz"
    from ondevice_rec.ranking.reasons import REASON_TERMS

    lists, reasons = {}, set()
    for scale in (1.0, 0.0):
        with Recommender.open(tmp_path / f"{scale}.db", bundle=tmp_path / "b",
                              config=RankingConfig(profile_model_scale=scale)) as rec:  # fmt: skip
            rec.add_items([{"id": split.item_ids[i], "title": split.item_title[i], "text": split.item_text[i],
                            "tags": list(split.item_tags[i])} for i in range(split.n_items)])  # fmt: skip
            for u in ("cold", "warm"):
                rec.consent(u).grant("personalization")
            rec.set_profile("cold", f"I loved {split.item_title[0]}. I'm into jazz.")
            rec.consent("refuses").grant("personalization")
            rec.set_profile("refuses", f"I loved {split.item_title[0]}, no space")
            if scale:  # "no space": what the model says never lifts a space item
                for r in rec.recommend("refuses", k=30, diversity=0.0):
                    if "space" in split.item_tags[split.item_ids.index(r.item_id)]:
                        assert r.explanation["contributions"]["profile_model"] <= 0.0, r
            for i in (1, 4, 7):
                rec.record("warm", split.item_ids[i], kind="like")
            lists[scale] = {
                u: [(r.item_id, round(r.score, 5)) for r in rec.recommend(u, k=8)] for u in ("cold", "warm")
            }
            for r in rec.recommend("cold", k=8):  # each reason names the largest term, the profile model's too
                why = r.explanation
                top = max(REASON_TERMS, key=lambda t: why["contributions"][t])
                assert why["decided_by"] == top, (r.reason, why)
                reasons.add(why["signal"])
                if why["signal"] == "profile_model":
                    assert r.reason.startswith("Chosen by people who "), r.reason
    assert "profile_model" in reasons
    assert lists[1.0]["cold"] != lists[0.0]["cold"]
    assert lists[1.0]["warm"] == lists[0.0]["warm"]
    jazz = {split.item_ids[i] for i in range(split.n_items) if "jazz" in split.item_tags[i]}
    assert sum(i in jazz for i, _ in lists[1.0]["cold"]) > sum(i in jazz for i, _ in lists[0.0]["cold"])


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
    # the figures an id-dropout setting is chosen on come from validation items, never from test items
    v = m.validation
    assert v["valid_cold_item_users"] == int(cold[split.valid].sum())
    assert 0.0 <= v["valid_ndcg10_with_cold_items"] <= 1.0
    assert v["valid_ndcg10_cold_items"] is None or 0.0 <= v["valid_ndcg10_cold_items"] <= 1.0


def test_failed_validation_leaves_no_bundle(tmp_path: Path) -> None:
    _write_generic(tmp_path / "data")
    cfg = tiny_config(tmp_path / "data", max_abs_onnx_vs_torch=-1.0)
    with pytest.raises(ExportError, match="validation failed"):
        run_export(cfg, tmp_path / "bundle")
    assert not (tmp_path / "bundle").exists()
    # the trained student stays for --resume (the gates are not in its key), and nothing else
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle.cache", "data"]
    assert len(list((tmp_path / "bundle.cache" / "students").glob("*.pt"))) == 1
    seen: list[str] = []
    run_export(
        replace(cfg, max_abs_onnx_vs_torch=1e-4), tmp_path / "bundle", resume=True, log=lambda m, f: seen.append(m)
    )
    assert "student loaded from its checkpoint" in seen and (tmp_path / "bundle").is_dir()
    assert not any(m.startswith("nothing to resume") for m in seen)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle", "data"]
    seen.clear()  # --resume with nothing cached says so, then exports afresh
    run_export(
        replace(cfg, max_abs_onnx_vs_torch=1e-4), tmp_path / "again", resume=True, log=lambda m, f: seen.append(m)
    )
    assert f"nothing to resume in {tmp_path / 'again.cache'}: the export starts afresh" in seen


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


def test_sampled_softmax_estimates_the_full_softmax() -> None:
    """With uniform negatives and logQ correction the sampled loss converges to the full softmax's
    cross-entropy (up to a constant) as negatives grow (here 200 draws per item)."""
    import torch

    from ondevice_rec.export.student import _sampled_nll, build_student

    torch.manual_seed(0)
    n, text_dim = 40, 12
    cfg = StudentConfig(dim=8, blocks=1, heads=1, id_dropout=0.0, negatives=8000)
    model = build_student(torch, n, text_dim, cfg).eval()
    text = torch.randn(n, text_dim)
    out = torch.randn(3, 5, cfg.dim)
    tgt = torch.as_tensor(np.random.default_rng(1).integers(1, n + 1, size=(3, 5)))
    tgt[0, :2] = 0  # padding
    present = np.arange(n)
    q = np.full(n, 1.0 / n)
    with torch.no_grad():
        items = model.item_vectors(text, torch.arange(1, n + 1))
        real = tgt > 0
        full = torch.nn.functional.cross_entropy(out[real] @ items.T, tgt[real] - 1)
        est = [
            float(_sampled_nll(torch, model, text, out, tgt, present, q, cfg, np.random.default_rng(s)))
            for s in range(5)
        ]
    # logQ-corrected (as TensorFlow's sampled_softmax_loss): the same gradients in expectation, and a value
    # offset by log(negatives · q) — here log(8000 / 40)
    assert abs(np.mean(est) - np.log(cfg.negatives / n) - float(full)) < 0.03 * float(full)


def test_sampled_training_never_scores_the_whole_catalogue(tmp_path: Path) -> None:
    """Above ``full_softmax_items`` a training step computes vectors for the batch's targets and the shared
    negatives only; the whole catalogue is scored at validation (eval mode) alone; early stopping scores a
    fixed sample of ``valid_users`` users."""
    import csv

    from ondevice_rec.datasets import leave_one_out, load_dataset
    from ondevice_rec.export.student import train_student, validation_users

    root = tmp_path / "data"
    root.mkdir()
    rng = np.random.default_rng(0)
    with open(root / "items.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["item_id", "title", "text", "tags"])
        w.writerows([str(i), f"item {i}", "", ""] for i in range(2000))
    with open(root / "interactions.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["user_id", "item_id", "timestamp"])
        w.writerows([f"u{u}", str(i), t] for u in range(40) for t, i in enumerate(rng.choice(2000, 6, replace=False)))
    split = leave_one_out(load_dataset("generic", root), core=1)
    assert split.n_items > 200
    text = rng.standard_normal((split.n_items, 12)).astype(np.float32)
    cfg = StudentConfig(
        dim=16,
        blocks=1,
        heads=1,
        epochs=2,
        eval_every=1,
        sampled_batch=8,
        full_softmax_items=10,
        negatives=5,
        valid_users=20,
    )
    assert cfg.sampled(split.n_items) and not StudentConfig().sampled(split.n_items)
    import ondevice_rec.export.student as student

    calls: list[tuple[bool, int]] = []
    real_build = student.build_student

    def spying_build(*a: object, **k: object) -> object:
        model = real_build(*a, **k)  # type: ignore[arg-type]
        inner = model.item_vectors

        def item_vectors(text: object, ids: object) -> object:
            calls.append((model.training, len(ids)))  # type: ignore[arg-type]
            return inner(text, ids)

        model.item_vectors = item_vectors
        return model

    student.build_student = spying_build  # type: ignore[assignment]
    try:
        _, info = train_student(split, text, cfg)
    finally:
        student.build_student = real_build
    train_rows = [r for training, r in calls if training]
    assert train_rows and max(train_rows) <= cfg.sampled_batch * 3 + cfg.negatives  # ≤ 3 targets per training sequence
    assert all(r == split.n_items for training, r in calls if not training)
    assert info["loss"] == "sampled" and info["validation_users"] == 20
    sample = validation_users(split, cfg)
    assert sample is not None and len(sample) == 20 and np.array_equal(sample, validation_users(split, cfg))
    assert validation_users(split, StudentConfig()) is None  # 40 users: all of them


@pytest.mark.parametrize("half_life", [None, 0.5])
def test_the_item_item_blend_runs_in_the_runtime_and_the_harness(
    tiny_bundle, tmp_path: Path, half_life: float | None
) -> None:
    """A bundle with an item-item table: the runtime adds weight × the history's summed neighbour similarity,
    each history item's row scaled by its recency when the bundle has a half-life (a heavy weight puts the best
    neighbour first), and ``odrec eval`` scores it the same way."""
    from ondevice_rec.bundle import write_bundle
    from ondevice_rec.datasets import leave_one_out, load_dataset
    from ondevice_rec.eval.baselines import BundleModel
    from ondevice_rec.export.item_item import build_neighbours, table_bytes
    from ondevice_rec.ranking.cooccurrence import recency_weights

    path, manifest, data = tiny_bundle
    split = leave_one_out(load_dataset("generic", data))
    nb = build_neighbours(split)
    files: dict[str, bytes | Path] = {name: path / name for name in manifest.files}
    files["item_item.npz"] = table_bytes(nb)
    assert manifest.two_tower is not None
    tt = replace(manifest.two_tower, item_item="item_item.npz", item_item_weight=50.0, item_item_half_life=half_life)
    blended = tmp_path / "blended"
    write_bundle(blended, replace(manifest, files={}, two_tower=tt), files)
    history = [int(i) for i in split.train[0][-3:]]
    co = nb.scores(history[::-1], entry_weights=recency_weights(len(history), half_life))
    co[history] = -np.inf
    best = split.item_ids[int(np.argmax(co))]
    tops = {}
    for name, b in (("plain", path), ("blended", blended)):
        with Recommender.open(tmp_path / f"{name}.db", bundle=b) as rec:
            rec.add_items([{"id": i, "title": f"item {i}", "text": t} for i, t in zip(split.item_ids, split.item_text)])
            rec.consent("u").grant("personalization")
            for i in history:
                rec.record("u", split.item_ids[i], kind="like")
            tops[name] = [r.item_id for r in rec.recommend("u", k=3, diversity=0.0)]
    assert tops["blended"][0] == best
    from typer.testing import CliRunner

    from ondevice_rec.cli import app

    info = CliRunner().invoke(app, ["bundle", "info", str(blended)])
    recency = "whole history" if half_life is None else f"half-life {half_life:g}"
    assert info.exit_code == 0 and f"neighbours at weight 50, recency {recency}" in info.stdout
    fitted = BundleModel(str(blended)).fit(split)
    scores = fitted.score(np.array([0]), [np.asarray(history)])[0]
    scores[history] = -np.inf
    assert split.item_ids[int(np.argmax(scores))] == best


@pytest.mark.parametrize("half_life", [0.0, -2.0, "1"])
def test_a_bundle_with_a_bad_item_item_half_life_is_refused_at_load(tiny_bundle, tmp_path: Path, half_life) -> None:
    from ondevice_rec.backends import open_encoder
    from ondevice_rec.bundle import load_bundle, write_bundle
    from ondevice_rec.datasets import leave_one_out, load_dataset
    from ondevice_rec.errors import BundleError
    from ondevice_rec.export.item_item import build_neighbours, table_bytes

    path, manifest, data = tiny_bundle
    files: dict[str, bytes | Path] = {name: path / name for name in manifest.files}
    files["item_item.npz"] = table_bytes(build_neighbours(leave_one_out(load_dataset("generic", data))))
    assert manifest.two_tower is not None
    tt = replace(manifest.two_tower, item_item="item_item.npz", item_item_weight=1.0, item_item_half_life=half_life)
    write_bundle(tmp_path / "bad", replace(manifest, files={}, two_tower=tt), files)
    with pytest.raises(BundleError, match="half-life must be a number above 0"):
        open_encoder(load_bundle(tmp_path / "bad"))


def test_bundle_verify_opens_every_part_so_a_re_signed_broken_bundle_fails_there(tiny_bundle, tmp_path: Path) -> None:
    """Hashes alone pass a bundle whose files were replaced and re-signed; ``odrec bundle verify`` also opens
    the encoder and runs one input through each part, failing in one line that names the part."""
    from typer.testing import CliRunner

    from ondevice_rec.bundle import write_bundle
    from ondevice_rec.cli import app
    from ondevice_rec.errors import BundleError

    path, manifest, _ = tiny_bundle
    assert manifest.two_tower is not None
    ok = CliRunner().invoke(app, ["bundle", "verify", str(path)])
    assert ok.exit_code == 0 and "opened and ran: text encoder, item tower, profile projection, user tower" in ok.stdout
    files: dict[str, bytes | Path] = {n: path / n for n in manifest.files}
    files[manifest.two_tower.user_tower["int8"]] = b"not an onnx model"
    write_bundle(tmp_path / "resigned", replace(manifest, files={}), files)
    assert verify_bundle(tmp_path / "resigned").kind == "two-tower"  # every hash matches
    bad = CliRunner().invoke(app, ["bundle", "verify", str(tmp_path / "resigned")])
    assert isinstance(bad.exception, BundleError) and "cannot load int8 user tower" in str(bad.exception)


@pytest.mark.parametrize("field,value", [("cold_titles_item_item_scale", -1.0), ("cold_titles_popularity_weight", "2")])
def test_a_bundle_with_bad_cold_start_settings_is_refused_at_load(tiny_bundle, tmp_path: Path, field, value) -> None:
    from ondevice_rec.backends import open_encoder
    from ondevice_rec.bundle import load_bundle, write_bundle
    from ondevice_rec.errors import BundleError

    path, manifest, _ = tiny_bundle
    assert manifest.two_tower is not None
    tt = replace(manifest.two_tower, **{field: value})
    write_bundle(tmp_path / "bad", replace(manifest, files={}, two_tower=tt), {n: path / n for n in manifest.files})
    with pytest.raises(BundleError, match=f"the bundle's {field} must be a number of at least 0"):
        open_encoder(load_bundle(tmp_path / "bad"))


def test_int8_gate_passes_noise_and_fails_a_real_loss() -> None:
    """Issue 29: two of 400 users losing their hit moves the mean by 0.005 (the old fixed tolerance failed that
    export); a small loss shared by half the users, or a reshuffled top 10, still fails."""
    from ondevice_rec.export.pipeline import int8_figures

    rng = np.random.default_rng(0)
    fp32 = rng.uniform(0.0, 1.0, 400) * (rng.random(400) < 0.2)
    top = np.argsort(rng.random((400, 120)), axis=1)[:, :10]
    fp32[:2] = 1.0
    noise = fp32.copy()
    noise[:2] = 0.0
    f = int8_figures(fp32, top, noise, top)
    assert f["int8_minus_fp32_ndcg10"] < -0.003 <= f["int8_minus_fp32_ndcg10_upper95"]
    assert f["int8_top10_agreement"] == 1.0
    shared = fp32 - 0.02 * (np.arange(400) % 2 == 0)
    assert int8_figures(fp32, top, shared, top)["int8_minus_fp32_ndcg10_upper95"] < -0.003
    shuffled = np.argsort(rng.random((400, 120)), axis=1)[:, :10]
    assert int8_figures(fp32, top, fp32, shuffled)["int8_top10_agreement"] < 0.8


def test_full_protocol_top_k_excludes_history() -> None:
    from ondevice_rec.datasets import Split
    from ondevice_rec.eval.protocols import full_protocol_eval, top_k_agreement

    split = Split(
        dataset="t", user_ids=["a", "b"], item_ids=[str(i) for i in range(12)], item_text=[""] * 12,
        item_title=[""] * 12, item_tags=[()] * 12, train=[np.array([0, 1]), np.array([2])],
        valid=np.array([3, 4]), test=np.array([5, 6]),
    )  # fmt: skip
    scores = np.tile(np.arange(12, 0, -1, dtype=float), (2, 1))  # item 0 best
    ndcg, top = full_protocol_eval(split, "valid", lambda us, hs: scores[: len(us)], k=3)
    assert top.tolist() == [[2, 3, 4], [0, 1, 3]]
    assert ndcg.tolist() == pytest.approx([1 / np.log2(3), 1 / np.log2(5)])
    assert top_k_agreement(top, top) == 1.0


def test_a_seed_ensemble_ships_as_one_wider_tower_or_not_at_all(tmp_path: Path) -> None:
    """``ensemble=2``: two students side by side (scores add up), kept only when validation says so; either way
    the bundle's dimensions match what was shipped and the runtime ranks with it."""
    _write_generic(tmp_path / "data")
    cfg = tiny_config(tmp_path / "data", epochs=2)
    cfg = replace(cfg, student=replace(cfg.student, ensemble=2))
    manifest = run_export(cfg, tmp_path / "bundle")
    report = manifest.training["ensemble"]
    assert report["members"] == 2 and {"valid_ndcg10_first", "valid_ndcg10", "used"} <= set(report)
    assert len(report["member_seconds"]) == 2 and all(s > 0 for s in report["member_seconds"])
    assert manifest.two_tower is not None
    assert manifest.two_tower.dim == (32 if report["used"] else 16)
    assert manifest.validation["passed"]
    with Recommender.open(tmp_path / "r.db", bundle=tmp_path / "bundle") as rec:
        rec.add_items([{"id": str(i), "title": f"space item {i}", "text": "All about space."} for i in range(5)])
        rec.consent("u").grant("personalization")
        rec.record("u", "1", kind="like")
        assert len(rec.recommend("u", k=3)) == 3


def test_ensemble_scores_are_the_sum_of_the_members() -> None:
    torch = pytest.importorskip("torch")
    from ondevice_rec.export.student import build_ensemble, build_student, export_arrays

    cfg = StudentConfig(dim=8, blocks=1, heads=1, max_len=5)
    members = [build_student(torch, 6, 4, replace(cfg, seed=k)).eval() for k in range(2)]
    ens = build_ensemble(torch, members).eval()
    text, ids = torch.randn(6, 4), torch.arange(1, 7)
    hist = torch.randn(2, 3, 4)
    with torch.no_grad():
        per = [
            (m.user(m.item_vectors(hist.reshape(-1, 4), torch.ones(6, dtype=torch.long)).reshape(2, 3, 8),
                    torch.zeros(2, 8))[:, -1] @ m.item_vectors(text, ids).T)
            for m in members
        ]  # fmt: skip
        items = ens.item_vectors(hist.reshape(-1, 4), torch.ones(6, dtype=torch.long)).reshape(2, 3, 16)
        joint = ens.user(items, torch.zeros(2, 16))[:, -1] @ ens.item_vectors(text, ids).T
    assert torch.allclose(joint, per[0] + per[1], atol=1e-5)
    arrays = export_arrays(ens)
    assert arrays["proj_w"].shape == (4, 16) and arrays["id_emb"].shape == (6, 16)


def test_a_user_without_events_ranks_with_the_cold_start_weight() -> None:
    from ondevice_rec.ranking import RankingConfig
    from ondevice_rec.ranking.config import for_bundle_kind, for_user

    chosen = {"cold_popularity_weight": 0.5, "cold_titles_popularity_weight": 2.0, "cold_titles_item_item_scale": 0.25}
    cfg = for_bundle_kind(RankingConfig(), "two-tower", {"cold_popularity_weight": 0.5})
    assert cfg.popularity_weight == 0.04 and for_user(cfg, 0).popularity_weight == 0.5
    assert for_user(cfg, 3).popularity_weight == 0.04
    assert for_user(cfg, 0, named_titles=2).popularity_weight == 0.5  # the bundle chose nothing for titles
    both = for_bundle_kind(RankingConfig(), "two-tower", chosen)
    assert for_user(both, 0).popularity_weight == 0.5 and for_user(both, 0).item_item_scale == 1.0
    titled = for_user(both, 0, named_titles=2)  # the titles a profile names are the whole history
    assert titled.popularity_weight == 2.0 and titled.item_item_scale == 0.25
    assert for_user(both, 3, named_titles=2) == both  # a user with events of their own: the usual settings
    mine = for_bundle_kind(RankingConfig(cold_popularity_weight=0.1), "two-tower", chosen)
    assert for_user(mine, 0).popularity_weight == 0.1  # the app's own setting wins
    assert for_user(mine, 0, named_titles=1).popularity_weight == 0.1  # ... for every cold user
    assert for_user(mine, 0, named_titles=1).item_item_scale == 0.25  # the bundle's factor still applies
    own = for_bundle_kind(RankingConfig(popularity_weight=0.3), "two-tower", chosen)
    assert for_user(own, 0).popularity_weight == 0.3  # ... for every user, when it set only the usual weight
    assert for_user(own, 0, named_titles=1).popularity_weight == 0.3
    factor = for_bundle_kind(RankingConfig(cold_titles_item_item_scale=2.0), "two-tower", chosen)
    assert for_user(factor, 0, named_titles=1).item_item_scale == 2.0  # the app's factor, the bundle's weights
    assert for_user(factor, 0, named_titles=1).popularity_weight == 2.0
    assert for_user(for_bundle_kind(RankingConfig(), "two-tower"), 0).popularity_weight == 0.04
    for bad in (-1.0, "2", True, None, float("inf")):
        with pytest.raises(ArgumentError, match="item_item_scale"):
            RankingConfig(item_item_scale=bad)  # type: ignore[arg-type]
    with pytest.raises(ArgumentError, match="cold_titles_popularity_weight"):
        RankingConfig(cold_titles_popularity_weight=-1.0)


def test_ensemble_size_is_automatic_by_data_size() -> None:
    from ondevice_rec.export.student import ENSEMBLE_AUTO

    assert StudentConfig().members(89_054) == ENSEMBLE_AUTO  # ml-latest-small's training interactions
    assert StudentConfig().members(2_000_000) == 1
    assert StudentConfig(ensemble=2).members(2_000_000) == 2
    with pytest.raises(ArgumentError):
        StudentConfig(ensemble=-1)


def test_an_interrupted_student_resumes_from_its_checkpoint_to_the_same_model(tmp_path: Path) -> None:
    """Killed after a validation, the run continues from the checkpoint (weights, optimizer, both random generators,
    early-stopping state) and ends with the uninterrupted run's weights; a finished run is loaded, not retrained."""
    import torch

    from ondevice_rec.datasets import leave_one_out, load_dataset, profile_from_history
    from ondevice_rec.export.distributed import TextEncoderFactory, embed_texts
    from ondevice_rec.export.student import train_student

    _write_generic(tmp_path / "data")
    split = leave_one_out(load_dataset("generic", tmp_path / "data"))
    enc = TextEncoderFactory().build().encoder
    text = embed_texts(enc, split.item_text)
    prof = embed_texts(enc, [profile_from_history(split, s) for s in split.train])
    cfg = StudentConfig(dim=16, blocks=1, heads=1, epochs=6, eval_every=2, batch=8, cold_stage_epochs=2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # bitwise-repeatable runs
    try:
        whole, info = train_student(split, text, cfg, profiles=prof)

        class Killed(Exception):
            pass

        def kill_at_epoch_5(msg: str, frac: float) -> None:
            if msg == "student epoch 5":
                raise Killed

        ck = tmp_path / "student.ckpt"
        with pytest.raises(Killed):
            train_student(split, text, cfg, profiles=prof, checkpoint=ck, progress=kill_at_epoch_5)
        assert torch.load(ck, weights_only=True)["epoch"] == 4
        seen: list[str] = []
        note = lambda m, f: seen.append(m)  # noqa: E731
        resumed, info2 = train_student(split, text, cfg, profiles=prof, checkpoint=ck, progress=note)
        assert seen[0] == "student resumed after epoch 4" and "student epoch 1" not in seen
        a, b = whole.state_dict(), resumed.state_dict()
        timeless = lambda i: {k: v for k, v in i.items() if k != "train_seconds"}  # noqa: E731  (wall time varies)
        assert all(torch.equal(a[k], b[k]) for k in a) and timeless(info2) == timeless(info)
        seen.clear()
        again, info3 = train_student(split, text, cfg, profiles=prof, checkpoint=ck, progress=note)
        assert seen == ["student loaded from its checkpoint"] and info3 == info2
        assert all(torch.equal(a[k], again.state_dict()[k]) for k in a)
        ck.write_bytes(b"torn")  # unreadable: trained from the start, as without a checkpoint
        fresh, _ = train_student(split, text, cfg, profiles=prof, checkpoint=ck)
        assert all(torch.equal(a[k], fresh.state_dict()[k]) for k in a)
    finally:
        torch.set_num_threads(threads)


def test_a_killed_export_resumes_its_student_and_cleans_up(tmp_path: Path) -> None:
    """``odrec export --resume`` after a kill mid-training continues the student from its last validation; a run
    without ``--resume`` starts over; once the bundle is written the checkpoints (and the default cache) are gone."""
    _write_generic(tmp_path / "data")
    cfg = tiny_config(tmp_path / "data", epochs=4, max_ndcg_drop_int8=1.0)
    out = tmp_path / "b"

    class Killed(Exception):
        pass

    def kill(msg: str, frac: float) -> None:
        if msg == "student epoch 3":
            raise Killed

    with pytest.raises(Killed):
        run_export(cfg, out, log=kill)
    cache = tmp_path / "b.cache"
    assert len(list((cache / "students").glob("*.pt"))) == 1 and not out.exists()
    seen: list[str] = []
    run_export(cfg, out, log=lambda m, f: seen.append(m), resume=True)
    assert "student resumed after epoch 2" in seen and "student epoch 1" not in seen
    assert out.is_dir() and not cache.exists()
    with pytest.raises(Killed):
        run_export(cfg, tmp_path / "c", log=kill)
    seen.clear()
    run_export(cfg, tmp_path / "c", log=lambda m, f: seen.append(m))  # no --resume: from the start
    assert "student epoch 1" in seen and not any(m.startswith("student resumed") for m in seen)


def test_every_distillation_weight_is_tried_beside_none_and_the_best_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--distill-weight 0,0.5,2``: each weight above 0 trains a student beside the one without distillation,
    the highest on validation is shipped, and the report says which and why."""
    from ondevice_rec.export import pipeline

    def taught(cfg, split, cache, resume, runner, log, emb=None, ckpt=None):  # type: ignore[no-untyped-def]
        rng = np.random.default_rng(0)
        labels = {u: (np.arange(5), rng.normal(size=5).astype(np.float32)) for u in range(split.n_users)}
        return pipeline.Taught(labels, {"teacher_key": "stub", "validation_quality": {"teacher_beats_retriever": True}})

    monkeypatch.setattr(pipeline, "teach_stage", taught)
    _write_generic(tmp_path / "data")
    cfg = tiny_config(tmp_path / "data", use_teacher=True, max_ndcg_drop_int8=1.0, distill_weights=(0.0, 0.5, 2.0))
    d = (run_export(cfg, tmp_path / "b").training or {})["distillation"]
    assert d["candidates"] == [0.0, 0.5, 2.0] and set(d["valid_ndcg10"]) == {"0.0", "0.5", "2.0"}
    best = max(d["valid_ndcg10"].values())
    assert d["valid_ndcg10"][str(d["chosen_weight"])] == best and d["reason"] == "highest validation NDCG@10"
    with pytest.raises(ExportError, match="finite"):
        replace(cfg, distill_weights=(float("nan"),))


def test_a_run_shorter_than_the_validation_interval_is_still_validated(tmp_path: Path) -> None:
    """``--epochs 4`` with validation every 5 epochs: the last epoch is validated, so the weights compared on
    validation (distillation, ensemble) carry real figures, never the -1 of "not validated"."""
    from ondevice_rec.datasets import leave_one_out, load_dataset
    from ondevice_rec.export.distributed import TextEncoderFactory, embed_texts
    from ondevice_rec.export.student import train_student

    _write_generic(tmp_path / "data")
    split = leave_one_out(load_dataset("generic", tmp_path / "data"))
    text = embed_texts(TextEncoderFactory().build().encoder, split.item_text)
    cfg = StudentConfig(dim=16, blocks=1, heads=1, epochs=4, eval_every=5, batch=8, cold_stage_epochs=0)
    _, info = train_student(split, text, cfg)
    assert [e["epoch"] for e in info["log"]] == [4] and 0.0 <= info["best_valid_ndcg10"] <= 1.0


def test_the_cold_start_choice_scores_each_setting_as_the_runtime_does(tiny_bundle) -> None:
    """Issue 29: the cold-start grid sums five scorings per profile (the runtime's score is linear in the
    popularity weight, the item-item factor and the profile model's two weights); each grid point's figure is the
    runtime's own at that setting, the profile model in the encoder as a bundle ships it."""
    from ondevice_rec.datasets import leave_one_out, load_dataset
    from ondevice_rec.datasets.scenarios import onboarding_profile, profile_from_history
    from ondevice_rec.eval.metrics import metrics_from_rank, rank_of_target
    from ondevice_rec.eval.protocols import full_mask
    from ondevice_rec.eval.runtime import fit_bundle
    from ondevice_rec.export.cold_start import choose_cold_start, profile_model_of
    from ondevice_rec.ranking import RankingConfig
    from ondevice_rec.ranking.pipeline import named_titles

    path, _, data = tiny_bundle
    split = leave_one_out(load_dataset("generic", data))
    fitted = fit_bundle(str(path), split)
    shipped = fitted.encoder.profile_model
    chosen = choose_cold_start(split, fitted.encoder, fitted.matrix, 0, lambda m, f: None, users=40)
    settings, report = chosen.settings, chosen.report
    assert settings["cold_popularity_weight"] == report["chosen"]
    assert fitted.encoder.profile_model is shipped  # the grid leaves the encoder as it found it
    us = np.sort(np.random.default_rng(0).choice(split.n_users, min(40, split.n_users), replace=False))
    texts = [profile_from_history(split, split.train[u]) for u in us] + [onboarding_profile(split, u, 0) for u in us]
    read = fitted.read_profiles(texts)
    titled = [(int(u), p) for u, p in zip(np.concatenate([us, us]), read) if named_titles(p)]
    assert titled and report["titles"]["profiles"] == len(titled)
    model = profile_model_of(split)
    for key in ("2.0/1.0/0.0/0.0", "0.25/0.5/0.5/0.25", "1.0/0.0/1.0/2.0"):
        w, s, t, g = (float(x) for x in key.split("/"))
        fitted.encoder.profile_model = model.with_weights({"titles": t, "genres_with_titles": g, "genres": g})
        fitted.configure(RankingConfig(cold_titles_popularity_weight=w, cold_titles_item_item_scale=s))
        scores = fitted.score_read([p for _, p in titled])
        mine = [
            metrics_from_rank(
                rank_of_target(scores[r], int(split.valid[u]), np.flatnonzero(full_mask(split, u, "valid")))
            )
            for r, (u, _) in enumerate(titled)
        ]
        assert report["titles"]["valid_ndcg10"][key] == pytest.approx(np.mean([m["NDCG@10"] for m in mine]), abs=1e-5)
    fitted.encoder.profile_model = shipped
