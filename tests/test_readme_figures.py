"""Every figure the README quotes outside its rendered privacy block equals the value in the committed results
file it names (the privacy block: tests/test_docs.py). A quote is a template: each ``{}`` is filled with a
value read from the results file and formatted as the README writes it; the filled-in text must appear in the
README (whitespace aside)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


@cache
def _load(rel: str) -> Any:
    return json.loads((RESULTS / rel).read_text())


def ndcg(rel: str, scenario: str, protocol: str, model: str, metric: str = "NDCG@10") -> Callable[[], list[float]]:
    """mean, CI low, CI high of one model's metric in an ``odrec eval`` results file."""

    def get() -> list[float]:
        m = _load(rel)["results"][scenario][protocol][model][metric]
        return [m["mean"], *m.get("ci95", [])]

    return get


def mean(rel: str, scenario: str, protocol: str, model: str, metric: str = "NDCG@10") -> Callable[[], list[float]]:
    return lambda: ndcg(rel, scenario, protocol, model, metric)()[:1]


def bench(scenario: str, stat: str, file: str = "bench/default.json", **params: Any) -> Callable[[], list[float]]:
    """A statistic of the one ``file`` row of ``scenario`` with these ``params``."""

    def get() -> list[float]:
        rows = [
            r
            for r in _load(file)["results"]
            if r["scenario"] == scenario and all(r["params"].get(k) == v for k, v in params.items())
        ]
        assert len(rows) == 1, (scenario, params, len(rows))
        return [rows[0][stat]]

    return get


def paired(old: tuple[str, str], new: tuple[str, str], *fields: str) -> Callable[[], list[float]]:
    """``benchmarks/paired_compare.py``'s figures for the warm scenario: new − old per user from two
    ``per_user.json`` files (relative to the results folder, with the model of each)."""

    def get() -> list[float]:
        from ondevice_rec.eval.metrics import paired_test

        def per_user(rel: str, model: str) -> dict[Any, float]:
            rows = [r for r in _load(rel) if r["model"] == model and r["scenario"] == "warm"]
            assert len(rows) == 1, (rel, model)
            return dict(zip(rows[0]["users"], rows[0]["NDCG@10"], strict=True))

        o, n = per_user(*old), per_user(*new)
        users = sorted(set(o) & set(n))
        t = paired_test(np.array([n[u] for u in users]), np.array([o[u] for u in users]))
        return [t[f] for f in fields]

    return get


def key(rel: str, *path: str) -> Callable[[], list[float]]:
    def get() -> list[float]:
        v: Any = _load(rel)
        for p in path:
            v = v[int(p)] if isinstance(v, list) else v[p]
        return [v]

    return get


LLAMAREC = "eval-llamarec-ml-latest-small/results.json"
ANCHOR = "anchor-llamarec-ml-latest-small/results.json"
ML100K = "eval-ml-100k/results.json"
SPORTS = "eval-amazon-sports/results.json"
SPORTS_DEFAULT = "eval-amazon-sports/default/results.json"
VIDEO = "eval-amazon-video/results.json"
W = ("warm", "llamarec")
F = ("warm", "full")

REAL = "bench/real.json"


def real(data: str, events: str, mode: str) -> list[Callable[[], list[float]]]:
    """p50 and p95 of one history bucket of ``odrec bench --scenarios real``."""
    return [bench("real", s, REAL, data=data, events=events, mode=mode) for s in ("p50", "p95")]


def real_ratio(data: str, mode: str) -> Callable[[], list[float]]:
    return bench("real", "mean", REAL, data=data, what=f"longest/shortest bucket p95, {mode}")


ML_S = "ml-latest-small"
QUALITY_MLS = "quality-ml-latest-small/results.json"
Q100 = "quality-ml-100k/results.json"
MODES = "store-modes/results.json"
DIV = "diversity-ml-100k/results.json"
BEY = "beyond-ml-100k/results.json"
Q100W = ("warm", "full")

# (README text with {} for each value, [value getters], format of every value)
FIGURES: list[tuple[str, list[Callable[[], list[float]]], str]] = [
    (
        "| Popularity / ItemKNN / BPR-MF | {} / {} / {} |",
        [mean(LLAMAREC, *W, "popularity"), mean(LLAMAREC, *W, "itemknn"), mean(LLAMAREC, *W, "bpr")],
        ".4f",
    ),
    (
        "| SASRec | {} [{}, {}] (HR@10 {}) |",
        [ndcg(ANCHOR, *W, "sasrec"), mean(ANCHOR, *W, "sasrec", "HR@10")],
        ".4f",
    ),
    (
        "| LRURec | {} [{}, {}] (HR@10 {}) |",
        [ndcg(LLAMAREC, *W, "lrurec"), mean(LLAMAREC, *W, "lrurec", "HR@10")],
        ".4f",
    ),
    (
        "| student, `odrec export --no-teacher`, int8 | {} [{}, {}] (HR@10 {}) |",
        [ndcg(LLAMAREC, *W, "bundle:mls-noteacher"), mean(LLAMAREC, *W, "bundle:mls-noteacher", "HR@10")],
        ".4f",
    ),
    (
        "| this release's export: three students side by side, int8 | {} [{}, {}] (HR@10 {}) |",
        [ndcg(QUALITY_MLS, *W, "bundle:mls-ens"), mean(QUALITY_MLS, *W, "bundle:mls-ens", "HR@10")],
        ".4f",
    ),
    (
        "Profile-only users: {} (v1) / {} (v2) vs Popularity {}; without resolving the titles a v2 profile names, "
        "{} (v2).",
        [
            mean(QUALITY_MLS, "cold-user", "llamarec", "bundle:mls-ens"),
            mean(QUALITY_MLS, "cold-user-v2", "llamarec", "bundle:mls-ens"),
            mean(QUALITY_MLS, "cold-user", "llamarec", "popularity"),
            mean(QUALITY_MLS, "cold-user-v2", "llamarec", "notitles:mls-ens"),
        ],
        ".4f",
    ),
    (
        "the three-student ensemble kept on validation ({} vs {} for the first student alone)",
        [
            key("quality-ml-latest-small/manifest-mls-ens.json", "training", "ensemble", "valid_ndcg10"),
            key("quality-ml-latest-small/manifest-mls-ens.json", "training", "ensemble", "valid_ndcg10_first"),
        ],
        ".4f",
    ),
    (
        "Profile-only users: the student {} (v1) / {} (v2) vs Popularity {}.",
        [
            mean(LLAMAREC, "cold-user", "llamarec", "bundle:mls-noteacher"),
            mean(LLAMAREC, "cold-user-v2", "llamarec", "bundle:mls-noteacher"),
            mean(LLAMAREC, "cold-user", "llamarec", "popularity"),
        ],
        ".4f",
    ),
    (
        "Popularity {} [{}, {}], ItemKNN {}, BPR-MF {}, SASRec {} [{}, {}] (`benchmarks/results/eval-ml-100k/`)",
        [
            ndcg(ML100K, *F, "popularity"),
            mean(ML100K, *F, "itemknn"),
            mean(ML100K, *F, "bpr"),
            ndcg(ML100K, *F, "sasrec"),
        ],
        ".4f",
    ),
    (
        "default bundle zero-shot {} (its popularity weight chosen on validation",
        [mean("eval-default-bundle-warm/ml100k-w1/results.json", *F, "bundle:default")],
        ".4f",
    ),
    (
        "student without teacher {} [{}, {}] with this release's recipe",
        [ndcg("eval-student-ml-100k/results.json", *F, "bundle:ml100k-noteacher")],
        ".4f",
    ),
    ("with the SmolLM2 teacher {}", [mean("export-ml-100k/results.json", *F, "bundle:ml100k")], ".4f"),
    (
        "| Popularity (published PopRec on these files: 0.0053) | {} [{}, {}] | {} |",
        [ndcg(SPORTS, *F, "popularity"), mean(SPORTS, *F, "popularity", "HR@10")],
        ".4f",
    ),
    ("| ItemKNN | {} [{}, {}] | {} |", [ndcg(SPORTS, *F, "itemknn"), mean(SPORTS, *F, "itemknn", "HR@10")], ".4f"),
    (
        "| student int8 without its item-item table (ablation) | {} [{}, {}] | {} |",
        [ndcg(SPORTS, *F, "bundle:sports-no-item-item"), mean(SPORTS, *F, "bundle:sports-no-item-item", "HR@10")],
        ".4f",
    ),
    (
        "**{} [{}, {}]** | **{}** |",
        [ndcg(SPORTS, *F, "bundle:sports"), mean(SPORTS, *F, "bundle:sports", "HR@10")],
        ".4f",
    ),
    (
        "scores **{} [{}, {}] = 1.96× ItemKNN** on full ranking in the same run (without its item-item table {};",
        [
            ndcg(SPORTS_DEFAULT, *F, "bundle:sports-default"),
            mean(SPORTS_DEFAULT, *F, "bundle:sports-default-no-item-item"),
        ],
        ".4f",
    ),
    ("20 candidates {})", [mean(SPORTS_DEFAULT, "warm", "sampled20", "bundle:sports-default")], ".3f"),
    (
        "Popularity {}, ItemKNN {}, **student int8 {} [{}, {}] (1.89× ItemKNN)**",
        [mean(VIDEO, *F, "popularity"), mean(VIDEO, *F, "itemknn"), ndcg(VIDEO, *F, "bundle:video")],
        ".4f",
    ),
    (
        "(test item + 100 sampled negatives, `--protocol sampled101`) {} against",
        [mean(VIDEO, "warm", "sampled101", "bundle:video")],
        ".4f",
    ),
    (
        "20 candidates {} (Popularity {})",
        [mean(VIDEO, "warm", "sampled20", "bundle:video"), mean(VIDEO, "warm", "sampled20", "popularity")],
        ".3f",
    ),
    (
        "| `recommend(k=10)`, 10k items, 50 events, 1 thread | {} ms | {} ms |",
        [
            bench("recommend", "p50", items=10000, history=50, threads=1),
            bench("recommend", "p95", items=10000, history=50, threads=1),
        ],
        ".2f",
    ),
    (
        "exact search {} / {} ms)",
        [
            bench("recommend", "exact_p50_ms", items=100000, history=50, threads=1),
            bench("recommend", "exact_p95_ms", items=100000, history=50, threads=1),
        ],
        ".1f",
    ),
    (
        "(recall@100 vs exact 1.00; exact search 10.1 / 12.3 ms) | {} ms | {} ms |",
        [
            bench("recommend", "p50", items=100000, history=50, threads=1),
            bench("recommend", "p95", items=100000, history=50, threads=1),
        ],
        ".2f",
    ),
    (
        "| process start → first recommendation (10k items) | {} ms | {} ms |",
        [bench("cold-start", "p50", items=10000), bench("cold-start", "p95", items=10000)],
        ".0f",
    ),
    ("| ingest (embedding included) | {} items/s | |", [bench("ingest", "items_per_s")], ".1f"),
    (
        "| egress redaction of 1 KB | {} ms | {} ms |",
        [bench("redact", "p50", text_kb=1), bench("redact", "p95", text_kb=1)],
        ".1f",
    ),
    ("median {} ms (`python benchmarks/bench_centre.py`", [key("centre/results.json", "median_ms")], ".1f"),
    (
        "with SmolLM2-135M on llama.cpp {} sets/s with 1 Ray worker, {} with 2",
        [key("export-ray/results.json", "results", "labelling", k) for k in ("Ray, 1 worker", "Ray, 2 workers")],
        ".3f",
    ),
    (
        "embedding item texts {} → {} texts/s",
        [key("export-ray/results.json", "results", "embedding", k) for k in ("Ray, 1 worker", "Ray, 2 workers")],
        ".0f",
    ),
]

