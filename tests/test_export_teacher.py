from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from ondevice_rec import ExportError  # noqa: E402
from ondevice_rec.datasets import Split  # noqa: E402
from ondevice_rec.export.pipeline import ExportConfig, run_export  # noqa: E402
from ondevice_rec.export.student import StudentConfig  # noqa: E402
from ondevice_rec.export.teacher import TeacherConfig, load_teacher  # noqa: E402
from ondevice_rec.ranking.templates import ranker_prefix, ranker_prompt, ranker_suffix  # noqa: E402
from tests.test_eval import _write_generic  # noqa: E402


def test_prompt_is_prefix_plus_suffix() -> None:
    p = ranker_prompt(["A", "B"], "C")
    assert p == ranker_prefix(["A", "B"]) + ranker_suffix("C")
    assert p.endswith("<|im_start|>assistant\n") and "- A\n- B" in p


def test_the_shared_prefix_runs_once_and_scores_as_whole_prompts(tiny_teacher: Path) -> None:
    """The teacher's scorer runs a user's history once and its candidates as one batch over the repeated cache:
    the same logits as whole prompts, whatever the candidates' lengths (right padding is never attended to)."""
    import torch

    from ondevice_rec.export.teacher.model import TorchYesNo, yes_no_logits

    model, tok, _ = load_teacher(str(tiny_teacher))
    model.eval()
    prefix = ranker_prefix(["Toy Story (1995)", "Heat (1995)", "Fargo (1996)"])
    suffixes = [ranker_suffix(t) for t in ("Her (2013)", "Cinema Paradiso (Nuovo cinema Paradiso) (1988)", "M")]
    with torch.no_grad():
        whole = yes_no_logits(model, tok, [prefix + x for x in suffixes]).numpy()
    calls: list[int] = []
    hook = model.get_decoder().register_forward_pre_hook(lambda mod, args: calls.append(1))
    try:
        got = TorchYesNo(model, tok).score(prefix, suffixes)
    finally:
        hook.remove()
    assert got.shape == (3,) and np.allclose(got, whole, atol=1e-4)
    assert len(calls) == 2  # the history once, then the three questions as one batch
    assert TorchYesNo(model, tok).score(prefix, []).shape == (0,)


def test_export_with_teacher_distillation_and_resume(tiny_teacher: Path, tmp_path: Path) -> None:
    _write_generic(tmp_path / "data")
    cfg = ExportConfig(
        dataset="generic",
        data_dir=str(tmp_path / "data"),
        teacher=str(tiny_teacher),
        student=StudentConfig(dim=16, blocks=1, heads=1, epochs=2, eval_every=1, batch=8),
        teacher_cfg=TeacherConfig(steps=2, batch=4, negatives=1, candidates=5, label_users=6, label_if_weaker=True),
        max_ndcg_drop_int8=1.0,
    )
    m = run_export(cfg, tmp_path / "b1")
    t = m.teacher or {}
    assert t["used"] and t["labelled_users"] == 6 and t["labels_reused_from_cache"] == 0
    assert "teacher" in (m.stage_seconds or {})
    cache = Path(str((tmp_path / "b1").resolve()) + ".cache")
    assert (cache / "labels.sqlite").is_file() and list(cache.glob("teacher-*.pt"))
    # an interrupted export continues from the cached fine-tuned teacher and labels
    m2 = run_export(cfg, tmp_path / "b1", overwrite=True, resume=True)
    t2 = m2.teacher or {}
    assert t2["fine_tune"] == {"resumed": True} and t2["labels_reused_from_cache"] == 6


