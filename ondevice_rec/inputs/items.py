"""Catalog items: validation, the shipped demo catalog, and CSV/JSONL import (all-or-nothing). No SQL here:
the store's ``catalog`` table writes what this module validates."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError, ImportFormatError
from ..store.rows import Item

if TYPE_CHECKING:
    from .files import Source
from .limits import MAX_ID_LEN, MAX_JSON_DEPTH, MAX_MODALITY_DIM, MAX_TAGS, MAX_TEXT_CHARS, MAX_TITLE_CHARS

MODALITY_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")


def is_unicode(text: str) -> bool:
    """Can ``text`` be stored, i.e. encoded as UTF-8 (no lone surrogate, which a JSON ``\\ud800`` escape gives)?"""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_id(value: Any, name: str) -> str:
    """Validate an id argument: a non-empty string of bounded length."""
    if not isinstance(value, str):
        raise ArgumentTypeError(f"{name} must be a str, got {type(value).__name__}")
    if not value.strip():
        raise ArgumentError(f"{name} must be a non-empty string")
    if len(value) > MAX_ID_LEN:
        raise ArgumentError(f"{name} is longer than {MAX_ID_LEN} characters")
    if "\x00" in value:
        raise ArgumentError(f"{name} must not contain NUL characters")
    if not is_unicode(value):
        raise ArgumentError(f"{name} must be valid Unicode (it holds a lone surrogate)")
    return value


def _check_json_value(value: Any, where: str, depth: int = 0) -> None:
    if depth > MAX_JSON_DEPTH:
        raise ArgumentError(f"{where} is nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, float) and not math.isfinite(value):
        raise ArgumentError(f"{where} contains a non-finite number")
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str):
                raise ArgumentTypeError(f"{where} keys must be strings")
            _check_json_value(v, where, depth + 1)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _check_json_value(v, where, depth + 1)
    elif not (value is None or isinstance(value, (str, int, float, bool))):
        raise ArgumentTypeError(f"{where} must be JSON-like, found {type(value).__name__}")


def to_item(raw: Mapping[str, Any]) -> Item:
    """Validate one item mapping (``id`` required; ``title``, ``text``, ``tags``, ``meta`` optional)."""
    if not isinstance(raw, Mapping):
        raise ArgumentTypeError(f"an item must be a mapping, got {type(raw).__name__}")
    item_id = check_id(raw.get("id"), "item id")
    title = raw.get("title") or ""
    text = raw.get("text") or ""
    if not isinstance(title, str) or not isinstance(text, str):
        raise ArgumentTypeError(f"item {item_id!r}: title and text must be strings")
    if len(title) > MAX_TITLE_CHARS:
        raise ArgumentError(f"item {item_id!r}: title is longer than {MAX_TITLE_CHARS} characters")

    tags_raw = raw.get("tags") or []
    if isinstance(tags_raw, str):
        tags_raw = [t for t in tags_raw.split("|")]
    if not isinstance(tags_raw, (list, tuple)) or not all(isinstance(t, str) for t in tags_raw):
        raise ArgumentTypeError(f"item {item_id!r}: tags must be a list of strings")
    tags = tuple(dict.fromkeys(t.strip() for t in tags_raw if t.strip()))[:MAX_TAGS]
    meta = raw.get("meta") or {}
    if not isinstance(meta, Mapping):
        raise ArgumentTypeError(f"item {item_id!r}: meta must be a mapping")
    _check_json_value(meta, f"item {item_id!r} meta")
    for s in (title, text, *tags):
        if "\x00" in s:
            raise ArgumentError(f"item {item_id!r}: text fields must not contain NUL characters")
        if not is_unicode(s):
            raise ArgumentError(f"item {item_id!r}: text fields must be valid Unicode (a lone surrogate)")
    if not (title.strip() or text.strip() or tags):
        raise ArgumentError(f"item {item_id!r}: needs at least one of title, text or tags")
    popularity = raw.get("popularity")
    if popularity is not None:
        if isinstance(popularity, str):
            raw_pop = popularity
            try:
                popularity = float(raw_pop)
            except ValueError:
                raise ArgumentError(f"item {item_id!r}: popularity must be a number, got {raw_pop[:20]!r}") from None
        if isinstance(popularity, bool) or not isinstance(popularity, (int, float)):
            raise ArgumentTypeError(f"item {item_id!r}: popularity must be a number")
        if not math.isfinite(popularity) or popularity < 0:
            raise ArgumentError(f"item {item_id!r}: popularity must be a finite number >= 0")
        popularity = float(popularity)
    return Item(
        id=item_id,
        title=title.strip(),
        text=text[:MAX_TEXT_CHARS].strip(),
        tags=tags,
        meta=dict(meta),
        popularity=popularity,
        vectors=modality_vectors(item_id, raw.get("vectors")),
    )


def modality_vectors(item_id: str, raw: Any) -> dict[str, np.ndarray]:
    """``{"image": [...]}``: the app's own vectors of an item, per modality (checked against the declared
    dimensions when written): finite numbers, not all zero."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ArgumentTypeError(f"item {item_id!r}: vectors must map a modality name to a list of numbers")
    out: dict[str, np.ndarray] = {}
    for name, vec in raw.items():
        if not isinstance(name, str) or not MODALITY_NAME.fullmatch(name):
            raise ArgumentError(f"item {item_id!r}: modality {name!r} must be a lower-case name such as 'image'")
        if isinstance(vec, (str, bytes, Mapping)) or not hasattr(vec, "__len__"):
            raise ArgumentTypeError(f"item {item_id!r}: vectors[{name!r}] must be a list of numbers")
        if any(isinstance(x, (str, bytes, bool)) for x in vec):
            raise ArgumentTypeError(f"item {item_id!r}: vectors[{name!r}] must be a list of numbers")
        try:
            arr = np.asarray(vec, dtype=np.float32)
        except (TypeError, ValueError, OverflowError):
            raise ArgumentTypeError(f"item {item_id!r}: vectors[{name!r}] must be a list of numbers") from None
        if arr.ndim != 1 or not 0 < arr.size <= MAX_MODALITY_DIM:
            raise ArgumentError(f"item {item_id!r}: vectors[{name!r}] must be 1 to {MAX_MODALITY_DIM} numbers")
        if not np.isfinite(arr).all() or not arr.any():
            raise ArgumentError(f"item {item_id!r}: vectors[{name!r}] must be finite and not all zero")
        out[name] = arr
    return out


