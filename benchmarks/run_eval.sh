#!/usr/bin/env bash
# The commands that produced benchmarks/results/eval-*/ (run from the repository root; needs the export extra).
set -euo pipefail
DATA=${DATA:-../shared/data}
odrec eval --dataset ml-100k --data-dir "$DATA/ml-100k" \
  --models popularity,itemknn,bpr,sasrec,bundle --protocol all --scenario all --seed 0 \
  --out benchmarks/results/eval-ml-100k
odrec eval --dataset ml-latest-small --data-dir "$DATA/ml-latest-small" \
  --models popularity,itemknn,bpr,sasrec,bundle --protocol all --scenario all --seed 0 \
  --out benchmarks/results/eval-ml-latest-small
