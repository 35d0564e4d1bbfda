"""Validation of what a caller asks for: the arguments that open a store, one ``recommend`` request (k,
diversity, context, LLM options and filters) and pages of listings. Pure: the facade passes in how to resolve
item ids."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..errors import ArgumentError, ArgumentTypeError, StoreError
from ..ranking import RankingConfig, context_keys
from ..ranking.config import for_bundle_kind
from ..ranking.pipeline import Filters, Request
from .items import check_id
from .limits import MAX_K, MAX_PROFILE_CHARS, MAX_RERANK_TOP

if TYPE_CHECKING:
    from ..bundle.manifest import LlmRankerSpec

_log = logging.getLogger("ondevice_rec")
OPTIONS = frozenset({"context", "diversity", "rerank", "rerank_top", "explain", "tags", "exclude", "only", "where"})


def check_profile(user_id: str, text: object) -> str:
    """``text`` if it can be stored as ``user_id``'s profile: a str, at most MAX_PROFILE_CHARS, no NUL."""
    check_id(user_id, "user_id")
    if not isinstance(text, str):
        raise ArgumentTypeError(f"profile text must be a str, got {type(text).__name__}")
    if len(text) > MAX_PROFILE_CHARS:
        raise ArgumentError(f"profile text is longer than {MAX_PROFILE_CHARS} characters")
    if "\x00" in text:
        raise ArgumentError("profile text must not contain NUL characters")
    return text


def check_open(path: str | os.PathLike[str], *, read_only: bool, create: bool, retention_days: float | None) -> None:
    """The arguments of ``Recommender(path, ...)`` that concern the file and its retention."""
    if not isinstance(path, (str, os.PathLike)):
        raise ArgumentTypeError(f"path must be a str or path, got {type(path).__name__}")
    if (read_only or not create) and not os.path.isfile(path):
        raise StoreError(
            f"no store at {path}: check the path (or --db / ODREC_DB); a store is created by writing to it, "
            "e.g. 'odrec catalog import FILE --db PATH'"
        )
    if read_only and retention_days is not None:
        raise ArgumentError("retention_days deletes events: it cannot be used with read_only=True")
    if retention_days is not None and (
        isinstance(retention_days, bool)
        or not isinstance(retention_days, (int, float))
        or not math.isfinite(retention_days)
        or retention_days <= 0
    ):
        raise ArgumentError("retention_days must be a positive number of days")


def open_config(
    config: RankingConfig | None,
    extra_context_keys: Sequence[str] | None,
    bundle_kind: str,
    cold_start: Mapping[str, float | None] | None = None,
) -> RankingConfig:
    """The ranking configuration of an open store: the caller's (or the default), its context keys extended
    by ``extra_context_keys``, resolved for the bundle (``ranking.config.for_bundle_kind``)."""
    if config is not None and not isinstance(config, RankingConfig):
        raise ArgumentTypeError("config must be a RankingConfig")
    cfg = config or RankingConfig()
    if extra_context_keys is not None:
        if isinstance(extra_context_keys, str):
            raise ArgumentTypeError("context_keys must be a list of names such as ['weather', 'season']")
        cfg = replace(cfg, context_keys=(*cfg.context_keys, *extra_context_keys))
    return for_bundle_kind(cfg, bundle_kind, cold_start)


def build_request(
    cfg: RankingConfig,
    llm: LlmRankerSpec | None,
    resolve: Callable[[Sequence[str]], Mapping[str, int]],
    *,
    k: Any,
    context: Mapping[str, Any] | None = None,
    diversity: Any = None,
    rerank: str | None = None,
    rerank_top: Any = 20,
    explain: str | None = None,
    tags: Iterable[str] | None = None,
    exclude: Iterable[str] | None = None,
    only: Iterable[str] | None = None,
    where: Callable[[dict[str, Any]], bool] | None = None,
) -> Request:
    """One validated request; ``resolve`` maps item ids to store ids (unknown ids are simply absent)."""
    if isinstance(k, bool) or not isinstance(k, int):
        raise ArgumentTypeError(f"k must be an int, got {type(k).__name__}")
    if k <= 0 or k > MAX_K:
        raise ArgumentError(f"k must be between 1 and {MAX_K}, got {k}")
    if diversity is None:
        diversity = cfg.default_diversity
    if isinstance(diversity, bool) or not isinstance(diversity, (int, float)) or not 0.0 <= diversity <= 1.0:
        raise ArgumentError(f"diversity must be a number between 0 and 1, got {diversity!r}")
    keys = context_keys(context, cfg.context_keys)
    if rerank not in (None, "llm") or explain not in (None, "llm"):
        raise ArgumentError("rerank and explain accept only None or 'llm'")
    if isinstance(rerank_top, bool) or not isinstance(rerank_top, int) or not 1 <= rerank_top <= MAX_RERANK_TOP:
        raise ArgumentError(f"rerank_top must be an int between 1 and {MAX_RERANK_TOP}")
    if where is not None and not callable(where):
        raise ArgumentTypeError("where must be a function of an item's meta dict returning True to keep it")
    ex, al = ids(exclude, "exclude"), ids(only, "only")
    wanted = [*(ex or ()), *(al or ())]
    iids = resolve(wanted) if wanted else {}
    filters = Filters(
        ids(tags, "tags"),
        frozenset(iids[i] for i in ex or () if i in iids),
        None if al is None else frozenset(iids[i] for i in al if i in iids),
        where,
    )
    weight = None
    if rerank:
        weight = llm.fusion_weight if llm is not None else None
        if weight == 0:  # validation at export showed the LLM does not improve this bundle's ranking
            _log.info(
                "rerank='llm' skipped: re-ranking was disabled at export because it did not improve validation "
                "NDCG@10 (%s)",
                llm.fusion_report if llm is not None else {},
            )
            rerank = None
    return Request(k, float(diversity), keys, rerank_top if rerank else None, explain == "llm", weight, filters)


def check_options(options: Mapping[str, Any]) -> None:
    unknown = set(options) - OPTIONS
    if unknown:
        raise ArgumentError(f"unknown options {sorted(unknown)} (known: {', '.join(sorted(OPTIONS))})")


def page(offset: Any, limit: Any) -> tuple[int, int]:
    for name, v in (("offset", offset), ("limit", limit)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ArgumentError(f"{name} must be a non-negative int")
    if not 1 <= limit <= 10_000:
        raise ArgumentError("limit must be between 1 and 10000")
    return int(offset), int(limit)


def ids(value: Any, name: str) -> frozenset[str] | None:
    """A collection of ids (or tags) as a frozenset; None stays None (no filter)."""
    if value is None:
        return None
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise ArgumentTypeError(f"{name} must be a collection, e.g. {name}=['a', 'b']")
    return frozenset(check_id(v, name) for v in value)