def test_a_teacher_weaker_than_the_retriever_labels_no_training_sets(
    tiny_teacher: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The held-out check runs first; a teacher that loses it is not distilled from, so the training candidate
    sets (the costliest stage) are not labelled unless ``label_if_weaker``."""
    import ondevice_rec.export.teacher.stage as teacher

    monkeypatch.setattr(teacher, "validation_quality", lambda *a, **k: {"teacher_beats_retriever": False})
    called: list[int] = []
    monkeypatch.setattr(teacher, "label", lambda *a, **k: called.append(1) or {})
    _write_generic(tmp_path / "data")
    cfg = ExportConfig(
        dataset="generic",
        data_dir=str(tmp_path / "data"),
        teacher=str(tiny_teacher),
        student=StudentConfig(dim=16, blocks=1, heads=1, epochs=1, eval_every=1, batch=8),
        teacher_cfg=TeacherConfig(steps=1, batch=4, negatives=1, candidates=5, label_users=6),
        max_ndcg_drop_int8=1.0,
    )
    m = run_export(cfg, tmp_path / "b")
    t = m.teacher or {}
    assert not called and t["labelled_users"] == 0 and t["labelling_skipped"]
    assert (m.training or {})["distillation"]["chosen_weight"] == 0.0


def test_distillation_off_skips_the_teacher(tmp_path: Path) -> None:
    _write_generic(tmp_path / "data")
    cfg = ExportConfig(
        dataset="generic",
        data_dir=str(tmp_path / "data"),
        student=StudentConfig(dim=16, blocks=1, heads=1, epochs=1, eval_every=1, batch=8, distill_weight=0.0),
        max_ndcg_drop_int8=1.0,
    )
    assert run_export(cfg, tmp_path / "b").teacher == {"used": False}


def test_bad_teachers(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="not found"):
        load_teacher(tmp_path / "missing.gguf")
    (tmp_path / "x.bin").write_bytes(b"x")
    with pytest.raises(ExportError, match="expected a .gguf"):
        load_teacher(tmp_path / "x.bin")
    bert = tmp_path / "bert"
    bert.mkdir()
    (bert / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertModel"]}))
    with pytest.raises(ExportError, match="not a causal LM"):
        load_teacher(bert)


def test_fine_tuning_runs_each_history_once_for_the_same_gradient(tiny_teacher: Path, tmp_path: Path) -> None:
    """One user's positive and negatives share the history: the fine-tune runs it once (one forward for the
    history, one for the questions) and its gradient is the whole prompts' gradient, so the saving in time and
    memory costs nothing in what is learnt."""
    import torch

    from ondevice_rec.export.teacher.model import yes_no_logits, yes_no_prefixed

    model, tok, _ = load_teacher(str(tiny_teacher))
    model.train()
    prefix = ranker_prefix(["Toy Story (1995)", "Heat (1995)", "Fargo (1996)"])
    suffixes = [ranker_suffix(t) for t in ("Her (2013)", "Cinema Paradiso (Nuovo cinema Paradiso) (1988)", "M")]
    labels = torch.tensor([1.0, 0.0, 0.0])

    def grads(margin_of: object) -> list[torch.Tensor]:
        model.zero_grad()
        margin = margin_of()  # type: ignore[operator]
        torch.nn.functional.binary_cross_entropy_with_logits(margin, labels, reduction="sum").backward()
        return [p.grad.clone() for p in model.parameters() if p.grad is not None]

    # whole prompts one at a time (no padding, so positions match the prefixed form exactly)
    whole = grads(lambda: torch.cat([yes_no_logits(model, tok, [prefix + x]) for x in suffixes]))
    calls: list[int] = []
    hook = model.get_decoder().register_forward_pre_hook(lambda mod, args: calls.append(1))
    try:
        shared = grads(lambda: yes_no_prefixed(model, tok, prefix, suffixes))
    finally:
        hook.remove()
    assert len(calls) == 2 and len(shared) == len(whole) > 0
    assert all(torch.allclose(a, b, atol=1e-5, rtol=1e-4) for a, b in zip(whole, shared))


def test_a_model_that_keeps_no_cache_in_training_scores_whole_prompts(tiny_teacher: Path) -> None:
    """Gemma 3 returns no key/value cache in training mode: the shared-prefix scoring then runs the whole
    prompts instead of failing (the same margins)."""
    import torch

    from ondevice_rec.export.teacher.model import yes_no_logits, yes_no_prefixed

    model, tok, _ = load_teacher(str(tiny_teacher))
    model.eval()
    prefix = ranker_prefix(["Toy Story (1995)", "Heat (1995)"])
    suffixes = [ranker_suffix(t) for t in ("Her (2013)", "Fargo (1996)")]
    forward = model.forward

    def no_cache(*args: object, **kwargs: object) -> object:
        out = forward(*args, **kwargs)
        out.past_key_values = None
        return out

    model.forward = no_cache  # type: ignore[method-assign]
    with torch.no_grad():
        got = yes_no_prefixed(model, tok, prefix, suffixes)
        want = yes_no_logits(model, tok, [prefix + x for x in suffixes])
    assert torch.allclose(got, want)


def test_lora_fine_tuning_folds_the_adapters_into_a_plain_model(tiny_teacher: Path, tmp_path: Path) -> None:
    import torch

    from ondevice_rec.datasets import leave_one_out, load_dataset
    from ondevice_rec.export.teacher import fine_tune

    _write_generic(tmp_path / "data")
    split = leave_one_out(load_dataset("generic", tmp_path / "data"))
    model, tok, _ = load_teacher(str(tiny_teacher))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    stats = fine_tune(model, tok, split, TeacherConfig(steps=3, batch=4, negatives=1, lora="on", lr=1e-2))
    after = model.state_dict()
    assert stats["lora"] == {"rank": 8, "targets": ["q_proj", "v_proj"]}
    assert 0 < stats["trained_parameters"] < stats["parameters"] / 5
    assert stats["seconds_per_step"] > 0
    assert set(after) == set(before) and not any("lora" in k for k in after)  # a plain model again
    changed = [k for k in after if not torch.equal(after[k], before[k])]
    assert changed and all("q_proj" in k or "v_proj" in k for k in changed)
    # the default (auto) trains the tiny model directly, bottom half frozen
    model2, tok2, _ = load_teacher(str(tiny_teacher))
    assert fine_tune(model2, tok2, split, TeacherConfig(steps=1, batch=4, negatives=1))["lora"] is None
    with pytest.raises(ExportError):
        TeacherConfig(lora="maybe")


def _quality_split(n_users: int = 1000, n_items: int = 40) -> Split:
    rng = np.random.default_rng(0)
    seqs = [rng.choice(n_items, 6, replace=False) for _ in range(n_users)]
    return Split(
        dataset="t",
        user_ids=[f"u{u}" for u in range(n_users)],
        item_ids=[str(i) for i in range(n_items)],
        train=[s[:4] for s in seqs],
        valid=np.array([s[4] for s in seqs]),
        test=np.array([s[5] for s in seqs]),
        item_text=[f"item {i}" for i in range(n_items)],
        item_title=[f"item {i}" for i in range(n_items)],
        item_tags=[() for _ in range(n_items)],
    )


class _Oracle:
    """A stand-in teacher that knows each user's validation item: ``sign`` +1 ranks it first, −1 last; 0 scores
    as the retriever does (no difference to find)."""

    def __init__(self, split: Split, sign: float) -> None:
        from ondevice_rec.ranking.cooccurrence import cooccurrence_similarity

        self.split, self.sign, self.calls = split, sign, 0
        self.sim = cooccurrence_similarity(split.train, split.n_items)
        self.index = {t: i for i, t in enumerate(split.item_title)}

    def label(self, tasks: list[tuple[list[str], list[str]]]) -> list[np.ndarray]:
        from ondevice_rec.ranking.cooccurrence import cooccurrence_scores

        self.calls += len(tasks)
        out = []
        for history, cands in tasks:
            hist = [self.index[t] for t in history]
            c = np.array([self.index[t] for t in cands])
            u = next(u for u in range(self.split.n_users) if list(self.split.train[u]) == hist)
            if self.sign == 0:
                out.append(cooccurrence_scores(self.sim, [np.array(hist)])[0][c].astype(np.float32))
            else:
                out.append((self.sign * (c == self.split.valid[u])).astype(np.float32))
        return out


@pytest.mark.parametrize(
    ("sign", "users", "beats"),
    [(-1.0, 100, False), (1.0, 100, True), (0.0, 300, False)],  # a clear loser or winner is called after 100
)
def test_the_teacher_check_stops_once_the_difference_is_clear(
    tmp_path: Path, sign: float, users: int, beats: bool
) -> None:
    from ondevice_rec.export.teacher import LabelCache, validation_quality

    split = _quality_split()
    oracle = _Oracle(split, sign)
    cache = LabelCache(tmp_path / "labels.sqlite")
    q = validation_quality(split, TeacherConfig(quality_users=300), cache, "k", labeller=oracle)  # type: ignore[arg-type]
    cache.close()
    assert q["users"] == users == oracle.calls and q["users_planned"] == 300
    assert q["stopped_early"] == (users < 300)
    assert q["teacher_beats_retriever"] is beats


@pytest.mark.parametrize(
    ("diff", "decided"),
    [
        ([-0.1] * 99, ""),  # too few users to decide
        ([-0.1] * 100, "worse"),
        ([0.1] * 100, "better"),
        ([0.1, -0.1] * 50, ""),
        ([0.3, -0.1] * 50, "better"),  # mean 0.1, se 0.02
    ],
)
def test_clear_difference(diff: list[float], decided: str) -> None:
    from ondevice_rec.export.teacher.quality import _clear_difference

    assert _clear_difference(np.array(diff), 2.5, 100) == decided


def test_a_teacher_guessing_at_random_does_not_beat_the_retriever(tmp_path: Path) -> None:
    """Sets are the retriever's own top k where it retrieved the held-out item: a random teacher loses there
    (inserting the item into sets that missed it would hand a random teacher the win)."""
    from ondevice_rec.export.teacher import LabelCache, validation_quality

    rng = np.random.default_rng(2)
    seqs = [rng.choice(10, 6, replace=False) + 10 * rng.integers(20) for _ in range(1000)]  # 20 clusters of 10
    split = Split(
        dataset="t", user_ids=[f"u{u}" for u in range(1000)], item_ids=[str(i) for i in range(200)],
        train=[s[:4] for s in seqs], valid=np.array([s[4] for s in seqs]), test=np.array([s[5] for s in seqs]),
        item_text=[f"item {i}" for i in range(200)], item_title=[f"item {i}" for i in range(200)],
        item_tags=[() for _ in range(200)],
    )  # fmt: skip

    class Random:
        def label(self, tasks: list[tuple[list[str], list[str]]]) -> list[np.ndarray]:
            return [rng.random(len(c)).astype(np.float32) for _, c in tasks]

    cache = LabelCache(tmp_path / "labels.sqlite")
    q = validation_quality(split, TeacherConfig(), cache, "k", labeller=Random())  # type: ignore[arg-type]
    cache.close()
    assert not q["teacher_beats_retriever"] and q["teacher_ndcg10"] < q["retriever_ndcg10"]


@pytest.mark.parametrize(
    "verdict,se,min_users,pool,t_ndcg,stops",
    [
        ("worse", 0.05, 4, 8, 0.1, True),
        ("", 0.05, 4, 8, 0.1, True),
        ("", 0.15, 4, 8, 0.1, False),
        ("", 0.05, 50, 8, 0.1, False),
        ("", 0.15, 4, 4, 0.1, True),  # every held-out set seen: behind at all stops
        ("", 0.15, 4, 4, 0.35, False),  # ... ahead goes on
        ("", 0.15, 50, 4, 0.1, False),  # ... but not on fewer than probe_min_users
        ("", 0.0, 4, 4, 0.1, True),  # ... and behind by the same on every user (no standard error) too
    ],
)
def test_the_probe_stops_a_clearly_losing_teacher_before_the_expensive_part(
    verdict: str, se: float, min_users: int, pool: int, t_ndcg: float, stops: bool, tiny_teacher: Path,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Issue 29: after ``probe_steps`` fine-tuning steps the held-out check runs on few users; clearly worse at
    any look, or still more than ``probe_futility_z`` standard errors behind at its last (with at least
    ``probe_min_users`` checked: fewer say too little), the rest of the fine-tune, the weights file and the
    labelling are skipped; otherwise training goes on. Where the probe found fewer held-out sets than it asked
    for (``pool`` of 8: it saw them all, and the full check would see the same), behind at all stops."""
    import ondevice_rec.export.teacher.stage as teacher

    seen: list[dict] = []

    def quality(split, tcfg, cache, key, log, **kw):  # type: ignore[no-untyped-def]
        seen.append({"users": tcfg.quality_users, "key": key, "labeller": kw.get("labeller")})
        n = pool if len(seen) == 1 else 4  # the probe checks its whole pool
        q = {"teacher_ndcg10": t_ndcg, "retriever_ndcg10": 0.3, "users": n, "users_planned": n, "decided": verdict}
        q["difference_se"] = se  # 0.2 behind: 4 standard errors at 0.05, 1.3 at 0.15
        return {**q, "teacher_beats_retriever": t_ndcg > 0.3, "stopped_early": bool(verdict)}

    monkeypatch.setattr(teacher, "validation_quality", quality)
    _write_generic(tmp_path / "data")
    tcfg = TeacherConfig(steps=4, batch=4, negatives=1, candidates=5, label_users=6, probe_steps=2, probe_users=8,
                         probe_min_users=min_users)  # fmt: skip
    cfg = ExportConfig(
        dataset="generic", data_dir=str(tmp_path / "data"), teacher=str(tiny_teacher), teacher_cfg=tcfg,
        student=StudentConfig(dim=16, blocks=1, heads=1, epochs=2, eval_every=1, batch=8, ensemble=1),
    )  # fmt: skip
    m = run_export(cfg, tmp_path / "b")
    t = m.teacher or {}
    assert seen[0]["users"] == 8 and seen[0]["key"].endswith("-probe2") and seen[0]["labeller"] is not None
    cache = Path(str((tmp_path / "b").resolve()) + ".cache")
    if stops:
        assert t["probe"].get("futility", False) == (verdict == "")
        assert t["probe"].get("every_held_out_set", False) == (verdict == "" and pool < 8)
        assert t["fine_tune"]["stopped_at_step"] == 2 and t["fine_tune"]["steps"] == 2
        assert "probe" in t["labelling_skipped"] and t["labelled_users"] == 0
        assert not list(cache.glob("teacher-*.pt")) and len(seen) == 1
        assert m.training["distillation"]["chosen_weight"] == 0.0
    else:
        assert t["fine_tune"]["steps"] == 4 and t["fine_tune"]["stopped_at_step"] is None
        assert list(cache.glob("teacher-*.pt")) and len(seen) == 2  # the probe, then the full check


