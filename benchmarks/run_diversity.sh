#!/usr/bin/env bash
# Issue 31: the runtime's diversity knob (MMR on the top 10) on ML-100K with the default export's student — its
# accuracy / novelty / intra-list diversity / serendipity trade-off beside popularity and ItemKNN, one run.
# Needs the bundle benchmarks/run_quality_ml100k.sh exports (/tmp/runs/exp/ml100k-ens). About 10 minutes.
set -euo pipefail
DATA=${DATA:-../shared/data}
B=${BUNDLE:-/tmp/runs/exp/ml100k-ens}
R=benchmarks/results/diversity-ml-100k
MODELS=popularity,itemknn
for d in 0 0.15 0.3 0.5 0.7 0.9; do MODELS="$MODELS,bundle:$B@div=$d"; done
odrec eval --dataset ml-100k --data-dir "$DATA/ml-100k" --models "$MODELS" --protocol full --scenario warm \
  --seed 0 --threads 2 --out "$R" 2>&1 | tee "$R.log"
mv "$R.log" "$R/log.txt"
python benchmarks/plot_diversity.py "$R/results.json" "$R/tradeoff.png"
