#!/usr/bin/env bash
# Issue 29 item 3: a bundle as the teacher on ML-100K. The three-student export (benchmarks/run_quality_ml100k.sh)
# teaches one student (--teacher bundle:..., --ensemble 1) beside the same student without a teacher; both and the
# teacher evaluated in one run. About 20 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1
R=benchmarks/results/distill-ml-100k
mkdir -p $R
odrec export --dataset ml-100k --data-dir ../shared/data/ml-100k --no-teacher --ensemble 1 --threads 2 \
  --out /tmp/runs/exp/ml100k-single --overwrite 2>&1 | tee $R/export-single-log.txt
odrec export --dataset ml-100k --data-dir ../shared/data/ml-100k --teacher bundle:/tmp/runs/exp/ml100k-ens --ensemble 1 \
  --threads 2 --out /tmp/runs/exp/ml100k-distilled --cache-dir /tmp/runs/exp/ml100k-distilled.cache --overwrite 2>&1 | tee $R/export-distilled-log.txt
cp /tmp/runs/exp/ml100k-single/manifest.json $R/manifest-single.json
cp /tmp/runs/exp/ml100k-distilled/manifest.json $R/manifest-distilled.json
odrec eval --dataset ml-100k --data-dir ../shared/data/ml-100k \
  --models bundle:/tmp/runs/exp/ml100k-single,bundle:/tmp/runs/exp/ml100k-distilled,bundle:/tmp/runs/exp/ml100k-ens \
  --protocol full --scenario warm --seed 0 --threads 2 --out $R 2>&1 | tee $R/log.txt
