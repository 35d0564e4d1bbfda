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


@pytest.mark.parametrize(
    ("kind", "value", "weight"),
    [
        ("complete", None, 1.1),  # finished: more than a like (1.0) or a click (0.4)
        ("complete", 0.5, 0.55),  # half of it
        ("complete", 0.05, -0.4),  # abandoned at 5 %: counts against
        ("dwell", 120.0, 0.6),  # a minute or more
        ("dwell", 30.0, 0.3),  # half a minute
        ("dwell", 2.0, -0.4),  # left within 5 seconds
        ("click", None, 0.4),
    ],
)
def test_satisfaction_signals_weigh_as_documented(kind: str, value: float | None, weight: float) -> None:
    assert event_weight(kind, value, RankingConfig()) == pytest.approx(weight)
    from ondevice_rec.ranking.signals import event_weights

    assert event_weights([kind, "like"], [value, None], RankingConfig())[0] == pytest.approx(weight)


def test_completions_and_early_abandons_change_what_is_recommended(rec_demo) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import topic_of

    rec = rec_demo
    for user in ("finisher", "abandoner"):
        rec.consent(user).grant("personalization")
    # the same two items opened; one finished, the other left after a few seconds (or dwelled on at length)
    rec.record("finisher", "scie-01", kind="click", at=1_700_000_000)
    rec.record("finisher", "cook-01", kind="click", at=1_700_000_010)
    rec.record("finisher", "scie-01", kind="complete", at=1_700_000_020)
    rec.record("abandoner", "scie-01", kind="dwell", value=3, at=1_700_000_000)
    rec.record("abandoner", "cook-01", kind="dwell", value=240, at=1_700_000_010)
    top = [topic_of(r.item_id) for r in rec.recommend("finisher", k=5, diversity=0.0)]
    assert top.count("scie") > top.count("cook"), top
    top = [topic_of(r.item_id) for r in rec.recommend("abandoner", k=5, diversity=0.0)]
    assert top.count("cook") > top.count("scie") and "scie" not in top[:2], top
    with pytest.raises(ValueError, match="between 0 and 1"):
        rec.record("finisher", "scie-02", kind="complete", value=3)
    with pytest.raises(ValueError, match="seconds"):
        rec.record("finisher", "scie-02", kind="dwell")


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


# --- the user state: vectorised build vs the plain per-event definition ---------------------------------------
def _reference_state(events, matrix, cfg, request_ctx=()):
    """The user state as its docstring defines it, one event at a time (the specification the vectorised
    ``build_user_state`` must match)."""
    from ondevice_rec.ranking.scoring import unit

    def blend(short, long, sw):
        if short is None or long is None:
            return short if long is None else long
        return unit(sw * short + (1.0 - sw) * long)

    evs = events[: cfg.history_limit]
    latest = max((e[3] for e in evs), default=0.0)
    dim = matrix.shape[1]
    long_pos, long_neg, short_pos, short_neg = (np.zeros(dim, np.float64) for _ in range(4))
    contrib: dict[int, float] = {}
    kind_of: dict[int, str] = {}
    n_short, prev_at, in_session = 0, latest, True
    for row, kind, value, at, ctx in evs:
        w = event_weight(kind, value, cfg)
        if w == 0.0:
            continue
        lw = abs(w) * 0.5 ** ((max(0.0, latest - at) / 86400.0) / cfg.long_half_life_days)
        sw = 0.0
        if in_session and n_short < cfg.short_term_events and prev_at - at <= cfg.session_gap_hours * 3600.0:
            sw = abs(w) * 0.5 ** (n_short / cfg.half_life_events)
            if request_ctx and ctx and set(request_ctx).intersection(ctx.split("|")):
                sw *= 1.0 + cfg.context_event_boost
            n_short += 1
            prev_at = at
        else:
            in_session = False
        if w > 0:
            long_pos += lw * matrix[row]
            short_pos += sw * matrix[row]
            kind_of.setdefault(row, kind)
            contrib[row] = contrib.get(row, 0.0) + lw + sw
        else:
            long_neg += lw * matrix[row]
            short_neg += sw * matrix[row]
    share = cfg.short_term_weight * min(1.0, n_short / max(1, cfg.short_term_full_after))
    pos = blend(unit(short_pos), unit(long_pos), share)
    neg = blend(unit(short_neg), unit(long_neg), share)
    return pos, neg, list(contrib), [contrib[r] for r in contrib], [kind_of[r] for r in contrib]


