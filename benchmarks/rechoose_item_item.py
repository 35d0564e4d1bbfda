"""An exported student bundle with its item-item blend chosen again by this release's blend stage (the tables,
recency half-lives, successor tables and weights of ``ondevice_rec.export.item_item.choose_blend``, on the
validation users its export
early-stopped on), its students untouched: what re-running the export would ship, without retraining them.
The manifest's ``training.item_item`` report is replaced by the new one (so ``swap_item_item.py`` can ablate it).

python benchmarks/rechoose_item_item.py /tmp/exp/sports-default /tmp/exp/sports-recency \\
    --dataset generic --data-dir /tmp/amazon-sports
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from _export_split import export_split

from ondevice_rec.bundle import write_bundle
from ondevice_rec.eval.runtime import fit_bundle
from ondevice_rec.export.item_item import candidate_tables, choose_blend, table_bytes
from ondevice_rec.export.student import StudentConfig, validation_users


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", type=Path)
    ap.add_argument("dst", type=Path)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--data-dir", required=True)
    args = ap.parse_args()
    m, cfg, split = export_split(args.src, args.dataset, args.data_dir)
    tt = m.two_tower
    assert tt is not None
    student = cfg["student"]
    vusers = validation_users(split, StudentConfig(seed=student["seed"], valid_users=student["valid_users"]))
    fitted = fit_bundle(str(args.src), split)
    log = lambda msg, f: print(f"{msg} {f:.0%}", flush=True)  # noqa: E731
    tables = candidate_tables(split, log)
    table, half_life, weight, report = choose_blend(
        lambda hs: fitted.encoder.history_vectors(fitted.matrix, hs), fitted.matrix, split, tables, vusers, log
    )
    report["used"] = weight > 0
    files: dict[str, bytes | Path] = {n: args.src / n for n in m.files if n != tt.item_item}
    if table is not None and weight > 0:
        files["item_item.npz"] = table_bytes(table)
    spec = replace(
        tt,
        item_item="item_item.npz" if weight > 0 else None,
        item_item_weight=weight,
        item_item_half_life=half_life if weight > 0 else None,
    )
    training = {**(m.training or {}), "item_item": report}
    write_bundle(args.dst, replace(m, files={}, two_tower=spec, training=training), files, overwrite=True)
    fig = report["valid_ndcg10"][report["chosen"]]
    print(f"{args.dst}: {report['chosen']} at weight {weight} (validation {fig[str(weight)]}, {fig['0.0']} without)")


if __name__ == "__main__":
    main()