def test_a_fresh_export_clears_only_its_own_teacher_entries_in_a_shared_cache(
    tiny_teacher: Path, tmp_path: Path
) -> None:
    """Issue 30: ``--cache-dir`` may be shared across exports; without ``--resume`` an export drops its own
    teacher's weights and labels, never anything else in the directory."""
    from ondevice_rec.export.teacher.cache import LabelCache

    _write_generic(tmp_path / "data")
    cache = tmp_path / "shared-cache"
    cache.mkdir()
    (cache / "notes.txt").write_text("mine")
    (cache / "teacher-otherkey.pt").write_bytes(b"another export's teacher")
    other = LabelCache(cache / "labels.sqlite")
    other.put("u1", np.arange(3), "otherkey", np.ones(3))
    other.close()
    cfg = ExportConfig(
        dataset="generic", data_dir=str(tmp_path / "data"), teacher=str(tiny_teacher),
        student=StudentConfig(dim=16, blocks=1, heads=1, epochs=2, eval_every=1, batch=8, ensemble=1),
        teacher_cfg=TeacherConfig(steps=2, batch=4, negatives=1, candidates=5, label_users=4, label_if_weaker=True),
        max_ndcg_drop_int8=1.0,
    )  # fmt: skip
    run_export(cfg, tmp_path / "b", cache_dir=cache)
    mine = [p.name for p in cache.glob("teacher-*.pt") if p.name != "teacher-otherkey.pt"]
    assert mine
    run_export(cfg, tmp_path / "b", cache_dir=cache, overwrite=True)  # fresh: its own entries go, then come back
    assert (cache / "notes.txt").read_text() == "mine" and (cache / "teacher-otherkey.pt").is_file()
    kept = LabelCache(cache / "labels.sqlite")
    try:
        assert kept.get("u1", np.arange(3), "otherkey") is not None
    finally:
        kept.close()


