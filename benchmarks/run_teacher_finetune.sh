#!/usr/bin/env bash
# What a fine-tuning step of the default LLM teacher (SmolLM2-135M) costs in time and peak memory, whole prompts
# against the shared history (benchmarks/teacher_finetune_bench.py), on ML-100K's real titles and on the longest
# titles the prompt template keeps. One process per row (its own peak RSS), one after the other, 2 threads.
set -euo pipefail
DATA=${DATA:-../shared/data}
R=benchmarks/results/teacher-finetune
mkdir -p "$R"
: > "$R/results.jsonl"
for titles in real longest; do
  for form in batched shared; do
    HF_HUB_OFFLINE=1 python benchmarks/teacher_finetune_bench.py --dataset ml-100k --data-dir "$DATA/ml-100k" \
      --form "$form" --titles "$titles" --steps 10 --threads 2 | tee -a "$R/results.jsonl"
  done
done
python -c "import json,sys; rows=[json.loads(l) for l in open(sys.argv[1])]; json.dump(rows, open(sys.argv[2], 'w'), indent=1)" \
  "$R/results.jsonl" "$R/results.json"
