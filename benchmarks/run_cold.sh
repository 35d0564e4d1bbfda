#!/usr/bin/env bash
# Cold start with separate settings for profiles that name titles (benchmarks/results/cold-*/): on ml-latest-small
# (LlamaRec's split and protocol) the default export, run afresh (its teacher probe stops a losing teacher on the
# held-out sets it has), on ML-100K the committed recency export (benchmarks/run_recency.sh); each with its cold-start
# settings chosen again by this release's stage (benchmarks/rechoose_cold.py, students untouched), then one eval
# run of the profile-only users (v1: genres and decade; v2: three liked titles and genres) with Popularity, the
# bundle before and after; paired tables. ml-latest-small's warm users are evaluated too (warm/).
# DS="ml-latest-small ml-100k" by default. Run from the repository root with the export and eval extras.
set -euo pipefail
DATA=${DATA:-../shared/data}
E=${E:-/tmp/exp}
for ds in ${DS:-ml-latest-small ml-100k}; do
  R=benchmarks/results/cold-$ds
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
  B=$E/$ds-cold
  python benchmarks/rechoose_cold.py "$SRC" "$B" --dataset "$ds" --data-dir "$DATA/$ds" | tee "$R/rechoose-log.txt"
  cp "$B/manifest.json" "$R/manifest.json"
  odrec eval --dataset "$ds" --data-dir "$DATA/$ds" "${split[@]}" --protocol "$proto" --seed 0 --reuse --out "$R" \
    --models "popularity,bundle:$SRC,bundle:$B" --scenario cold-user,cold-user-v2
  python benchmarks/paired_compare.py "$R/per_user.json" "bundle:$(basename "$SRC")" "$R/per_user.json" \
    "bundle:$ds-cold" | tee "$R/paired-before-vs-cold.md"
  if [ "$ds" = ml-latest-small ]; then
    odrec eval --dataset "$ds" --data-dir "$DATA/$ds" "${split[@]}" --protocol "$proto" --seed 0 --reuse \
      --out "$R/warm" --models "popularity,itemknn,ease-recency,bundle:$B"
    python benchmarks/paired_compare.py benchmarks/results/recency-ml-latest-small/per_user.json \
      bundle:ml-latest-small-recency "$R/warm/per_user.json" "bundle:$ds-cold" | tee "$R/warm/paired-recency-vs-cold.md"
  fi
done
