"""``odrec export --ray`` without the distributed extra, and Ray options without --ray: one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_without_the_extra_ray_is_one_line(tmp_path: Path) -> None:
    fake = tmp_path / "fake"
    (fake / "ray").mkdir(parents=True)
    (fake / "ray" / "__init__.py").write_text("raise ImportError('No module named ray')\n")
    env = {**os.environ, "PYTHONPATH": f"{fake}{os.pathsep}{ROOT}", "HF_HUB_OFFLINE": "1"}
    r = subprocess.run(
        [sys.executable, "-m", "ondevice_rec.cli", "export", "--dataset", "generic", "--data-dir", str(tmp_path),
         "--out", str(tmp_path / "b"), "--ray", "auto"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert r.returncode == 1
    assert r.stderr.strip().count("\n") == 0, r.stderr
    assert "pip install 'ondevice-rec[distributed]'" in r.stderr


def test_workers_without_ray_is_an_error(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "ondevice_rec.cli", "export", "--dataset", "generic", "--data-dir", str(tmp_path),
         "--out", str(tmp_path / "b"), "--workers", "2"],
        capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=120,
    )  # fmt: skip
    assert r.returncode == 1 and "--ray" in r.stderr
