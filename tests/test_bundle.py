from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ondevice_rec import BundleError, BundleIntegrityError, BundleVersionError, Recommender
from ondevice_rec.bundle import (
    BUNDLE_SCHEMA_VERSION,
    Manifest,
    default_bundle_path,
    load_bundle,
    read_manifest,
    staged_bundle_dir,
    verify_bundle,
    write_manifest,
)


def test_shipped_bundle_verifies_and_describes_itself() -> None:
    m = verify_bundle()
    assert m.schema_version == BUNDLE_SCHEMA_VERSION
    assert m.kind == "text-embedder"
    assert m.base_model["license"] == "Apache-2.0"
    assert {"model.onnx", "tokenizer.json"} <= set(m.files)
    v = m.validation
    assert v["passed"] is True
    assert v["max_abs_fp32_vs_torch"] < 1e-4
    assert v["mean_cosine_int8_vs_fp32"] > 0.98
    assert m.signature["inputs"] and m.signature["outputs"]
    assert m.quantization is not None and m.quantization["per_channel"] is True
    assert 15e6 < m.size_bytes < 40e6  # "about 25 MB"


def test_manifest_round_trips_and_is_the_only_reader_of_its_keys(tmp_path: Path) -> None:
    shipped_text = (default_bundle_path() / "manifest.json").read_text()
    m = Manifest.from_json(shipped_text)
    assert m.to_dict() == json.loads(shipped_text)  # read -> write gives the same JSON object
    out = tmp_path / "b"
    with staged_bundle_dir(out) as stage:
        for name in m.files:
            shutil.copyfile(default_bundle_path() / name, stage / name)
        written = write_manifest(stage, m, list(m.files))
    assert written == m
    assert read_manifest(out) == m  # write -> read -> equal


def test_unknown_manifest_keys_mean_a_newer_writer(bundle_copy: Path) -> None:
    mp = bundle_copy / "manifest.json"
    m = json.loads(mp.read_text())
    m["future_component"] = {"file": "x"}
    mp.write_text(json.dumps(m))
    with pytest.raises(BundleVersionError, match="future_component"):
        read_manifest(bundle_copy)
    m.pop("future_component")
    m["text_encoder"]["future_knob"] = 1
    mp.write_text(json.dumps(m))
    with pytest.raises(BundleVersionError, match="future_knob"):
        read_manifest(bundle_copy)


def test_component_files_must_be_listed(bundle_copy: Path) -> None:
    mp = bundle_copy / "manifest.json"
    m = json.loads(mp.read_text())
    m["text_encoder"]["tokenizer"] = "other.json"
    mp.write_text(json.dumps(m))
    with pytest.raises(BundleIntegrityError, match="other.json"):
        read_manifest(bundle_copy)