@given(
    st.lists(
        st.tuples(
            st.integers(0, 11),
            st.sampled_from(["view", "click", "like", "rating", "skip", "dislike", "purchase", "impression"]),
            st.floats(1.0, 5.0),
            st.floats(0, 3e7),
            st.sampled_from(["", "daypart:evening", "daypart:evening|device:mobile", "device:tv"]),
        ),
        max_size=40,
    ),
    st.sampled_from([(), ("daypart:evening",)]),
    st.sampled_from([40, 7]),
)
def test_the_vectorised_user_state_is_the_per_event_definition(events, request_ctx, limit) -> None:
    from ondevice_rec.ranking.scoring import Events, build_user_state

    cfg = RankingConfig(history_limit=limit)
    matrix = np.random.default_rng(1).normal(size=(12, 6)).astype(np.float32)
    events = sorted(events, key=lambda e: -e[3])  # newest first, as the store hands them over
    state = build_user_state(
        Events.of(events, cfg),
        lambda rows: matrix[rows],
        profile_pos=None,
        profile_neg=None,
        request_ctx=request_ctx,
        cfg=cfg,
    )
    pos, neg, rows, weights, kinds = _reference_state(events, matrix, cfg, request_ctx)
    for got, want in ((state.pos, pos), (state.neg, neg)):
        assert (got is None) == (want is None)
        if want is not None:
            np.testing.assert_allclose(got, want, atol=1e-5)
    assert state.history_rows.tolist() == rows and state.history_kinds == kinds
    np.testing.assert_allclose(state.history_weights, weights, rtol=1e-5)
    if rows:
        np.testing.assert_allclose(state.history_vecs, matrix[rows])


# --- honest reasons: the reason names the term that decided ---------------------------------------------------
@pytest.fixture(scope="module")
def ml100k_store(tmp_path_factory: pytest.TempPathFactory):
    from ondevice_rec import Recommender
    from ondevice_rec.datasets.loaders import load_dataset
    from tests.conftest import SHARED_DATA

    if not (SHARED_DATA / "ml-100k").is_dir():
        pytest.skip("../shared/data not present")
    ds = load_dataset("ml-100k", SHARED_DATA / "ml-100k")
    rec = Recommender.open(tmp_path_factory.mktemp("ml") / "ml.db")
    rec.add_items([{"id": i, "title": t, "text": x, "tags": list(g)} for i, (t, x, g) in ds.item_info.items()])
    users = sorted(set(ds.users.tolist()), key=int)[:80]
    for u in users:
        rec.consent(u).grant("personalization")
    keep = np.isin(ds.users, users)
    rec.record_many(
        {"user_id": u, "item_id": i, "kind": "rating", "value": float(r), "at": float(t)}
        for u, i, r, t in zip(ds.users[keep], ds.items[keep], ds.ratings[keep], ds.timestamps[keep])
    )
    yield rec, users
    rec.close()


def test_every_reason_names_the_largest_term_of_its_score(ml100k_store) -> None:
    from ondevice_rec.ranking.reasons import REASON_TERMS, TERM_OF_SIGNAL

    rec, users = ml100k_store
    signals: dict[str, int] = {}
    for u in users[:40]:
        for r in rec.recommend(u, k=10, context={"time": "evening"}):
            why = r.explanation
            contrib = why["contributions"]
            assert sum(contrib.values()) == pytest.approx(r.score, abs=2e-3)
            top = max(REASON_TERMS, key=lambda t: contrib[t])
            assert why["decided_by"] == TERM_OF_SIGNAL[why["signal"]] == top, (u, r.reason, contrib)
            if why["signal"] == "popularity":
                assert r.reason.startswith("Popular here")
            signals[why["signal"]] = signals.get(why["signal"], 0) + 1
    # MovieLens with the default bundle: popularity carries many picks, similarity others, and both are said
    assert signals.get("popularity", 0) > 0 and sum(signals.values()) - signals.get("popularity", 0) > 0, signals


def test_a_popular_pick_says_so_and_names_the_liked_item_it_resembles(ml100k_store) -> None:
    rec, users = ml100k_store
    said = [r for u in users[:40] for r in rec.recommend(u, k=10) if r.explanation["signal"] == "popularity"]
    named = [r for r in said if r.explanation.get("items")]
    assert named and all(" — and like “" in r.reason for r in named)
    assert all(r.reason == "Popular here" for r in said if not r.explanation.get("items"))
