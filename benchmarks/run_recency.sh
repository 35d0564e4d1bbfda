#!/usr/bin/env bash
# The item-item blend with recency (benchmarks/results/recency-*/): the default export on ml-latest-small
# (LlamaRec's split and protocol) and classic ML-100K, then one eval run with Popularity, ItemKNN, EASE, EASE with
# recency (the blend's table alone), the bundle, its recency ablation (the best table without a half-life on
# validation, benchmarks/swap_item_item.py) and the bundle without a table; paired comparisons against them and
# against the committed earlier exports. A run again skips exports already written.
# DS="ml-latest-small ml-100k" by default. Run from the repository root with the export and eval extras.
set -euo pipefail
DATA=${DATA:-../shared/data}
E=${E:-/tmp/exp}
for ds in ${DS:-ml-latest-small ml-100k}; do
  R=benchmarks/results/recency-$ds
  mkdir -p "$R"
  split=() proto=full
  if [ "$ds" = ml-latest-small ]; then split=(--split llamarec) proto=llamarec; fi
  B=$E/$ds-recency
  if [ ! -f "$B/manifest.json" ]; then
    /usr/bin/time -v odrec export --dataset "$ds" --data-dir "$DATA/$ds" "${split[@]}" --out "$B" \
      --cache-dir "$B.cache" --overwrite --resume 2>&1 | tee "$R/export-log.txt"
  fi
  cp "$B/manifest.json" "$R/manifest.json"
  python benchmarks/swap_item_item.py "$B" "$B-no-recency" no-recency --dataset "$ds" --data-dir "$DATA/$ds"
  python benchmarks/strip_item_item.py "$B" "$B-no-table"
  odrec eval --dataset "$ds" --data-dir "$DATA/$ds" "${split[@]}" --protocol "$proto" --seed 0 --reuse --out "$R" \
    --models "popularity,itemknn,ease,ease-recency,bundle:$B,bundle:$B-no-recency,bundle:$B-no-table"
  for pair in "$R bundle:$ds-recency-no-recency no-recency-vs-recency" \
      "$R bundle:$ds-recency-no-table no-table-vs-recency" \
      "$R ease ease-vs-recency" "$R ease-recency ease-recency-vs-recency"; do
    set -- $pair
    python benchmarks/paired_compare.py "$1/per_user.json" "$2" "$R/per_user.json" "bundle:$ds-recency" \
      | tee "$R/paired-$3.md"
  done
  if [ "$ds" = ml-latest-small ]; then
    prev=(benchmarks/results/quality-ml-latest-small bundle:mls-ens)
    best=(benchmarks/results/distill-ensemble-ml-latest-small bundle:ml-latest-small-ens-distilled)
  else
    prev=(benchmarks/results/ease-ml-100k/default bundle:ml-100k-default)
    best=(benchmarks/results/distill-ensemble-ml-100k bundle:ml-100k-ens-distilled)
  fi
  python benchmarks/paired_compare.py "${prev[0]}/per_user.json" "${prev[1]}" "$R/per_user.json" "bundle:$ds-recency" \
    | tee "$R/paired-previous-default-vs-recency.md"
  python benchmarks/paired_compare.py "${best[0]}/per_user.json" "${best[1]}" "$R/per_user.json" "bundle:$ds-recency" \
    | tee "$R/paired-distilled-vs-recency.md"
  # profile-only users (v1: genres and decades; v2: three liked titles and genres) against Popularity
  odrec eval --dataset "$ds" --data-dir "$DATA/$ds" "${split[@]}" --protocol "$proto" --seed 0 --reuse \
    --models "popularity,bundle:$B" --scenario cold-user,cold-user-v2 --out "$R/cold"
  if [ "$ds" = ml-latest-small ]; then  # the published recipes on the same split and protocol (committed runs)
    for anchor in "benchmarks/results/eval-llamarec-ml-latest-small lrurec" \
        "benchmarks/results/anchor-llamarec-ml-latest-small sasrec"; do
      set -- $anchor
      python benchmarks/paired_compare.py "$1/per_user.json" "$2" "$R/per_user.json" "bundle:$ds-recency" \
        | tee "$R/paired-$2-vs-recency.md"
    done
  fi
done