def demo_items() -> list[dict[str, Any]]:
    """The ~200-item demo catalog shipped with the package (public-domain works and invented items,
    descriptions written by the ondevice-rec developers)."""
    path = resources.files("ondevice_rec") / "data" / "demo_catalog.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@dataclass(frozen=True)
class CatalogColumns:
    """Which columns of a file hold what (``--id-col movieId --tags-col genres --tags-sep '|'``). Every other
    column is kept in the item's ``meta``; a JSON Lines ``meta`` object is merged into it, and a ``vectors``
    object holds the item's vectors per modality (``{"image": [...]}``)."""

    id: str = "id"
    title: str = "title"
    text: str = "text"
    tags: str = "tags"
    tags_sep: str = "|"
    popularity: str = "popularity"

    def __post_init__(self) -> None:
        names = [self.id, self.title, self.text, self.tags, self.popularity]
        if any(not isinstance(n, str) or not n for n in names):
            raise ArgumentError("column names must be non-empty strings")
        if len(set(names)) != len(names):
            raise ArgumentError(f"one column is mapped to two fields: {names}")
        if not isinstance(self.tags_sep, str) or not self.tags_sep:
            raise ArgumentError("the tag separator must be a non-empty string")


def item_from_row(row: Mapping[str, Any], cols: CatalogColumns = CatalogColumns()) -> Item:
    """One row of a catalogue file as a validated item, under the column mapping ``cols``."""
    if cols.id not in row:
        raise ArgumentError(f"no {cols.id!r} column (map yours with --id-col; columns here: {sorted(row)[:12]})")
    tags = row.get(cols.tags)
    if isinstance(tags, str):
        tags = tags.split(cols.tags_sep)
    meta: dict[str, Any] = {}
    vecs = row.get("vectors")  # JSON Lines: {modality: [numbers]}; a CSV column of that name stays in meta
    vecs = None if isinstance(vecs, str) else vecs
    own = {
        cols.id,
        cols.title,
        cols.text,
        cols.tags,
        cols.popularity,
        "meta",
        *(["vectors"] if vecs is not None else []),
    }
    for k, v in row.items():
        if k not in own and v not in (None, ""):
            meta[str(k)] = v
    given = row.get("meta")
    if isinstance(given, Mapping):
        meta.update(given)
    elif given not in (None, ""):
        meta["meta"] = given
    popularity = row.get(cols.popularity)
    raw = {
        "id": row.get(cols.id),
        "title": row.get(cols.title),
        "text": row.get(cols.text),
        "tags": tags,
        "meta": meta,
        "popularity": None if popularity in (None, "") else popularity,
        "vectors": vecs,
    }
    return to_item(raw)


ON_DUPLICATE = ("error", "first", "last")


def read_catalog_file(
    path: Source,
    *,
    fmt: str | None = None,
    columns: CatalogColumns | None = None,
    on_duplicate: str = "error",
) -> list[Item]:
    """Parse and validate a whole CSV, TSV or JSONL catalogue file; raise :class:`ImportFormatError` naming
    the first bad line. Nothing is returned (so nothing is imported) unless every line is valid. An id that
    appears twice is an error naming both lines (``on_duplicate="error"``), or keeps its ``"first"`` or
    ``"last"`` row."""
    from .files import is_delimited, read_rows, spans_lines

    if on_duplicate not in ON_DUPLICATE:
        raise ArgumentError(f"on_duplicate must be one of {', '.join(ON_DUPLICATE)}; got {on_duplicate!r}")
    cols = columns or CatalogColumns()
    delimited = is_delimited(path, fmt, "catalog")
    items: dict[str, Item] = {}
    first_line: dict[str, int] = {}
    for lineno, row in read_rows(path, fmt, what="catalog", required=(cols.id,)):
        try:
            item = item_from_row(row, cols)
        except (TypeError, ValueError) as e:  # ArgumentError/ArgumentTypeError
            raise ImportFormatError(f"{path}:{lineno}: {e}") from None
        if delimited:
            spans_lines(path, lineno, ("item id", item.id), ("title", item.title))
        if item.id in items:
            if on_duplicate == "error":
                raise ImportFormatError(
                    f"{path}:{lineno}: item id {item.id!r} appears again (first on line {first_line[item.id]}); "
                    "nothing was imported (--on-duplicate first|last keeps one of them)"
                )
            if on_duplicate == "first":
                continue
        first_line.setdefault(item.id, lineno)
        items[item.id] = item
    return list(items.values())
