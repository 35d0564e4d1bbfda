"""``odrec export --ray``: item embeddings and teacher labels on a local Ray runtime with 2 workers equal the
in-process ones; a worker killed mid-shard is retried and every label is cached exactly once; an interrupted
driver resumes without redoing committed shards; without the extra, one line naming the pip install."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.test_eval import _write_generic

ROOT = Path(__file__).resolve().parents[1]


ray = pytest.importorskip("ray")
torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from ondevice_rec.export.distributed import (  # noqa: E402
    RayConfig,
    RayRunner,
    TextEncoderFactory,
    embed_local,
    embed_on_ray,
    embed_texts,
)
from ondevice_rec.export.pipeline import ExportConfig, run_export  # noqa: E402
from ondevice_rec.export.student import StudentConfig  # noqa: E402
from ondevice_rec.export.teacher import LabelCache, TeacherConfig, run_labels  # noqa: E402
from tests._ray_helpers import FakeLabeller, _tasks  # noqa: E402


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """One local Ray runtime with 2 CPUs for the module (the runner joins it and leaves it running)."""
    import ray.cloudpickle

    from tests import _ray_helpers

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers get the test doubles by value
    ray.cloudpickle.register_pickle_by_value(_ray_helpers)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_embedding_in_parallel_processes_gives_the_same_vectors(demo_catalog: list[dict[str, Any]]) -> None:
    texts = [it["text"] for it in demo_catalog] * 2
    assert len(texts) > 4 * 64  # enough to be split between processes
    one = embed_texts(TextEncoderFactory(threads=1).build().encoder, texts)
    assert np.array_equal(embed_local(texts, 2), one)


def test_embeddings_on_ray_equal_in_process(local_ray: None, demo_catalog: list[dict[str, Any]]) -> None:
    texts = [it["text"] for it in demo_catalog[:150]]
    local = embed_texts(TextEncoderFactory(threads=1).build().encoder, texts)
    with RayRunner(RayConfig(workers=2, shard_items=64)) as runner:
        assert runner.workers == 2
        remote = embed_on_ray(runner, texts, lambda m, f: None)
    assert remote.shape == local.shape
    assert np.array_equal(remote, local)  # the same thread count and batches: bitwise equal


def _export_cfg(data: Path, teacher: Path) -> ExportConfig:
    return ExportConfig(
        dataset="generic",
        data_dir=str(data),
        teacher=str(teacher),
        student=StudentConfig(dim=16, blocks=1, heads=1, epochs=2, eval_every=1, batch=8, ensemble=1),
        teacher_cfg=TeacherConfig(
            steps=2, batch=4, negatives=1, candidates=5, label_users=10, quality_users=8, label_if_weaker=True
        ),
        max_ndcg_drop_int8=1.0,
    )


def _labels(cache_dir: Path) -> dict[tuple[str, str, str], np.ndarray]:
    cache = LabelCache(cache_dir / "labels.sqlite")
    try:
        rows = cache.conn.execute("SELECT user, cands, teacher, scores FROM labels").fetchall()
    finally:
        cache.close()
    return {(u, c, t): np.frombuffer(s, dtype=np.float32) for u, c, t, s in rows}


def test_export_on_ray_equals_the_in_process_export(local_ray: None, tiny_teacher: Path, tmp_path: Path) -> None:
    _write_generic(tmp_path / "data")
    cfg = _export_cfg(tmp_path / "data", tiny_teacher)
    here = run_export(cfg, tmp_path / "here")
    there = run_export(cfg, tmp_path / "there", ray=RayConfig(workers=2, shard_users=3))
    a, b = _labels(Path(str(tmp_path / "here") + ".cache")), _labels(Path(str(tmp_path / "there") + ".cache"))
    assert a.keys() == b.keys() and len(a) == 10 + 8  # training sets + held-out validation sets
    assert max(float(np.max(np.abs(a[k] - b[k]))) for k in a) <= 1e-6
    assert "on Ray, 2 workers" in (there.teacher or {})["labeller"]
    assert here.config_sha256 == there.config_sha256  # --ray is not part of the recipe
    for key in ("valid_ndcg10_onnx_fp32", "valid_ndcg10_onnx_int8"):
        assert here.validation[key] == pytest.approx(there.validation[key], abs=1e-6)
    assert (here.teacher or {})["validation_quality"] == (there.teacher or {})["validation_quality"]


def test_a_killed_worker_is_retried_and_every_label_is_cached_once(local_ray: None, tmp_path: Path) -> None:
    marker = tmp_path / "crashed"
    tasks = _tasks(20)
    cache = LabelCache(tmp_path / "labels.sqlite")
    with RayRunner(RayConfig(workers=2, shard_users=4)) as runner:
        n = run_labels(
            tasks, cache, "t", what="labelling", runner=runner,
            factory=FakeLabeller(crash_marker=str(marker), crash_on="user9"),
        )  # fmt: skip
    assert marker.exists()  # a worker did die
    assert n == 20
    keys = cache.keys("t")
    assert len(keys) == len(set(keys)) == 20
    for t in tasks:
        got = cache.get(t.key, t.cands, "t")
        assert got is not None and got.tolist() == [float(len(c)) for c in t.candidates]
    cache.close()


def test_a_shard_that_fails_twice_fails_the_stage(local_ray: None, tmp_path: Path) -> None:
    from ondevice_rec.errors import ExportError

    @dataclass(frozen=True)
    class Broken:
        def build(self) -> Broken:
            return self

        def label(self, tasks: list[Any]) -> list[Any]:
            raise RuntimeError("the teacher is broken")

    cache = LabelCache(tmp_path / "labels.sqlite")
    with RayRunner(RayConfig(workers=2, shard_users=4)) as runner, pytest.raises(ExportError, match="failed 2 times"):
        run_labels(_tasks(6), cache, "t", what="labelling", runner=runner, factory=Broken())
    assert cache.keys("t") == []
    cache.close()


DRIVER = """
import sys, json
sys.path.insert(0, {root!r})
import ray.cloudpickle, tests._ray_helpers as td
ray.cloudpickle.register_pickle_by_value(td)
from ondevice_rec.export.distributed import RayConfig, RayRunner
from ondevice_rec.export.teacher import LabelCache, run_labels
cache = LabelCache({db!r})
with RayRunner(RayConfig(workers=2, shard_users=2)) as runner:
    n = run_labels(td._tasks(24), cache, "t", what="labelling", runner=runner, factory=td.FakeLabeller(sleep={sleep}))
