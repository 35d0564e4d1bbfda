"""The item-item table's ablation: a copy of a student bundle whose table is another candidate the export
tried (``cosine``, ``ease-100``, ``"ease-500, half-life 1"``, ``"ease-500 + successors × 0.3, half-life 2"``, … as
named in its report; ``no-recency`` and ``no-successors`` the two ablations), rebuilt from the same
data and split, at the weight validation chose for that candidate in the bundle's own report (everything else
byte-identical).

python benchmarks/swap_item_item.py /tmp/exp/sports-default /tmp/exp/sports-default-cosine cosine \
    --dataset generic --data-dir /tmp/amazon-sports
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from _export_split import export_split

from ondevice_rec.bundle import read_manifest, write_bundle
from ondevice_rec.export.item_item import table_bytes, table_named


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", type=Path)
    ap.add_argument("dst", type=Path)
    ap.add_argument(
        "table",
        help="a candidate as the report names it (a table, and its half-life if any), no-recency: the best "
        "candidate without a half-life on validation, or no-successors: the table chosen before successors were "
        "added",
    )
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--data-dir", required=True)
    args = ap.parse_args()
    m = read_manifest(args.src)
    tt, report = m.two_tower, (m.training or {}).get("item_item") or {}
    tried = report.get("valid_ndcg10", {})
    weight: float | None = None
    if args.table == "no-recency":  # the recency ablation: the best table alone without a half-life on validation
        alone = [v for v in tried if ", half-life" not in v and " + successors" not in v]
        args.table = max(alone, key=lambda v: max(tried[v].values()))
    elif args.table == "no-successors":  # the successor table's ablation: the first choice, the table alone
        first = report.get("table_alone", {})
        args.table, weight = first.get("chosen", args.table), first.get("weight")
    if tt is None or args.table not in tried:
        raise SystemExit(f"{args.src}: its export did not try a {args.table!r} table")
    figures = tried[args.table]
    if weight is None:
        weight = float(max(figures, key=lambda w: (figures[w], -float(w))))
    _, _, split = export_split(args.src, args.dataset, args.data_dir)
    table, _, half_life = args.table.partition(", half-life ")
    nb = table_named(split, table)
    files: dict[str, bytes | Path] = {n: args.src / n for n in m.files if n != tt.item_item}
    files["item_item.npz"] = table_bytes(nb)
    spec = replace(
        tt,
        item_item="item_item.npz" if weight > 0 else None,
        item_item_weight=weight,
        item_item_half_life=float(half_life) if half_life and weight > 0 else None,
    )
    if weight == 0:
        del files["item_item.npz"]
    write_bundle(args.dst, replace(m, files={}, two_tower=spec), files, overwrite=True)
    print(f"{args.dst}: {args.src} with the {args.table} table at weight {weight} (validation {figures[str(weight)]})")


if __name__ == "__main__":
    main()
