"""Issue 29: does SASRec's recipe help the student? One student (``--ensemble 1``) on ML-100K with SASRec's sequence
length (200) and/or dropout (0.2) instead of the student's 50 / 0.3; chosen on validation NDCG@10 (the manifest's
``best_valid_ndcg10``), then all measured on test in one ``odrec eval`` run:

    python benchmarks/student_recipe_probe.py      # ~25 minutes on 2 cores (max_len 200 is 4x slower per epoch)
    odrec eval --dataset ml-100k --data-dir ../shared/data/ml-100k --protocol full --scenario warm --seed 0 \\
      --models bundle:/tmp/runs/exp/ml100k-single,bundle:/tmp/runs/exp/ml100k-len200,... \\
      --out benchmarks/results/recipe-ml-100k
"""

import time
from dataclasses import replace

from ondevice_rec.export.pipeline import ExportConfig, run_export
from ondevice_rec.export.student import StudentConfig

VARIANTS = {"len200": {"max_len": 200}, "drop02": {"dropout": 0.2}, "len200-drop02": {"max_len": 200, "dropout": 0.2}}

if __name__ == "__main__":
    for name, kw in VARIANTS.items():
        t0 = time.time()
        cfg = ExportConfig(
            dataset="ml-100k",
            data_dir="../shared/data/ml-100k",
            use_teacher=False,
            student=replace(StudentConfig(ensemble=1), **kw),  # type: ignore[arg-type]
        )
        m = run_export(cfg, f"/tmp/runs/exp/ml100k-{name}", overwrite=True)
        valid = (m.training or {}).get("best_valid_ndcg10")
        print(name, round(time.time() - t0, 1), "s", "valid", valid, flush=True)
