"""The default export's LLM teacher stage alone (``ondevice_rec.export.teacher.teacher_stage``, default
TeacherConfig, a fresh cache), timed and with its resident memory sampled every 0.2 s by phase (load, fine-tune
steps, the held-out check): what a losing teacher costs an export, measured without the rest of it.

python benchmarks/teacher_stage.py ml-latest-small ../shared/data/ml-latest-small --split-order llamarec \\
    --out benchmarks/results/teacher-probe-ml-latest-small

``--teacher PATH`` checks another causal LM (a GGUF file or a Hugging Face directory) in the same stage.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

from ondevice_rec.datasets import leave_one_out, load_dataset
from ondevice_rec.export.teacher import TeacherConfig, teacher_stage


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset")
    ap.add_argument("data_dir")
    ap.add_argument("--split-order", default="stable")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--teacher", default=None, help="a GGUF file or HF directory (default: the bundled SmolLM2)")
    args = ap.parse_args()
    split = leave_one_out(load_dataset(args.dataset, args.data_dir), core=5, order=args.split_order)
    phase, peaks = ["start"], {}

    def sample() -> None:
        while True:
            peaks[phase[0]] = max(peaks.get(phase[0], 0.0), rss_mb())
            time.sleep(0.2)

    def log(msg: str, frac: float) -> None:
        phase[0] = msg.split(" (")[0].rstrip("0123456789 ")
        print(time.strftime("%H:%M:%S"), f"{rss_mb():.0f} MB", msg, flush=True)

    threading.Thread(target=sample, daemon=True).start()
    cache = Path(tempfile.mkdtemp(prefix="odrec-teacher-"))
    t0 = time.perf_counter()
    try:
        _, info = teacher_stage(split, SimpleNamespace(teacher=args.teacher), TeacherConfig(), cache, log, fresh=True)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    report = {
        "dataset": args.dataset,
        "split_order": args.split_order,
        "teacher": args.teacher or "default (SmolLM2-135M-Instruct)",
        "seconds": round(time.perf_counter() - t0, 1),
        "peak_rss_mb_by_phase": {k: round(v, 1) for k, v in peaks.items()},
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "probe": info.get("probe"),
        "fine_tune": info.get("fine_tune"),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "teacher-stage.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
