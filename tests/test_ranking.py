from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ondevice_rec.ranking import RankingConfig, context_keys, event_weight, select_mmr, split_profile


@pytest.mark.parametrize(
    "text, pos, neg",
    [
        ("I love hard science fiction, no horror", ["I love hard science fiction"], ["horror"]),
        ("jazz; not country. Never opera!", ["jazz"], ["country", "opera"]),
        ("cooking but I don't like baking", ["cooking"], ["baking"]),
        ("I hate musicals", [], ["musicals"]),
        ("", [], []),
    ],
)
def test_split_profile(text: str, pos: list[str], neg: list[str]) -> None:
    assert split_profile(text) == (pos, neg)


@given(st.text(max_size=300))
def test_split_profile_never_crashes(text: str) -> None:
    pos, neg = split_profile(text)
    assert all(isinstance(c, str) and c for c in pos + neg)


def test_context_keys() -> None:
    sat_evening = datetime(2026, 11, 28, 20, 30)
    assert context_keys({"time": sat_evening, "device": "Mobile"}) == [
        "daypart:evening",
        "week:weekend",
        "device:mobile",
    ]
    assert context_keys({"time": "morning"}) == ["daypart:morning"]
    assert context_keys({"time": "2026-11-25T03:00:00"})[0] == "daypart:night"
    assert context_keys(None) == []
    with pytest.raises(ValueError):
        context_keys({"device": ""})


def test_event_weights_sign() -> None:
    cfg = RankingConfig()
    assert event_weight("like", None, cfg) > 0 > event_weight("dislike", None, cfg)
    assert event_weight("rating", 5, cfg) == 1.0 and event_weight("rating", 1, cfg) == -1.0
    assert event_weight("rating", 3, cfg) == 0.0


def test_mmr_zero_diversity_is_plain_top_k_and_respects_allowed() -> None:
    rng = np.random.default_rng(0)
    m = rng.normal(size=(50, 8)).astype(np.float32)
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    scores = rng.random(50).astype(np.float32)
    allowed = np.ones(50, bool)
    allowed[np.argmax(scores)] = False
    top = select_mmr(scores, m, allowed, 5, 0.0, 200)
    expected = [i for i in np.argsort(-scores) if allowed[i]][:5]
    assert top == expected
    div = select_mmr(scores, m, allowed, 5, 0.9, 200)
    assert len(set(div)) == 5 and all(allowed[i] for i in div)
    assert select_mmr(scores, m, np.zeros(50, bool), 5, 0.5, 200) == []


def test_prefilter_finds_the_exact_top_100_on_clustered_vectors() -> None:
    from ondevice_rec.ranking import RankingConfig, UserState, build_prefilter, score_items, score_items_prefiltered

    rng = np.random.default_rng(0)
    centres = rng.standard_normal((300, 64)).astype(np.float32)
    m = centres[rng.integers(0, 300, 30_000)] + 0.3 * rng.standard_normal((30_000, 64)).astype(np.float32)
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    cfg = RankingConfig(prefilter_rank=32, prefilter_candidates=1500)
    pf = build_prefilter(m, cfg.prefilter_rank)
    pop = rng.random(len(m)).astype(np.float32)
    recalls = []
    for _ in range(20):
        hist = rng.choice(len(m), 20, replace=False)
        pos = m[hist].mean(0)
        neg = m[rng.integers(len(m))]
        state = UserState(pos / np.linalg.norm(pos), neg, hist, np.ones(20, np.float32), [], [], None)
        allowed = np.ones(len(m), dtype=bool)
        allowed[hist] = False
        exact = score_items(state, m, pop, None, cfg)
        exact[~allowed] = -np.inf
        got, mask = score_items_prefiltered(state, m, pf, pop, None, allowed, cfg)
        assert mask.sum() == 1500 and not mask[hist].any()
        assert np.allclose(got[mask], exact[mask], atol=1e-5)  # candidates are scored exactly
        top = set(np.argsort(-exact)[:100].tolist())
        recalls.append(len(top & set(np.argsort(-got)[:100].tolist())) / 100)
    assert np.mean(recalls) >= 0.95, recalls


