"""Dataset loaders: MovieLens-100K, ml-latest-small, MovieLens-1M, and a generic CSV format.

Item text for MovieLens is the title, year and genres ("Toy Story (1995). Genres: Animation, Comedy.").
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DatasetError, ImportFormatError
from ..inputs.files import read_rows

DATASETS = ("ml-100k", "ml-latest-small", "ml-1m", "generic")
ML100K_GENRES = [
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
]


@dataclass
class Dataset:
    """Interactions as parallel arrays plus item metadata. ``items`` maps raw item id → (title, text, tags)."""

    name: str
    users: np.ndarray  # raw user ids (str), one per interaction
    items: np.ndarray  # raw item ids (str)
    timestamps: np.ndarray  # float seconds
    ratings: np.ndarray  # float, NaN when the source has none
    item_info: dict[str, tuple[str, str, tuple[str, ...]]]

    def __len__(self) -> int:
        return len(self.users)


def _need(path: Path) -> Path:
    if not path.is_file():
        raise DatasetError(f"missing file {path}")
    return path


def _year(title: str) -> str | None:
    m = re.search(r"\((\d{4})\)\s*$", title.strip())
    return m.group(1) if m else None


def movie_text(title: str, genres: list[str]) -> str:
    """The shared MovieLens verbalisation: title (with year) and genres."""
    g = [x for x in genres if x and x not in ("unknown", "(no genres listed)")]
    return f"{title.strip()}. Genres: {', '.join(g)}." if g else f"{title.strip()}."


def _finish(
    name: str,
    users: list[str],
    items: list[str],
    ts: list[float],
    ratings: list[float],
    info: dict[str, tuple[str, str, tuple[str, ...]]],
    source: Path,
) -> Dataset:
    if not users:
        raise DatasetError(f"{source}: no interactions")
    missing = sorted(set(items) - set(info))
    if missing:
        raise DatasetError(
            f"{source}: {len(missing)} item ids in the interactions are absent from the item file (e.g. {missing[:3]})"
        )
    return Dataset(
        name,
        np.asarray(users, dtype=object),
        np.asarray(items, dtype=object),
        np.asarray(ts, dtype=np.float64),
        np.asarray(ratings, dtype=np.float64),
        info,
    )


def load_ml100k(root: Path) -> Dataset:
    info: dict[str, tuple[str, str, tuple[str, ...]]] = {}
    item_file = _need(root / "u.item")
    with open(item_file, encoding="latin-1") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.rstrip("\n").split("|")
            if len(parts) != 24:
                raise DatasetError(f"{item_file}:{lineno}: expected 24 '|'-separated fields, got {len(parts)}")
            genres = [g for g, flag in zip(ML100K_GENRES, parts[5:]) if flag == "1"]
            info[parts[0]] = (parts[1], movie_text(parts[1], genres), tuple(genres))
    users, items, ts, ratings = [], [], [], []
    data_file = _need(root / "u.data")
    with open(data_file, encoding="latin-1") as f:
        for lineno, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 4:
                raise DatasetError(f"{data_file}:{lineno}: expected user item rating timestamp")
            try:
                ratings.append(float(parts[2]))
                ts.append(float(parts[3]))
            except ValueError:
                raise DatasetError(f"{data_file}:{lineno}: rating and timestamp must be numbers") from None
            users.append(parts[0])
            items.append(parts[1])
    return _finish("ml-100k", users, items, ts, ratings, info, data_file)


def _read_csv(path: Path, required: list[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) of a dataset's CSV file, through the SDK's one CSV reader (BOM, quoting, line
    numbers); an unreadable file is a :class:`DatasetError`."""
    try:
        for lineno, row in read_rows(
            _need(path), "csv", what="dataset file", required=tuple(required), hint="see the dataset's documentation"
        ):
            yield lineno, {**dict.fromkeys(required, ""), **row}  # a short row's missing fields are empty
    except ImportFormatError as e:
        raise DatasetError(str(e)) from None


def load_ml_latest_small(root: Path) -> Dataset:
    info = {}
    for _, row in _read_csv(root / "movies.csv", ["movieId", "title", "genres"]):
        genres = row["genres"].split("|")
        info[row["movieId"]] = (row["title"], movie_text(row["title"], genres), tuple(genres))
    users, items, ts, ratings = [], [], [], []
    path = root / "ratings.csv"
    for i, row in _read_csv(path, ["userId", "movieId", "rating", "timestamp"]):
        try:
            ratings.append(float(row["rating"]))
            ts.append(float(row["timestamp"]))
        except ValueError:
            raise DatasetError(f"{path}:{i}: rating and timestamp must be numbers") from None
        users.append(row["userId"])
        items.append(row["movieId"])
    return _finish("ml-latest-small", users, items, ts, ratings, info, path)


def load_ml1m(root: Path) -> Dataset:
    info = {}
    movies = _need(root / "movies.dat")
    with open(movies, encoding="latin-1") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.rstrip("\n").split("::")
            if len(parts) != 3:
                raise DatasetError(f"{movies}:{lineno}: expected MovieID::Title::Genres")
            genres = parts[2].split("|")
            info[parts[0]] = (parts[1], movie_text(parts[1], genres), tuple(genres))
    users, items, ts, ratings = [], [], [], []
    path = _need(root / "ratings.dat")
    with open(path, encoding="latin-1") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.strip().split("::")
            if len(parts) != 4:
                raise DatasetError(f"{path}:{lineno}: expected UserID::MovieID::Rating::Timestamp")
            try:
                ratings.append(float(parts[2]))
                ts.append(float(parts[3]))
            except ValueError:
                raise DatasetError(f"{path}:{lineno}: rating and timestamp must be numbers") from None
            users.append(parts[0])
            items.append(parts[1])
    return _finish("ml-1m", users, items, ts, ratings, info, path)


def load_generic(root: Path) -> Dataset:
    """``items.csv`` (item_id,title,text,tags with |-separated tags) and ``interactions.csv``
    (user_id,item_id,timestamp[,rating])."""
    info = {}
    for _, row in _read_csv(root / "items.csv", ["item_id", "title", "text", "tags"]):
        tags = tuple(t for t in (row["tags"] or "").split("|") if t)
        text = " ".join(x for x in (row["title"], row["text"]) if x)
        if tags:
            text += f" Tags: {', '.join(tags)}."
        info[row["item_id"]] = (row["title"], text, tags)
    path = root / "interactions.csv"
    users, items, ts, ratings = [], [], [], []
    for i, row in _read_csv(path, ["user_id", "item_id", "timestamp"]):
        try:
            ts.append(float(row["timestamp"]))
            r = row.get("rating")
            ratings.append(float(r) if r not in (None, "") else float("nan"))
        except ValueError:
            raise DatasetError(f"{path}:{i}: timestamp and rating must be numbers") from None
        users.append(row["user_id"])
        items.append(row["item_id"])
    return _finish("generic", users, items, ts, ratings, info, path)


def load_dataset(name: str, data_dir: str | Path) -> Dataset:
    root = Path(data_dir)
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r} (choose from {', '.join(DATASETS)})")
    if not root.is_dir():
        raise DatasetError(f"data directory not found: {root}")
    return {
        "ml-100k": load_ml100k,
        "ml-latest-small": load_ml_latest_small,
        "ml-1m": load_ml1m,
        "generic": load_generic,
    }[name](root)
