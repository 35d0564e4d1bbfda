from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ondevice_rec.datasets import Dataset, DatasetError, k_core, leave_one_out, load_dataset, profile_from_history
from ondevice_rec.eval.metrics import bootstrap_ci, metrics_from_rank, paired_test, rank_of_target
from ondevice_rec.eval.protocols import full_mask, sampled_candidates
from ondevice_rec.eval.report import report
from ondevice_rec.eval.runner import evaluate
from tests.conftest import SHARED_DATA


# --- metrics -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "rank, ndcg10, hr10, mrr10, ndcg5",
    [
        (0, 1.0, 1.0, 1.0, 1.0),
        (2, 0.5, 1.0, 1 / 3, 0.5),  # 1/log2(4)
        (4, 1 / np.log2(6), 1.0, 0.2, 1 / np.log2(6)),
        (5, 1 / np.log2(7), 1.0, 1 / 6, 0.0),
        (10, 0.0, 0.0, 0.0, 0.0),
    ],
)
def test_metrics_from_known_ranks(rank, ndcg10, hr10, mrr10, ndcg5) -> None:
    m = metrics_from_rank(rank)
    assert m["NDCG@10"] == pytest.approx(ndcg10)
    assert m["HR@10"] == hr10
    assert m["MRR@10"] == pytest.approx(mrr10)
    assert m["NDCG@5"] == pytest.approx(ndcg5)


def test_rank_of_target_with_candidates_and_ties() -> None:
    scores = np.array([0.9, 0.1, 0.5, 0.5, 0.5, 0.3])
    assert rank_of_target(scores, 0) == 0
    assert rank_of_target(scores, 5) == 4
    assert rank_of_target(scores, 2) == 2.0  # one greater, two ties → 1 + 2/2
    assert rank_of_target(scores, 5, np.array([1, 5])) == 0
    flat = np.zeros(5)
    assert rank_of_target(flat, 3) == 2.0  # constant model: expected middle rank


def test_bootstrap_and_paired_test() -> None:
    v = np.r_[np.ones(30), np.zeros(70)]
    lo, hi = bootstrap_ci(v)
    assert lo < 0.3 < hi and lo > 0.15 and hi < 0.45
    same = paired_test(v, v)
    assert same["mean_diff"] == 0 and same["p_value"] == 1.0
    better = paired_test(np.r_[np.ones(60), np.zeros(40)], np.r_[np.zeros(60), np.zeros(40)])
    assert better["mean_diff"] == pytest.approx(0.6) and better["p_value"] < 0.001 and better["ci_low"] > 0.4


def test_intervals_do_not_depend_on_the_order_of_users() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.random(200), rng.random(200)
    order = rng.permutation(200)
    assert bootstrap_ci(a) == bootstrap_ci(a[order])
    assert paired_test(a, b) == paired_test(a[order], b[order])


# --- splits --------------------------------------------------------------------------------------------
def _ds(rows: list[tuple[str, str, float, float]], items: list[str] | None = None) -> Dataset:
    items = items or sorted({r[1] for r in rows})
    return Dataset(
        "toy",
        np.array([r[0] for r in rows], dtype=object),
        np.array([r[1] for r in rows], dtype=object),
        np.array([r[2] for r in rows]),
        np.array([r[3] for r in rows]),
        {i: (f"Title {i}", f"Title {i}. Genres: G{int(i) % 3}.", (f"G{int(i) % 3}",)) for i in items},
    )


def test_split_is_chronological_stable_on_ties_and_leave_one_out() -> None:
    rows = [
        ("u1", "3", 30, 5),
        ("u1", "1", 10, 5),
        ("u1", "2", 20, 4),
        ("u1", "5", 20, 3),
        ("u1", "4", 40, 1),
        ("u2", "1", 5, 5),
        ("u2", "2", 6, 5),
        ("u2", "3", 7, 5),
        ("u2", "4", 7, 5),
        ("u2", "5", 8, 5),
    ]
    sp = leave_one_out(_ds(rows), core=1)
    u1 = sp.user_ids.index("u1")
    order = [sp.item_ids[i] for i in np.r_[sp.train[u1], sp.valid[u1], sp.test[u1]]]
    assert order == ["1", "2", "5", "3", "4"]  # time order; "2" before "5" (same time: file order)
    assert sp.item_ids[sp.test[u1]] == "4" and sp.item_ids[sp.valid[u1]] == "3"
    assert [sp.item_ids[i] for i in sp.history(u1, "test")] == ["1", "2", "5", "3"]
    sp2 = leave_one_out(_ds(rows), core=1, min_rating=4)
    assert len(sp2.train[sp2.user_ids.index("u1")]) == 1  # "1","2","3" kept → 1 train item


