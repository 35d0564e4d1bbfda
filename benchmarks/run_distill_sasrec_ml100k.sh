#!/usr/bin/env bash
# Issue 29 item 3 with a teacher stronger than the student: the harness's SASRec (LlamaRec's recipe, trained on the
# export's own ML-100K split; ~21 min) labels 100-item candidate sets of every user; distillation weight 1
# is tried beside 0 and kept only if its validation NDCG@10 is higher. One student (--ensemble 1), so
# the no-distillation ablation is the committed single student (/tmp/runs/exp/ml100k-single, see
# benchmarks/student_recipe_probe.py). Test NDCG@10 of both bundles in one odrec eval run, then paired with the
# SASRec of benchmarks/results/beyond-ml-100k (the same recipe, split and seed).
set -euo pipefail
DATA=${DATA:-../shared/data}
R=benchmarks/results/distill-sasrec-ml-100k
mkdir -p "$R"
odrec export --dataset ml-100k --data-dir "$DATA/ml-100k" --teacher sasrec --teacher-candidates 100 \
  --distill-weight 1 --ensemble 1 --threads 2 --out /tmp/runs/exp/ml100k-sasrec-distilled \
  --cache-dir /tmp/runs/exp/ml100k-sasrec.cache --resume --overwrite 2>&1 | tee "$R/export-log.txt"
cp /tmp/runs/exp/ml100k-sasrec-distilled/manifest.json "$R/manifest.json"
if [ ! -d /tmp/runs/exp/ml100k-single ]; then
  odrec export --dataset ml-100k --data-dir "$DATA/ml-100k" --no-teacher --ensemble 1 --threads 2 \
    --out /tmp/runs/exp/ml100k-single 2>&1 | tee "$R/single-export-log.txt"
fi
odrec eval --dataset ml-100k --data-dir "$DATA/ml-100k" \
  --models bundle:/tmp/runs/exp/ml100k-single,bundle:/tmp/runs/exp/ml100k-sasrec-distilled \
  --protocol full --scenario warm --seed 0 --threads 2 --out "$R" 2>&1 | tee "$R/log.txt"
python benchmarks/paired_compare.py benchmarks/results/beyond-ml-100k/per_user.json sasrec \
  "$R/per_user.json" bundle:ml100k-sasrec-distilled | tee "$R/paired-vs-sasrec.md"
