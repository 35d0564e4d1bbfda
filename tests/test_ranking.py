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
