#!/usr/bin/env bash
# Issue 31: beyond-accuracy and satisfaction tables — Popularity, ItemKNN, SASRec and the default export in one
# run per dataset (coverage, novelty, intra-list diversity, serendipity; SatNDCG@10 and Regret@10).
# ML-100K needs the bundle of benchmarks/run_quality_ml100k.sh (/tmp/runs/exp/ml100k-ens); SASRec trains ~21 min.
set -euo pipefail
DATA=${DATA:-../shared/data}
B=${BUNDLE:-/tmp/runs/exp/ml100k-ens}
R=benchmarks/results/beyond-ml-100k
if [ "${ML100K:-1}" = 1 ]; then
  mkdir -p "$R"
  odrec eval --dataset ml-100k --data-dir "$DATA/ml-100k" --models "popularity,itemknn,sasrec,bundle:$B" \
    --protocol full --scenario warm,cold-user-v2 --seed 0 --threads 2 --out "$R" 2>&1 | tee "$R/log.txt"
fi
# ml-latest-small (LlamaRec's split and protocol) needs the bundle of benchmarks/run_quality.sh (/tmp/runs/exp/mls-ens,
# ~40 min) and SASRec with LlamaRec's recipe (~40 min): run with MLS=1 (ML100K=0 skips the ML-100K table).
if [ "${MLS:-0}" = 1 ]; then
  R=benchmarks/results/beyond-ml-latest-small
  mkdir -p "$R"
  odrec eval --dataset ml-latest-small --data-dir "$DATA/ml-latest-small" \
    --models "popularity,itemknn,sasrec,bundle:${MLS_BUNDLE:-/tmp/runs/exp/mls-ens}" --protocol llamarec \
    --scenario warm,cold-user-v2 --seed 0 --threads 2 --out "$R" 2>&1 | tee "$R/log.txt"
fi
