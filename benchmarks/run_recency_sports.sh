#!/usr/bin/env bash
# The recency blend on S3-Rec's Amazon Sports (benchmarks/results/recency-amazon-sports/): the default export of
# benchmarks/run_ease.sh (its three students untouched) with its item-item blend chosen again by this release's
# blend stage (benchmarks/rechoose_item_item.py: tables, recency half-lives and weights on the export's 5,000
# validation users), then one eval run on 6,000 test users with ItemKNN, EASE, EASE with recency, the bundle as
# exported and the bundle with the new blend. Per-user results of Amazon users are not committed. Run from the
# repository root.
set -euo pipefail
MIRROR=${MIRROR:-/work/.mirror}
D=${D:-/tmp/amazon-sports}
E=${E:-/tmp/exp}
R=benchmarks/results/recency-amazon-sports
mkdir -p "$R"
[ -f "$D/items.csv" ] || python benchmarks/data/amazon_s3rec.py --mirror "$MIRROR" --category Sports_and_Outdoors --out "$D"
if [ ! -f "$E/sports-default/manifest.json" ]; then
  echo "no $E/sports-default: run SPORTS=1 bash benchmarks/run_ease.sh first (the default export, 42 minutes)" >&2
  exit 1
fi
/usr/bin/time -v python benchmarks/rechoose_item_item.py "$E/sports-default" "$E/sports-recency" \
  --dataset generic --data-dir "$D" 2>&1 | grep -v "%$" | tee "$R/rechoose-log.txt"
cp "$E/sports-recency/manifest.json" "$R/manifest.json"
odrec eval --dataset generic --data-dir "$D" --protocol full \
  --models "itemknn,ease,ease-recency,bundle:$E/sports-default,bundle:$E/sports-recency" \
  --max-users 6000 --seed 0 --reuse --out "$R"
for pair in "bundle:sports-default default-vs-recency" "ease ease-vs-recency" "ease-recency ease-recency-vs-recency" \
    "itemknn itemknn-vs-recency"; do
  set -- $pair
  python benchmarks/paired_compare.py "$R/per_user.json" "$1" "$R/per_user.json" bundle:sports-recency \
    | tee "$R/paired-$2.md"
done
