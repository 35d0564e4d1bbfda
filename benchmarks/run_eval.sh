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
# Anchor protocol: LlamaRec's split, tie-breaking and metric on ml-latest-small, with LlamaRec's
# SASRec/LRURec recipe (ondevice_rec/eval/sequential.py). Hours on 2 CPU cores (validation every 500 iterations,
# patience 20); progress is logged as timestamped lines when stderr is not a terminal. --reuse keeps each model's
# runs in OUT/cache keyed by its code, the split, model, scenario and seed, so models can be run one at a time
# (two jobs side by side with --threads 1) and gathered in one table at the end.
OUT=benchmarks/results/eval-llamarec-ml-latest-small
odrec eval --dataset ml-latest-small --data-dir "$DATA/ml-latest-small" --models popularity,sasrec --protocol llamarec \
  --seed 0 --out /tmp/runs/anchor-mls-sasrec
cp /tmp/runs/anchor-mls-sasrec/* benchmarks/results/anchor-llamarec-ml-latest-small/
odrec eval --dataset ml-latest-small --data-dir "$DATA/ml-latest-small" --models lrurec --protocol llamarec \
  --scenario warm --seed 0 --threads 1 --reuse --out "$OUT"
odrec export --dataset ml-latest-small --data-dir "$DATA/ml-latest-small" --split llamarec --no-teacher \
  --threads 1 --out /tmp/runs/exp/mls-noteacher
odrec eval --dataset ml-latest-small --data-dir "$DATA/ml-latest-small" \
  --models bundle:/tmp/runs/exp/mls-noteacher,popularity,itemknn,bpr,lrurec,bundle --protocol llamarec \
  --scenario warm,cold-user,cold-user-v2 --seed 0 --threads 1 --reuse --out "$OUT"
# classic ML-100K, the student with this release's recipe
odrec export --dataset ml-100k --data-dir "$DATA/ml-100k" --no-teacher --threads 1 --out /tmp/runs/exp/ml100k-noteacher
odrec eval --dataset ml-100k --data-dir "$DATA/ml-100k" \
  --models bundle:/tmp/runs/exp/ml100k-noteacher,popularity,itemknn,bpr,bundle --protocol full \
  --scenario warm,cold-user,cold-user-v2 --seed 0 --threads 1 --reuse --out /tmp/runs/l100/ml100k
cp /tmp/runs/l100/ml100k/* benchmarks/results/eval-student-ml-100k/