# odrec bench --scenarios real (benchmarks/results/bench/real.json)
FIGURES += [
    *[
        (
            f"| {b} | {{}} / {{}} | {{}} / {{}} | {{}} / {{}} | — |",
            [*real(ML_S, b, "repeat"), *real(ML_S, b, "after record"), *real(ML_S, b, "first request")],
            ".2f",
        )
        for b in ("51-200", "201-1000", ">1000")
    ],
    *[
        (
            f"| {b} | {{}} / {{}} | {{}} / {{}} | {{}} / {{}} | {{}} / {{}} |",
            [
                *real(ML_S, b, "repeat"),
                *real(ML_S, b, "after record"),
                *real(ML_S, b, "first request"),
                *real("amazon-sports", b, "repeat"),
            ],
            ".2f",
        )  # fmt: skip
        for b in ("11-20", "21-50")
    ],
    ("| 1-10 | — | — | — | {} / {} |", real("amazon-sports", "1-10", "repeat"), ".2f"),
    (
        "Longest/shortest bucket p95 on ml-latest-small: {} for repeated requests, {} after `record`",
        [real_ratio(ML_S, "repeat"), real_ratio(ML_S, "after record")],
        ".3f",
    ),
]


def _readme() -> str:
    return re.sub(r"\s+", " ", (ROOT / "README.md").read_text())


def _render(template: str, getters: list[Callable[[], list[float]]], fmt: str) -> str:
    values = [v for g in getters for v in g()]
    if fmt == "FMT":  # the template carries each value's own format
        return re.sub(r"\s+", " ", template.format(*values))
    return re.sub(r"\s+", " ", template.format(*(format(v, fmt) for v in values)))


M100 = "bench/memory-100k.json"
# one app process at 100k items (benchmarks/results/bench/memory-100k.json)
FIGURES += [
    (
        "`recommend(k=10)` p95 {} ms (10 events) / {} ms (50) / {} ms (200), one thread;",
        [bench("recommend", "p95", M100, items=100000, history=h, threads=1) for h in (10, 50, 200)],
        ".2f",
    ),
    (
        "(mean overlap {}); peak RSS {} MB; process start → first recommendation {} ms with the vector cache in",
        [
            bench("memory", "mean", M100, what="top-10 overlap, default (float16 + prefilter) vs exact float32"),
            bench("memory", "peak_rss_mb", M100, what="recommend k=10 (all bench users)"),
            bench("memory", "p50", M100, what="process start to first recommendation (vector cache in place)"),
        ],
        ".1f",
    ),
]


S1M = "bench/scale-1m.json"
# one app process at a million items (benchmarks/results/bench/scale-1m.json)
_I8 = "recall@10 vs exact search over the same int8 rows"
FIGURES += [
    (
        "`recommend(k=10)` p95 {} ms (10 events) / {} ms (50) / {} ms (200), {} ms right after a `record`, "
        "`similar_items` {} ms;",
        [bench("scale", "p95", S1M, events=h) for h in (10, 50, 200)]
        + [bench("scale", "p95", S1M, what=w) for w in ("recommend k=10 after record", "similar_items k=10")],
        ".2f",
    ),
    (
        "over the same vectors {} (`recommend`) and {} (`similar_items`), against exact float32 scoring {} and {};",
        [
            bench("scale", "mean", S1M, what=f"{_I8}, recommend (default diversity)"),
            bench("scale", "mean", S1M, what=f"{_I8}, similar_items"),
            bench("scale", "mean", S1M, what="recall@10 vs exact float32, recommend (default diversity)"),
            bench("scale", "mean", S1M, what="recall@10 vs exact float32, similar_items"),
        ],
        ".3f",
    ),
    (
        "peak RSS {} MB; process start → first recommendation {} ms.",
        [
            bench("scale", "peak_rss_mb", S1M, what="process start to first recommendation"),
            bench("scale", "p50", S1M, what="process start to first recommendation"),
        ],
        ".1f",
    ),
    ("store's index took {} s once", [key(S1M, "setup", "0", "output", "first_open_s")], ".1f"),
    ("items/s ({} titles);", [bench("ingest", "n", "bench/ingest.json", data="ml-latest-small")], ".0f"),
    (
        "`movies.csv` as downloaded, {} items/s (9742 titles); the synthetic items of the table above (two "
        "descriptions each) {} items/s in",
        [
            bench("ingest", "mean", "bench/ingest.json", data="ml-latest-small"),
            bench("ingest", "items_per_s", "bench/ingest.json", items=2000),
        ],
        ".1f",
    ),
    (
        "the three-student ensemble kept on validation ({} vs {} for the first student alone) scores {} [{}, {}] on "
        "test",
        [
            key("quality-ml-100k/manifest-ml100k-ens.json", "training", "ensemble", "valid_ndcg10"),
            key("quality-ml-100k/manifest-ml100k-ens.json", "training", "ensemble", "valid_ndcg10_first"),
            ndcg(Q100, *Q100W, "bundle:ml100k-ens"),
        ],
        ".4f",
    ),
    (
        "Popularity / ItemKNN / BPR-MF {} / {} / {} in the same run. Profile-only users: {} (v1) / {} (v2) vs "
        "Popularity {}; without resolving the titles a v2 profile names, {} (v2).",
        [
            mean(Q100, *Q100W, "popularity"),
            mean(Q100, *Q100W, "itemknn"),
            mean(Q100, *Q100W, "bpr"),
            mean(Q100, "cold-user", "full", "bundle:ml100k-ens"),
            mean(Q100, "cold-user-v2", "full", "bundle:ml100k-ens"),
            mean(Q100, "cold-user", "full", "popularity"),
            mean(Q100, "cold-user-v2", "full", "notitles:ml100k-ens"),
        ],
        ".4f",
    ),
    (
        "the student lists {} of the catalogue in someone's top 10 (Popularity {}, ItemKNN {}, BPR-MF {}) and its "
        "Serendipity@10 is {} (ItemKNN {}), but its Regret@10 is {} (Popularity {})",
        [
            key(Q100, "results", "warm", "full", "bundle:ml100k-ens", "Coverage@10"),
            key(Q100, "results", "warm", "full", "popularity", "Coverage@10"),
            key(Q100, "results", "warm", "full", "itemknn", "Coverage@10"),
            key(Q100, "results", "warm", "full", "bpr", "Coverage@10"),
            mean(Q100, *Q100W, "bundle:ml100k-ens", "Serendipity@10"),
            mean(Q100, *Q100W, "itemknn", "Serendipity@10"),
            mean(Q100, *Q100W, "bundle:ml100k-ens", "Regret@10"),
            mean(Q100, *Q100W, "popularity", "Regret@10"),
        ],
        ".4f",
    ),
    (
        "`recommend` {} ms encrypted vs {} ms plain (median, {} ×), an events import of 100,000 ratings {} × the "
        "plain time",
        [
            key(MODES, "results", "encrypted", "recommend_median_ms"),
            key(MODES, "results", "plain", "recommend_median_ms"),
            key(MODES, "results", "encrypted", "ratio", "recommend"),
            key(MODES, "results", "encrypted", "ratio", "import"),
        ],
        ".2f",
    ),
    (
        "a single `record` {} ms vs {} ms",
        [key(MODES, "results", "encrypted", "record_median_ms"), key(MODES, "results", "plain", "record_median_ms")],
        ".3f",
    ),
    ("({} ×: every commit encrypts", [key(MODES, "results", "encrypted", "ratio", "record")], ".2f"),
    (
        "opening the store {} ms with a raw key, {} ms with a passphrase.",
        [key(MODES, "open_encrypted_median_ms", "raw key"), key(MODES, "open_encrypted_median_ms", "passphrase")],
        ".1f",
    ),
    ("in the same run: `record` {} ms", [key(MODES, "results", "plain-full", "record_median_ms")], ".3f"),
    ("({} ×), `recommend` unchanged", [key(MODES, "results", "plain-full", "ratio", "record")], ".2f"),
    (
        "NDCG@10 {} at 0, {} at the runtime's default 0.15, {} at 0.5 and {} at 0.9, while intra-list diversity "
        "rises from {} to {} and novelty from {} to {}",
        [mean(DIV, "warm", "full", f"bundle:ml100k-ens@div={d}") for d in ("0", "0.15", "0.5", "0.9")]
        + [mean(DIV, "warm", "full", f"bundle:ml100k-ens@div={d}", "ILD@10") for d in ("0", "0.9")]
        + [mean(DIV, "warm", "full", f"bundle:ml100k-ens@div={d}", "Novelty@10") for d in ("0", "0.9")],
        ".4f",
    ),
    (
        "SASRec now scores {} [{}, {}] on classic ML-100K",
        [ndcg(BEY, "warm", "full", "sasrec")],
        ".4f",
    ),
    (
        "SASRec also lists more of the catalogue (Coverage@10 {} vs {}) and is as serendipitous ({} vs {}), while the "
        "student does better on the satisfaction view (SatNDCG@10 {} vs {}; Regret@10 {} vs {}).",
        [
            key(BEY, "results", "warm", "full", "sasrec", "Coverage@10"),
            key(BEY, "results", "warm", "full", "bundle:ml100k-ens", "Coverage@10"),
            mean(BEY, "warm", "full", "sasrec", "Serendipity@10"),
            mean(BEY, "warm", "full", "bundle:ml100k-ens", "Serendipity@10"),
            mean(BEY, "warm", "full", "bundle:ml100k-ens", "SatNDCG@10"),
            mean(BEY, "warm", "full", "sasrec", "SatNDCG@10"),
            mean(BEY, "warm", "full", "bundle:ml100k-ens", "Regret@10"),
            mean(BEY, "warm", "full", "sasrec", "Regret@10"),
        ],
        ".4f",
    ),
    (
        "held-out check: teacher {} vs retriever {} NDCG@10 on validation candidates",
        [
            key("distill-ml-100k/manifest-distilled.json", "teacher", "validation_quality", "teacher_ndcg10"),
            key("distill-ml-100k/manifest-distilled.json", "teacher", "validation_quality", "retriever_ndcg10"),
        ],
        ".4f",
    ),
    (
        "labels for all 943 users in {} s",
        [key("distill-ml-100k/manifest-distilled.json", "teacher", "labelling_seconds")],
        ".2f",
    ),
    (
        "The teacher stage took {} s",
        [key("distill-ml-100k/manifest-distilled.json", "stage_seconds", "teacher")],
        ".1f",
    ),
    (
        "({} at weight 0.1 vs {} without)",
        [
            key("distill-ml-100k/manifest-distilled.json", "training", "distillation", "valid_ndcg10", "0.1"),
            key("distill-ml-100k/manifest-distilled.json", "training", "distillation", "valid_ndcg10", "0.0"),
        ],
        ".4f",
    ),
    (
        "shipped the same student as the run without a teacher: {} [{}, {}] on test",
        [ndcg("distill-ml-100k/results.json", "warm", "full", "bundle:ml100k-single")],
        ".4f",
    ),
]


