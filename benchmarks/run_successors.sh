#!/usr/bin/env bash
# What follows each item in the blend, and cold-start settings of their own for profiles that name titles
# (benchmarks/results/successors-*/). On ml-latest-small (LlamaRec's split and protocol) the default export, run
# afresh (its teacher probe stops a losing teacher on the held-out sets it has); on ML-100K the committed recency
# export (benchmarks/run_recency.sh). Each gets this release's blend stage again (benchmarks/rechoose_item_item.py:
# the table, recency and weight, then the successor table added at a factor chosen on validation) and its cold-start
# stage (benchmarks/rechoose_cold.py), the students untouched: what re-running the export would ship. Then one eval
# run with Popularity, ItemKNN, EASE, EASE with recency, the successor table alone, the bundle and its ablation
# without successors; paired tables (also against the committed recency bundle, and on ml-latest-small LRURec and
# SASRec); profile-only users (v1: genres and decade; v2: three liked titles and genres) in cold/.
# DS="ml-latest-small ml-100k" by default. Run from the repository root with the export and eval extras.
set -euo pipefail
DATA=${DATA:-../shared/data}
E=${E:-/tmp/exp}
for ds in ${DS:-ml-latest-small ml-100k}; do
  R=benchmarks/results/successors-$ds
  mkdir -p "$R"
  split=() proto=full
  if [ "$ds" = ml-latest-small ]; then
    split=(--split llamarec) proto=llamarec
    SRC=$E/ml-latest-small-export
    if [ ! -f "$SRC/manifest.json" ]; then
      /usr/bin/time -v odrec export --dataset "$ds" --data-dir "$DATA/$ds" "${split[@]}" --out "$SRC" \
        --cache-dir "$SRC.cache" --overwrite 2>&1 | tee "$R/export-log.txt"
    fi
    cp "$SRC/manifest.json" "$R/export-manifest.json"
  else
    SRC=$E/ml-100k-recency
  fi
  B=$E/$ds-successors
  d=(--dataset "$ds" --data-dir "$DATA/$ds")
  { /usr/bin/time -v python benchmarks/rechoose_item_item.py "$SRC" "$B-blend" "${d[@]}"
    python benchmarks/rechoose_cold.py "$B-blend" "$B" "${d[@]}"; } 2>&1 | tee "$R/rechoose-log.txt"
  python benchmarks/swap_item_item.py "$B" "$B-no-successors" no-successors "${d[@]}"
  cp "$B/manifest.json" "$R/manifest.json"
  odrec eval "${d[@]}" "${split[@]}" --protocol "$proto" --seed 0 --reuse --out "$R" \
    --models "popularity,itemknn,ease,ease-recency,successors,bundle:$B,bundle:$B-no-successors"
  me="bundle:$ds-successors"
  for pair in "$R bundle:$ds-successors-no-successors no-successors" "$R ease-recency ease-recency" \
      "$R successors successors" "benchmarks/results/recency-$ds bundle:$ds-recency recency"; do
    set -- $pair
    python benchmarks/paired_compare.py "$1/per_user.json" "$2" "$R/per_user.json" "$me" | tee "$R/paired-$3-vs-successors.md"
  done
  if [ "$ds" = ml-latest-small ]; then  # the published recipes on the same split and protocol (committed runs)
    for anchor in "benchmarks/results/eval-llamarec-ml-latest-small lrurec" \
        "benchmarks/results/anchor-llamarec-ml-latest-small sasrec"; do
      set -- $anchor
      python benchmarks/paired_compare.py "$1/per_user.json" "$2" "$R/per_user.json" "$me" \
        | tee "$R/paired-$2-vs-successors.md"
    done
  fi
  odrec eval "${d[@]}" "${split[@]}" --protocol "$proto" --seed 0 --reuse --out "$R/cold" \
    --models "popularity,bundle:$SRC,bundle:$B" --scenario cold-user,cold-user-v2
  python benchmarks/paired_compare.py "$R/cold/per_user.json" "bundle:$(basename "$SRC")" "$R/cold/per_user.json" \
    "$me" | tee "$R/cold/paired-before-vs-successors.md"
done
