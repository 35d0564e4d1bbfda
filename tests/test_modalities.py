"""Modalities the app encodes (issue 31): item vectors per declared modality are stored, checked, used to rank
and kept across opens; a wrong name or size is one line and writes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ondevice_rec import ArgumentError, ImportFormatError, Recommender, StoreError
from ondevice_rec.ranking import RankingConfig

DIM = 8


def _catalogue(seed: int = 0) -> list[dict]:
    """40 items whose words say nothing apart (one shared description) and whose images fall in two clusters."""
    rng = np.random.default_rng(seed)
    items = []
    for n in range(40):
        centre = np.eye(DIM)[0 if n % 2 == 0 else 1]
        vec = centre + 0.15 * rng.standard_normal(DIM)
        items.append({"id": f"{'a' if n % 2 == 0 else 'b'}{n}", "title": f"Poster {n}", "text": "A poster.",
                      "vectors": {"image": vec.round(4).tolist()}})  # fmt: skip
    return items


def _top(rec: Recommender) -> list[str]:
    return [r.item_id[0] for r in rec.recommend("u", k=10, diversity=0.0)]


def test_an_apps_image_vectors_change_what_is_recommended(tmp_path: Path) -> None:
    with Recommender.open(tmp_path / "rec.db", modalities={"image": DIM}) as rec:
        rec.add_items(_catalogue())
        rec.consent("u").grant("personalization")
        for item in ("a0", "a2", "a4"):
            rec.record("u", item, kind="like")
        with_images = _top(rec)
        scores = {r.item_id: r.explanation for r in rec.recommend("u", k=3, diversity=0.0)}
    assert with_images.count("a") == 10, with_images
    assert all("modalities" in str(e) for e in scores.values())  # the term is in every explanation
    off = RankingConfig(modality_weight=0.0)
    with Recommender.open(tmp_path / "rec.db", config=off) as rec:  # declared before: kept in the store
        without = _top(rec)
    assert without.count("a") < 8, without  # the words alone cannot tell the clusters apart


def test_vectors_are_checked_before_anything_is_written(tmp_path: Path) -> None:
    db = tmp_path / "rec.db"
    with Recommender.open(db, modalities={"image": DIM}) as rec:
        good = _catalogue()[:3]
        with pytest.raises(ArgumentError, match="'audio' is not declared"):
            rec.add_items([*good, {"id": "x", "title": "X", "vectors": {"audio": [1.0, 2.0]}}])
        with pytest.raises(ArgumentError, match="has 3 numbers, the modality has 8"):
            rec.add_items([*good, {"id": "x", "title": "X", "vectors": {"image": [1.0, 2.0, 3.0]}}])
        with pytest.raises(ArgumentError, match="finite and not all zero"):
            rec.add_items([{"id": "x", "title": "X", "vectors": {"image": [0.0] * DIM}}])
        with pytest.raises(ArgumentError, match="finite"):
            rec.add_items([{"id": "x", "title": "X", "vectors": {"image": [float("nan")] * DIM}}])
        assert rec.count_items() == 0
        lines = [json.dumps(it) for it in _catalogue()[:5]]
        lines.append(json.dumps({"id": "bad", "title": "Bad", "vectors": {"image": [1.0] * 3}}))
        (tmp_path / "cat.jsonl").write_text("\n".join(lines) + "\n")
        with pytest.raises(ArgumentError, match="has 3 numbers"):
            rec.import_items(tmp_path / "cat.jsonl")
        assert rec.count_items() == 0
    with pytest.raises(StoreError, match="declared with 8 dimensions, not 16"):
        Recommender.open(db, modalities={"image": 16})
    with pytest.raises(ArgumentError, match="lower-case name"):
        Recommender.open(db, modalities={"Image": 8})


def test_a_json_lines_vectors_value_that_is_not_an_object_is_refused(tmp_path: Path) -> None:
    (tmp_path / "cat.jsonl").write_text(json.dumps({"id": "j", "title": "J", "vectors": [1.0, 0.0]}) + "\n")
    with Recommender.open(tmp_path / "rec.db", modalities={"image": 2}) as rec:
        with pytest.raises(ImportFormatError, match=r"cat.jsonl:1: .*vectors must map a modality name"):
            rec.import_items(tmp_path / "cat.jsonl")
        assert rec.count_items() == 0


def test_the_cli_declares_a_modality_for_a_json_lines_catalogue(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ondevice_rec.cli import app

    (tmp_path / "cat.jsonl").write_text("\n".join(json.dumps(it) for it in _catalogue()[:6]) + "\n")
    db = str(tmp_path / "rec.db")
    res = CliRunner().invoke(app, ["catalog", "import", str(tmp_path / "cat.jsonl"), "--db", db,
                                   "--modality", f"image={DIM}"])  # fmt: skip
    assert res.exit_code == 0, res.output
    with Recommender.open(db) as rec:
        assert rec.count_items() == 6 and rec._modalities.dims == {"image": DIM}
    res = CliRunner().invoke(app, ["catalog", "import", str(tmp_path / "cat.jsonl"), "--db", db, "--modality", "x"])
    assert res.exit_code == 1 and "NAME=DIM" in str(res.exception)