BEY_MLS = "beyond-ml-latest-small/results.json"
BM = ("warm", "llamarec")
FIGURES += [
    (
        "one): the student {} [{}, {}], SASRec {} [{}, {}], ItemKNN {}, Popularity {}.",
        [
            ndcg(BEY_MLS, *BM, "bundle:mls-ens"),
            ndcg(BEY_MLS, *BM, "sasrec"),
            mean(BEY_MLS, *BM, "itemknn"),
            mean(BEY_MLS, *BM, "popularity"),
        ],  # fmt: skip
        ".4f",
    ),
    (
        "Coverage@10 {} (SASRec {}, ItemKNN {}), Novelty@10 {} (SASRec {}), Serendipity@10 {} (SASRec {}, ItemKNN {}), "
        "SatNDCG@10 {} (SASRec {}) and Regret@10 {} (SASRec {}).",
        [
            key(BEY_MLS, "results", *BM, "bundle:mls-ens", "Coverage@10"),
            key(BEY_MLS, "results", *BM, "sasrec", "Coverage@10"),
            key(BEY_MLS, "results", *BM, "itemknn", "Coverage@10"),
            *[mean(BEY_MLS, *BM, m, "Novelty@10") for m in ("bundle:mls-ens", "sasrec")],
            *[mean(BEY_MLS, *BM, m, "Serendipity@10") for m in ("bundle:mls-ens", "sasrec", "itemknn")],
            *[mean(BEY_MLS, *BM, m, "SatNDCG@10") for m in ("bundle:mls-ens", "sasrec")],
            *[mean(BEY_MLS, *BM, m, "Regret@10") for m in ("bundle:mls-ens", "sasrec")],
        ],
        ".4f",
    ),
    (
        "Profile-only users (v2): {} vs Popularity {}",
        [
            mean(BEY_MLS, "cold-user-v2", "llamarec", "bundle:mls-ens"),
            mean(BEY_MLS, "cold-user-v2", "llamarec", "popularity"),
        ],
        ".4f",
    ),
]


def tft(titles: str, form: str, stat: str) -> Callable[[], list[float]]:
    """One row of ``benchmarks/run_teacher_finetune.sh``'s results."""

    def get() -> list[float]:
        rows = [r for r in _load("teacher-finetune/results.json") if r["titles"] == titles and r["form"] == form]
        assert len(rows) == 1, (titles, form)
        return [rows[0][stat]]

    return get


FIGURES += [
    (
        "ML-100K's real titles: {} s a step and a peak RSS of {} MB whole, {} s and {} MB shared",
        [
            tft("real", "batched", "seconds_per_step"),
            tft("real", "batched", "peak_rss_mb"),
            tft("real", "shared", "seconds_per_step"),
            tft("real", "shared", "peak_rss_mb"),
        ],
        "",
    ),  # fmt: skip
    (
        "every title as long as the template keeps ({} tokens for ten of them): {} s and {} MB whole, {} s and {} MB",
        [
            tft("longest", "shared", "prefix_tokens_10_titles"),
            tft("longest", "batched", "seconds_per_step"),
            tft("longest", "batched", "peak_rss_mb"),
            tft("longest", "shared", "seconds_per_step"),
            tft("longest", "shared", "peak_rss_mb"),
        ],
        "",
    ),  # fmt: skip
]


def paired_row(rel: str, row: str, *idx: int) -> Callable[[], list[float]]:
    """Fields (by index: difference, CI low, CI high, p) of the ``row`` scenario of a committed paired table."""

    def get() -> list[float]:
        rows = [r for r in (RESULTS / rel).read_text().splitlines() if r.startswith(f"| {row} |")]
        assert len(rows) == 1, (rel, row)
        cells = [c.strip() for c in rows[0].strip("|").split("|")]
        diff, ci = cells[5].split(" ", 1)
        lo, hi = ci.strip("[]").split(", ")
        values = [float(diff), float(lo), float(hi), float(cells[6])]
        return [values[i] for i in idx] if idx else values

    return get


def paired_md(rel: str) -> Callable[[], list[float]]:
    """difference, CI low, CI high and p of the one warm row of a committed ``paired_compare.py`` table (where
    the per-user file it was computed from is not committed)."""
    return paired_row(rel, "warm")


EASE_S = "ease-amazon-sports/results.json"
EASE_SM = "ease-amazon-sports/manifest.json"
FIGURES += [
    (
        "three students kept on validation\n({} against {} for the first alone)",
        [
            key(EASE_SM, "training", "ensemble", "valid_ndcg10"),
            key(EASE_SM, "training", "ensemble", "valid_ndcg10_first"),
        ],
        ".4f",
    ),
    (
        "chose EASE's table at λ = 20 and weight {} on validation (NDCG@10\n{}; the best cosine table {}; the students "
        "without a table {})",
        [
            key(EASE_SM, "training", "item_item", "chosen_weight"),
            key(EASE_SM, "training", "item_item", "valid_ndcg10", "ease-20", "5.0"),
            key(EASE_SM, "training", "item_item", "valid_ndcg10", "cosine", "1.0"),
            key(EASE_SM, "training", "item_item", "valid_ndcg10", "ease-20", "0.0"),
        ],
        "",
    ),  # fmt: skip
    ("| Popularity / ItemKNN | {} / {} |", [mean(EASE_S, *F, "popularity"), mean(EASE_S, *F, "itemknn")], ".4f"),
    ("| EASE (baseline, λ chosen on validation) | {} [{}, {}] |", [ndcg(EASE_S, *F, "ease")], ".4f"),
    ("| **default export, EASE table** | **{} [{}, {}]** |", [ndcg(EASE_S, *F, "bundle:sports-default")], ".4f"),
    ("(its validation choice, weight 1.0) | {} [{}, {}] |", [ndcg(EASE_S, *F, "bundle:sports-cosine")], ".4f"),
    ("| the same bundle without a table | {} [{}, {}] |", [ndcg(EASE_S, *F, "bundle:sports-no-table")], ".4f"),
    (
        "1.17 × EASE ({:+.4f} [{:+.4f}, {:+.4f}] paired)",
        [paired_md("ease-amazon-sports/paired-ease-baseline-vs-bundle.md")],
        "FMT",
    ),
    ("({:+.4f} [{:+.4f}, {:+.4f}], p {:.3f})", [paired_md("ease-amazon-sports/paired-cosine-vs-ease-table.md")], "FMT"),
    ("is worth {:+.4f} [{:+.4f}, {:+.4f}]", [paired_md("ease-amazon-sports/paired-no-table-vs-ease-table.md")], "FMT"),
    (
        "The run took {} s on 2 cores (students {} s, teacher {} s,\nitem-item tables {} s) and peaked at {} MB",
        [
            lambda: [round(sum(_load(EASE_SM)["stage_seconds"].values()), 1)],
            key(EASE_SM, "stage_seconds", "student_training"),
            key(EASE_SM, "stage_seconds", "teacher"),
            key(EASE_SM, "stage_seconds", "item_item"),
            key(EASE_SM, "peak_rss_mb", "teacher"),
        ],
        ".1f",
    ),  # fmt: skip
]

EASE_M = "ease-ml-100k/results.json"
EASE_MM = "ease-ml-100k/manifest.json"
FIGURES += [
    (
        "EASE's table at λ = 500 and weight {}, both chosen on validation (NDCG@10 {}\nagainst {} without a table; "
        "the cosine table never helps there: {} at its smallest weight)",
        [
            key(EASE_MM, "training", "item_item", "chosen_weight"),
            key(EASE_MM, "training", "item_item", "valid_ndcg10", "ease-500", "0.1"),
            key(EASE_MM, "training", "item_item", "valid_ndcg10", "ease-500", "0.0"),
            key(EASE_MM, "training", "item_item", "valid_ndcg10", "cosine", "0.01"),
        ],
        "",
    ),  # fmt: skip
    ("scores **{} [{}, {}]** — above the issue's 0.11", [ndcg(EASE_M, *F, "bundle:ml-100k-single")], ".4f"),
    (
        "without the table at\n{} ({:+.4f} [{:+.4f}, {:+.4f}], p {:.3f})",
        [
            lambda: [format(mean(EASE_M, *F, "bundle:ml-100k-single-no-table")()[0], ".4f")],
            paired_md("ease-ml-100k/paired-no-table-vs-table.md"),
        ],
        "FMT",
    ),  # fmt: skip
    (
        "the distilled student above at 0.1093 ({:+.4f} [{:+.4f},\n{:+.4f}], p {:.3f})",
        [paired_md("ease-ml-100k/paired-distilled-vs-bundle.md")],
        "FMT",
    ),  # fmt: skip
    (
        "EASE alone scores {}, ItemKNN {} and Popularity {}",
        [mean(EASE_M, *F, "ease"), mean(EASE_M, *F, "itemknn"), mean(EASE_M, *F, "popularity")],
        ".4f",
    ),
]

EASE_L = "ease-ml-latest-small/results.json"
EASE_LM = "ease-ml-latest-small/manifest.json"
FIGURES += [
    (
        "| EASE (λ chosen on validation; `benchmarks/results/ease-ml-latest-small/`) | {} [{}, {}] (HR@10 {}) | — |",
        [ndcg(EASE_L, *W, "ease"), mean(EASE_L, *W, "ease", "HR@10")],
        ".4f",
    ),
    (
        "validation again picks EASE's table at λ = 500 and weight {} ({} against {} without)",
        [
            key(EASE_LM, "training", "item_item", "chosen_weight"),
            key(EASE_LM, "training", "item_item", "valid_ndcg10", "ease-500", "0.1"),
            key(EASE_LM, "training", "item_item", "valid_ndcg10", "ease-500", "0.0"),
        ],
        "",
    ),  # fmt: skip
    (
        "scores {} [{}, {}] on test against {} without the table",
        [ndcg(EASE_L, *W, "bundle:ml-latest-small-single"), mean(EASE_L, *W, "bundle:ml-latest-small-single-no-table")],
        ".4f",
    ),  # fmt: skip
    (
        "without the table ({:+.4f} [{:+.4f}, {:+.4f}], p {:.3f});",
        [paired_md("ease-ml-latest-small/paired-no-table-vs-table.md")],
        "FMT",
    ),  # fmt: skip
    (
        "EASE alone {}, ItemKNN {}, Popularity {}. That is below",
        [mean(EASE_L, *W, "ease"), mean(EASE_L, *W, "itemknn"), mean(EASE_L, *W, "popularity")],
        ".4f",
    ),
    (
        "(0.0649; {:+.4f},\np {:.3f})",
        [
            lambda: [
                v
                for i, v in enumerate(paired_md("ease-ml-latest-small/paired-distilled-vs-bundle.md")())
                if i in (0, 3)
            ]
        ],
        "FMT",
    ),  # fmt: skip
]

