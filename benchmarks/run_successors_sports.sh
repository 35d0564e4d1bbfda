#!/usr/bin/env bash
# The successor table and the cold-start settings on S3-Rec's Amazon Sports (benchmarks/results/successors-amazon-
# sports/): the default export of benchmarks/run_ease.sh (its three students untouched) with its item-item blend
# chosen again by this release's blend stage (benchmarks/rechoose_item_item.py) and its cold-start settings
# (benchmarks/rechoose_cold.py), then one eval run on 6,000 test users with ItemKNN, EASE with recency, the
# successor table alone, the recency bundle (benchmarks/run_recency_sports.sh), this one and its ablation without
# successors. Per-user results of Amazon users are not committed. Run from the repository root.
set -euo pipefail
MIRROR=${MIRROR:-/work/.mirror}
D=${D:-/tmp/amazon-sports}
E=${E:-/tmp/exp}
R=benchmarks/results/successors-amazon-sports
mkdir -p "$R"
[ -f "$D/items.csv" ] || python benchmarks/data/amazon_s3rec.py --mirror "$MIRROR" --category Sports_and_Outdoors --out "$D"
for b in sports-default sports-recency; do
  if [ ! -f "$E/$b/manifest.json" ]; then
    echo "no $E/$b: run benchmarks/run_recency_sports.sh first" >&2
    exit 1
  fi
done
d=(--dataset generic --data-dir "$D")
{ /usr/bin/time -v python benchmarks/rechoose_item_item.py "$E/sports-default" "$E/sports-successors-blend" "${d[@]}"
  python benchmarks/rechoose_cold.py "$E/sports-successors-blend" "$E/sports-successors" "${d[@]}"; } 2>&1 \
  | grep -v "%$" | tee "$R/rechoose-log.txt"
python benchmarks/swap_item_item.py "$E/sports-successors" "$E/sports-successors-no-successors" no-successors "${d[@]}"
cp "$E/sports-successors/manifest.json" "$R/manifest.json"
odrec eval "${d[@]}" --protocol full --max-users 6000 --seed 0 --reuse --out "$R" --models \
  "itemknn,ease-recency,successors,bundle:$E/sports-recency,bundle:$E/sports-successors,bundle:$E/sports-successors-no-successors"
for pair in "bundle:sports-recency recency" "bundle:sports-successors-no-successors no-successors" \
    "ease-recency ease-recency" "successors successors" "itemknn itemknn"; do
  set -- $pair
  python benchmarks/paired_compare.py "$R/per_user.json" "$1" "$R/per_user.json" bundle:sports-successors \
    | tee "$R/paired-$2-vs-successors.md"
done
