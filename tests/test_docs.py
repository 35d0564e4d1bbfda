"""Docs are tested: the README's privacy figures are rendered from the committed results files, so a figure
that no results file backs, or a results file re-run without updating the README, fails here."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_module():
    spec = importlib.util.spec_from_file_location("privacy_readme", ROOT / "benchmarks" / "privacy" / "readme.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_readme_privacy_figures_equal_the_results_files() -> None:
    mod = _readme_module()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert mod.block(readme) == mod.render(), "run: python benchmarks/privacy/readme.py --write"


def test_a_changed_figure_is_caught(tmp_path: Path) -> None:
    mod = _readme_module()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    shown = mod.block(readme)
    first = next(line for line in shown.splitlines() if line.startswith("| WNUT-17"))
    changed = readme.replace(first, first.replace(" %", "1 %", 1))
    assert mod.block(changed) != mod.render()
