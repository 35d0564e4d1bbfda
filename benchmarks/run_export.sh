#!/usr/bin/env bash
# The commands that produced benchmarks/results/export-ml-100k/ (run from the repository root with the export,
# eval and gguf extras). Bundles go to $BUNDLES (not committed: ~25 MB each, plus the 140 MB GGUF teacher).
set -euo pipefail
DATA=${DATA:-../shared/data}
BUNDLES=${BUNDLES:-bundles}
OUT=benchmarks/results/export-ml-100k
mkdir -p "$OUT"
t() { /usr/bin/time -f "%e s wall, %M KB peak RSS: $*" "$@"; }
# 1. the default export: fine-tuned SmolLM2 teacher → labels → distilled student; ONNX + GGUF
t odrec export --dataset ml-100k --data-dir "$DATA/ml-100k" --out "$BUNDLES/ml100k" --formats onnx,gguf \
  --resume --overwrite ${EXTRA:-} 2>&1 | tee "$OUT/export.log"
# 2. ablation: the same student with the distillation loss switched off
t odrec export --dataset ml-100k --data-dir "$DATA/ml-100k" --out "$BUNDLES/ml100k-nodistill" \
  --distill-weight 0 --overwrite 2>&1 | tee "$OUT/export-nodistill.log"
# 3. for a fair cold-item figure: trained without the items the cold-item scenario holds out
t odrec export --dataset ml-100k --data-dir "$DATA/ml-100k" --out "$BUNDLES/ml100k-heldout" \
  --distill-weight 0 --holdout-cold-items --overwrite 2>&1 | tee "$OUT/export-heldout.log"
cp "$BUNDLES/ml100k/manifest.json" "$OUT/manifest.json"
cp "$BUNDLES/ml100k-nodistill/manifest.json" "$OUT/manifest-nodistill.json"
cp "$BUNDLES/ml100k-heldout/manifest.json" "$OUT/manifest-heldout.json"
# 4. one evaluation run: baselines, the students, the LLM re-ranker (warm and profile-only cold users)
t odrec eval --dataset ml-100k --data-dir "$DATA/ml-100k" \
  --models "popularity,itemknn,bpr,sasrec,bundle:$BUNDLES/ml100k,bundle:$BUNDLES/ml100k-nodistill,rerank:$BUNDLES/ml100k" \
  --protocol full --scenario warm,cold-user --seed 0 --out "$OUT" 2>&1 | tail -5
# 5. cold items (10 % of items removed from training; id-based baselines retrained without them)
t odrec eval --dataset ml-100k --data-dir "$DATA/ml-100k" \
  --models "popularity,itemknn,bpr,bundle,bundle:$BUNDLES/ml100k-heldout" \
  --protocol full --scenario warm,cold-item --seed 0 --out "$OUT/cold-item" 2>&1 | tail -5
