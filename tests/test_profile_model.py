"""The profile model (ranking/profile_model.py): what people who name these titles and genres chose."""

from __future__ import annotations

import numpy as np
import pytest

from ondevice_rec.ranking.profile_model import WEIGHT_KEYS, ProfileModel, fit_profile_model

# six users over six items: items 0 and 1 go together, as do 2 and 3; users 3-5 are "into" Film-Noir
TRAIN = [np.array(s) for s in ([0, 1], [0, 1, 4], [1, 0, 5], [2, 3], [3, 2, 5], [2, 3, 4])]
GENRES = [["Comedy"], ["Comedy"], ["Comedy"], ["Film-Noir"], ["Film-Noir"], ["Film-Noir"]]


def _model(**weights: float) -> ProfileModel:
    return fit_profile_model(TRAIN, 6, GENRES).with_weights({**dict.fromkeys(WEIGHT_KEYS, 1.0), **weights})


def test_a_named_title_lifts_what_went_with_it() -> None:
    m = _model()
    s = m.scores(np.array([0]), np.ones(1), [])
    assert s[1] == s.max() > 0 > s[2]  # chosen with it more, and less, than popularity predicts
    assert s[0] == pytest.approx(m.title_floor[0])  # an item never recommends itself through its own row
    assert m.title_links(np.array([0, -1]), 1) == pytest.approx([s[1], 0.0])


def test_a_named_genre_lifts_what_its_users_chose() -> None:
    m = _model()
    noir = m.genres_in(["I'm into film noir and crime"])
    assert [m.genre_names[k] for k in noir] == ["Film-Noir"]
    s = m.scores(np.zeros(0, np.int64), np.zeros(0, np.float32), noir)
    assert min(s[2], s[3]) > 0 > max(s[0], s[1])
    assert m.genre_term(noir[0], 2, titled=False) == pytest.approx(s[2])


NAMES = ["Sci-Fi", "Children's", "Comedy", "Film-Noir", "War", "Romance", "Animation", "Horror", "Crime"]


def _named_model() -> ProfileModel:
    """Three users into each of :data:`NAMES`, the MovieLens spellings."""
    train = [np.array([k % 6, (k + 1) % 6]) for k in range(3 * len(NAMES))]
    return fit_profile_model(train, 6, [[NAMES[k // 3]] for k in range(len(train))])


@pytest.mark.parametrize(
    "clauses,said,found",
    [
        (["I like comedies"], [], ["Comedy"]),  # plural y -> ies
        (["film noirs please"], [], ["Film-Noir"]),
        (["COMEDY"], [], ["Comedy"]),
        (["film-noir, comedy"], [], ["Comedy", "Film-Noir"]),
        (["I'm into science fiction"], [], ["Sci-Fi"]),
        (["sci-fi and scifi"], [], ["Sci-Fi"]),
        (["films for kids", "family movies"], [], ["Children's"]),
        (["children's films"], [], ["Children's"]),
        (["a romantic comedy"], [], ["Comedy", "Romance"]),
        (["rom-coms and cartoons"], [], ["Animation", "Romance"]),
        (["J'adore les comédies et les films d'horreur"], [], ["Comedy", "Horror"]),  # accents folded
        (["la science-fiction, les polars"], [], ["Crime", "Sci-Fi"]),
        (["I loved Star Wars (1977) and Heat"], ["Star Wars (1977)"], []),  # a named title is not a genre
        (["I loved Star Wars"], [], ["War"]),  # ... unless it was not resolved as one
        (["warm and comical"], [], []),  # whole words only
        (["sci"], [], []),  # a part of a genre's name is not the genre
        ([], [], []),
    ],
)
def test_genres_are_matched_as_whole_words_in_their_usual_phrasings(
    clauses: list[str], said: list[str], found: list[str]
) -> None:
    m = _named_model()
    assert sorted(m.genre_names[k] for k in m.genres_in(clauses, said)) == found


def test_weights_pick_the_sums_by_whether_titles_are_named() -> None:
    m = _model(titles=0.0, genres_with_titles=0.0, genres=2.0)
    assert not m.scores(np.array([0]), np.ones(1), [0]).any()  # a titled profile: both weights 0
    assert m.scores(np.array([-1]), np.ones(1), [0]).any()  # a title outside the table: words only
    half = m.scores(np.array([-1]), np.ones(1), [0])
    one = _model(genres=1.0).scores(np.array([-1]), np.ones(1), [0])
    assert np.allclose(half, 2 * one)


def test_a_match_counts_by_its_confidence() -> None:
    m = _model()
    assert np.allclose(m.scores(np.array([0]), np.array([0.5]), []), 0.5 * m.scores(np.array([0]), np.ones(1), []))


def test_round_trip_and_malformed_files() -> None:
    m = _model(titles=0.5, genres=0.25)
    back = ProfileModel.from_bytes(m.to_bytes())
    assert back.genre_names == m.genre_names and back.weights == m.weights
    assert np.array_equal(back.titles.indices, m.titles.indices)
    assert np.allclose(back.title_floor, m.title_floor) and np.allclose(back.genre_floor, m.genre_floor)
    assert np.allclose(back.genres, m.genres, atol=1e-2)
    with pytest.raises(ValueError, match="weights must name"):
        m.with_weights({"titles": 1.0})
    with pytest.raises(ValueError, match="at least 0"):
        m.with_weights({**m.weights, "genres": -1.0})
    with pytest.raises(ValueError, match="not an .npz file"):
        ProfileModel.from_bytes(b"not a model")
    broken = ProfileModel(
        m.titles.__class__(m.titles.indptr, m.titles.indices, np.full_like(m.titles.weights, np.nan)),
        m.title_floor, m.genres, m.genre_floor, m.genre_names, m.weights,
    )  # fmt: skip
    with pytest.raises(ValueError, match="finite"):
        ProfileModel.from_bytes(broken.to_bytes())


def test_title_rows_keep_what_fits_the_byte_budget() -> None:
    rng = np.random.default_rng(0)
    train = [rng.choice(300, 40, replace=False) for _ in range(200)]
    small = fit_profile_model(train, 300, [[] for _ in train], max_bytes=300 * 4 * 60)
    assert int(np.diff(small.titles.indptr).max()) <= 60
    full = fit_profile_model(train, 300, [[] for _ in train])
    assert int(np.diff(full.titles.indptr).max()) > 60
    assert small.genre_names == () and small.genres.shape == (0, 300)


def test_without_titles_keeps_the_genre_rows_and_is_small() -> None:
    m = _model(titles=0.0)
    g = m.without_titles()
    assert g.titles.indptr[-1] == 0 and len(g.to_bytes()) < len(m.to_bytes())
    noir = m.genres_in(["noir film", "film noir"])
    assert np.array_equal(g.scores(np.array([-1]), np.ones(1), noir), m.scores(np.array([-1]), np.ones(1), noir))
    assert np.array_equal(ProfileModel.from_bytes(g.to_bytes()).genres, g.genres)