@pytest.mark.parametrize("name", ["model.onnx", "tokenizer.json", "LICENSE"])
@pytest.mark.parametrize("damage", ["flip", "truncate", "delete"])
def test_damaged_file_is_refused_naming_it(bundle_copy: Path, name: str, damage: str) -> None:
    p = bundle_copy / name
    data = bytearray(p.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x01
        p.write_bytes(bytes(data))
    elif damage == "truncate":
        p.write_bytes(bytes(data[:-1]))
    else:
        p.unlink()
    with pytest.raises(BundleIntegrityError, match=name.replace(".", r"\.")):
        load_bundle(bundle_copy)
    with pytest.raises(BundleIntegrityError):
        Recommender.open(bundle_copy.parent / "x.db", bundle=bundle_copy)


def test_newer_schema_version_is_refused_with_a_message(bundle_copy: Path) -> None:
    mp = bundle_copy / "manifest.json"
    m = json.loads(mp.read_text())
    m["schema_version"] = BUNDLE_SCHEMA_VERSION + 1
    mp.write_text(json.dumps(m))
    with pytest.raises(BundleVersionError, match="newer than this odrec supports"):
        load_bundle(bundle_copy)


@pytest.mark.parametrize("content", ["{not json", "[]", '{"schema_version": 1}', '{"schema_version": "1"}'])
def test_malformed_manifest(bundle_copy: Path, content: str) -> None:
    (bundle_copy / "manifest.json").write_text(content)
    with pytest.raises(BundleIntegrityError):
        read_manifest(bundle_copy)


def test_missing_bundle_and_escaping_paths(tmp_path: Path, bundle_copy: Path) -> None:
    with pytest.raises(BundleError, match="not found"):
        load_bundle(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BundleError, match="manifest.json is missing"):
        load_bundle(tmp_path / "empty")
    m = json.loads((bundle_copy / "manifest.json").read_text())
    m["files"]["../evil"] = {"sha256": "0" * 64, "size": 1}
    (bundle_copy / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleIntegrityError, match="escapes"):
        read_manifest(bundle_copy)


def test_bundle_swapped_on_disk_while_open_does_not_affect_open_recommender(
    tmp_path: Path, bundle_copy: Path, demo_catalog: list[dict]
) -> None:
    with Recommender.open(tmp_path / "r.db", bundle=bundle_copy) as rec:
        rec.add_items(demo_catalog[:20])
        shutil.rmtree(bundle_copy)
        bundle_copy.mkdir()
        (bundle_copy / "model.onnx").write_bytes(b"garbage")
        rec.add_items(demo_catalog[20:40])  # still embeds with the verified bytes loaded at open
        assert len(rec.recommend("u", k=5)) == 5


def test_staged_dir_is_removed_on_failure_and_renamed_on_success(tmp_path: Path) -> None:
    out = tmp_path / "b"
    with pytest.raises(RuntimeError), staged_bundle_dir(out) as stage:
        (stage / "f").write_text("x")
        raise RuntimeError("boom")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []
    shipped = read_manifest(default_bundle_path())
    with staged_bundle_dir(out) as stage:
        for name in shipped.files:
            shutil.copyfile(default_bundle_path() / name, stage / name)
        (stage / "f").write_text("x")
        write_manifest(stage, shipped, [*shipped.files, "f"])
    assert verify_bundle(out).files["f"].size == 1
    with pytest.raises(BundleError, match="already exists"), staged_bundle_dir(out):
        pass


def test_default_bundle_path_is_inside_the_package() -> None:
    assert default_bundle_path().is_dir()
    assert "ondevice_rec" in default_bundle_path().parts


def test_overwrite_replaces_only_a_bundle(tmp_path: Path) -> None:
    """Issue 30: ``--overwrite`` never deletes a directory the SDK did not write."""
    from ondevice_rec import BundleError
    from ondevice_rec.bundle.write import staged_bundle_dir

    mine = tmp_path / "my-folder"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    with pytest.raises(BundleError, match="not a bundle"), staged_bundle_dir(mine, overwrite=True):
        pass
    assert (mine / "thesis.tex").read_text() == "years of work"
    empty = tmp_path / "empty"
    empty.mkdir()
    with staged_bundle_dir(empty, overwrite=True) as d:
        (d / "manifest.json").write_text("{}")
    assert (empty / "manifest.json").is_file()


def test_a_new_build_clears_only_its_own_dead_staging_dirs(tmp_path: Path) -> None:
    from ondevice_rec.bundle.write import staged_bundle_dir

    dead = 2**22 + 12345  # above the kernel's default pid_max: no such process
    mine = tmp_path / f".rec.{dead}.abc_1.partial"
    other = tmp_path / f".rec.2024.{dead}.abc_2.partial"  # a build of the target "rec.2024", not of "rec"
    for d in (mine, other):
        d.mkdir()
    with staged_bundle_dir(tmp_path / "rec") as stage:
        (stage / "manifest.json").write_text("{}")
    assert not mine.exists() and other.exists()