EASE_D = "ease-ml-100k/default/results.json"
EASE_DM = "ease-ml-100k/default/manifest.json"
FIGURES += [
    (
        "three students kept on validation at {} against {} for the first alone",
        [
            key(EASE_DM, "training", "ensemble", "valid_ndcg10"),
            key(EASE_DM, "training", "ensemble", "valid_ndcg10_first"),
        ],
        "",
    ),
    (
        "EASE's table at λ = 500 and weight {}, validation {} against {} without)",
        [
            key(EASE_DM, "training", "item_item", "chosen_weight"),
            key(EASE_DM, "training", "item_item", "valid_ndcg10", "ease-500", "0.5"),
            key(EASE_DM, "training", "item_item", "valid_ndcg10", "ease-500", "0.0"),
        ],
        "",
    ),  # fmt: skip
    ("scores **{} [{},\n{}]** on test", [ndcg(EASE_D, *F, "bundle:ml-100k-default")], ".4f"),
    (
        "{:+.4f} [{:+.4f}, {:+.4f}] over the previous release's default export (0.1041; p {:.3f})",
        [paired_md("ease-ml-100k/default/paired-previous-default-vs-default.md")],
        "FMT",
    ),  # fmt: skip
    (
        "{:+.4f} [{:+.4f}, {:+.4f}] over the single student without a table (p {:.3f})",
        [paired_md("ease-ml-100k/default/paired-single-no-table-vs-default.md")],
        "FMT",
    ),  # fmt: skip
    (
        "It took {} s on 2 cores (teacher\n{} s, students {} s) and peaked at {} MB.",
        [
            lambda: [round(sum(_load(EASE_DM)["stage_seconds"].values()), 1)],
            key(EASE_DM, "stage_seconds", "teacher"),
            key(EASE_DM, "stage_seconds", "student_training"),
            lambda: [max(_load(EASE_DM)["peak_rss_mb"].values())],
        ],
        ".1f",
    ),  # fmt: skip
]

REC_L = "recency-ml-latest-small/results.json"
REC_LM = "recency-ml-latest-small/manifest.json"
REC_M = "recency-ml-100k/results.json"
REC_MM = "recency-ml-100k/manifest.json"
LL = ("warm", "llamarec")


def best_without_recency(rel: str) -> Callable[[], list[float]]:
    """The best validation NDCG@10 of the item-item candidates without a half-life in an export's report."""

    def get() -> list[float]:
        tried = _load(rel)["training"]["item_item"]["valid_ndcg10"]
        return [max(max(v.values()) for k, v in tried.items() if ", half-life" not in k)]

    return get


def chosen(rel: str, weight: str) -> Callable[[], list[float]]:
    """The chosen item-item candidate's validation NDCG@10 at ``weight`` ("chosen": the chosen weight)."""

    def get() -> list[float]:
        r = _load(rel)["training"]["item_item"]
        return [r["valid_ndcg10"][r["chosen"]][str(r["chosen_weight"]) if weight == "chosen" else weight]]

    return get


FIGURES += [
    (
        "(three students, EASE's table with recency; `benchmarks/results/recency-ml-latest-small/`) | **{} [{}, {}]** "
        "(HR@10 {}) |",
        [
            ndcg(REC_L, *LL, "bundle:ml-latest-small-recency"),
            mean(REC_L, *LL, "bundle:ml-latest-small-recency", "HR@10"),
        ],
        ".4f",
    ),
    (
        "chose EASE's table at λ = 500, half-life {:g} and weight {} on validation (NDCG@10 {} against\n{} without a "
        "table; the best table without recency, ease-20, {}) and scores **{:.4f} [{:.4f}, {:.4f}]**\non test "
        "(HR@10 {:.4f})",
        [
            key(REC_LM, "training", "item_item", "chosen_half_life"),
            key(REC_LM, "training", "item_item", "chosen_weight"),
            chosen(REC_LM, "chosen"),
            chosen(REC_LM, "0.0"),
            best_without_recency(REC_LM),
            ndcg(REC_L, *LL, "bundle:ml-latest-small-recency"),
            mean(REC_L, *LL, "bundle:ml-latest-small-recency", "HR@10"),
        ],
        "FMT",
    ),
    (
        "the same bundle with the best table without recency {:.4f} ({:+.4f}\n[{:+.4f}, {:+.4f}], p {:.3f}), without a "
        "table {:.4f} ({:+.4f} [{:+.4f}, {:+.4f}], p {:.3f})",
        [
            mean(REC_L, *LL, "bundle:ml-latest-small-recency-no-recency"),
            paired_md("recency-ml-latest-small/paired-no-recency-vs-recency.md"),
            mean(REC_L, *LL, "bundle:ml-latest-small-recency-no-table"),
            paired_md("recency-ml-latest-small/paired-no-table-vs-recency.md"),
        ],
        "FMT",
    ),
    (
        "EASE {}, ItemKNN {}, Popularity {}; against the committed runs on the\nsame split and protocol",
        [mean(REC_L, *LL, m) for m in ("ease", "itemknn", "popularity")],
        ".4f",
    ),
    (
        "LRURec {:.4f} ({:+.4f} [{:+.4f}, {:+.4f}], p {:.3f}), SASRec {:.4f} ({:+.4f} [{:+.4f},\n{:+.4f}], p "
        "{:.3f}) and the distilled student {:.4f} ({:+.4f} [{:+.4f}, {:+.4f}], p {:.3f})",
        [
            mean("eval-llamarec-ml-latest-small/results.json", *LL, "lrurec"),
            paired_md("recency-ml-latest-small/paired-lrurec-vs-recency.md"),
            mean("anchor-llamarec-ml-latest-small/results.json", *LL, "sasrec"),
            paired_md("recency-ml-latest-small/paired-sasrec-vs-recency.md"),
            mean("distill-ensemble-ml-latest-small/results.json", *LL, "bundle:ml-latest-small-ens-distilled"),
            paired_md("recency-ml-latest-small/paired-distilled-vs-recency.md"),
        ],
        "FMT",
    ),
    (
        "The export took {:.1f} s\non 2 cores, of which the LLM teacher {:.1f} s: on 610 users its probe found only {} "
        "held-out candidate sets",
        [
            lambda: [round(sum(_load(REC_LM)["stage_seconds"].values()), 1)],
            key(REC_LM, "stage_seconds", "teacher"),
            key(REC_LM, "teacher", "validation_quality", "users"),
        ],
        "FMT",
    ),
    (
        "its final check lost ({} vs {})",
        [
            key(REC_LM, "teacher", "validation_quality", "teacher_ndcg10"),
            key(REC_LM, "teacher", "validation_quality", "retriever_ndcg10"),
        ],
        ".4f",
    ),
    ("Peak RSS {} MB (in\nthe teacher stage)", [lambda: [max(_load(REC_LM)["peak_rss_mb"].values())]], ".1f"),
    (
        "int8 scores {:.4f} on validation against fp32's {:.4f} (paired upper\nbound {:+.4f}, top-10 agreement {:.3f})",
        [
            key(REC_LM, "validation", "valid_ndcg10_onnx_int8"),
            key(REC_LM, "validation", "valid_ndcg10_onnx_fp32"),
            key(REC_LM, "validation", "int8_minus_fp32_ndcg10_upper95"),
            key(REC_LM, "validation", "int8_top10_agreement"),
        ],
        "FMT",
    ),
    (
        "the same export chose half-life {:g} and weight {}\n(validation {} against {} for the best table without "
        "recency) but scores exactly what the bundle\nwithout recency scores on test, {:.4f} ({:+.4f} [{:+.4f}, "
        "{:+.4f}], p {:.3f})",
        [
            key(REC_MM, "training", "item_item", "chosen_half_life"),
            key(REC_MM, "training", "item_item", "chosen_weight"),
            chosen(REC_MM, "chosen"),
            best_without_recency(REC_MM),
            mean(REC_M, *F, "bundle:ml-100k-recency-no-recency"),
            paired_md("recency-ml-100k/paired-no-recency-vs-recency.md"),
        ],
        "FMT",
    ),
    (
        "The table is still worth {:+.4f} [{:+.4f}, {:+.4f}] (p {:.3f}) over none;",
        [paired_md("recency-ml-100k/paired-no-table-vs-recency.md")],
        "FMT",
    ),
    (
        "{:.1f} s, {:.1f} MB.",
        [
            lambda: [round(sum(_load(REC_MM)["stage_seconds"].values()), 1)],
            lambda: [max(_load(REC_MM)["peak_rss_mb"].values())],
        ],
        "FMT",
    ),
]

REC_S = "recency-amazon-sports/results.json"
REC_SM = "recency-amazon-sports/manifest.json"


def ratio(rel: str, num: str, den: str) -> Callable[[], list[float]]:
    return lambda: [mean(rel, *F, num)()[0] / mean(rel, *F, den)()[0]]


def log_line(rel: str, prefix: str) -> Callable[[], list[float]]:
    """The numbers after ``prefix`` on its one line of a committed log (``m:ss`` as its two numbers)."""

    def get() -> list[float]:
        rows = [r.strip() for r in (RESULTS / rel).read_text().splitlines() if r.strip().startswith(prefix)]
        assert len(rows) == 1, (rel, prefix)
        return [float(v) for v in rows[0][len(prefix) :].strip().split(":")]

    return get


FIGURES += [
    (
        "EASE's table at λ = 20, half-life {:g} and\nweight {} (validation {} against {} for the exported table) — "
        "score **{:.4f} [{:.4f}, {:.4f}]** on the\nsame 6,000 test users: {:+.4f} [{:+.4f}, {:+.4f}] over the "
        "exported bundle (p {:.3f}), **{:.2f} × ItemKNN** ({:.4f})\nand {:.2f} × EASE ({:.4f}); EASE with recency "
        "alone {:.4f}",
        [
            key(REC_SM, "training", "item_item", "chosen_half_life"),
            key(REC_SM, "training", "item_item", "chosen_weight"),
            chosen(REC_SM, "chosen"),
            key(EASE_SM, "training", "item_item", "valid_ndcg10", "ease-20", "5.0"),
            ndcg(REC_S, *F, "bundle:sports-recency"),
            paired_md("recency-amazon-sports/paired-default-vs-recency.md"),
            ratio(REC_S, "bundle:sports-recency", "itemknn"),
            mean(REC_S, *F, "itemknn"),
            ratio(REC_S, "bundle:sports-recency", "ease"),
            mean(REC_S, *F, "ease"),
            mean(REC_S, *F, "ease-recency"),
        ],
        "FMT",
    ),
    (
        "took {:.0f}:{:05.2f} (m:ss) with a maximum RSS\nof {:.0f} kB",
        [
            log_line("recency-amazon-sports/rechoose-log.txt", "Elapsed (wall clock) time (h:mm:ss or m:ss):"),
            log_line("recency-amazon-sports/rechoose-log.txt", "Maximum resident set size (kbytes):"),
        ],
        "FMT",
    ),
]

FIGURES += [
    (
        "| EASE with recency (λ and half-life chosen on validation; `benchmarks/results/recency-ml-latest-small/`) | "
        "{} [{}, {}] (HR@10 {}) | — |",
        [ndcg(REC_L, *LL, "ease-recency"), mean(REC_L, *LL, "ease-recency", "HR@10")],
        ".4f",
    ),
]

COLD_L = "recency-ml-latest-small/cold/results.json"
COLD_M = "recency-ml-100k/cold/results.json"


