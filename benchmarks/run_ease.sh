#!/usr/bin/env bash
# EASE in the export's item-item blend and as a baseline (benchmarks/results/ease-*/): the default export on all
# users of S3-Rec's Amazon Sports (rebuilt by benchmarks/data/amazon_s3rec.py, not committed), then one eval run
# with Popularity, ItemKNN, EASE, the bundle, the bundle with the cosine table validation chose for it
# (benchmarks/swap_item_item.py) and the bundle without a table. SPORTS=0 skips it; ML=1 runs the same
# comparison on both MovieLens sets with one student each (--no-teacher --ensemble 1; ml-latest-small on
# LlamaRec's split and protocol). Run from the repository root with the export and eval extras.
set -euo pipefail
MIRROR=${MIRROR:-/work/.mirror}
DATA=${DATA:-../shared/data}
D=${D:-/tmp/amazon-sports}
E=${E:-/tmp/exp}
if [ "${SPORTS:-1}" = 1 ]; then
  R=benchmarks/results/ease-amazon-sports
  mkdir -p "$R"
  [ -f "$D/items.csv" ] || python benchmarks/data/amazon_s3rec.py --mirror "$MIRROR" --category Sports_and_Outdoors --out "$D"
  if [ ! -f "$E/sports-default/manifest.json" ]; then
    /usr/bin/time -v odrec export --dataset generic --data-dir "$D" --out "$E/sports-default" \
      --cache-dir "$E/sports-default.cache" --overwrite 2>&1 | tee "$R/export-log.txt"
  fi
  cp "$E/sports-default/manifest.json" "$R/manifest.json"
  python benchmarks/swap_item_item.py "$E/sports-default" "$E/sports-cosine" cosine --dataset generic --data-dir "$D"
  python benchmarks/strip_item_item.py "$E/sports-default" "$E/sports-no-table"
  odrec eval --dataset generic --data-dir "$D" \
    --models "popularity,itemknn,ease,bundle:$E/sports-default,bundle:$E/sports-cosine,bundle:$E/sports-no-table" \
    --protocol full --max-users 6000 --seed 0 --reuse --out "$R"
  for pair in "bundle:sports-cosine cosine-vs-ease-table" "ease ease-baseline-vs-bundle" \
      "bundle:sports-no-table no-table-vs-ease-table"; do
    set -- $pair
    python benchmarks/paired_compare.py "$R/per_user.json" "$1" "$R/per_user.json" bundle:sports-default \
      | tee "$R/paired-$2.md"
  done
fi
if [ "${ML:-0}" = 1 ]; then
  for ds in ml-100k ml-latest-small; do
    R=benchmarks/results/ease-$ds
    mkdir -p "$R"
    split=() proto=full
    if [ "$ds" = ml-latest-small ]; then split=(--split llamarec) proto=llamarec; fi
    odrec export --dataset "$ds" --data-dir "$DATA/$ds" "${split[@]}" --no-teacher --ensemble 1 \
      --out "$E/$ds-single" --cache-dir "$E/$ds-single.cache" --overwrite --resume 2>&1 | tee "$R/export-log.txt"
    cp "$E/$ds-single/manifest.json" "$R/manifest.json"
    models="popularity,itemknn,ease,bundle:$E/$ds-single"
    if python - "$E/$ds-single/manifest.json" <<'PY'
import json, sys
sys.exit(0 if json.load(open(sys.argv[1]))["two_tower"].get("item_item") else 1)
PY
    then
      python benchmarks/strip_item_item.py "$E/$ds-single" "$E/$ds-single-no-table"
      models="$models,bundle:$E/$ds-single-no-table"
    fi
    odrec eval --dataset "$ds" --data-dir "$DATA/$ds" "${split[@]}" --models "$models" --protocol "$proto" \
      --seed 0 --reuse --out "$R"
    if [[ $models == *no-table* ]]; then
      python benchmarks/paired_compare.py "$R/per_user.json" "bundle:$ds-single-no-table" "$R/per_user.json" \
        "bundle:$ds-single" | tee "$R/paired-no-table-vs-table.md"
    fi
    # against the distilled student of benchmarks/run_distill_ensemble_ml100k.sh (same split, committed per user)
    python benchmarks/paired_compare.py "benchmarks/results/distill-ensemble-$ds/per_user.json" \
      "bundle:$ds-ens-distilled" "$R/per_user.json" "bundle:$ds-single" | tee "$R/paired-distilled-vs-bundle.md"
  done
fi
if [ "${DEFAULT:-0}" = 1 ]; then  # the default export on classic ML-100K (LLM teacher's probe, three students, tables)
  R=benchmarks/results/ease-ml-100k/default
  mkdir -p "$R"
  odrec export --dataset ml-100k --data-dir "$DATA/ml-100k" --out "$E/ml-100k-default" \
    --cache-dir "$E/ml-100k-default.cache" --overwrite 2>&1 | tee "$R/export-log.txt"
  cp "$E/ml-100k-default/manifest.json" "$R/manifest.json"
  odrec eval --dataset ml-100k --data-dir "$DATA/ml-100k" --models "popularity,itemknn,ease,bundle:$E/ml-100k-default" \
    --protocol full --seed 0 --reuse --out "$R"
  python benchmarks/paired_compare.py benchmarks/results/ease-ml-100k/per_user.json bundle:ml-100k-single-no-table \
    "$R/per_user.json" bundle:ml-100k-default | tee "$R/paired-single-no-table-vs-default.md"
fi
if [ "${DEFAULT:-0}" = 1 ]; then  # against the previous release's default export (benchmarks/run_quality_ml100k.sh)
  python benchmarks/paired_compare.py benchmarks/results/quality-ml-100k/per_user.json bundle:ml100k-ens \
    benchmarks/results/ease-ml-100k/default/per_user.json bundle:ml-100k-default \
    | tee benchmarks/results/ease-ml-100k/default/paired-previous-default-vs-default.md
fi
