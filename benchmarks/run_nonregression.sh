#!/usr/bin/env bash
# Issue 19's no-regression check: this release's student on both MovieLens sets with the same commands as
# benchmarks/run_eval.sh, compared user by user with the committed per_user.json of the previous release.
# One thread, so it can run beside another one-thread job on 2 cores.
set -euo pipefail
DATA=${DATA:-../shared/data}
R=benchmarks/results/export-scale/nonregression
odrec export --dataset ml-100k --data-dir "$DATA/ml-100k" --no-teacher --threads 1 --out /tmp/runs/exp/ml100k-new --overwrite
odrec eval --dataset ml-100k --data-dir "$DATA/ml-100k" --models bundle:/tmp/runs/exp/ml100k-new,popularity \
  --protocol full --scenario warm,cold-user,cold-user-v2 --seed 0 --threads 1 --out "$R/ml-100k"
python benchmarks/paired_compare.py benchmarks/results/eval-student-ml-100k/per_user.json bundle:ml100k-noteacher \
  "$R/ml-100k/per_user.json" bundle:ml100k-new | tee "$R/ml-100k/paired.md"
odrec export --dataset ml-latest-small --data-dir "$DATA/ml-latest-small" --split llamarec --no-teacher \
  --threads 1 --out /tmp/runs/exp/mls-new --overwrite
odrec eval --dataset ml-latest-small --data-dir "$DATA/ml-latest-small" --models bundle:/tmp/runs/exp/mls-new,popularity \
  --protocol llamarec --scenario warm,cold-user,cold-user-v2 --seed 0 --threads 1 --out "$R/ml-latest-small"
python benchmarks/paired_compare.py benchmarks/results/eval-llamarec-ml-latest-small/per_user.json \
  bundle:mls-noteacher "$R/ml-latest-small/per_user.json" bundle:mls-new | tee "$R/ml-latest-small/paired.md"
