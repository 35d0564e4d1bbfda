#!/usr/bin/env bash
# Issue 29: what the default LLM teacher (SmolLM2-135M, fine-tuned in torch) costs an export that ends up not using
# it. ML-100K; the manifest's stage seconds and the teacher's probe report are the figures (`teacher` stage: load,
# 50 fine-tuning steps, the probe's held-out check in torch, and whatever follows when the probe does not stop it).
# The student is not the point here: one student of at most 5 epochs keeps the run short.
set -euo pipefail
DATA=${DATA:-../shared/data}
R=benchmarks/results/teacher-probe-ml-100k
mkdir -p "$R"
odrec export --dataset ml-100k --data-dir "$DATA/ml-100k" --ensemble 1 --epochs 5 --threads 2 \
  --out /tmp/runs/exp/ml100k-llm-probe --cache-dir /tmp/runs/exp/ml100k-llm-probe.cache --overwrite 2>&1 \
  | tee "$R/export-log.txt"
cp /tmp/runs/exp/ml100k-llm-probe/manifest.json "$R/manifest.json"
python - "$R/manifest.json" <<'PY' | tee "$R/summary.txt"
import json, sys
m = json.load(open(sys.argv[1]))
t = m["teacher"] or {}
print("stage seconds:", json.dumps(m["stage_seconds"]))
print("probe:", json.dumps(t.get("probe")))
print("fine-tune:", json.dumps({k: v for k, v in (t.get("fine_tune") or {}).items() if k != "lora"}))
print("distillation:", json.dumps((m["training"] or {}).get("distillation")))
PY
