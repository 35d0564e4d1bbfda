"""Throughput of the export's parallel stages on Ray, 1 worker vs 2, measured in one run on this machine.

- Teacher labelling: ML-100K candidate sets exactly as the export builds them (ItemKNN top-19 + the true next
  item, history = the training sequence minus its last item), labelled by SmolLM2-135M-Instruct on llama.cpp
  (the packaged Q4_1 GGUF: the same model and prompt lengths as the export's fine-tuned Q8_0 teacher; fine-tuning
  changes the weights, not the cost). Labels per second = candidate sets per second.
- Item embedding: every ML-100K item text through the default bundle's MiniLM encoder.

Each configuration runs the same work; the speed-up is the ratio of the two rates. Run with nothing else on the
machine:

    python benchmarks/bench_export_ray.py --data-dir ../shared/data/ml-100k --users 64 \\
        --out benchmarks/results/export-ray
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ondevice_rec.datasets import leave_one_out, load_dataset  # noqa: E402
from ondevice_rec.export.distributed import (  # noqa: E402
    RayConfig,
    RayRunner,
    TextEncoderFactory,
    embed_on_ray,
    embed_texts,
)
from ondevice_rec.export.teacher import (  # noqa: E402
    LabelCache,
    TeacherConfig,
    TeacherFactory,
    candidate_sets,
    default_teacher_path,
    label_users,
    run_labels,
    training_tasks,
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--users", type=int, default=64, help="candidate sets labelled per configuration")
    ap.add_argument("--steps", type=int, default=5, help="teacher fine-tuning steps timed")
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    split = leave_one_out(load_dataset("ml-100k", a.data_dir))
    tcfg = TeacherConfig(label_users=a.users)
    cands = candidate_sets(split, tcfg.candidates, tcfg.seed)
    users = label_users(split, cands, tcfg)
    tasks = training_tasks(split, cands, users)
    gguf = str(default_teacher_path())
    results: dict[str, dict[str, float]] = {}
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-ray-{os.getpid()}"
    tmp.mkdir(parents=True, exist_ok=True)

    def label_with(name: str, runner: RayRunner | None) -> None:
        cache = LabelCache(tmp / f"{name}.sqlite")
        t = time.perf_counter()
        if runner is None:
            labeller = TeacherFactory(gguf=gguf, threads=1).build()
            n = run_labels(tasks, cache, "t", what="labelling", labeller=labeller)
            labeller.close()
        else:
            n = run_labels(tasks, cache, "t", what="labelling", runner=runner, factory=TeacherFactory(gguf=gguf))
        s = time.perf_counter() - t
        cache.close()
        results.setdefault("labelling", {})[name] = round(n / s, 3)
        print(f"labelling {name}: {n} sets in {s:.1f} s = {n / s:.3f} sets/s", flush=True)

    def embed_with(name: str, runner: RayRunner | None) -> None:
        t = time.perf_counter()
        if runner is None:
            vec = embed_texts(TextEncoderFactory(threads=1).build().encoder, split.item_text)
        else:
            vec = embed_on_ray(runner, split.item_text, lambda m, f: None)
        s = time.perf_counter() - t
        results.setdefault("embedding", {})[name] = round(len(vec) / s, 1)
        print(f"embedding {name}: {len(vec)} texts in {s:.1f} s = {len(vec) / s:.1f} texts/s", flush=True)

    # the teacher's fine-tuning step on this machine (2 threads, the export's default), for the time-per-step table
    from ondevice_rec.export.teacher import fine_tune, load_teacher

    model, tok, _ = load_teacher(None)
    n_params = sum(p.numel() for p in model.parameters())
    ft = fine_tune(model, tok, split, TeacherConfig(steps=a.steps))
    results["fine_tune"] = {"seconds_per_step": ft["seconds_per_step"], "parameters": n_params, "steps": a.steps}
    print(f"fine-tune: {ft['seconds_per_step']} s/step ({n_params / 1e6:.0f}M parameters)", flush=True)
    del model

    label_with("in-process, 1 thread", None)
    embed_with("in-process, 1 thread", None)
    for w in (1, 2):
        import ray

        ray.init(num_cpus=w, include_dashboard=False, log_to_driver=False)
        try:
            with RayRunner(RayConfig(workers=w, shard_users=4, shard_items=128)) as runner:
                # the first shard of each stage also pays for the actors' start-up (model load): part of the cost
                label_with(f"Ray, {w} worker{'s' if w > 1 else ''}", runner)
                embed_with(f"Ray, {w} worker{'s' if w > 1 else ''}", runner)
        finally:
            ray.shutdown()
    for stage in ("labelling", "embedding"):
        r = results[stage]
        r["speedup_2_vs_1_workers"] = round(r["Ray, 2 workers"] / r["Ray, 1 worker"], 2)
    out = {
        "users": len(tasks),
        "candidates_per_set": tcfg.candidates,
        "items": split.n_items,
        "teacher": Path(gguf).name,
        "results": results,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "command": f"python benchmarks/bench_export_ray.py --data-dir {a.data_dir} --users {a.users} --steps {a.steps}",
    }
    print(json.dumps(out, indent=1))
    if a.out:
        a.out.mkdir(parents=True, exist_ok=True)
        (a.out / "results.json").write_text(json.dumps(out, indent=1) + "\n")
        lines = [
            "# Export stages on Ray: throughput with 1 and 2 workers (one run, this machine)",
            "",
            f"Command: `{out['command']}` ({out['machine']}).",
            f"Labelling: {len(tasks)} ML-100K candidate sets of {tcfg.candidates} items, {Path(gguf).name} on "
            f"llama.cpp; embedding: {split.n_items} item texts, MiniLM int8 ONNX.",
            "",
            "| stage | in-process, 1 thread | Ray, 1 worker | Ray, 2 workers | speed-up 2 vs 1 |",
            "|---|---|---|---|---|",
        ]
        for stage, unit in (("labelling", "sets/s"), ("embedding", "texts/s")):
            r = results[stage]
            lines.append(
                f"| {stage} ({unit}) | {r['in-process, 1 thread']} | {r['Ray, 1 worker']} | {r['Ray, 2 workers']} "
                f"| {r['speedup_2_vs_1_workers']}× |"
            )
        f = results["fine_tune"]
        per_label = 1.0 / results["labelling"]["in-process, 1 thread"]
        lines += [
            "",
            "Teacher cost per fine-tuning step (batch 8, 2 threads) and per labelled candidate set (1 thread), "
            "measured for SmolLM2-135M; the larger sizes are **estimates**, scaled by parameter count (CPU inference "
            "and training here are bound by the weights' size), not measured: no 360M or 1.7B model is available "
            "offline.",
            "",
            "| teacher | parameters | s / fine-tune step | s / labelled set (20 candidates) |",
            "|---|---|---|---|",
            f"| SmolLM2-135M (measured) | {f['parameters'] / 1e6:.0f}M | {f['seconds_per_step']:.2f} "
            f"| {per_label:.2f} |",
        ]
        for name, p in (("SmolLM2-360M (estimate)", 362e6), ("SmolLM2-1.7B (estimate, LoRA)", 1711e6)):
            k = p / f["parameters"]
            lines.append(f"| {name} | {p / 1e6:.0f}M | ~{f['seconds_per_step'] * k:.1f} | ~{per_label * k:.1f} |")
        (a.out / "results.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
