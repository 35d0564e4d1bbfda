#!/usr/bin/env bash
# The commands behind benchmarks/results/eval-amazon-sports/ and benchmarks/results/export-scale/:
# S3-Rec's 5-core Amazon Sports_and_Outdoors, rebuilt from a fetched copy of RUCAIBox/CIKM2020-S3Rec (sha256
# checked; nothing of the data is committed), then the default export on all users and one eval run with the
# baselines and the blend's ablation. Run from the repository root with the export and eval extras.
set -euo pipefail
MIRROR=${MIRROR:-/work/.mirror}
D=${D:-/tmp/amazon-sports}
python benchmarks/data/amazon_s3rec.py --mirror "$MIRROR" --category Sports_and_Outdoors --out "$D"
/usr/bin/time -v odrec export --dataset generic --data-dir "$D" --out /tmp/exp/sports --no-teacher --overwrite
# the ablation: the same bundle with its item-item table removed (everything else byte-identical)
python benchmarks/strip_item_item.py /tmp/exp/sports /tmp/exp/sports-no-item-item
odrec eval --dataset generic --data-dir "$D" \
  --models popularity,itemknn,bundle:/tmp/exp/sports,bundle:/tmp/exp/sports-no-item-item \
  --protocol full,sampled20 --max-users 6000 --seed 0 --threads 1 --reuse --out benchmarks/results/eval-amazon-sports
# export time against users (one thread each, one after the other)
python benchmarks/bench_export_scale.py --dataset generic --data-dir "$D" --users 10000,25000 \
  --out /tmp/export-scale -- --no-teacher --threads 1
python benchmarks/bench_item_item.py --bundle /tmp/exp/sports --data-dir "$D" --out benchmarks/results/export-scale

# --- the default export (teacher included; the sequential held-out check decides whether it is distilled from),
# all users of Sports; then SASRec's Video Games file on SASRec's protocol (truth + 100 negatives) beside full
# ranking. The CLI prints the stage table; the manifests are copied into benchmarks/results/.
/usr/bin/time -v odrec export --dataset generic --data-dir "$D" --out /tmp/exp/sports-default --overwrite
python benchmarks/strip_item_item.py /tmp/exp/sports-default /tmp/exp/sports-default-no-item-item
odrec eval --dataset generic --data-dir "$D" \
  --models popularity,itemknn,bundle:/tmp/exp/sports-default,bundle:/tmp/exp/sports-default-no-item-item \
  --protocol full,sampled20 --max-users 6000 --seed 0 --threads 1 --reuse \
  --out benchmarks/results/eval-amazon-sports/default
V=${V:-/tmp/amazon-video}
python benchmarks/data/amazon_s3rec.py --mirror "$MIRROR" --category Video --out "$V" --max-events 0
/usr/bin/time -v odrec export --dataset generic --data-dir "$V" --out /tmp/exp/video --no-teacher --overwrite --threads 1
python benchmarks/strip_item_item.py /tmp/exp/video /tmp/exp/video-no-item-item
odrec eval --dataset generic --data-dir "$V" --models popularity,itemknn,bundle:/tmp/exp/video,bundle:/tmp/exp/video-no-item-item \
  --protocol full,sampled20,sampled101 --max-users 10000 --seed 0 --threads 1 --reuse \
  --out benchmarks/results/eval-amazon-video
