"""The blend's ablation: a copy of a student bundle without its item-item table (everything else byte-identical).

python benchmarks/strip_item_item.py /tmp/exp/sports /tmp/exp/sports-no-item-item
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from ondevice_rec.bundle import read_manifest, write_bundle


def main() -> None:
    src, dst = Path(sys.argv[1]), Path(sys.argv[2])
    m = read_manifest(src)
    tt = m.two_tower
    if tt is None or tt.item_item is None:
        raise SystemExit(f"{src} has no item-item table")
    files = {n: src / n for n in m.files if n != tt.item_item}
    write_bundle(
        dst,
        replace(m, files={}, two_tower=replace(tt, item_item=None, item_item_weight=0.0, item_item_half_life=None)),
        files,
        overwrite=True,
    )
    print(f"{dst}: {src} without {tt.item_item}")


if __name__ == "__main__":
    main()