print(json.dumps({{"computed": n}}))
"""


def test_resume_after_sigint_redoes_no_committed_shard(tmp_path: Path) -> None:
    db = tmp_path / "labels.sqlite"
    script = tmp_path / "driver.py"
    script.write_text(DRIVER.format(root=str(ROOT), db=str(db), sleep=1.5))  # ~18 s of labelling: Ctrl-C lands in it
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a background job of a non-interactive shell (CI) inherits SIGINT ignored: give the driver the default
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + 120
    done = 0
    while time.time() < deadline and proc.poll() is None:
        if db.exists():
            c = LabelCache(db)
            done = len(c.keys("t"))
            c.close()
            if done >= 4:
                break
        time.sleep(0.1)
    assert proc.poll() is None, proc.communicate()[1][-2000:]
    proc.send_signal(signal.SIGINT)  # Ctrl-C of the driver
    proc.communicate(timeout=60)
    assert proc.returncode != 0
    c = LabelCache(db)
    before = c.keys("t")
    c.close()
    assert len(before) == len(set(before)) and len(before) % 2 == 0 and 4 <= len(before) < 24  # whole shards only
    # resume: only the missing tasks are computed
    script.write_text(DRIVER.format(root=str(ROOT), db=str(db), sleep=0.0))
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout.strip().splitlines()[-1]) == {"computed": 24 - len(before)}
    c = LabelCache(db)
    after = c.keys("t")
    c.close()
    assert len(after) == len(set(after)) == 24
