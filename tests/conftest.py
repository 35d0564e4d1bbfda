from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

import shutil  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from ondevice_rec import Recommender  # noqa: E402
from ondevice_rec.bundle import default_bundle_path  # noqa: E402
from ondevice_rec.catalog import demo_items  # noqa: E402

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "rec.db"


@pytest.fixture
def rec(db_path: Path) -> Iterator[Recommender]:
    with Recommender.open(db_path) as r:
        yield r


@pytest.fixture(scope="session")
def demo_catalog() -> list[dict]:
    return demo_items()


@pytest.fixture
def rec_demo(rec: Recommender, demo_catalog: list[dict]) -> Recommender:
    rec.add_items(demo_catalog)
    return rec


@pytest.fixture
def bundle_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "bundle"
    shutil.copytree(default_bundle_path(), dst)
    return dst


def topic_of(item_id: str) -> str:
    """Demo item ids are '<topic prefix>-NN'."""
    return item_id.split("-")[0]