def test_k_core_is_iterative() -> None:
    # item "x" has 2 users; removing it drops user c below 2, which drops item "y" below 2 ...
    users = np.array(["a", "a", "b", "b", "c", "c", "d"])
    items = np.array(["p", "q", "p", "q", "x", "y", "y"])
    keep = k_core(users, items, 2)
    assert keep.tolist() == [True, True, True, True, False, False, False]


def test_too_few_interactions_is_a_clear_error() -> None:
    rows = [("u1", "1", 1, 5), ("u1", "2", 2, 5), ("u2", "1", 1, 5), ("u2", "2", 2, 5), ("u2", "3", 3, 5)]
    with pytest.raises(DatasetError, match="fewer than 3 interactions"):
        leave_one_out(_ds(rows), core=1)
    with pytest.raises(DatasetError, match="no interactions left"):
        leave_one_out(_ds(rows), core=5)


# --- protocols -----------------------------------------------------------------------------------------
@pytest.fixture
def toy_split():
    rng = np.random.default_rng(1)
    rows = []
    for u in range(40):
        for t, i in enumerate(rng.choice(60, size=12, replace=False)):
            rows.append((f"u{u}", str(i), float(t), 5.0))
    return leave_one_out(_ds(rows), core=1)


def test_candidate_sets_never_contain_history(toy_split, tmp_path: Path) -> None:
    sp = toy_split
    for u in range(sp.n_users):
        mask = full_mask(sp, u, "test")
        assert mask[sp.test[u]] and not mask[sp.train[u]].any() and not mask[sp.valid[u]]
    cands = sampled_candidates(sp, "test", 20, seed=3, cache_dir=tmp_path)
    assert cands.shape == (sp.n_users, 20)
    for u in range(sp.n_users):
        assert cands[u, 0] == sp.test[u] and len(set(cands[u])) == 20
        assert not set(cands[u, 1:]) & (set(sp.train[u].tolist()) | {int(sp.valid[u]), int(sp.test[u])})
    again = sampled_candidates(sp, "test", 20, seed=3, cache_dir=tmp_path)
    assert (again == cands).all() and len(list(tmp_path.iterdir())) == 1  # cached, same for every model
    assert not (sampled_candidates(sp, "test", 20, seed=4) == cands).all()


def test_sampled_protocol_sizes() -> None:
    from ondevice_rec.errors import ArgumentError
    from ondevice_rec.eval.protocols import n_candidates

    # SASRec's own protocol ranks the truth among 100 negatives (util.py of kang205/SASRec)
    assert [n_candidates(p) for p in ("full", "sampled20", "sampled100", "sampled101")] == [None, 20, 100, 101]
    with pytest.raises(ArgumentError):
        n_candidates("sampled7")