def cold_ratio(rel: str, scenario: str, protocol: str, model: str) -> Callable[[], list[float]]:
    return lambda: [mean(rel, scenario, protocol, model)()[0] / mean(rel, scenario, protocol, "popularity")()[0]]


def cold_paired(rel: str, scenario: str, protocol: str, model: str) -> Callable[[], list[float]]:
    def get() -> list[float]:
        t = _load(rel)["paired_tests"][scenario][protocol][f"{model} vs popularity"]
        return [t["mean_diff"], t["ci_low"], t["ci_high"], t["p_value"]]

    return get


FIGURES += [
    (
        "EASE with recency\n(the blend's weighting on the whole EASE matrix; {}) {:.4f} [{:.4f}, {:.4f}]\n({:+.4f} "
        "[{:+.4f}, {:+.4f}], p {:.3f})",
        [
            lambda: [
                _load(REC_L)["results"]["warm"]["llamarec"]["ease-recency"]["note"]
                .replace("lambda", "λ")
                .replace(", recency", ",")
                .replace(", chosen on validation", " on validation")
            ],
            ndcg(REC_L, *LL, "ease-recency"),
            paired_md("recency-ml-latest-small/paired-ease-recency-vs-recency.md"),
        ],
        "FMT",
    ),
    (
        "EASE with\nrecency alone {:.4f} [{:.4f}, {:.4f}] ({})",
        [
            ndcg(REC_M, *F, "ease-recency"),
            lambda: [
                _load(REC_M)["results"]["warm"]["full"]["ease-recency"]["note"]
                .replace("lambda", "λ")
                .replace(", recency", ",")
                .replace(", chosen on validation", "")
            ],
        ],
        "FMT",
    ),
    (
        "on ml-latest-small v1 (genres and decades) {:.4f} and v2 (three liked titles and genres)\n{:.4f} against "
        "Popularity's {:.4f} — {:.2f} × and {:.2f} × (v2 {:+.4f} [{:+.4f}, {:+.4f}], p {:.3f}); on ML-100K\n{:.4f} "
        "and {:.4f} against {:.4f} — {:.2f} × and {:.2f} ×.",
        [
            mean(COLD_L, "cold-user", "llamarec", "bundle:ml-latest-small-recency"),
            mean(COLD_L, "cold-user-v2", "llamarec", "bundle:ml-latest-small-recency"),
            mean(COLD_L, "cold-user", "llamarec", "popularity"),
            cold_ratio(COLD_L, "cold-user", "llamarec", "bundle:ml-latest-small-recency"),
            cold_ratio(COLD_L, "cold-user-v2", "llamarec", "bundle:ml-latest-small-recency"),
            cold_paired(COLD_L, "cold-user-v2", "llamarec", "bundle:ml-latest-small-recency"),
            mean(COLD_M, "cold-user", "full", "bundle:ml-100k-recency"),
            mean(COLD_M, "cold-user-v2", "full", "bundle:ml-100k-recency"),
            mean(COLD_M, "cold-user", "full", "popularity"),
            cold_ratio(COLD_M, "cold-user", "full", "bundle:ml-100k-recency"),
            cold_ratio(COLD_M, "cold-user-v2", "full", "bundle:ml-100k-recency"),
        ],
        "FMT",
    ),
]

PROBE = "teacher-probe-ml-100k/manifest.json"
PROBE50 = "teacher-probe-ml-100k/manifest-probe50.json"  # the probe after 50 steps, before 25 became the default
PROBE_OLD = "teacher-probe-ml-100k/manifest-probe25-whole-prompts.json"  # before the shared-history fine-tune
RSS = "ease-amazon-sports/rss/manifest.json"
FIGURES += [
    (
        "teacher {} vs retriever {} NDCG@10 on",
        [key(PROBE, "teacher", "probe", "teacher_ndcg10"), key(PROBE, "teacher", "probe", "retriever_ndcg10")],
        ".4f",
    ),
    ("a check that took {} s in torch", [key(PROBE, "teacher", "probe", "seconds")], ".1f"),
    (
        "the whole teacher\nstage took {} s (no weights, GGUF or labels; peak RSS {} MB)",
        [key(PROBE, "stage_seconds", "teacher"), key(PROBE, "peak_rss_mb", "teacher")],
        ".1f",
    ),  # fmt: skip
    ("on {} held-out candidate sets\n(decided early of 100)", [key(PROBE, "teacher", "probe", "users")], "d"),
    ("random order of the candidates ({})", [key(PROBE, "teacher", "probe", "random_ndcg10")], ".4f"),
    ("it took {} s (`manifest-probe25-whole-prompts.json`)", [key(PROBE_OLD, "stage_seconds", "teacher")], ".1f"),
    ("and {} s\nwith 50 steps", [key(PROBE50, "stage_seconds", "teacher")], ".1f"),
    (
        "(teacher {} vs {} on 100 sets)",
        [key(PROBE50, "teacher", "probe", "teacher_ndcg10"), key(PROBE50, "teacher", "probe", "retriever_ndcg10")],
        ".4f",
    ),
    (
        "{} vs {} after its 100 users",
        [key(RSS, "teacher", "probe", "teacher_ndcg10"), key(RSS, "teacher", "probe", "retriever_ndcg10")],
        ".4f",
    ),
    ("the teacher stage took {} s (`benchmarks/run_export_rss.sh`", [key(RSS, "stage_seconds", "teacher")], ".1f"),
    (
        "1.3 GB at 18,227 items, where the whole item-item stage,\nthree inverses and the choice included, took {} s",
        [key(RSS, "stage_seconds", "item_item")],
        ".1f",
    ),
    (
        "peaks at {} MB in the teacher stage and {} MB in the item-item\nstage",
        [key(RSS, "peak_rss_mb", "teacher"), key(RSS, "peak_rss_mb", "item_item")],
        ".1f",
    ),
]

DSAS = "distill-sasrec-ml-100k/manifest.json"
FIGURES += [
    ("trained on the export's split in {} s,", [key(DSAS, "teacher", "trained", "train_seconds")], ".1f"),
    (
        "passes the held-out check ({} vs retriever {} NDCG@10 on",
        [
            key(DSAS, "teacher", "validation_quality", "teacher_ndcg10"),
            key(DSAS, "teacher", "validation_quality", "retriever_ndcg10"),
        ],  # fmt: skip
        ".4f",
    ),
    ("NDCG@10 on {} users)", [key(DSAS, "teacher", "validation_quality", "users")], "d"),
    (
        "its own validation NDCG@10 is {}, below the student's {};",
        [key(DSAS, "teacher", "valid_ndcg10"), key(DSAS, "training", "distillation", "valid_ndcg10", "0.0")],
        ".4f",
    ),
    ("lowered the student's validation to {},", [key(DSAS, "training", "distillation", "valid_ndcg10", "1.0")], ".5f"),
    (
        "without a teacher ({} on test;",
        [mean("distill-sasrec-ml-100k/results.json", "warm", "full", "bundle:ml100k-sasrec-distilled")],
        ".4f",
    ),  # fmt: skip
]

DENS = "distill-ensemble-ml-100k/manifest.json"
DENS_PU = "distill-ensemble-ml-100k/per_user.json"
DENS_NEW = (DENS_PU, "bundle:ml-100k-ens-distilled")
FIGURES += [
    (
        "validation NDCG@10 {} against\nits first member's {}",
        [key(DENS, "teacher", "valid_ndcg10"), key(DENS, "teacher", "validation_quality", "student_ndcg10")],
        ".4f",
    ),
    ("The distilled student reaches {} on", [key(DENS, "training", "distillation", "valid_ndcg10", "1.0")], ".4f"),
    (
        "on test it scores {} against the same student without distillation\nat {}",
        [
            mean("distill-ensemble-ml-100k/results.json", "warm", "full", "bundle:ml-100k-ens-distilled"),
            mean("distill-ensemble-ml-100k/results.json", "warm", "full", "bundle:ml-100k-single"),
        ],
        ".4f",
    ),
    (
        "({} [{}, {}],",
        [
            paired(
                (DENS_PU, "bundle:ml-100k-single"),
                (DENS_PU, "bundle:ml-100k-ens-distilled"),
                "mean_diff",
                "ci_low",
                "ci_high",
            )
        ],
        "+.4f",
    ),
    (
        "p {}) and against the default",
        [paired((DENS_PU, "bundle:ml-100k-single"), (DENS_PU, "bundle:ml-100k-ens-distilled"), "p_value")],
        ".3f",
    ),
    ("three-student export at {} (", [mean("beyond-ml-100k/results.json", "warm", "full", "bundle:ml100k-ens")], ".4f"),
    (
        "({},\np",
        [paired(("beyond-ml-100k/per_user.json", "bundle:ml100k-ens"), DENS_NEW, "mean_diff")],
        "+.4f",
    ),
    (
        "p {}): the direction",
        [
            paired(
                ("beyond-ml-100k/per_user.json", "bundle:ml100k-ens"),
                (DENS_PU, "bundle:ml-100k-ens-distilled"),
                "p_value",
            )
        ],
        ".3f",
    ),
    (
        "the three members took {} s and the distilled student {} s",
        [key(DENS, "stage_seconds", "teacher"), key(DENS, "stage_seconds", "student_training")],
        ".1f",
    ),
]

CEIL = "cold-v2-ceiling/ml-100k.json"
FIGURES += [
    (
        "ItemKNN reaches {} ({} × Popularity's {})",
        [
            key(CEIL, "itemknn_3_titles", "test_at_chosen"),
            key(CEIL, "itemknn_3_titles", "ratio_to_popularity"),
            key(CEIL, "popularity_test"),
        ],
        ".4g",
    ),
    (
        "the single student {} ({} ×;",
        [key(CEIL, "student_3_titles", "test_at_chosen"), key(CEIL, "student_3_titles", "oracle_ratio")],
        ".4g",
    ),
]

DMLS = "distill-ensemble-ml-latest-small/manifest.json"
DMLS_NEW = ("distill-ensemble-ml-latest-small/per_user.json", "bundle:ml-latest-small-ens-distilled")
MLS_ENS = ("beyond-ml-latest-small/per_user.json", "bundle:mls-ens")
FIGURES += [
    (
        "teacher — validation NDCG@10 {} against its first member's {}",
        [key(DMLS, "teacher", "valid_ndcg10"), key(DMLS, "teacher", "validation_quality", "student_ndcg10")],
        ".4f",
    ),
    (
        "distilled into one student gives validation {},",
        [key(DMLS, "training", "distillation", "valid_ndcg10", "1.0")],
        ".4f",
    ),
    (
        "the distilled student scores {} [{}, {}]",
        [
            ndcg(
                "distill-ensemble-ml-latest-small/results.json",
                "warm",
                "llamarec",
                "bundle:ml-latest-small-ens-distilled",
            )
        ],
        ".4f",
    ),
    (
        "three-student export's {} (",
        [mean("beyond-ml-latest-small/results.json", "warm", "llamarec", "bundle:mls-ens")],
        ".4f",
    ),
    ("({} [{}, {}], p", [paired(MLS_ENS, DMLS_NEW, "mean_diff", "ci_low", "ci_high")], "+.4f"),
    ("p {}) and LlamaRec's", [paired(MLS_ENS, DMLS_NEW, "p_value")], ".3f"),
]

