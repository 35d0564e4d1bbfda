#!/usr/bin/env bash
# Issue 29 on classic ML-100K (leave-one-out, full ranking): the default export (seed ensemble, cold-start popularity
# weight chosen on validation, titles resolved in profiles) beside popularity, ItemKNN and BPR in the same run, the
# titles ablation (notitles:), and a paired comparison with the previous release's committed per-user figures.
# About 40 minutes on 2 cores (the export most of them).
set -euo pipefail
DATA=${DATA:-../shared/data}
R=benchmarks/results/quality-ml-100k
mkdir -p "$R"
odrec export --dataset ml-100k --data-dir "$DATA/ml-100k" --no-teacher \
  --threads 2 --out /tmp/runs/exp/ml100k-ens --overwrite 2>&1 | tee "$R/export-log.txt"
cp /tmp/runs/exp/ml100k-ens/manifest.json "$R/manifest-ml100k-ens.json"
odrec eval --dataset ml-100k --data-dir "$DATA/ml-100k" \
  --models bundle:/tmp/runs/exp/ml100k-ens,notitles:/tmp/runs/exp/ml100k-ens,popularity,itemknn,bpr \
  --protocol full --scenario warm,cold-user,cold-user-v2 --seed 0 --threads 2 --out "$R" 2>&1 | tee "$R/log.txt"
python benchmarks/paired_compare.py benchmarks/results/export-scale/nonregression/ml-100k/per_user.json \
  bundle:ml100k-new "$R/per_user.json" bundle:ml100k-ens | tee "$R/paired-vs-previous-release.md"
