#!/usr/bin/env bash
# The default export of ml-latest-small on LlamaRec's split, as a user runs it (`odrec export --dataset
# ml-latest-small --split llamarec`, the 30-minute --time-budget included), with this release's code: its wall time,
# each stage's own peak memory and how many students the budget let it train; then one `odrec eval` run on
# LlamaRec's protocol beside the previous fresh export (benchmarks/results/successors-ml-latest-small/fresh-export,
# kept at $PREVIOUS), Popularity and ItemKNN, and their paired difference.
set -euo pipefail
DATA=${DATA:-../shared/data}
E=${E:-/tmp/exp}
PREVIOUS=${PREVIOUS:-$E/mls-final}
R=${R:-benchmarks/results/fresh-export-ml-latest-small}
mkdir -p "$R"
d=(--dataset ml-latest-small --data-dir "$DATA/ml-latest-small")
/usr/bin/time -v odrec export "${d[@]}" --split llamarec --out "$E/mls-fresh" --cache-dir "$E/mls-fresh.cache" \
  --overwrite 2>&1 | tee "$R/export-log.txt"
cp "$E/mls-fresh/manifest.json" "$R/manifest.json"
models="popularity,itemknn,bundle:$E/mls-fresh"
[ -f "$PREVIOUS/manifest.json" ] && models="$models,bundle:$PREVIOUS"
odrec eval "${d[@]}" --split llamarec --protocol llamarec --seed 0 --reuse --out "$R" --models "$models" \
  2>&1 | tee "$R/log.txt"
if [ -f "$PREVIOUS/manifest.json" ]; then
  python benchmarks/paired_compare.py "$R/per_user.json" "bundle:$(basename "$PREVIOUS")" "$R/per_user.json" \
    bundle:mls-fresh | tee "$R/paired-fresh-vs-previous.md"
fi