CEIL_MLS = "cold-v2-ceiling/ml-latest-small.json"
FIGURES += [
    ("where Popularity gets {};", [key(CEIL_MLS, "popularity_test")], ".4f"),
    (
        "ItemKNN {} ×, the student {} ×",
        [
            key(CEIL_MLS, "itemknn_3_titles", "ratio_to_popularity"),
            key(CEIL_MLS, "student_3_titles", "ratio_to_popularity"),
        ],
        ".3f",
    ),
    ("and {} × at\nbest for any weight", [key(CEIL_MLS, "itemknn_3_titles", "oracle_ratio")], ".3f"),
]


SUC_L, SUC_LM = "successors-ml-latest-small/results.json", "successors-ml-latest-small/manifest.json"
SUC_M, SUC_MM = "successors-ml-100k/results.json", "successors-ml-100k/manifest.json"
SUC_S, SUC_SM = "successors-amazon-sports/results.json", "successors-amazon-sports/manifest.json"
SUC_LB, SUC_MB, SUC_SB = "bundle:ml-latest-small-successors", "bundle:ml-100k-successors", "bundle:sports-successors"


def successor_valid(rel: str) -> Callable[[], list[float]]:
    """Validation NDCG@10 of the chosen table alone and of the best table with successors, the paired gain of
    the best over the alone and its standard error, from an export's item-item report."""

    def get() -> list[float]:
        r = _load(rel)["training"]["item_item"]
        alone = r["valid_ndcg10"][r["table_alone"]["chosen"]][str(r["table_alone"]["weight"])]
        best = max(v for k, f in r["valid_ndcg10"].items() if " + successors" in k for v in f.values())
        return [alone, best, r["successor_gain"]["mean"], r["successor_gain"]["se"]]

    return get


FIGURES += [
    (
        "| what follows each item alone (`--models successors`, half-life chosen on validation; "
        "`benchmarks/results/successors-ml-latest-small/`) | {} [{}, {}] (HR@10 {}) | — |",
        [ndcg(SUC_L, *LL, "successors"), mean(SUC_L, *LL, "successors", "HR@10")],
        ".4f",
    ),
    (
        "EASE's table with recency plus what follows each item (`benchmarks/results/successors-ml-latest-small/`) | "
        "**{} [{}, {}]** (HR@10 {}) | — |",
        [ndcg(SUC_L, *LL, SUC_LB), mean(SUC_L, *LL, SUC_LB, "HR@10")],
        ".4f",
    ),
    (
        "| validation: chosen table alone → with successors (gain, its standard error) | {:.5f} → {:.5f} ({:+.5f}, "
        "{:.5f}) | {:.5f} → {:.5f} ({:+.5f}, {:.5f}: not added) | {:.5f} → {:.5f} ({:+.5f}, {:.5f}) |",
        [successor_valid(SUC_LM), successor_valid(SUC_MM), successor_valid(SUC_SM)],
        "FMT",
    ),
    (
        "| **this release** | **{:.4f} [{:.4f}, {:.4f}]** | **{:.4f} [{:.4f}, {:.4f}]** | "
        "**{:.4f} [{:.4f}, {:.4f}]** |",
        [ndcg(SUC_L, *LL, SUC_LB), ndcg(SUC_M, *F, SUC_MB), ndcg(SUC_S, *F, SUC_SB)],
        "FMT",
    ),
    (
        "| the same without successors (ablation) | {:.4f} ({:+.4f} [{:+.4f}, {:+.4f}], p {:.3f}) | {:.4f} (the same "
        "bundle) | {:.4f} ({:+.4f} [{:+.4f}, {:+.4f}], p {:.3f}) |",
        [
            mean(SUC_L, *LL, f"{SUC_LB}-no-successors"),
            paired_md("successors-ml-latest-small/paired-no-successors-vs-successors.md"),
            mean(SUC_M, *F, f"{SUC_MB}-no-successors"),
            mean(SUC_S, *F, f"{SUC_SB}-no-successors"),
            paired_md("successors-amazon-sports/paired-no-successors-vs-successors.md"),
        ],
        "FMT",
    ),
    (
        "| successors alone (`successors`) | {:.4f} ({:+.4f}, p {:.3f}) | {:.4f} ({:+.4f}, p {:.3f}) | {:.4f} "
        "({:+.4f}, p {:.3f}) |",
        [
            mean(SUC_L, *LL, "successors"),
            paired_row("successors-ml-latest-small/paired-successors-vs-successors.md", "warm", 0, 3),
            mean(SUC_M, *F, "successors"),
            paired_row("successors-ml-100k/paired-successors-vs-successors.md", "warm", 0, 3),
            mean(SUC_S, *F, "successors"),
            paired_row("successors-amazon-sports/paired-successors-vs-successors.md", "warm", 0, 3),
        ],
        "FMT",
    ),
    (
        "| EASE with recency | {:.4f} | {:.4f} | {:.4f} |\n| ItemKNN | {:.4f} | {:.4f} | {:.4f} ({:.2f} × for this "
        "release) |",
        [
            mean(SUC_L, *LL, "ease-recency"),
            mean(SUC_M, *F, "ease-recency"),
            mean(SUC_S, *F, "ease-recency"),
            mean(SUC_L, *LL, "itemknn"),
            mean(SUC_M, *F, "itemknn"),
            mean(SUC_S, *F, "itemknn"),
            ratio(SUC_S, SUC_SB, "itemknn"),
        ],
        "FMT",
    ),
    (
        "and LRURec's {:.4f} in our committed run ({:+.4f} [{:+.4f}, {:+.4f}], p {:.3f})",
        [
            mean("eval-llamarec-ml-latest-small/results.json", *LL, "lrurec"),
            paired_md("successors-ml-latest-small/paired-lrurec-vs-successors.md"),
        ],
        "FMT",
    ),
    (
        "already scores what the previous release did ({} vs {})",
        [mean(SUC_L, *LL, "successors"), mean(REC_L, *LL, "bundle:ml-latest-small-recency")],
        ".4f",
    ),
    (
        "successor table alone is also strong ({:.4f}) but the students already carry its signal: the best factor "
        "gained {:+.5f} on validation",
        [mean(SUC_M, *F, "successors"), lambda: successor_valid(SUC_MM)()[2:3]],
        "FMT",
    ),
    (
        "On Amazon Sports it adds {:+.4f} (p < 0.001), **{:.2f} × ItemKNN**. The re-choice on Sports took "
        "{:.0f}:{:05.2f} (m:ss) with a maximum RSS of {:.0f} kB",
        [
            paired_row("successors-amazon-sports/paired-no-successors-vs-successors.md", "warm", 0),
            ratio(SUC_S, SUC_SB, "itemknn"),
            log_line("successors-amazon-sports/rechoose-log.txt", "Elapsed (wall clock) time (h:mm:ss or m:ss):"),
            log_line("successors-amazon-sports/rechoose-log.txt", "Maximum resident set size (kbytes):"),
        ],
        "FMT",
    ),
    (
        "neighbours per item: {:.1f} MB on\nml-latest-small)",
        [lambda: [_load(SUC_LM)["files"]["item_item.npz"]["size"] / 1e6]],
        "FMT",
    ),
    (
        "on\nml-latest-small v1 {:.4f} and v2 {:.4f} against Popularity's {:.4f} ({:.2f} × and {:.2f} ×); on ML-100K\n"
        "{:.4f} and {:.4f} against {:.4f} ({:.2f} × and {:.2f} ×; v1 {:+.4f} [{:+.4f}, {:+.4f}], p {:.3f} over the\n"
        "recency bundle)",
        [
            mean("successors-ml-latest-small/cold/results.json", "cold-user", "llamarec", SUC_LB),
            mean("successors-ml-latest-small/cold/results.json", "cold-user-v2", "llamarec", SUC_LB),
            mean("successors-ml-latest-small/cold/results.json", "cold-user", "llamarec", "popularity"),
            cold_ratio("successors-ml-latest-small/cold/results.json", "cold-user", "llamarec", SUC_LB),
            cold_ratio("successors-ml-latest-small/cold/results.json", "cold-user-v2", "llamarec", SUC_LB),
            mean("successors-ml-100k/cold/results.json", "cold-user", "full", SUC_MB),
            mean("successors-ml-100k/cold/results.json", "cold-user-v2", "full", SUC_MB),
            mean("successors-ml-100k/cold/results.json", "cold-user", "full", "popularity"),
            cold_ratio("successors-ml-100k/cold/results.json", "cold-user", "full", SUC_MB),
            cold_ratio("successors-ml-100k/cold/results.json", "cold-user-v2", "full", SUC_MB),
            paired_row("successors-ml-100k/cold/paired-before-vs-successors.md", "cold-user"),
        ],
        "FMT",
    ),
]


TSTAGE = "teacher-probe-ml-latest-small/teacher-stage.json"
TSTAGE_BLOCKED = "teacher-probe-ml-latest-small/blocked-pairs/teacher-stage.json"
FIGURES += [
    (
        "On\nml-latest-small the probe finds only {:.0f} held-out candidate sets on 610 users — every one there is, "
        "so the full check\ncould only score the same users again — and a teacher behind there at all now stops "
        "({:.4f} vs {:.4f}): the teacher\nstage alone takes {:.1f} s",
        [
            key(TSTAGE, "probe", "users"),
            key(TSTAGE, "probe", "teacher_ndcg10"),
            key(TSTAGE, "probe", "retriever_ndcg10"),
            key(TSTAGE, "seconds"),
        ],
        "FMT",
    ),
    (
        "instead of the 856.5 s above ({:.1f} s\nin the fresh export of the successor section, its cores shared with "
        "other jobs). That run peaked at {:.1f} MB",
        [key("successors-ml-latest-small/export-manifest.json", "stage_seconds", "teacher"), key(TSTAGE, "max_rss_mb")],
        "FMT",
    ),
    (
        "the same stage now peaks at\n**{:.1f} MB** and takes {:.1f} s on 2 cores",
        [key(TSTAGE_BLOCKED, "max_rss_mb"), key(TSTAGE_BLOCKED, "seconds")],
        "FMT",
    ),
    (
        "the\nsame command, the same verdict {:.4f} vs {:.4f})",
        [key(TSTAGE_BLOCKED, "probe", "teacher_ndcg10"), key(TSTAGE_BLOCKED, "probe", "retriever_ndcg10")],
        "FMT",
    ),
]


FRESH, FRESH_M = (
    "successors-ml-latest-small/fresh-export/results.json",
    "successors-ml-latest-small/fresh-export/manifest.json",
)
FIGURES += [
    (
        "the same table and scores the same {:.4f}, user for user; it took {:.1f} s on 2 cores (teacher {:.1f} s, "
        "students {:.1f} s), peaked at {:.1f} MB (in the teacher stage's held-out check, since fixed: below) and the "
        "bundle is {:.1f} MB.",
        [
            mean(FRESH, *LL, "bundle:mls-final"),
            lambda: [round(sum(_load(FRESH_M)["stage_seconds"].values()), 1)],
            key(FRESH_M, "stage_seconds", "teacher"),
            key(FRESH_M, "stage_seconds", "student_training"),
            lambda: [max(_load(FRESH_M)["peak_rss_mb"].values())],
            lambda: [sum(f["size"] for f in _load(FRESH_M)["files"].values()) / 1e6],
        ],
        "FMT",
    ),
]


