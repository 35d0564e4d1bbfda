"""The diversity knob's trade-off curve from an ``odrec eval`` results file: NDCG@10 against intra-list
diversity and against novelty, one point per ``@div=`` setting, the baselines as reference points.

    python benchmarks/plot_diversity.py RESULTS.json OUT.png
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = json.loads(Path(sys.argv[1]).read_text())["results"]["warm"]["full"]
    knob = sorted(
        ((float(name.rpartition("@div=")[2]), s) for name, s in results.items() if "@div=" in name),
        key=lambda p: p[0],
    )
    others = {name: s for name, s in results.items() if "@div=" not in name}
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, x in zip(axes, ("ILD@10", "Novelty@10")):
        xs = [s[x]["mean"] for _, s in knob]
        ys = [s["NDCG@10"]["mean"] for _, s in knob]
        ax.plot(xs, ys, "o-", label="student, diversity knob")
        for (d, _), xv, yv in zip(knob, xs, ys):
            ax.annotate(f"{d:g}", (xv, yv), textcoords="offset points", xytext=(4, 4), fontsize=8)
        for name, s in others.items():
            ax.plot([s[x]["mean"]], [s["NDCG@10"]["mean"]], "s", label=name)
        ax.set_xlabel(x)
        ax.set_ylabel("NDCG@10")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("ML-100K, leave-one-out, full ranking: the diversity knob (MMR on the top 10)")
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=120)


if __name__ == "__main__":
    main()
