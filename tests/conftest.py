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
from ondevice_rec.inputs.items import demo_items  # noqa: E402

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


@pytest.fixture(scope="session")
def tiny_teacher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 2-layer Llama with SmolLM2's tokenizer (taken from the packaged GGUF)."""
    transformers = pytest.importorskip("transformers")
    from ondevice_rec import ExportError
    from ondevice_rec.export.teacher import default_teacher_path

    try:
        gguf = default_teacher_path()
    except ExportError as e:
        pytest.skip(str(e))
    d = tmp_path_factory.mktemp("teacher")
    tok = transformers.AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    cfg = transformers.LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=1024,
    )
    transformers.LlamaForCausalLM(cfg).save_pretrained(d)
    tok.save_pretrained(d)
    return d
