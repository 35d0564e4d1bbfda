#!/usr/bin/env bash
# Peak memory of every stage of the default export on all users of Amazon Sports (S3-Rec's files, rebuilt by
# benchmarks/data/amazon_s3rec.py): the default teacher (stopped by its probe there) and the item-item tables with
# EASE; one student of 2 epochs keeps the run short (the student's memory does not grow with epochs). The
# manifest's peak_rss_mb and stage_seconds are the figures.
set -euo pipefail
D=${D:-/tmp/amazon-sports}
E=${E:-/tmp/exp}
R=benchmarks/results/ease-amazon-sports/rss
mkdir -p "$R"
/usr/bin/time -v odrec export --dataset generic --data-dir "$D" --ensemble 1 --epochs 2 --out "$E/sports-rss" \
  --cache-dir "$E/sports-rss.cache" --overwrite 2>&1 | tee "$R/export-log.txt"
cp "$E/sports-rss/manifest.json" "$R/manifest.json"
