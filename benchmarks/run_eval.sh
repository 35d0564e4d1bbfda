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
# Anchor protocol (issue 14): LlamaRec's split, tie-breaking and metric on ml-latest-small and ML-100K, with
# LlamaRec's SASRec/LRURec recipe (ondevice_rec/eval/sequential.py). Hours on 2 CPU cores (validation every 500
# iterations, patience 20); progress is logged as timestamped lines when stderr is not a terminal.
# odrec eval --dataset ml-latest-small --data-dir "$DATA/ml-latest-small" \
#   --models popularity,itemknn,bpr,sasrec,lrurec,bundle --protocol llamarec --scenario warm,cold-user --seed 0 \
#   --out benchmarks/results/eval-llamarec-ml-latest-small
