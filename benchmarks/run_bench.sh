#!/usr/bin/env bash
# The commands that produced benchmarks/results/bench/ (repository root; the gguf and eval extras installed).
# BUNDLES holds the ML-100K student from benchmarks/run_export.sh and a default bundle rebuilt with its fp32
# model kept (`odrec bundle build-default --keep-fp32 --out $BUNDLES/default-fp32`).
set -euo pipefail
BUNDLES=${BUNDLES:-bundles}
WORK=${WORK:-/tmp/odrec-bench}
OUT=benchmarks/results/bench
mkdir -p "$OUT"
# 1. the shipped default bundle: every scenario, catalogues of 1k, 10k and 100k items
odrec bench --workdir "$WORK" --json "$OUT/default.json" --report "$OUT/default.md" --plot "$OUT/default.png"
# 2. the ML-100K student (two-tower + GGUF Q8_0 LLM ranker): user towers fp32 vs int8, LLM re-ranking
odrec bench --bundle "$BUNDLES/ml100k" --scenarios recommend,cold-start,backends,rerank --sizes 10000 \
  --workdir "$WORK" --json "$OUT/student.json" --report "$OUT/student.md" --plot "$OUT/student.png"
# 3. text encoder fp32 vs int8 per candidate (default bundle with its fp32 model kept)
odrec bench --bundle "$BUNDLES/default-fp32" --scenarios backends --workdir "$WORK" \
  --json "$OUT/encoder-fp32-vs-int8.json" --report "$OUT/encoder-fp32-vs-int8.md"
# 4. one app process at 100k items: start-up (before and with the vector cache), peak RSS, recommend, add_items,
#    float16 + prefilter vs exact float32 top-10 overlap
odrec bench --scenarios memory,recommend --sizes 100000 --workdir "$WORK" \
  --json "$OUT/memory-100k.json" --report "$OUT/memory-100k.md"
# 5. real histories by length, one thread: ml-latest-small as downloaded and Amazon Sports (S3-Rec's 5-core,
#    rebuilt by benchmarks/data/amazon_s3rec.py), each imported through `odrec catalog/events import`
python benchmarks/data/amazon_s3rec.py --mirror "${MIRROR:-/work/.mirror}" --category Sports_and_Outdoors \
  --out /tmp/amazon-sports
odrec bench --scenarios real --threads 1 --real-data "${DATA:-../shared/data}/ml-latest-small" \
  --real-data /tmp/amazon-sports --workdir "$WORK" --json "$OUT/real.json" --report "$OUT/real.md"
# 6. a million real texts in one app process (multilingual Wikipedia sentences + frequent words, embedded once
#    by the default bundle's encoder, resumably, ~40 min on 2 cores): the ANN search's latency, RSS, recall@10
python benchmarks/data/million_texts.py --mirror "${MIRROR:-/work/.mirror}" --out /tmp/odrec-1m
odrec bench --scenarios scale --threads 1 --scale-data /tmp/odrec-1m --workdir "$WORK" \
  --json "$OUT/scale-1m.json" --report "$OUT/scale-1m.md"
# 7. ingest: a real catalogue file through `odrec catalog import` (embedding included) beside the synthetic items
odrec bench --scenarios ingest --real-data "${DATA:-../shared/data}/ml-latest-small" --workdir "$WORK" \
  --json "$OUT/ingest.json" --report "$OUT/ingest.md"