DBL = "distill-blend-ml-latest-small/"
DBL_M, DBL_S, DBL_R = DBL + "manifest.json", DBL + "single-manifest.json", DBL + "results.json"


def _blend_valid(rel: str) -> Callable[[], list[float]]:
    """The validation NDCG@10 of the blend a bundle ships (its chosen table at its chosen weight)."""

    def get() -> list[float]:
        ii = _load(rel)["training"]["item_item"]
        return [ii["valid_ndcg10"][ii["chosen"]][str(ii["chosen_weight"])]]

    return get


FIGURES += [
    (
        "weight 10: validation NDCG@10 {:.4f} against its\nfirst member's {:.4f})",
        [
            key(DBL_M, "teacher", "validation_quality", "teacher_ndcg10"),
            key(DBL_M, "teacher", "validation_quality", "student_ndcg10"),
        ],
        "FMT",
    ),
    (
        "That student reaches {:.4f} on\nvalidation",
        [key(DBL_M, "training", "distillation", "valid_ndcg10", "1.0")],
        "FMT",
    ),
    (
        "on test it scores {:.4f} [{:.4f}, {:.4f}] alone against the same student without\ndistillation at {:.4f} "
        "[{:.4f}, {:.4f}]: {:+.4f} [{:+.4f}, {:+.4f}], p {:.3f}",
        [
            ndcg(DBL_R, "warm", "llamarec", "bundle:ml-latest-small-blend-distilled-no-table"),
            ndcg(DBL_R, "warm", "llamarec", "bundle:ml-latest-small-single-no-table"),
            paired_md(DBL + "paired-students-alone.md"),
        ],
        "FMT",
    ),
    (
        "(validation\n{:.4f} against {:.4f} for the undistilled student's) it scores {:.4f} on test against {:.4f} "
        "({:+.4f} [{:+.4f},\n{:+.4f}], p {:.3f}) and against the default export's {:.4f} ({:+.4f} [{:+.4f}, {:+.4f}], "
        "p {:.3f})",
        [
            _blend_valid(DBL_M),
            _blend_valid(DBL_S),
            lambda: ndcg(DBL_R, "warm", "llamarec", "bundle:ml-latest-small-blend-distilled")()[:1],
            lambda: ndcg(DBL_R, "warm", "llamarec", "bundle:ml-latest-small-single")()[:1],
            paired_md(DBL + "paired-shipped.md"),
            lambda: ndcg(DBL_R, "warm", "llamarec", "bundle:mls-final")()[:1],
            paired_md(DBL + "paired-vs-default.md"),
        ],
        "FMT",
    ),
    (
        "student took {:.1f} s on 2 cores",
        [key(DBL_M, "stage_seconds", "student_training")],
        "FMT",
    ),
    ("the export's peak was\n{:.1f} MB.", [lambda: [max(_load(DBL_M)["peak_rss_mb"].values())]], "FMT"),
]

DBK = "distill-blend-ml-100k/"
DBK_M = DBK + "manifest.json"


def paired_means(rel: str) -> Callable[[], list[float]]:
    """new mean, old mean, difference, CI low, CI high and p of the warm row of a committed paired table."""

    def get() -> list[float]:
        rows = [r for r in (RESULTS / rel).read_text().splitlines() if r.startswith("| warm |")]
        assert len(rows) == 1, rel
        cells = [c.strip() for c in rows[0].strip("|").split("|")]
        return [float(cells[4]), float(cells[3]), *paired_md(rel)()]

    return get


FIGURES += [
    (
        "2: validation NDCG@10 {:.4f} against its first member's {:.4f} — gives a student of {:.4f} on validation",
        [
            key(DBK_M, "teacher", "validation_quality", "teacher_ndcg10"),
            key(DBK_M, "teacher", "validation_quality", "student_ndcg10"),
            key(DBK_M, "training", "distillation", "valid_ndcg10", "1.0"),
        ],
        "FMT",
    ),
    (
        "test it scores {:.4f} alone against {:.4f} without distillation ({:+.4f} [{:+.4f}, {:+.4f}], p {:.3f})",
        [paired_means(DBK + "paired-students-alone.md")],
        "FMT",
    ),
    (
        "with their own tables {:.4f} against {:.4f} ({:+.4f} [{:+.4f}, {:+.4f}], p\n{:.3f})",
        [paired_means(DBK + "paired-shipped.md")],
        "FMT",
    ),
    ("level with the default export's {:.4f}", [lambda: paired_means(DBK + "paired-vs-default.md")()[1:2]], "FMT"),
    ("The distilled student took {:.1f} s on 2 cores.", [key(DBK_M, "stage_seconds", "student_training")], "FMT"),
]

DRS = "distill-residual-ml-latest-small/"
DRS_M = DRS + "manifest.json"
FIGURES += [
    (
        "its best validation NDCG@10 was {:.4f} (it stopped at epoch 55, after ten validations without a gain), below\n"
        "the undistilled student's {:.4f} with the same table",
        [
            key(DRS_M, "training", "distillation", "valid_ndcg10", "1.0"),
            key(DRS_M, "training", "distillation", "valid_ndcg10", "0.0"),
        ],
        "FMT",
    ),
    (
        "ensemble with its blend ({:.4f}), which is the default export: {:.4f} on test, user for user.",
        [key(DRS_M, "training", "ensemble", "valid_ndcg10"), lambda: paired_means(DRS + "paired-vs-default.md")()[:1]],
        "FMT",
    ),
    ("the export took {:.1f} s in the student stage", [key(DRS_M, "stage_seconds", "student_training")], "FMT"),
]


BUD = "budget-amazon-sports/"
BUD_M, BUD_R = BUD + "manifest.json", BUD + "results.json"


FRX = "fresh-export-ml-latest-small/"


FIGURES += [
    (
        "trained its first student in {:.1f} s and\nprojected a second past 85 % of the budget, so it kept {:.0f} "
        "of the {:.0f} students",
        [
            lambda: [_load(BUD_M)["training"]["ensemble"]["time_budget"]["member_seconds"][0]],
            lambda: [_load(BUD_M)["training"]["ensemble"]["time_budget"]["members_trained"]],
            lambda: [_load(BUD_M)["training"]["ensemble"]["time_budget"]["members_asked"]],
        ],
        "FMT",
    ),
    (
        "the whole export took {:.0f}:{:05.2f} (m:ss) with a maximum RSS of {:.0f} kB (teacher stage\n{:.1f} s, "
        "stopped by its probe; item-item tables {:.1f} s, peaking at {:.0f} MB",
        [
            log_line(BUD + "export-log.txt", "Elapsed (wall clock) time (h:mm:ss or m:ss):"),
            log_line(BUD + "export-log.txt", "Maximum resident set size (kbytes):"),
            key(BUD_M, "stage_seconds", "teacher"),
            key(BUD_M, "stage_seconds", "item_item"),
            key(BUD_M, "peak_rss_mb", "item_item"),
        ],
        "FMT",
    ),
    (
        "it scores **{:.4f} [{:.4f}, {:.4f}]** against {:.4f} [{:.4f}, {:.4f}] for this\nrelease's three-student "
        "bundle from the 42-minute export ({:+.4f} [{:+.4f}, {:+.4f}], p {:.3f})",
        [
            ndcg(BUD_R, "warm", "full", "bundle:sports-budget"),
            ndcg(BUD_R, "warm", "full", "bundle:sports-successors"),
            paired_md(BUD + "paired-budget-vs-three-students.md"),
        ],
        "FMT",
    ),
    ("ItemKNN {:.4f} in the same run.", [mean(BUD_R, "warm", "full", "itemknn")], "FMT"),
    (
        "is {:.1f} MB (the text encoder {:.1f} MB, the item-item table {:.1f} MB)",
        [
            lambda: [sum(f["size"] for f in _load(BUD_M)["files"].values()) / 1e6],
            lambda: [_load(BUD_M)["files"]["model.onnx"]["size"] / 1e6],
            lambda: [_load(BUD_M)["files"]["item_item.npz"]["size"] / 1e6],
        ],
        "FMT",
    ),
    (
        "the export took {:.0f}:{:05.2f} (m:ss), the students {:.1f} s (the first {:.1f} s;",
        [
            log_line(FRX + "export-log.txt", "Elapsed (wall clock) time (h:mm:ss or m:ss):"),
            key(FRX + "manifest.json", "stage_seconds", "student_training"),
            key(FRX + "manifest.json", "training", "train_seconds"),
        ],
        "FMT",
    ),
    (
        "peaked at {:.0f} MB in the teacher stage (the whole run's maximum RSS {:.0f} kB, against {:.1f} MB\nbefore",
        [
            key(FRX + "manifest.json", "peak_rss_mb", "teacher"),
            log_line(FRX + "export-log.txt", "Maximum resident set size (kbytes):"),
            lambda: [max(_load(FRESH_M)["peak_rss_mb"].values())],
        ],
        "FMT",
    ),
    (
        "and scores {:.4f} on test, user for user the bundle above.",
        [lambda: paired_means(FRX + "paired-fresh-vs-previous.md")()[:1]],
        "FMT",
    ),
]


PRM_K, PRM_S = "profile-model-ml-100k/", "profile-model-ml-latest-small/"


def cold_valid(rel: str, kind: str, chosen: bool) -> Callable[[], list[float]]:
    """The profile model's validation NDCG@10 of profiles naming titles or in words (``kind``): at the chosen
    weights, or the best without the model."""
    field = "valid_ndcg10_chosen" if chosen else "best_valid_ndcg10_without"
    return key(rel + "manifest.json", "training", "cold_start", "profile_model", field, kind)


def cold_ratio(rel: str, scenario: str, model: str) -> Callable[[], list[float]]:
    """A cold scenario's NDCG@10 of ``model`` and its ratio to Popularity's in the same run."""

    def get() -> list[float]:
        res = _load(rel + "results.json")["results"][scenario]
        runs = res[next(iter(res))]
        got, pop = runs[model]["NDCG@10"]["mean"], runs["popularity"]["NDCG@10"]["mean"]
        return [got, got / pop]

    return get


def titled_at(rel: str, weight: str) -> Callable[[], list[float]]:
    """The best validation NDCG@10 of profiles naming titles at one title weight of the profile model."""
    grid = key(rel + "manifest.json", "training", "cold_start", "titles", "valid_ndcg10")
    return lambda: [max(v for k, v in grid()[0].items() if k.split("/")[2] == weight)]


