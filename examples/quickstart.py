"""Minimal use of the Python API on the shipped demo catalog: python examples/quickstart.py"""

from __future__ import annotations

import tempfile
from pathlib import Path

from ondevice_rec import Recommender
from ondevice_rec.inputs.items import demo_items

with tempfile.TemporaryDirectory() as tmp, Recommender.open(Path(tmp) / "rec.db") as rec:
    rec.add_items(demo_items())
    rec.consent("alice").grant("personalization")
    rec.set_profile("alice", "I love hard science fiction, no horror")
    rec.record("alice", "jazz-02", kind="like", context={"time": "evening"})
    for r in rec.recommend("alice", k=5, context={"time": "evening"}):
        print(f"{r.score:6.3f}  {r.title:40s}  {r.reason}")
    print(sorted(k for k, v in rec.export_user("alice").items() if isinstance(v, list)))
    print(rec.forget_user("alice"))
