#!/usr/bin/env bash
# Issue 29 on ml-latest-small, LlamaRec's split and protocol: the default export (seed ensemble, cold-start
# popularity weight, titles resolved in profiles) beside popularity, ItemKNN and BPR measured in the same run, the
# titles ablation (notitles:), and paired comparisons with the committed LRURec run and the previous release.
# About 50 minutes on 2 cores (the export ~40 of them).
set -euo pipefail
DATA=${DATA:-../shared/data}
R=benchmarks/results/quality-ml-latest-small
mkdir -p "$R"
odrec export --dataset ml-latest-small --data-dir "$DATA/ml-latest-small" --split llamarec --no-teacher \
  --threads 2 --out /tmp/runs/exp/mls-ens --overwrite 2>&1 | tee "$R/export-log.txt"
cp /tmp/runs/exp/mls-ens/manifest.json "$R/manifest-mls-ens.json"
odrec eval --dataset ml-latest-small --data-dir "$DATA/ml-latest-small" \
  --models bundle:/tmp/runs/exp/mls-ens,notitles:/tmp/runs/exp/mls-ens,popularity,itemknn,bpr \
  --protocol llamarec --scenario warm,cold-user,cold-user-v2 --seed 0 --threads 2 --out "$R" 2>&1 | tee "$R/log.txt"
python benchmarks/paired_compare.py benchmarks/results/eval-llamarec-ml-latest-small/per_user.json lrurec \
  "$R/per_user.json" bundle:mls-ens | tee "$R/paired-vs-lrurec.md"
python benchmarks/paired_compare.py benchmarks/results/export-scale/nonregression/ml-latest-small/per_user.json \
  bundle:mls-new "$R/per_user.json" bundle:mls-ens | tee "$R/paired-vs-previous-release.md"
