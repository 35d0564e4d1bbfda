"""The benchmark runner's mechanics (never wall-clock thresholds)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ondevice_rec.bench import BenchConfig, BenchError, compare, percentiles, result, run_bench, write_outputs
from ondevice_rec.bench import runner as bench_runner

TINY = BenchConfig.quick(sizes=(60,), histories=(10,), threads=(1,), requests=5, warmup=1, cold_runs=1, ingest_items=30)


def test_percentiles_of_known_samples() -> None:
    p = percentiles(range(1, 101))
    assert p["n"] == 100 and p["min"] == 1 and p["max"] == 100 and p["mean"] == 50.5
    assert p["p50"] == pytest.approx(50.5) and p["p95"] == pytest.approx(95.05) and p["p99"] == pytest.approx(99.01)
    assert percentiles([7.0])["p99"] == 7.0
    with pytest.raises(ValueError):
        percentiles([])


def test_result_rows_and_compare_ratios() -> None:
    r = result("recommend", {"items": 10}, [2.0, 2.0, 2.0], keep=True)
    assert r["throughput_per_s"] == 500.0 and r["samples"] == [2.0, 2.0, 2.0] and r["unit"] == "ms"
    old = {"results": [result("recommend", {"items": 10}, [4.0]), result("ingest", {"items": 5}, [1.0])]}
    new = {"results": [r, result("redact", {}, [3.0])]}
    rows = compare(new, old)
    assert len(rows) == 1 and rows[0]["ratio"] == 0.5 and rows[0]["old_p50"] == 4.0


def test_bad_input_is_refused_before_measuring(tmp_path: Path) -> None:
    with pytest.raises(BenchError, match="unknown scenario"):
        run_bench(BenchConfig(scenarios=("warp",)))
    with pytest.raises(BenchError, match="has no onnx-user-int8 backend"):
        run_bench(BenchConfig(backends=("onnx-user-int8",)))
    with pytest.raises(BenchError, match="GiB"):
        run_bench(BenchConfig(sizes=(10**12,)))
    from ondevice_rec.errors import BundleError

    with pytest.raises(BundleError):
        run_bench(BenchConfig(bundle=str(tmp_path / "nope")))
    from tests.test_cli import odrec

    res = odrec("bench", "--scenarios", "warp")
    assert res.returncode == 1 and res.stderr.strip().startswith("error: unknown scenario")
    assert len(res.stderr.strip().splitlines()) == 1


def test_a_tiny_run_writes_json_markdown_and_png(tmp_path: Path) -> None:
    cfg = replace(TINY, scenarios=("recommend", "ingest", "backends"), workdir=str(tmp_path))
    report = run_bench(cfg)
    assert report["schema"] == bench_runner.SCHEMA and report["interrupted"] is False
    m = report["machine"]
    assert {"cpu", "logical_cpus", "os", "python", "versions", "bundle"} <= set(m)
    assert len(m["bundle"]["manifest_sha256"]) == 64
    kinds = {r["scenario"] for r in report["results"]}
    assert kinds == {"recommend", "ingest", "backends"}
    for r in report["results"]:
        assert r["p50"] <= r["p95"] <= r["p99"] <= r["max"] and r["n"] > 0 and r["peak_rss_mb"] > 0
    rec = [r for r in report["results"] if r["scenario"] == "recommend"]
    assert rec[0]["params"] == {"items": 60, "history": 10, "threads": 1} and len(rec[0]["samples"]) == 5
    paths = {"json_path": tmp_path / "b.json", "report_path": tmp_path / "b.md", "plot_path": tmp_path / "b.png"}
    write_outputs(report, **paths, compare_with=report)
    again = json.loads((tmp_path / "b.json").read_text())
    assert again["results"] == report["results"]
    assert all(c["ratio"] == 1.0 for c in again["comparison"]) and again["comparison"]
    md = (tmp_path / "b.md").read_text()
    assert "| recommend |" in md and "ratio" in md and "manifest sha256" in md
    assert (tmp_path / "b.png").read_bytes()[:4] == b"\x89PNG"
    # the store built for the catalogue size is cached in the work directory and reused
    assert len(list(tmp_path.glob("store-*.db"))) == 1


def test_ctrl_c_keeps_what_was_measured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls = []

    def fake(name: str, params: dict, timeout: float = 0) -> object:
        calls.append(name)
        if name == "build":
            return {"items": params["size"]}
        if len(calls) > 2:
            raise KeyboardInterrupt
        return [result(name, {"n": len(calls)}, list(np.arange(1.0, 5.0)))]

    monkeypatch.setattr(bench_runner, "_run_worker", fake)
    seen = []
    cfg = replace(TINY, workdir=str(tmp_path))
    report = run_bench(cfg, partial=lambda rep: seen.append(len(rep["results"])))
    assert report["interrupted"] is True
    assert [r["scenario"] for r in report["results"]] == ["ingest"] and seen == [1]


def test_available_backends_follow_the_manifest() -> None:
    from ondevice_rec.bench import available_backends
    from ondevice_rec.bundle import LlmRankerSpec, Manifest, TextEncoderSpec, TwoTowerSpec

    te = TextEncoderSpec(model="model.onnx", tokenizer="t.json", dim=4, max_length=8)
    assert available_backends(Manifest(name="a", kind="text-embedder", text_encoder=te)) == ("onnx-text-int8",)
    two = Manifest(
        name="b",
        kind="two-tower",
        text_encoder=TextEncoderSpec(model="model.onnx", tokenizer="t.json", dim=4, max_length=8, model_fp32="f.onnx"),
        two_tower=TwoTowerSpec(
            user_tower={"fp32": "a", "int8": "b"}, item_tower="i.npz", item_ids="i.json", max_len=5, dim=4
        ),
        llm_ranker=LlmRankerSpec(file="x.gguf", type="Q8_0"),
    )
    assert available_backends(two) == ("onnx-text-int8", "onnx-text-fp32", "onnx-user-fp32", "onnx-user-int8", "gguf")


def test_memory_scenario_measures_one_process_on_a_copy_of_the_store(tmp_path: Path) -> None:
    report = run_bench(replace(TINY, scenarios=("memory",), workdir=str(tmp_path)))
    rows = {r["params"]["what"]: r for r in report["results"]}
    assert set(rows) == {
        "process start to first recommendation (first open after an import: no vector cache yet)",
        "process start to first recommendation (vector cache in place)",
        "process start to first recommendation",
        "recommend k=10 (all bench users)",
        "first add_items of the process (builds the encoder)",
        "add_items of 1 item (embedded, stored, in the snapshot)",
    }
    assert all(r["peak_rss_mb"] > 0 for r in rows.values())
    assert rows["add_items of 1 item (embedded, stored, in the snapshot)"]["n"] == 20
    from ondevice_rec import Recommender

    (db,) = tmp_path.glob("store-*.db")  # the items added while measuring went to a copy
    with Recommender.open(db, read_only=True) as rec:
        assert rec.count_items() == 60


def test_every_scenario_has_a_runner() -> None:
    from ondevice_rec.bench.config import SCENARIOS
    from ondevice_rec.bench.runner import _SCENARIOS

    assert set(_SCENARIOS) == set(SCENARIOS)


def test_ingest_imports_a_real_catalogue_file_through_the_cli(tmp_path: Path) -> None:
    src = tmp_path / "tiny-movielens"
    src.mkdir()
    (src / "movies.csv").write_text(
        "movieId,title,genres\n1,Toy Story (1995),Animation|Children\n2,Heat (1995),Action|Crime\n"
        '3,"Fargo (1996)",Comedy|Crime\n',
        encoding="utf-8",
    )
    (src / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4.0,964982703\n", encoding="utf-8")
    report = run_bench(replace(TINY, scenarios=("ingest",), workdir=str(tmp_path / "w"), real_data=(str(src),)))
    row = next(r for r in report["results"] if r["params"].get("data") == "tiny-movielens")
    assert row["unit"] == "items/s" and row["n"] == 3 and row["mean"] > 0


def test_scale_without_texts_says_so(tmp_path: Path) -> None:
    report = run_bench(replace(TINY, scenarios=("scale",), workdir=str(tmp_path)))
    assert report["results"][0]["skipped"].startswith("no texts given")


def test_scale_builds_its_store_once_and_reports_recall(tmp_path: Path) -> None:
    """The 1M scenario's harness on 300 texts (vectors as million_texts.py writes them)."""
    import json

    import numpy as np

    src = tmp_path / "texts"
    (src / "vec").mkdir(parents=True)
    (src / "texts.tsv").write_text("".join(f"t{i:07d}\ttext number {i}\n" for i in range(300)), encoding="utf-8")
    v = np.random.default_rng(0).standard_normal((300, 384)).astype(np.float32)
    np.save(src / "vec" / "00000.npy", (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float16))
    (src / "sources.json").write_text(json.dumps({"texts": 300, "texts_sha256": "0" * 64}), encoding="utf-8")
    cfg = replace(TINY, scenarios=("scale",), workdir=str(tmp_path / "w"), scale_data=str(src))
    report = run_bench(cfg)
    whats = {r["params"].get("what") for r in report["results"]}
    assert "recall@10 vs exact float32, similar_items" in whats and "recommend k=10 after record" in whats
    assert report["setup"][0]["output"]["items"] == 300
    again = run_bench(cfg)  # the store is cached with its build figures
    assert again["setup"][0]["output"] == report["setup"][0]["output"]
