#!/usr/bin/env bash
# Issue 29 item 3 with a teacher that beats the student on validation: the export's own seed ensemble
# (--teacher ensemble: three students, seeds 0-2; the first is the student without distillation) distilled at
# every position of every training window into one student, weight 1 tried beside 0 and kept only if its
# validation NDCG@10 is higher. Test NDCG@10 of the single student (the ablation, exported alone with the same
# seed) and of the distilled export in one odrec eval run, paired per user. ml-latest-small on LlamaRec's split
# and protocol: DS=ml-latest-small SPLIT=llamarec PROTOCOL=llamarec SINGLE=0 (the single student's export is skipped
# there; the distilled student is paired with the default export of benchmarks/results/beyond-ml-latest-small).
set -euo pipefail
DATA=${DATA:-../shared/data}
DS=${DS:-ml-100k}
R=${R:-benchmarks/results/distill-ensemble-$DS}
PROTOCOL=${PROTOCOL:-full}
SPLIT=${SPLIT:-stable}
EXP=${EXP:-/tmp/runs/exp}
mkdir -p "$R"
odrec export --dataset "$DS" --data-dir "$DATA/$DS" --split "$SPLIT" --teacher ensemble --distill-weight 1 \
  --threads 2 --out "$EXP/$DS-ens-distilled" --cache-dir "$EXP/$DS-ens.cache" --resume --overwrite 2>&1 \
  | tee "$R/export-log.txt"
cp "$EXP/$DS-ens-distilled/manifest.json" "$R/manifest.json"
MODELS="popularity,itemknn,bundle:$EXP/$DS-ens-distilled"
if [ "${SINGLE:-1}" = 1 ]; then
  MODELS="popularity,itemknn,bundle:$EXP/$DS-single,bundle:$EXP/$DS-ens-distilled"
fi
if [ "${SINGLE:-1}" = 1 ] && [ ! -d "$EXP/$DS-single" ]; then
  odrec export --dataset "$DS" --data-dir "$DATA/$DS" --split "$SPLIT" --no-teacher --ensemble 1 --threads 2 \
    --out "$EXP/$DS-single" 2>&1 | tee "$R/single-export-log.txt"
fi
odrec eval --dataset "$DS" --data-dir "$DATA/$DS" \
  --models "$MODELS" \
  --protocol "$PROTOCOL" --scenario warm --seed 0 --threads 2 --out "$R" 2>&1 | tee "$R/log.txt"
