from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import ondevice_rec

ROOT = Path(__file__).resolve().parents[1]


def test_import_is_light() -> None:
    code = (
        "import sys, ondevice_rec; heavy = [m for m in ('torch', 'transformers', 'presidio_analyzer', 'spacy', "
        "'optimum', 'onnxruntime', 'llama_cpp') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_layout_and_typing_marker() -> None:
    for name in ("pyproject.toml", "README.md", "ondevice_rec", "models", "export", "tests", "examples", "benchmarks"):
        assert (ROOT / name).exists(), name
    assert (Path(ondevice_rec.__file__).parent / "py.typed").exists()


def test_version() -> None:
    assert ondevice_rec.__version__


@pytest.mark.slow
def test_rebuilding_the_default_bundle_reproduces_it(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("optimum.exporters.onnx")
    from ondevice_rec.bundle import default_bundle_path, read_manifest
    from ondevice_rec.export.default_bundle import build_default_bundle

    try:
        built = build_default_bundle(tmp_path / "b")
    except ondevice_rec.ExportError as e:
        if "not installed" in str(e):
            pytest.skip(str(e))
        raise
    shipped = read_manifest(default_bundle_path())
    assert built.files == shipped.files  # byte-identical model, tokenizer and licence
    assert built.validation["passed"]


def test_committed_recipe_is_the_one_the_shipped_bundle_was_built_with() -> None:
    from dataclasses import asdict

    from ondevice_rec.bundle import read_manifest
    from ondevice_rec.export.default_bundle import load_config

    shipped = read_manifest(ondevice_rec.bundle.default_bundle_path())
    assert asdict(load_config(ROOT / "export" / "default-bundle.json")) == shipped.recipe["config"]


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "<!-- test-command -->" in readme and "<!-- test-command -->" in ci
    out = subprocess.run(
        ["awk", "/<!-- test-command -->/{getline; getline; print; exit}", str(ROOT / "README.md")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert "pytest" in out and "pip install" in out