def test_a_bundle_teaches_through_the_same_check_and_distillation(tmp_path: Path) -> None:
    """``--teacher bundle:PATH``: a ranker labels from item indices (no fine-tuning), after the held-out check."""
    from dataclasses import replace

    from tests.test_export_student import tiny_config

    _write_generic(tmp_path / "data")
    run_export(tiny_config(tmp_path / "data", epochs=2, max_ndcg_drop_int8=1.0), tmp_path / "teacher")
    tcfg = TeacherConfig(label_if_weaker=True, quality_min_users=5, quality_chunk=5)
    cfg = tiny_config(tmp_path / "data", epochs=2, use_teacher=True, teacher=f"bundle:{tmp_path / 'teacher'}",
                      teacher_cfg=tcfg, max_ndcg_drop_int8=1.0)  # fmt: skip
    m = run_export(cfg, tmp_path / "student", cache_dir=tmp_path / "cache")
    t = m.teacher or {}
    assert t["kind"] == "ranker" and t["labelled_users"] > 0 and t["validation_quality"]["users"] > 0
    assert t["teacher_hr1_on_candidates"] is not None and "fine_tune" not in t
    assert (m.training or {})["distillation"]["candidates"][0] == 0.0  # the no-distillation ablation, always
    with pytest.raises(ExportError, match="ranker teacher bundle:"):
        run_export(replace(cfg, formats=("onnx", "gguf")), tmp_path / "x", cache_dir=tmp_path / "cache")


