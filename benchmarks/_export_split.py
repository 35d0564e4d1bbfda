"""The split an exported student bundle was trained on, rebuilt from its recipe (for the scripts that re-run one of
its export's stages): the one place the benchmarks read the recipe's split keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ondevice_rec.bundle import Manifest, read_manifest
from ondevice_rec.datasets import Split, leave_one_out, load_dataset


def export_split(src: Path, dataset: str, data_dir: str) -> tuple[Manifest, dict[str, Any], Split]:
    """(manifest, recipe config, split) of the student bundle at ``src``; exits on any other bundle."""
    m = read_manifest(src)
    cfg = (m.recipe or {}).get("config", {})
    if m.two_tower is None or not cfg:
        raise SystemExit(f"{src} is not an exported student bundle")
    split = leave_one_out(
        load_dataset(dataset, data_dir),
        min_rating=cfg.get("min_rating"),
        core=cfg.get("core", 5),
        order=cfg.get("split_order", "stable"),
    )
    return m, cfg, split
