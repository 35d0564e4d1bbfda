#!/usr/bin/env bash
# The profile model for users without events (ranking/profile_model.py: what people who name the same titles and
# genres chose), on both MovieLens sets (benchmarks/results/profile-model-*/). The source is the default export
# (`odrec export`, at $E/<ds>-export; run here when missing); this release's cold-start stage
# (benchmarks/rechoose_cold.py) is run on it twice, the students and blend untouched: with the profile model (fitted
# from the split, its weights chosen on validation profiles with the popularity weight and the item-item factor:
# what the export ships now) and without it (--no-profile-model: the ablation). Then one eval run of profile-only
# users (v1: genres and decade; v2: three liked titles and genres) with Popularity and both bundles, and their
# paired differences. DS="ml-100k ml-latest-small" by default. Run from the repository root with the export and
# eval extras.
set -euo pipefail
DATA=${DATA:-../shared/data}
E=${E:-/tmp/exp}
for ds in ${DS:-ml-100k ml-latest-small}; do
  R=benchmarks/results/profile-model-$ds
  mkdir -p "$R"
  split=() proto=full
  [ "$ds" = ml-latest-small ] && split=(--split llamarec) proto=llamarec
  d=(--dataset "$ds" --data-dir "$DATA/$ds")
  SRC=$E/$ds-export B=$E/$ds-profile-model
  if [ ! -f "$SRC/manifest.json" ]; then
    /usr/bin/time -v odrec export "${d[@]}" "${split[@]}" --out "$SRC" --cache-dir "$SRC.cache" --overwrite \
      2>&1 | tee "$R/export-log.txt"
  fi
  cp "$SRC/manifest.json" "$R/export-manifest.json"
  A=$E/$ds-no-profile-model
  python benchmarks/rechoose_cold.py "$SRC" "$A" "${d[@]}" --no-profile-model 2>&1 | tee "$R/ablation-log.txt"
  /usr/bin/time -v python benchmarks/rechoose_cold.py "$SRC" "$B" "${d[@]}" 2>&1 | tee "$R/rechoose-log.txt"
  cp "$B/manifest.json" "$R/manifest.json"
  odrec eval "${d[@]}" "${split[@]}" --protocol "$proto" --seed 0 --reuse --out "$R" \
    --models "popularity,bundle:$A,bundle:$B" --scenario cold-user,cold-user-v2 2>&1 | tee "$R/log.txt"
  python benchmarks/paired_compare.py "$R/per_user.json" "bundle:$(basename "$A")" "$R/per_user.json" \
    "bundle:$(basename "$B")" | tee "$R/paired-without-vs-with.md"
  python benchmarks/paired_compare.py "$R/per_user.json" popularity "$R/per_user.json" \
    "bundle:$(basename "$B")" | tee "$R/paired-popularity-vs-profile-model.md"
done