def test_the_ranker_labeller_reads_the_position_the_student_distils_at() -> None:
    from ondevice_rec.export.teacher.labels import LabelTask
    from ondevice_rec.export.teacher.ranker import RankerLabeller

    seen: list[list[int]] = []

    class Fitted:
        encoder = None

        def score(self, users: np.ndarray, hists: list[np.ndarray]) -> np.ndarray:
            seen.append(list(hists[0]))
            return np.arange(5, dtype=np.float32)[None, :]

    split = Split("t", ["u"], [str(i) for i in range(5)], [np.array([0, 1, 2])], np.array([3]), np.array([4]),
                  [""] * 5, [""] * 5, [()] * 5)  # fmt: skip
    lab = RankerLabeller(Fitted(), split)
    assert lab.label_task(LabelTask("u", np.array([4, 1]), [], [])).tolist() == [4.0, 1.0]
    lab.label_task(LabelTask("valid:u", np.array([4]), [], []))
    assert seen == [[0, 1], [0, 1, 2]]  # training tasks stop before the last training item; validation after it


def test_a_sequential_model_trained_on_the_split_teaches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--teacher sasrec``: the harness's SASRec trained on the export's own split labels every user's candidate
    set; its weights are cached beside the labels, so a resumed export loads instead of training again."""
    from dataclasses import replace

    from ondevice_rec.eval.sequential import SeqRecipe
    from ondevice_rec.export.teacher import ranker
    from tests.test_export_student import tiny_config

    monkeypatch.setattr(ranker, "seq_recipe", lambda seed: SeqRecipe(max_len=20, val_every=5, patience=2, seed=seed))
    _write_generic(tmp_path / "data")
    tcfg = TeacherConfig(label_if_weaker=True, quality_min_users=5, quality_chunk=5, candidates=30)
    cfg = tiny_config(tmp_path / "data", epochs=2, use_teacher=True, teacher="sasrec", teacher_cfg=tcfg,
                      max_ndcg_drop_int8=1.0, distill_weights=(0.1, 0.5))  # fmt: skip
    m = run_export(cfg, tmp_path / "student", cache_dir=tmp_path / "cache")
    t = m.teacher or {}
    assert t["kind"] == "ranker" and t["base"] == "sasrec" and t["labelled_users"] > 0
    assert t["trained"]["iterations"] > 0 and t["candidates"] == 30 and 0.0 <= t["valid_ndcg10"] <= 1.0
    weights = list((tmp_path / "cache").glob("sasrec-*.pt"))
    assert len(weights) == 1
    distillation = (m.training or {})["distillation"]
    if t["validation_quality"]["teacher_beats_retriever"]:
        assert distillation["candidates"] == [0.0, 0.1, 0.5]  # every weight tried beside the ablation
    stamp = weights[0].stat().st_mtime_ns
    m2 = run_export(cfg, tmp_path / "again", cache_dir=tmp_path / "cache", resume=True)
    assert weights[0].stat().st_mtime_ns == stamp and (m2.teacher or {})["teacher_key"] == t["teacher_key"]
    with pytest.raises(ExportError, match="ranker teacher sasrec"):
        run_export(replace(cfg, formats=("onnx", "gguf")), tmp_path / "x", cache_dir=tmp_path / "cache")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "SASRec").mkdir()  # a model directory of that name: which one is meant?
    with pytest.raises(ExportError, match="names both"):
        run_export(replace(cfg, teacher="SASRec"), tmp_path / "y", cache_dir=tmp_path / "cache")


def _two_members() -> tuple[StudentConfig, np.ndarray, list[Any]]:
    """A tiny student config, item texts for 9 items and two untrained members (seeds 0 and 1)."""
    import torch

    from ondevice_rec.export.student import build_student

    cfg = StudentConfig(dim=8, blocks=1, heads=1, max_len=6)
    text = np.random.default_rng(0).normal(size=(9, 5)).astype(np.float32)
    members = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        members.append(build_student(torch, 9, 5, cfg).eval())
    return cfg, text, members


def test_the_ensemble_teacher_scores_as_the_shipped_ensemble() -> None:
    """``EnsembleTeacher``: its mean logits at a history's last position rank as the members' ensemble does."""
    import torch

    from ondevice_rec.export.student import EnsembleTeacher, build_ensemble, student_scores

    cfg, text, members = _two_members()
    hists = [np.array([1, 4, 2]), np.array([7])]
    inp = torch.as_tensor(np.array([[2, 5, 3], [0, 0, 8]]))  # item index + 1, right-aligned
    got = EnsembleTeacher(torch, members, text).logits(inp, None)[:, -1].numpy() * 2
    want = student_scores(build_ensemble(torch, members).eval(), text, hists, replace(cfg, ensemble=2))
    assert np.allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("teacher", ["ensemble", "blend", "residual"])
def test_the_export_own_ensemble_teaches_one_student(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, teacher: str
) -> None:
    """``--teacher ensemble``: the seed ensemble is trained first (its first member is the student without
    distillation, so that ablation is not trained twice), distilled at every position into one student when it
    beats that member on validation, and the export ships one student. ``--teacher blend``: the same ensemble
    with the blend chosen for it on validation; ``--teacher residual``: that blend, taught to a student trained
    and early-stopped with the table, the undistilled student and the ensemble then measured with a table too."""
    from ondevice_rec.export.teacher import ensemble
    from tests.test_export_student import tiny_config

    real = ensemble.student_ndcg
    # the ensemble beats its first member here whatever the tiny data says, so the distillation path runs
    monkeypatch.setattr(ensemble, "student_ndcg", lambda *a, **k: real(*a, **k) + (1.0 if a[3].ensemble > 1 else 0))
    _write_generic(tmp_path / "data")
    cfg = tiny_config(tmp_path / "data", epochs=2, use_teacher=True, teacher=teacher, max_ndcg_drop_int8=1.0,
                      distill_weights=(1.0,))  # fmt: skip
    cfg = replace(cfg, student=replace(cfg.student, ensemble=2))
    lines: list[str] = []
    m = run_export(cfg, tmp_path / "student", cache_dir=tmp_path / "cache", log=lambda msg, f: lines.append(msg))
    t = m.teacher or {}
    assert t["kind"] == "ensemble" and t["members"] == 2 and t["validation_quality"]["teacher_beats_retriever"]
    if teacher != "ensemble":  # the blend chosen for the ensemble on validation, in the teacher's key
        b = t["blend"]
        key = f"ensemble-2+{b['chosen']}@{b['chosen_weight']:g}" + ("/residual" if teacher == "residual" else "")
        assert b["used"] and t["teacher_key"] == key and b.get("residual", False) == (teacher == "residual")
        assert t["validation_quality"]["teacher_ndcg10"] == t["blend"]["teacher_ndcg10"]
        from typer.testing import CliRunner

        from ondevice_rec.cli import app

        info = CliRunner().invoke(app, ["bundle", "info", str(tmp_path / "student")])
        residual = ", the student trained with it" if teacher == "residual" else ""
        assert f"teacher:     ensemble with {b['chosen']} at weight {b['chosen_weight']:g}{residual} (" in info.stdout
    distillation = (m.training or {})["distillation"]
    assert distillation["candidates"] == [0.0, 1.0] and set(distillation["valid_ndcg10"]) == {"0.0", "1.0"}
    assert sum("student loaded from its checkpoint" in x for x in lines) == 1  # the ablation is member 1
    # the (faked) ensemble beats every student on validation: it ships itself rather than lose accuracy
    ens = (m.training or {})["ensemble"]
    if teacher == "residual":  # the residual student's figure has the table in it: so has the ensemble's
        assert ens["valid_ndcg10"] == t["blend"]["teacher_ndcg10"]
        assert ens["used"] == (ens["valid_ndcg10"] > ens["valid_ndcg10_student"])
    else:
        assert ens["used"] and "higher on validation" in ens["why"]
    assert m.two_tower is not None and m.two_tower.dim == (32 if ens["used"] else 16)
    assert not (tmp_path / "cache" / "students").exists()  # checkpoints go once the bundle is written
    with pytest.raises(ExportError, match=f"ranker teacher {teacher}"):
        run_export(replace(cfg, formats=("onnx", "gguf")), tmp_path / "x", cache_dir=tmp_path / "cache")
    with pytest.raises(ExportError, match="pass --ensemble 2 or more"):
        run_export(replace(cfg, student=replace(cfg.student, ensemble=1)), tmp_path / "x")
    with pytest.raises(ExportError, match="needs --loss full or auto"):
        run_export(replace(cfg, student=replace(cfg.student, loss="sampled")), tmp_path / "x")
    if teacher == "residual":
        with pytest.raises(ExportError, match="drop --no-item-item"):
            run_export(replace(cfg, item_item=False), tmp_path / "x")


def test_the_ensemble_teacher_ships_whichever_scores_higher_on_validation() -> None:
    import torch

    from ondevice_rec.export.pipeline import Taught, _teacher_or_student
    from ondevice_rec.export.student import EnsembleTeacher, build_student

    cfg = StudentConfig(dim=8, blocks=1, heads=1, max_len=6)
    members = [build_student(torch, 9, 5, cfg) for _ in range(2)]
    taught = Taught(EnsembleTeacher(torch, members, np.zeros((9, 5), np.float32)), {"valid_ndcg10": 0.12})
    student = object()
    model, report = _teacher_or_student(taught, student, 0.13, lambda m, f: None)
    assert model is student and report == {"members": 2, "valid_ndcg10": 0.12, "valid_ndcg10_student": 0.13,
                                           "used": False}  # fmt: skip
    model, report = _teacher_or_student(taught, student, 0.11, lambda m, f: None)
    assert model is not student and report["used"] and len(model.members) == 2


def test_the_blend_teacher_orders_each_prefix_as_the_shipped_blend() -> None:
    """``BlendTeacher``: after a window, its logits are the runtime's blend score (unit user vector · items +
    prior + weight × the recency-weighted neighbour sums, as ``choose_weight`` scores) times the user vector's
    length over the members, so they order the catalogue as the shipped blend does; at every earlier prefix the
    table adds that prefix's neighbour sums."""
    import torch

    from ondevice_rec.export.student import build_ensemble, student_vectors
    from ondevice_rec.export.teacher.ensemble import BlendTeacher
    from ondevice_rec.ranking.cooccurrence import cooccurrence_neighbours, recency_weights

    cfg, text, members = _two_members()
    table = cooccurrence_neighbours([np.array([1, 4, 2, 7]), np.array([4, 2, 0]), np.array([7, 1, 3])], 9)
    prior = np.linspace(0.0, 0.1, 9).astype(np.float32)
    teacher = BlendTeacher(torch, members, text, table, 1.0, 0.5, prior)
    inp = torch.as_tensor(np.array([[2, 5, 3], [0, 0, 8]]))  # item index + 1, right-aligned
    got = teacher.logits(inp, None).numpy()
    hists = [np.array([1, 4, 2]), np.array([7])]
    users, items = student_vectors(build_ensemble(torch, members).eval(), text, hists, replace(cfg, ensemble=2))
    for r, hist in enumerate(hists):
        norm = float(np.linalg.norm(users[r]))
        co = table.scores(hist[::-1], entry_weights=recency_weights(len(hist), 1.0))
        want = (users[r] / norm) @ items.T + prior + 0.5 * co
        assert np.allclose(got[r, -1] * 2 / norm, want, atol=1e-4)
    no_table = BlendTeacher(torch, members, text, table, 1.0, 0.0, prior).logits(inp, None).numpy()
    norms = torch.sqrt(sum((st * st).sum(-1, keepdim=True) for st in teacher.states(inp, None))).numpy()
    for p in range(4):
        for r, row in enumerate(inp.numpy()):
            hist = row[:p][row[:p] > 0][::-1] - 1
            co = table.scores(hist, entry_weights=recency_weights(len(hist), 1.0))
            assert np.allclose((got[r, p] - no_table[r, p]) * 2 / norms[r, p], 0.5 * co, atol=1e-4), (r, p)