def test_the_item_item_blend_reaches_past_the_prefilter() -> None:
    """A neighbour the low-rank scores would leave out enters the candidates when the blend favours it, and its
    exact score includes the blend (the same total as without the prefilter)."""
    from ondevice_rec.ranking import RankingConfig, UserState, build_prefilter, score_items, score_items_prefiltered

    rng = np.random.default_rng(1)
    m = rng.standard_normal((5_000, 32)).astype(np.float32)
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    cfg = RankingConfig(prefilter_rank=16, prefilter_candidates=200)
    pf = build_prefilter(m, cfg.prefilter_rank)
    pop = np.zeros(len(m), np.float32)
    hist = np.arange(5)
    pos = m[hist].mean(0)
    state = UserState(pos / np.linalg.norm(pos), None, hist, np.ones(5, np.float32), [], [], None)
    allowed = np.ones(len(m), dtype=bool)
    allowed[hist] = False
    plain = score_items(state, m, pop, None, cfg)
    worst = int(np.argmin(np.where(allowed, plain, np.inf)))
    extra = np.zeros(len(m), np.float32)
    extra[worst] = 10.0
    _, without = score_items_prefiltered(state, m, pf, pop, None, allowed, cfg)
    got, mask = score_items_prefiltered(state, m, pf, pop, None, allowed, cfg, extra=extra)
    assert not without[worst] and mask[worst] and int(np.argmax(got)) == worst
    assert np.isclose(got[worst], plain[worst] + 10.0, atol=1e-5)


def test_recommend_with_the_prefilter_matches_exact_search(rec_demo) -> None:
    from dataclasses import replace

    rec_demo.consent("u").grant("personalization")
    for i in ("scie-01", "scie-02", "scie-03"):
        rec_demo.record("u", i, kind="like")
    exact = [r.item_id for r in rec_demo.recommend("u", k=20, diversity=0.0)]
    rec_demo.config = replace(rec_demo.config, prefilter_min_items=10, prefilter_rank=48, prefilter_candidates=100)
    pre = [r.item_id for r in rec_demo.recommend("u", k=20, diversity=0.0)]
    assert len(set(pre) & set(exact)) >= 19


def test_float16_vectors_keep_the_float32_top_10_on_the_demo_catalogue(db_path, demo_catalog) -> None:
    """The memory saving for large catalogues (float16 in RAM, exact float32 on the candidates) must not change
    what users see: top-10 overlap with float32 scoring, over users with different tastes and the profile path."""
    from ondevice_rec import Recommender

    with Recommender.open(db_path) as rec:
        rec.add_items(demo_catalog)
        for n, topic in enumerate(sorted({it["tags"][0] for it in demo_catalog})):
            user = f"u{n}"
            rec.consent(user).grant("personalization")
            for it in [it for it in demo_catalog if it["tags"][0] == topic][:3]:
                rec.record(user, it["id"], kind="like")
        rec.consent("p").grant("personalization")
        rec.set_profile("p", "I love hard science fiction and jazz, no horror")
    users = [f"u{n}" for n in range(len({it["tags"][0] for it in demo_catalog}))] + ["p"]
    half = Recommender.open(db_path, config=RankingConfig(half_precision_min_items=1))
    full = Recommender.open(db_path, config=RankingConfig(half_precision_min_items=0))
    try:
        assert half._items.snapshot().matrix.dtype == np.float16 and full._items.snapshot().matrix.dtype == np.float32
        overlaps = []
        for u in users:
            a = {r.item_id for r in half.recommend(u, k=10, diversity=0.0)}
            b = {r.item_id for r in full.recommend(u, k=10, diversity=0.0)}
            overlaps.append(len(a & b) / 10)
    finally:
        half.close()
        full.close()
    print(f"float16 vs float32 top-10 overlap on the demo: mean {np.mean(overlaps):.3f}, min {min(overlaps):.2f}")
    assert np.mean(overlaps) >= 0.98, overlaps
