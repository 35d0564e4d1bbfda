#!/usr/bin/env bash
# The default export (`odrec export`, nothing else: the 30-minute --time-budget included) on all 35,489 users of
# Amazon Sports (S3-Rec's files, rebuilt by benchmarks/data/amazon_s3rec.py), the stand-in for the team's hidden
# Amazon sets: its wall time, each stage's peak memory and how many students the budget let it train; then one
# `odrec eval` run (full ranking, 6,000 test users) beside this release's three-student Sports bundle
# (benchmarks/run_successors_sports.sh: a 42-minute export), Popularity and ItemKNN, and their paired difference.
set -euo pipefail
MIRROR=${MIRROR:-/work/.mirror}
D=${D:-/tmp/amazon-sports}
E=${E:-/tmp/exp}
R=${R:-benchmarks/results/budget-amazon-sports}
mkdir -p "$R"
[ -f "$D/items.csv" ] || python benchmarks/data/amazon_s3rec.py --mirror "$MIRROR" --category Sports_and_Outdoors --out "$D"
d=(--dataset generic --data-dir "$D")
/usr/bin/time -v odrec export "${d[@]}" --out "$E/sports-budget" --cache-dir "$E/sports-budget.cache" --overwrite \
  2>&1 | grep -v "%$" | tee "$R/export-log.txt"
cp "$E/sports-budget/manifest.json" "$R/manifest.json"
models="popularity,itemknn,bundle:$E/sports-budget"
[ -f "$E/sports-successors/manifest.json" ] && models="$models,bundle:$E/sports-successors"
odrec eval "${d[@]}" --protocol full --max-users 6000 --seed 0 --reuse --out "$R" --models "$models" 2>&1 | tee "$R/log.txt"
if [ -f "$E/sports-successors/manifest.json" ]; then
  python benchmarks/paired_compare.py "$R/per_user.json" bundle:sports-successors "$R/per_user.json" \
    bundle:sports-budget | tee "$R/paired-budget-vs-three-students.md"
fi