def test_a_residual_student_is_trained_with_the_teacher_table() -> None:
    """``--teacher residual``: the student's training logits are its own plus its user vector's length times the
    table's term (prior + weight × prefix neighbour sums), the score it ships with; the plain blend teacher's
    student is trained on its own logits. The term is computed once per batch for student and teacher."""
    import torch

    from ondevice_rec.export import student as S
    from ondevice_rec.export.student import build_student
    from ondevice_rec.export.teacher.ensemble import BlendTeacher
    from ondevice_rec.ranking.cooccurrence import cooccurrence_neighbours

    cfg, text, members = _two_members()
    cfg = replace(cfg, id_dropout=0.0, distill_weight=1.0)
    table = cooccurrence_neighbours([np.array([1, 4, 2, 7]), np.array([4, 2, 0]), np.array([7, 1, 3])], 9)
    prior = np.linspace(0.0, 0.1, 9).astype(np.float32)
    seqs = [np.array([1, 4, 2, 7]), np.array([4, 2, 0, 3])]
    seen: list[Any] = []
    real_ce = torch.nn.functional.cross_entropy

    def loss_logits(residual: bool) -> tuple[Any, Any]:
        teacher = BlendTeacher(torch, members, text, table, 1.0, 0.5, prior, residual=residual)
        torch.manual_seed(3)
        model = build_student(torch, 9, 5, cfg)
        run = S._Run(
            torch, model, cfg, None, torch.as_tensor(text), torch.arange(1, 10), torch.zeros(9, dtype=torch.bool),
            None, seqs, [0, 1], [True, True], teacher, False,
        )  # fmt: skip
        seen.clear()
        torch.manual_seed(4)
        S._batch_loss(run, np.arange(2), np.random.default_rng(0))
        term = teacher.table_term(teacher._term[0]) if teacher._term is not None else None
        assert term is not None and teacher.table_term(teacher._term[0]) is term  # kept for the batch
        return seen[0], term

    def spy(logits: Any, *a: Any, **k: Any) -> Any:
        seen.append(logits.detach().clone())
        return real_ce(logits, *a, **k)

    torch.nn.functional.cross_entropy = spy
    try:
        plain, term = loss_logits(False)
        residual, _ = loss_logits(True)
    finally:
        torch.nn.functional.cross_entropy = real_ce
    diff = (residual - plain).reshape(2, -1, 9)  # ‖out‖ × term at each position
    ratio = diff / term.clamp(min=1e-6)
    live = term > 1e-3
    per_position = torch.where(live, ratio, torch.nan)
    spread = torch.nan_to_num(per_position.nanmean(-1, keepdim=True) - per_position, nan=0.0).abs().max()
    assert float(diff.abs().max()) > 0 and float(spread) < 1e-3  # one positive length per position
    assert bool((torch.nan_to_num(per_position, nan=1.0) > 0).all())
