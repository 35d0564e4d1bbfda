"""What one fine-tuning step of the LLM teacher costs, in seconds and peak memory: the batch as whole prompts
(every candidate's prompt repeating the user's history, left-padded into one batch: the form before issue 29's
hidden-set run) against the release's form (one user at a time, the history run once for its positive and its
negatives, gradients summed). One form per process, so that the peak RSS is that form's own:

    HF_HUB_OFFLINE=1 python benchmarks/teacher_finetune_bench.py --dataset ml-100k \
        --data-dir ../shared/data/ml-100k --form batched --steps 10

``--titles longest`` gives every item the longest title the prompt template keeps (its own title followed by its
text, cut at 120 characters): the longest prompts any catalogue can make, as with long product names. Prints one
JSON line: seconds per step (mean), RSS after loading and at its peak, the mean loss of the steps.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from dataclasses import replace

import numpy as np

from ondevice_rec.datasets import leave_one_out, load_dataset
from ondevice_rec.export._deps import require
from ondevice_rec.export.teacher import TeacherConfig, fine_tune, load_teacher, yes_no_logits
from ondevice_rec.ranking.templates import ranker_prefix, ranker_suffix


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _batched(model, tok, split, cfg: TeacherConfig) -> tuple[list[float], list[float]]:  # type: ignore[no-untyped-def]
    """The whole-prompt form, step for step as it was (same draws as ``fine_tune``)."""
    torch = require("torch")
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    users = [u for u in range(split.n_users) if len(split.train[u]) >= 2]
    model.train()
    layers = model.model.layers
    model.get_input_embeddings().weight.requires_grad_(False)
    for layer in list(layers)[: int(len(layers) * cfg.freeze)]:
        for prm in layer.parameters():
            prm.requires_grad_(False)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr)
    counts = np.bincount(np.concatenate([s for s in split.train if len(s)]), minlength=split.n_items) + 1.0
    pop = counts / counts.sum()
    per_batch = max(1, cfg.batch // (1 + cfg.negatives))
    times, losses = [], []
    for _ in range(cfg.steps):
        t0 = time.perf_counter()
        prompts, labels = [], []
        for u in rng.choice(users, per_batch):
            seq = split.train[u]
            cut = int(rng.integers(1, len(seq)))
            hist = [split.item_title[i] for i in seq[:cut]]
            prompts.append(ranker_prefix(hist) + ranker_suffix(split.item_title[seq[cut]]))
            labels.append(1.0)
            seen = set(seq.tolist())
            for _ in range(cfg.negatives):
                j = int(rng.choice(split.n_items, p=pop))
                while j in seen:
                    j = int(rng.choice(split.n_items, p=pop))
                prompts.append(ranker_prefix(hist) + ranker_suffix(split.item_title[j]))
                labels.append(0.0)
        margin = yes_no_logits(model, tok, prompts)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(margin, torch.as_tensor(labels))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(float(loss.detach()))
        times.append(time.perf_counter() - t0)
    return times, losses


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="ml-100k")
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--form", choices=["batched", "shared"], required=True)
    ap.add_argument("--titles", choices=["real", "longest"], default="real")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch = require("torch")
    torch.set_num_threads(args.threads)
    split = leave_one_out(load_dataset(args.dataset, args.data_dir))
    if args.titles == "longest":
        long = [(f"{t} — {x} " * 20)[:120] for t, x in zip(split.item_title, split.item_text)]
        split = replace(split, item_title=long)
    base_rss = _rss_mb()
    model, tok, _ = load_teacher(None)
    loaded_rss = _rss_mb()
    cfg = TeacherConfig(steps=args.steps, probe_steps=0)
    if args.form == "batched":
        times, losses = _batched(model, tok, split, cfg)
        per_step = sum(times) / len(times)
    else:
        stats = fine_tune(model, tok, split, cfg)
        per_step = stats["seconds_per_step"]
        losses = [stats["first_loss"]]
    prefix_tokens = [len(tok(ranker_prefix(split.item_title[:10]), add_special_tokens=False).input_ids)]
    print(
        json.dumps(
            {
                "dataset": args.dataset,
                "titles": args.titles,
                "form": args.form,
                "steps": args.steps,
                "batch": cfg.batch,
                "negatives": cfg.negatives,
                "threads": args.threads,
                "prefix_tokens_10_titles": prefix_tokens[0],
                "seconds_per_step": round(per_step, 3),
                "rss_mb_before_teacher": round(base_rss),
                "rss_mb_after_load": round(loaded_rss),
                "peak_rss_mb": round(_rss_mb()),
                "mean_loss": round(float(np.mean(losses)), 4),
            }
        )
    )


if __name__ == "__main__":
    main()
