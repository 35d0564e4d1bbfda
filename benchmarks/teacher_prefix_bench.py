"""The torch teacher's scoring of one user's candidate set: whole prompts (history repeated per candidate) against
the shared prefix run once (``yes_no_prefixed``), on SmolLM2-135M with a 10-title history and 20 candidates.
Prints the largest logit difference and the median seconds of each over ``--runs`` (one thread):

    HF_HUB_OFFLINE=1 python benchmarks/teacher_prefix_bench.py --runs 5
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from ondevice_rec.export._deps import require
from ondevice_rec.export.teacher.model import load_teacher, yes_no_logits, yes_no_prefixed
from ondevice_rec.ranking.templates import ranker_prefix, ranker_suffix

HISTORY = ["Toy Story (1995)", "Heat (1995)", "Fargo (1996)", "Star Wars (1977)", "Contact (1997)", "Scream (1996)",
           "Liar Liar (1997)", "Air Force One (1997)", "English Patient, The (1996)", "Titanic (1997)"]  # fmt: skip
CANDIDATES = [f"Movie number {i} ({1980 + i})" for i in range(17)] + [
    "Her (2013)",
    "Jurassic Park (1993)",
    "Cinema Paradiso (Nuovo cinema Paradiso) (1988)",
]

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    torch = require("torch")
    torch.set_num_threads(1)
    model, tok, _ = load_teacher(None)
    model.eval()
    prefix, suffixes = ranker_prefix(HISTORY), [ranker_suffix(c) for c in CANDIDATES]
    whole_s, prefixed_s = [], []
    with torch.no_grad():
        for _ in range(args.runs):
            t0 = time.perf_counter()
            a = yes_no_logits(model, tok, [prefix + x for x in suffixes]).float().numpy()
            t1 = time.perf_counter()
            b = yes_no_prefixed(model, tok, prefix, suffixes).float().numpy()
            t2 = time.perf_counter()
            whole_s.append(t1 - t0)
            prefixed_s.append(t2 - t1)
    w, p = statistics.median(whole_s), statistics.median(prefixed_s)
    print(f"max |logit difference| {float(np.abs(a - b).max()):.2e}")
    print(f"whole prompts {w:.3f} s, shared prefix {p:.3f} s per user (median of {args.runs}): {w / p:.1f}x")