PRM_KM, PRM_SM = "bundle:ml-100k-profile-model", "bundle:ml-latest-small-profile-model"
FIGURES += [
    (
        "the 30-minute budget kept {:.0f} of 3 students on ML-100K and {:.0f} on ml-latest-small",
        [
            key(PRM_K + "export-manifest.json", "training", "ensemble", "time_budget", "members_trained"),
            key(PRM_S + "export-manifest.json", "training", "ensemble", "time_budget", "members_trained"),
        ],
        "FMT",
    ),
    (
        "| validation NDCG@10, profiles naming titles: best without the model → chosen | {:.5f} → {:.5f} | {:.5f} → "
        "{:.5f} |",
        [cold_valid(r, "titles", c) for r in (PRM_K, PRM_S) for c in (False, True)],
        "FMT",
    ),
    (
        "| validation NDCG@10, profiles in words: best without the model → chosen | {:.5f} → {:.5f} | {:.5f} → "
        "{:.5f} |",
        [cold_valid(r, "words", c) for r in (PRM_K, PRM_S) for c in (False, True)],
        "FMT",
    ),
    (
        "| weights chosen (titles; genres with titles; genres alone) | {:g}; {:g}; {:g} | {:g}; {:g}; {:g} |",
        [
            key(r + "manifest.json", "training", "cold_start", "profile_model", "weights", w)
            for r in (PRM_K, PRM_S)
            for w in ("titles", "genres_with_titles", "genres")
        ],
        "FMT",
    ),
    (
        "| v2 (three liked titles, two genres), with the model | {:.4f} ({:.2f} × Popularity) | {:.4f} ({:.2f} ×) |",
        [cold_ratio(PRM_K, "cold-user-v2", PRM_KM), cold_ratio(PRM_S, "cold-user-v2", PRM_SM)],
        "FMT",
    ),
    (
        "| the same without the model (ablation): with − without | {:+.4f} [{:+.4f}, {:+.4f}], p {:.3f} | {:+.4f} "
        "[{:+.4f}, {:+.4f}], p {:.3f} |",
        [paired_row(r + "paired-without-vs-with.md", "cold-user-v2") for r in (PRM_K, PRM_S)],
        "FMT",
    ),
    (
        "| v1 (genres and decade), with the model | {:.4f} ({:.2f} ×) | {:.4f} ({:.2f} ×) |",
        [cold_ratio(PRM_K, "cold-user", PRM_KM), cold_ratio(PRM_S, "cold-user", PRM_SM)],
        "FMT",
    ),
    (
        "| the same without the model: with − without | {:+.4f} [{:+.4f}, {:+.4f}], p {:.3f} | {:+.4f} [{:+.4f}, "
        "{:+.4f}], p {:.3f} |",
        [paired_row(r + "paired-without-vs-with.md", "cold-user") for r in (PRM_K, PRM_S)],
        "FMT",
    ),
    (
        "| Popularity | {:.4f} | {:.4f} |",
        [
            mean(PRM_K + "results.json", "cold-user", "full", "popularity"),
            mean(PRM_S + "results.json", "cold-user", "llamarec", "popularity"),
        ],
        "FMT",
    ),
    (
        "the best titled-profile score with a title weight of 0.25 was {:.5f} on ML-100K and {:.5f} on ml-latest-small "
        "against {:.5f} and {:.5f} at 0, so only genre rows ship ({:.0f} KB and {:.0f} KB).",
        [
            titled_at(PRM_K, "0.25"),
            titled_at(PRM_S, "0.25"),
            titled_at(PRM_K, "0.0"),
            titled_at(PRM_S, "0.0"),
            lambda: [_load(PRM_K + "manifest.json")["files"]["profile_model.npz"]["size"] / 1e3],
            lambda: [_load(PRM_S + "manifest.json")["files"]["profile_model.npz"]["size"] / 1e3],
        ],
        "FMT",
    ),
    (
        "v2 reaches {:.2f} × and {:.2f} × Popularity, v1 {:.2f} × and {:.2f} ×.",
        [
            lambda: [
                cold_ratio(PRM_K, "cold-user-v2", PRM_KM)()[1],
                cold_ratio(PRM_S, "cold-user-v2", PRM_SM)()[1],
                cold_ratio(PRM_K, "cold-user", PRM_KM)()[1],
                cold_ratio(PRM_S, "cold-user", PRM_SM)()[1],
            ]
        ],
        "FMT",
    ),
]


CSH_K, CSH_S = "cold-shift/ml-100k.json", "cold-shift/ml-latest-small.json"
FIGURES += [
    (
        "ML-100K {:.0f} of {:.0f} users' test item shares the validation item's timestamp, the other {:.0f} come back",
        [key(CSH_K, "tied"), key(CSH_K, "users"), lambda: [key(CSH_K, "users")()[0] - key(CSH_K, "tied")()[0]]],
        "FMT",
    ),
    (
        "gains on those {:.0f} users' validation item ({:.4f} → {:.4f} NDCG@10) and not on their test item ({:.4f} → "
        "{:.4f}); over all users validation {:.4f} → {:.4f}, test {:.4f} → {:.4f}.",
        [lambda: [key(CSH_K, "users")()[0] - key(CSH_K, "tied")()[0]]]
        + [
            key(CSH_K, f"{g} | {m} | {st}")
            for g in ("later", "all")
            for st in ("valid", "test")
            for m in ("popularity", "popularity + genre rows x0.03")
        ],
        "FMT",
    ),
    (
        "(LlamaRec's protocol, {:.0f} of {:.0f} tied) validation and test part less: {:.4f} → {:.4f} and {:.4f} → "
        "{:.4f}.",
        [key(CSH_S, "tied"), key(CSH_S, "users")]
        + [
            key(CSH_S, f"all | {m} | {st}")
            for st in ("valid", "test")
            for m in ("popularity", "popularity + genre rows x0.03")
        ],
        "FMT",
    ),
]


BSZ, TGM = "bundle-size-amazon-sports/", "teacher-gemma-ml-100k/teacher-stage.json"


def bundle_mb(rel: str, *names: str) -> Callable[[], list[float]]:
    """A bundle's size in MB (10^6 bytes) from a manifest: the named files, or all of them."""

    def get() -> list[float]:
        files = _load(rel)["files"]
        return [sum(f["size"] for n, f in files.items() if not names or n in names) / 1e6]

    return get


FIGURES += [
    (
        "were already built before the students ({:.1f} s, so the budget counted them) and the cold-start grid already "
        "ranked\nwithout scoring every grid point ({:.1f} s)",
        [key(BSZ + "manifest.json", "stage_seconds", s) for s in ("item_item_tables", "cold_start")],
        "FMT",
    ),
    (
        "{:.1f} MB\ninstead of {:.1f} MB, so the Sports bundle is {:.1f} MB with the profile model's {:.1f} MB of "
        "genre rows",
        [
            bundle_mb(BSZ + "manifest.json", "item_item.npz"),
            bundle_mb("budget-amazon-sports/manifest.json", "item_item.npz"),
            bundle_mb(BSZ + "manifest.json"),
            bundle_mb(BSZ + "manifest.json", "profile_model.npz"),
        ],
        "FMT",
    ),
    (
        "({:.1f} MB before,\nwithout them;",
        [bundle_mb("budget-amazon-sports/manifest.json")],
        "FMT",
    ),
    (
        "On the same 6,000 test users it scores {:.4f} [{:.4f}, {:.4f}] (ItemKNN\n{:.4f}).",
        [
            ndcg(BSZ + "results.json", "warm", "full", "bundle:sports-budget"),
            mean(BSZ + "results.json", "warm", "full", "itemknn"),
        ],
        "FMT",
    ),
    (
        "That export took {:.0f}:{:05.2f} (m:ss) with a maximum RSS of {:.0f} kB",
        [
            log_line(BSZ + "export-log.txt", "Elapsed (wall clock) time (h:mm:ss or m:ss):"),
            log_line(BSZ + "export-log.txt", "Maximum resident set size (kbytes):"),
        ],
        "FMT",
    ),
    (
        "(its text embeddings took {:.1f} s against {:.1f} s above)",
        [
            key(BSZ + "manifest.json", "stage_seconds", "text_embeddings"),
            key("budget-amazon-sports/manifest.json", "stage_seconds", "text_embeddings"),
        ],
        "FMT",
    ),
    (
        "after 25 LoRA steps: teacher {:.3f} vs retriever {:.4f} NDCG@10 on {:.0f} held-out candidate sets, "
        "random order {:.4f}",
        [key(TGM, "probe", k) for k in ("teacher_ndcg10", "retriever_ndcg10", "users", "random_ndcg10")],
        "FMT",
    ),
    (
        "The stage took {:.1f} s, {:.1f} s of it the probe, peaking at {:.1f} MB",
        [key(TGM, "seconds"), key(TGM, "probe", "seconds"), key(TGM, "max_rss_mb")],
        "FMT",
    ),
]


def test_the_gemma_package_holds_the_pretrained_model_not_the_instruction_tuned_one() -> None:
    facts = _load("teacher-gemma-ml-100k/gemma-facts.json")
    assert facts["upstream_base_model"] == "google/gemma-3-270m" and not facts["has_chat_template"]
    assert not facts["instruction_tuned"]


@pytest.mark.parametrize("template, getters, fmt", FIGURES, ids=[f[0][:40] for f in FIGURES])
def test_readme_quotes_the_results_files(template: str, getters: list[Callable[[], list[float]]], fmt: str) -> None:
    quote = _render(template, getters, fmt)
    assert quote in _readme(), f"README does not say: {quote}"


def test_a_changed_figure_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    template, getters, fmt = FIGURES[0]
    text = _readme()
    quote = _render(template, getters, fmt)
    first = format(getters[0]()[0], fmt)
    changed = text.replace(quote, quote.replace(first, format(float(first) + 0.0001, fmt), 1))
    assert quote in text and quote not in changed


FAULT_OPS = {
    "import": "`import_events`",
    "items": "`add_items`",
    "catalog": "`import_items`",
    "forget": "`forget_user`",
    "record": "`record`",
    "export": "`odrec export`",
}
FAULT_KINDS = [
    "SIGKILL",
    "disk full",
    "EIO on WAL writes",
    "EIO on fsync of the db",
    "EIO on fsync of the WAL (durability full)",
]


def fault_table() -> str:
    """The README's fault table, rendered from tests/test_faults.py's own counts."""
    cases = {(c["operation"], c["fault"]): c for c in _load("faults/results.json")["cases"]}

    def cell(op: str, fault: str) -> str:
        c = cases.get((op, fault))
        if c is None:
            return "—"
        said = {k: n for k, n in c["outcomes"].items() if n}
        if fault == "SIGKILL":
            return f"{c['runs']} kills: " + ", ".join(f"{n} {k}" for k, n in said.items())
        return "; ".join("completed (not reached)" if k.startswith("done") else f"one-line `{k}`" for k in said)

    rows = [f"| operation | {' | '.join(FAULT_KINDS)} |", "|---" * (len(FAULT_KINDS) + 1) + "|"]
    rows += [f"| {name} | {' | '.join(cell(op, f) for f in FAULT_KINDS)} |" for op, name in FAULT_OPS.items()]
    return "\n".join(rows)


def test_readme_fault_table_is_the_suites_own_counts() -> None:
    assert re.sub(r"\s+", " ", fault_table()) in _readme(), "README's fault table differs from:\n" + fault_table()


def test_the_fresh_export_scores_the_rechosen_bundle_user_for_user() -> None:
    """The README's "the same … user for user": the fresh default export against the re-chosen bundle, paired."""
    diff, lo, hi, _ = paired_row("successors-ml-latest-small/fresh-export/paired-rechosen-vs-fresh.md", "warm")()
    assert diff == lo == hi == 0.0
