"""An exported student bundle with its cold-start settings chosen again by this release's stage
(``ondevice_rec.export.cold_start.choose_cold_start``: the popularity weight for profiles in words, and for
profiles naming catalogue titles their weight and the item-item factor; the profile model, fitted afresh from
the split, and its weights), everything else untouched: what
re-running the export would ship, without retraining. The manifest's ``training.cold_start`` report is replaced.

python benchmarks/rechoose_cold.py /tmp/exp/ml-100k-recency /tmp/exp/ml-100k-cold \\
    --dataset ml-100k --data-dir ../shared/data/ml-100k
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

from _export_split import export_split

from ondevice_rec.bundle import write_bundle
from ondevice_rec.eval.runtime import fit_bundle
from ondevice_rec.export.cold_start import PROFILE_MODEL_WEIGHTS, choose_cold_start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", type=Path)
    ap.add_argument("dst", type=Path)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--no-profile-model", action="store_true", help="choose without it (the ablation)")
    args = ap.parse_args()
    m, cfg, split = export_split(args.src, args.dataset, args.data_dir)
    assert m.two_tower is not None
    fitted = fit_bundle(str(args.src), split)
    t0 = time.perf_counter()
    log = lambda msg, f: print(f"{msg} {f:.0%}", flush=True)  # noqa: E731
    fitted.encoder.profile_model = None  # chosen afresh, as the export does
    weights = (0.0,) if args.no_profile_model else PROFILE_MODEL_WEIGHTS
    chosen = choose_cold_start(
        split, fitted.encoder, fitted.matrix, int(cfg.get("seed", 0)), log, model_weights=weights
    )
    report = {**chosen.report, "seconds": round(time.perf_counter() - t0, 1)}
    files: dict[str, bytes | Path] = {n: args.src / n for n in m.files if n != m.two_tower.profile_model}
    spec = replace(m.two_tower, **chosen.settings, profile_model=None)
    if chosen.model is not None:
        files["profile_model.npz"] = chosen.model.to_bytes()
        spec = replace(spec, profile_model="profile_model.npz")
    training = {**(m.training or {}), "cold_start": report}
    write_bundle(args.dst, replace(m, files={}, two_tower=spec, training=training), files, overwrite=True)
    print(f"{args.dst}: {chosen.settings}, profile model {report['profile_model']['weights']} in {report['seconds']} s")


if __name__ == "__main__":
    main()
