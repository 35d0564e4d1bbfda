"""Sparse public Amazon data for development: S3-Rec's 5-core Amazon categories, rebuilt as ``odrec``'s generic
CSV format from a fetched copy of the source repository, checked by sha256.

Nobody on this project wrote these files. They come from RUCAIBox/CIKM2020-S3Rec @ 2a81540 (``data/``), which
derived them from the Amazon review data of McAuley et al. (2014 release, "reviews_<Category>_5", 5-core,
each user's items in review-time order, ids renumbered; brand and categories kept as attribute numbers only).
The Amazon data is for research use; nothing of it is committed here: this script reads it from the mirror.

    python benchmarks/data/amazon_s3rec.py --mirror /work/.mirror --category Sports_and_Outdoors \
        --out /tmp/amazon-sports

| category | users | items | interactions | events/user |
|---|---|---|---|---|
| Beauty | 22,363 | 12,101 | 198,502 | 8.9 |
| Sports_and_Outdoors | 35,598 | 18,357 | 296,337 | 8.3 |
| Toys_and_Games | 19,412 | 11,924 | 167,597 | 8.6 |
| Video (Video Games, from kang205/SASRec) | 31,013 | 23,715 | 287,107 | 9.3 |

``--category Video`` reads SASRec's own ``data/Video.txt`` (kang205/SASRec @ e373896, Apache-2.0 code; the data
is the same Amazon 2014 review release, "Video Games" category, users and items with ≥ 5 reviews, one
``user item`` line per review in time order; no attributes, so item text is empty). The SASRec paper reports on
it with 100 sampled negatives ("Games": SASRec NDCG@10 0.5360, HR@10 0.7410); ``odrec eval --protocol
sampled101`` is that protocol.

Written: ``items.csv`` (item_id, title, text, tags — the source has no titles: the text names the item's brand and
category numbers, e.g. "Item 17. Attributes: a2 a18 a19 a13.", so items that share them get related text
vectors) and ``interactions.csv`` (user_id, item_id, timestamp = 2001-09-09 (epoch 1e9) + the event's position in
the user's sequence in days — the source has no times, only the order, which this keeps — so that the
split keeps the source's order). ``--max-events N`` keeps each user's last N events (the team's hidden Amazon
set keeps at most 50).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import subprocess
from pathlib import Path

SOURCE = ("RUCAIBox/CIKM2020-S3Rec", "2a81540ae18615d88ef88227b0c066e5b74781e5")
SASREC = ("kang205/SASRec", "e3738967fddab206d6eeb4fda433e7a7034dd8b1")
SHA256 = {
    "Beauty.txt": "226cce9c3105299ca0db9615d7d3fb32b3175e90da43100ae352599f0f0107b8",
    "Beauty_item2attributes.json": "129e40f67486f6877eff0f5318cfa8530ee8ac23d8b0d1de04e1bb7a2ba0b2d4",
    "Sports_and_Outdoors.txt": "2a095e0648872beb9982408958290f5d655db5be2911c3756b5446de9f0b8de2",
    "Sports_and_Outdoors_item2attributes.json": "7fb10733ac4f1811384a52144cdefa7fcc7536fa80a7232c5da9bd789155c34b",
    "Toys_and_Games.txt": "176c680c688d497598c4a89a03b402c0fe78d795e5db335c2e78dd5f2d778a3f",
    "Toys_and_Games_item2attributes.json": "d371acd25101eedac04afc727626464b7acec770c4eda708705d51eb76eb1ad0",
    "Video.txt": "b7376fe24430743f411dc7f567285657b2adb3f74361cc7ba0aee94f3024b651",
}


ORDER_EPOCH = 1_000_000_000  # the source keeps only the order of events: times are this + position in days


def read_source(mirror: Path, name: str) -> bytes:
    """One file of the source repository at its pinned commit, verified."""
    repo, commit = SASREC if name == "Video.txt" else SOURCE
    gitdir = mirror / repo.replace("/", "+") / "repo"
    data = subprocess.run(
        ["git", "--git-dir", str(gitdir), "show", f"{commit}:data/{name}"], check=True, capture_output=True
    ).stdout
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256[name]:
        raise SystemExit(f"{name}: sha256 {digest} != expected {SHA256[name]}")
    return data


def build(mirror: Path, category: str, out: Path, max_events: int | None) -> dict[str, int]:
    lines = [line.split() for line in read_source(mirror, f"{category}.txt").decode().splitlines() if line.strip()]
    if category == "Video":  # one "user item" line per event, in time order → one "user item item ..." row per user
        by_user: dict[str, list[str]] = {}
        for user, item in lines:
            by_user.setdefault(user, []).append(item)
        seqs = [[user, *its] for user, its in by_user.items()]
        attrs: dict[str, list[int]] = {}
    else:
        seqs = lines
        attrs = json.loads(read_source(mirror, f"{category}_item2attributes.json"))
    out.mkdir(parents=True, exist_ok=True)
    items: set[str] = set()
    n = 0
    with open(out / "interactions.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["user_id", "item_id", "timestamp"])
        for row in seqs:
            user, its = row[0], row[1:]
            if max_events:
                its = its[-max_events:]
            for t, item in enumerate(its):
                w.writerow([user, item, ORDER_EPOCH + 86400 * t])
                items.add(item)
                n += 1
    with open(out / "items.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["item_id", "title", "text", "tags"])
        for item in sorted(items, key=int):
            a = [f"a{x}" for x in attrs.get(item, [])]
            text = f"Attributes: {' '.join(a)}." if a else ""
            w.writerow([item, f"Item {item}", text, "|".join(a[:1])])
    return {"users": len(seqs), "items": len(items), "interactions": n}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mirror", type=Path, required=True, help="directory holding <owner>+<name>/repo")
    ap.add_argument(
        "--category",
        default="Sports_and_Outdoors",
        choices=["Beauty", "Sports_and_Outdoors", "Toys_and_Games", "Video"],
    )
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--max-events", type=int, default=50)
    args = ap.parse_args()
    stats = build(args.mirror, args.category, args.out, args.max_events)
    print(
        f"{args.category}: {stats['users']} users, {stats['items']} items, "
        f"{stats['interactions']} interactions -> {args.out}"
    )


if __name__ == "__main__":
    main()
