"""Typed configuration of the on-device ranking pipeline, and the vocabularies it understands."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import ArgumentError, ArgumentTypeError

EVENT_KINDS = (
    "view", "click", "like", "rating", "skip", "dislike", "purchase", "impression", "complete", "dwell",
)  # fmt: skip
BUILTIN_CONTEXT_KEYS = ("time", "device")  # understood without declaring: time → daypart and weekday/weekend
_CONTEXT_KEY = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
DAYPARTS = ("morning", "afternoon", "evening", "night")


@dataclass(frozen=True)
class RankingConfig:
    """Knobs of the default on-device ranking pipeline."""

    history_limit: int = 500  # most recent events that shape the user state (long-term interest)
    short_term_events: int = 10  # at most this many of the latest session's events make the short-term interest
    session_gap_hours: float = 12.0  # a pause longer than this ends a session (on the user's own timeline)
    short_term_weight: float = 0.6  # short-term vs long-term interest, reached once the session has ...
    short_term_full_after: int = 3  # ... this many events (one odd click does not take over the list)
    half_life_events: float = 3.0  # short-term recency by position: the 3rd most recent event counts half
    long_half_life_days: float = 365.0  # long-term decay, by age on the user's own timeline
    kind_weights: Mapping[str, float] = field(
        default_factory=lambda: {
            "purchase": 1.2,
            "like": 1.0,
            "click": 0.4,
            "view": 0.3,
            "impression": 0.0,  # shown but not chosen: no pull or push on taste (see impression_penalty)
            "skip": -0.3,
            "dislike": -1.0,
            "complete": 1.1,  # finished (value = the share consumed, 0..1; none: all of it)
            "dwell": 0.6,  # at dwell_full_seconds or more (value = seconds spent)
        }
    )
    # satisfaction: a completion counts more than a click, time spent counts up to dwell_full_seconds, and an
    # early abandon (under abandon_fraction of the item, or under abandon_seconds on it) counts against it
    # modalities the app encodes (Recommender.open(modalities={"image": 512})): each adds weight × the cosine of
    # an item's vector with the user's (the mean of their liked items' vectors in that modality)
    modality_weight: float = 0.5
    modality_weights: Mapping[str, float] = field(default_factory=dict)  # per modality, instead of modality_weight
    dwell_full_seconds: float = 60.0
    abandon_fraction: float = 0.1
    abandon_seconds: float = 5.0
    abandon_weight: float = -0.4
    # context keys the app declares beyond time and device (e.g. weather, season, location): each value becomes
    # a key such as ``weather:rainy`` with its own popularity prior and event boost
    context_keys: tuple[str, ...] = ()
    rating_scale: tuple[float, float] = (1.0, 5.0)  # rating value range; the midpoint is neutral
    profile_weight: float = 0.7  # profile vector relative to the (unit) event centroid
    negative_weight: float = 0.6  # how hard dislikes/skips and "no X" clauses push away
    # popularity prior added to personalised scores (log-scaled 0..1); None = the bundle's own default
    # (see for_bundle_kind): it only acts where popularity is known (the catalogue's or k-anonymous local counts)
    popularity_weight: float | None = None
    # the popularity weight for a user with no events of their own (profile only); None: the bundle's (a student
    # chooses it on validation at export), else ``popularity_weight``
    cold_popularity_weight: float | None = None
    # a user with no events whose profile names catalogue titles (they are the whole history): the popularity
    # weight, and the factor on the item-item blend; None: the bundle's (chosen on validation at export), else
    # ``cold_popularity_weight`` and no factor
    cold_titles_popularity_weight: float | None = None
    cold_titles_item_item_scale: float | None = None
    item_item_scale: float = 1.0  # factor on the bundle's item-item blend weight (0: no blend)
    # factor on the bundle's profile model (what people who name the same titles and genres chose) for a user
    # with no events of their own; its weights were chosen on validation at export (0: not used)
    profile_model_scale: float = 1.0
    # k-anonymity of the local popularity priors: an item's local count (overall or in a context) is used only
    # once at least this many distinct consenting users stand behind it, so the non-personalised fallback and
    # "popular" reasons never reveal what one other person on this device did
    popularity_min_users: int = 5
    # an item shown to the user and not chosen scores this much lower per impression (at most impression_cap
    # of them): it sinks a little, it is not hidden (shown is not seen)
    impression_penalty: float = 0.02
    impression_cap: int = 5
    context_weight: float = 0.08  # popularity of the item in the request's context
    context_event_boost: float = 1.0  # events recorded in the request's context count (1 + boost) times
    event_saturation: float = 2.0  # total positive event weight at which events count fully vs the profile
    candidate_pool: int = 200  # candidates re-ranked for diversity
    # catalogues at least this large are searched coarse-to-fine: low-rank scores for every item pick
    # ``prefilter_candidates`` rows, which are then scored exactly (0 = always exact over the whole catalogue)
    prefilter_min_items: int = 20_000
    # catalogues at least this large keep their vectors in float16 in memory (half the RAM; scores of the
    # prefilter's candidates are exact in float32; 0 = always float32)
    half_precision_min_items: int = 20_000
    # catalogues at least this large keep them as int8 with one scale per row (a quarter of float32; 0 = never)
    int8_min_items: int = 200_000
    # catalogues at least this large keep a copy of their vectors beside the store file (``<store>-vectors``,
    # catalogue data only) so a process opens them in milliseconds instead of scanning SQLite (0 = never)
    vector_cache_min_items: int = 20_000
    prefilter_rank: int = 48
    # at least this many, and 20 per item a request asks for: at k=10, 1,000 keep the top 10 identical to exact
    # float32 scoring on 103 queries at 100k items (benchmarks/results/bench/memory-100k.md) at half the
    # float16 → float32 conversion of 2,000; k=100 gets 2,000
    prefilter_candidates: int = 1_000
    # catalogues at least this large are searched through an ANN index (usearch HNSW, ``ondevice-rec[scale]``)
    # beside the store: its nearest items to the user joined with the most popular, scored exactly; without
    # usearch they fall back to the prefilter above (0 = never)
    ann_min_items: int = 200_000
    ann_candidates: int = 500  # items asked of the index per request, at least (and 20 per item asked for)
    ann_popular: int = 2_000  # the most popular items joined with them, at least
    ann_connectivity: int = 16
    ann_expansion_add: int = 128  # 64 builds 1M items in about 2 min, 128 in 5, with a better graph (recall)
    ann_expansion_search: int = 64
    default_diversity: float = 0.15  # MMR trade-off: 0 = pure relevance, 1 = pure novelty
    reason_history_min_sim: float = 0.45
    reason_profile_min_sim: float = 0.20

    @property
    def prior_weight(self) -> float:
        """The popularity weight in effect (an unresolved config — no bundle yet — uses the students' 0.04)."""
        return POPULARITY_WEIGHT_BY_KIND["two-tower"] if self.popularity_weight is None else self.popularity_weight

    def __post_init__(self) -> None:
        if isinstance(self.popularity_min_users, bool) or not isinstance(self.popularity_min_users, int):
            raise ArgumentTypeError("popularity_min_users must be an int")
        if self.popularity_min_users < 1:
            raise ArgumentError("popularity_min_users must be at least 1")
        if isinstance(self.context_keys, str) or not isinstance(self.context_keys, (tuple, list)):
            raise ArgumentTypeError("context_keys must be a tuple of key names such as ('weather', 'season')")
        for key in self.context_keys:
            if not isinstance(key, str) or not _CONTEXT_KEY.match(key):
                raise ArgumentError(
                    f"context key {key!r} must be a lower-case name (letters, digits, _; at most 32 characters)"
                )
        optional = ("cold_popularity_weight", "cold_titles_popularity_weight", "cold_titles_item_item_scale")
        for name in ("item_item_scale", "profile_model_scale", *optional):
            value = getattr(self, name)
            if value is None and name in optional:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
                raise ArgumentError(f"{name} must be a finite number of at least 0, not {value!r}")
        if not self.dwell_full_seconds > 0 or not self.abandon_weight <= 0:
            raise ArgumentError("dwell_full_seconds must be positive and abandon_weight not positive")
        object.__setattr__(self, "context_keys", tuple(dict.fromkeys(k for k in self.context_keys)))

    @property
    def all_context_keys(self) -> tuple[str, ...]:
        """Every context key a request or event may carry: the built-in ones and the declared ones."""
        return BUILTIN_CONTEXT_KEYS + tuple(k for k in self.context_keys if k not in BUILTIN_CONTEXT_KEYS)


# popularity weight per bundle kind when the config leaves it unset. Text embedders (the default bundle, zero-shot):
# chosen on the validation item of ML-100K and ml-latest-small (0.04 -> 1.0 lifts validation NDCG@10 from 0.0218 to
# 0.0507 and from 0.0249 to 0.0375; benchmarks/results/eval-default-bundle-warm/README.md). Two-tower students keep
# the weight their published figures were measured with (their scores are on another scale).
POPULARITY_WEIGHT_BY_KIND = {"text-embedder": 1.0, "two-tower": 0.04}


COLD_START_KEYS = ("cold_popularity_weight", "cold_titles_popularity_weight", "cold_titles_item_item_scale")


def for_bundle_kind(
    cfg: RankingConfig, kind: str, cold_start: Mapping[str, float | None] | None = None
) -> RankingConfig:
    """``cfg`` with the unset bundle-dependent defaults filled in for a bundle of ``kind`` (and the cold-start
    settings the bundle chose, :data:`COLD_START_KEYS`)."""
    # an app that set a popularity weight itself (the usual one or a cold one) keeps its own for every user; the
    # bundle's item-item factor for named titles applies unless the app set that one
    pops = ("popularity_weight", "cold_popularity_weight", "cold_titles_popularity_weight")
    mine = {k for k in pops if getattr(cfg, k) is not None}
    chosen: dict[str, Any] = {
        k: v
        for k, v in (cold_start or {}).items()
        if k in COLD_START_KEYS and v is not None and getattr(cfg, k) is None and not (k in pops and mine)
    }
    if chosen:
        cfg = replace(cfg, **chosen)
    if cfg.popularity_weight is not None:
        return cfg
    return replace(cfg, popularity_weight=POPULARITY_WEIGHT_BY_KIND.get(kind, 0.04))


def for_user(cfg: RankingConfig, own_events: int, named_titles: int = 0) -> RankingConfig:
    """The configuration a request of a user with ``own_events`` events ranks with: one with none takes the
    cold-start popularity weight, and when their profile names ``named_titles`` catalogue titles (their whole
    history) the titles' weight and item-item factor."""
    if own_events:
        return cfg
    titles = named_titles > 0
    if titles and cfg.cold_titles_popularity_weight is not None:
        cfg = replace(cfg, popularity_weight=cfg.cold_titles_popularity_weight)
    elif cfg.cold_popularity_weight is not None:
        cfg = replace(cfg, popularity_weight=cfg.cold_popularity_weight)
    if titles and cfg.cold_titles_item_item_scale is not None:
        cfg = replace(cfg, item_item_scale=cfg.item_item_scale * cfg.cold_titles_item_item_scale)
    return cfg