# --- datasets ------------------------------------------------------------------------------------------
def _write_generic(root: Path, *, items_extra: list | None = None, drop_item: str | None = None) -> None:
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "items.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["item_id", "title", "text", "tags"])
        for i in range(30):
            if str(i) != drop_item:
                topic = ["space", "cooking", "jazz"][i % 3]
                w.writerow([str(i), f"{topic} item {i}", f"All about {topic}.", topic])
    rng = np.random.default_rng(0)
    with open(root / "interactions.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["user_id", "item_id", "timestamp", "rating"])
        for u in range(25):
            topic = u % 3
            pool = [i for i in range(30) if i % 3 == topic] + list(rng.choice(30, 3))
            for t, i in enumerate(rng.permutation(pool)[:9]):
                w.writerow([f"user{u}", str(i), 1000 + t, 4])


def test_generic_loader_and_bad_input(tmp_path: Path) -> None:
    _write_generic(tmp_path / "ok")
    ds = load_dataset("generic", tmp_path / "ok")
    assert len(ds) == 225 and ds.item_info["3"][2] == ("space",)
    with pytest.raises(DatasetError, match="unknown dataset"):
        load_dataset("netflix", tmp_path / "ok")
    with pytest.raises(DatasetError, match="not found"):
        load_dataset("generic", tmp_path / "nope")
    _write_generic(tmp_path / "missing", drop_item="3")
    with pytest.raises(DatasetError, match="absent from the item file"):
        load_dataset("generic", tmp_path / "missing")
    (tmp_path / "cols").mkdir()
    (tmp_path / "cols" / "items.csv").write_text("id,name\n1,x\n")
    with pytest.raises(DatasetError, match=r"items.csv:1: the header has no 'item_id' column"):
        load_dataset("generic", tmp_path / "cols")
    with pytest.raises(DatasetError, match="missing file .*u.item"):
        load_dataset("ml-100k", tmp_path / "cols")


# --- runner --------------------------------------------------------------------------------------------
def test_end_to_end_on_tiny_data(tmp_path: Path) -> None:
    _write_generic(tmp_path / "d")
    sp = leave_one_out(load_dataset("generic", tmp_path / "d"))
    runs = evaluate(
        sp,
        ["popularity", "itemknn", "bundle"],
        protocols=["full", "sampled20"],
        scenarios=["warm", "cold-user", "cold-item"],
        seed=0,
        cache_dir=tmp_path / "cache",
    )
    results = report(runs, sp, tmp_path / "out", seed=0, command="test")
    for f in ("results.json", "results.md", "results.png", "per_user.json"):
        assert (tmp_path / "out" / f).is_file()
    warm = results["results"]["warm"]["full"]
    assert set(warm) == {"popularity", "itemknn", "bundle:default"}
    for m in warm.values():
        assert 0.0 <= m["NDCG@10"]["mean"] <= 1.0 and m["NDCG@10"]["ci95"][0] <= m["NDCG@10"]["mean"]
    # topics are cleanly separated: the text model beats popularity for cold users
    cold = results["results"]["cold-user"]["full"]
    assert cold["bundle:default"]["NDCG@10"]["mean"] > cold["popularity"]["NDCG@10"]["mean"]
    assert "vs popularity" in next(iter(results["paired_tests"]["warm"]["full"]))
    assert "random_ndcg10" in results
    # beyond accuracy: popularity is never serendipitous and lists the least novel items
    pop, knn = warm["popularity"], warm["itemknn"]
    assert pop["Serendipity@10"]["mean"] == 0.0 and knn["Novelty@10"]["mean"] > pop["Novelty@10"]["mean"]
    assert 0.0 < pop["Coverage@10"] <= knn["Coverage@10"] <= 1.0 and 0.0 <= knn["ILD@10"]["mean"] <= 1.0
    assert (
        "| model | Coverage@10 | Novelty@10 | ILD@10 | Serendipity@10 |"
        in (tmp_path / "out" / "results.md").read_text()
    )


def test_satisfaction_view_groups_users_by_the_rating_of_their_next_item() -> None:
    from ondevice_rec.eval.metrics import satisfaction

    hit = {"NDCG@10": 0.5, "HR@10": 1.0}
    assert satisfaction(hit, 5.0)["SatNDCG@10"] == 0.5 and np.isnan(satisfaction(hit, 5.0)["Regret@10"])
    assert satisfaction(hit, 1.0)["Regret@10"] == 1.0 and np.isnan(satisfaction(hit, 1.0)["SatNDCG@10"])
    assert all(np.isnan(v) for v in satisfaction(hit, 3.0).values())


def test_beyond_accuracy_of_known_lists() -> None:
    from ondevice_rec.eval.metrics import beyond_accuracy, tag_matrix, top_k

    scores = np.array([0.1, 0.9, 0.9, 0.5, 0.0])
    assert top_k(scores, np.arange(5), 3).tolist() == [1, 2, 3]  # ties in index order
    assert top_k(scores, np.array([0, 4]), 10).tolist() == [0, 4]
    counts, tags = np.array([8, 4, 2, 1, 0]), tag_matrix([("a",), ("a",), ("a", "b"), ("b",), ()])
    assert tags is not None and tag_matrix([(), ()]) is None
    got = beyond_accuracy(np.array([1, 2]), 2, np.array([0, 1]), counts, 8, tags)
    assert got["Novelty@10"] == pytest.approx((1 + 2) / 2)  # −log2(4/8), −log2(2/8)
    assert got["ILD@10"] == pytest.approx(0.5)  # Jaccard({a}, {a, b}) = 1/2
    assert got["Serendipity@10"] == 1.0  # a hit the popularity list (0, 1) does not make
    assert beyond_accuracy(np.array([1, 2]), 1, np.array([0, 1]), counts, 8, tags)["Serendipity@10"] == 0.0
    assert "ILD@10" not in beyond_accuracy(np.array([4]), 0, np.array([0]), counts, 8, None)


def test_profile_from_history() -> None:
    ds = _ds([("u", str(i), float(i), 5.0) for i in range(6)])
    sp = leave_one_out(ds, core=1)
    text = profile_from_history(sp, np.arange(6))
    assert text.startswith("I like ") and "movies" in text


def test_eval_cli(tmp_path: Path) -> None:
    _write_generic(tmp_path / "d")
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "ondevice_rec.cli",
            "eval",
            "--dataset",
            "generic",
            "--data-dir",
            str(tmp_path / "d"),
            "--models",
            "popularity,itemknn",
            "--protocol",
            "full,sampled20",
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / "o" / "results.json").read_text())
    assert set(res["results"]["warm"]) == {"full", "sampled20"}
    assert set(res["results"]["warm"]["full"]) == {"popularity", "itemknn"}
    r = subprocess.run(
        [sys.executable, "-m", "ondevice_rec.cli", "eval", "--dataset", "bogus", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 1 and "unknown dataset" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.skipif(not (SHARED_DATA / "ml-100k").is_dir(), reason="../shared/data not present")
def test_real_movielens_loaders() -> None:
    ds = load_dataset("ml-100k", SHARED_DATA / "ml-100k")
    assert len(ds) == 100_000 and len(ds.item_info) == 1682
    sp = leave_one_out(ds)
    assert sp.n_users == 943 and all(len(t) >= 3 for t in sp.train)
    assert sp.item_text[0].startswith("Toy Story (1995). Genres: Animation")
    small = load_dataset("ml-latest-small", SHARED_DATA / "ml-latest-small")
    assert len(small) == 100_836


def test_generic_loader_reads_files_saved_with_a_byte_order_mark(tmp_path: Path) -> None:
    """Excel's "CSV UTF-8" starts with a BOM: `odrec catalog import` reads it, so must `odrec eval`."""
    _write_generic(tmp_path / "bom")
    for name in ("items.csv", "interactions.csv"):
        p = tmp_path / "bom" / name
        p.write_bytes(b"\xef\xbb\xbf" + p.read_bytes())
    assert len(load_dataset("generic", tmp_path / "bom")) == 225


def test_the_diversity_knob_is_a_model_spec(tmp_path: Path) -> None:
    from ondevice_rec.errors import ArgumentError
    from ondevice_rec.eval.baselines import make_model

    assert make_model("bundle:default@div=0.3", 0).diversity == 0.3  # type: ignore[union-attr]
    assert make_model("bundle:default@div=0.3", 0).name == "bundle:default@div=0.3"
    with pytest.raises(ArgumentError, match="between 0 and 1"):
        make_model("bundle:x@div=2", 0)
    _write_generic(tmp_path / "d")
    sp = leave_one_out(load_dataset("generic", tmp_path / "d"))
    runs = evaluate(sp, ["bundle", "bundle:default@div=1"], protocols=["full"], scenarios=["warm"], seed=0)
    plain, diverse = (r.summary(0) for r in runs)
    assert plain["ILD@10"]["mean"] < diverse["ILD@10"]["mean"]  # MMR at full diversity spreads the genres


def test_the_successors_baseline_ranks_what_follows_the_newest_items() -> None:
    """Issue 29: a first-order sequential baseline beside the blend: the successor table alone, its recency
    half-life chosen on validation."""
    pytest.importorskip("scipy")
    from ondevice_rec.datasets import Split
    from ondevice_rec.eval.baselines import Successors, make_model
    from ondevice_rec.ranking.cooccurrence import HALF_LIVES

    rng = np.random.default_rng(3)
    n_items, seqs = 40, []
    for _ in range(150):  # pairs (2k, 2k+1), always in that order
        firsts = rng.choice(np.arange(0, n_items, 2), 5, replace=False)
        seqs.append(np.concatenate([[f, f + 1] for f in firsts[:4]] + [[firsts[4]]]))
    split = Split(
        dataset="t", user_ids=[str(u) for u in range(150)], item_ids=[str(i) for i in range(n_items)],
        train=[s[:7] for s in seqs], valid=np.array([s[7] for s in seqs]), test=np.array([s[8] for s in seqs]),
        item_text=[""] * n_items, item_title=[""] * n_items, item_tags=[() for _ in range(n_items)],
    )  # fmt: skip
    assert isinstance(make_model("successors", 0), Successors)
    fitted = Successors().fit(split)
    assert fitted.half_life in HALF_LIVES and "chosen on validation" in fitted.note  # type: ignore[attr-defined]
    s = fitted.score(np.array([0, 1]), [np.array([4, 5, 10]), np.array([], dtype=np.int64)])
    assert int(np.argmax(s[0])) == 11 and not s[1].any()  # what follows the newest item, 10
