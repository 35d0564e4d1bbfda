from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}


def odrec(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ondevice_rec.cli", *args], capture_output=True, text=True, env=ENV, cwd=cwd, timeout=300
    )


def test_help_everywhere() -> None:
    for args in ([], ["catalog"], ["user"], ["bundle"], ["consent"], ["recommend"], ["demo"]):
        r = odrec(*args, "--help")
        assert r.returncode == 0 and "Usage" in r.stdout, args


def test_demo_runs_and_erases(tmp_path: Path) -> None:
    r = odrec("demo", "--db", str(tmp_path / "d.db"))
    assert r.returncode == 0, r.stderr
    assert "Because you liked" in r.stdout and "Erasure" in r.stdout
    assert "demo.db=0" not in r.stdout  # kept at --db
    assert "d.db=0, d.db-wal=0, d.db-shm=0" in r.stdout


def test_catalog_recommend_export_forget_flow(tmp_path: Path) -> None:
    db = str(tmp_path / "c.db")
    cat = tmp_path / "items.jsonl"
    cat.write_text(
        "\n".join(
            json.dumps({"id": f"i{n}", "title": t, "tags": [g]})
            for n, (t, g) in enumerate(
                [
                    ("Space opera", "scifi"),
                    ("Robots on Mars", "scifi"),
                    ("Bread baking", "food"),
                    ("Soup recipes", "food"),
                ]
            )
        )
    )
    assert odrec("catalog", "import", str(cat), "--db", db).returncode == 0
    assert odrec("consent", "grant", "ann", "--db", db).returncode == 0
    assert odrec("record", "ann", "i0", "--kind", "like", "--db", db).returncode == 0
    r = odrec("recommend", "ann", "-k", "2", "--db", db, "--json")
    assert r.returncode == 0, r.stderr
    recs = json.loads(r.stdout)
    assert recs[0]["item_id"] == "i1" and recs[0]["personalized"]
    out = tmp_path / "ann.json"
    assert odrec("user", "export", "ann", "--db", db, "--out", str(out)).returncode == 0
    assert json.loads(out.read_text())["events"][0]["item_id"] == "i0"
    r = odrec("user", "forget", "ann", "--db", db, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["user_found"] is True


@pytest.mark.parametrize(
    "args, message",
    [
        (["recommend", "ann", "-k", "0"], "k must be"),
        (["record", "ann", "nope", "--kind", "like"], "unknown item"),
        (["catalog", "import", "missing.jsonl"], "no such file"),
        (["bundle", "verify", "/nonexistent/bundle"], "not found"),
    ],
)
def test_errors_are_one_line_and_exit_1(tmp_path: Path, args: list[str], message: str) -> None:
    r = odrec(*args, "--db", str(tmp_path / "e.db")) if args[0] != "bundle" else odrec(*args)
    assert r.returncode == 1
    assert r.stderr.strip().count("\n") == 0 and message in r.stderr
    assert "Traceback" not in r.stderr


def test_import_error_names_line_and_imports_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "title": "A"}\n{"id": "b", "title": "B"}\n{oops}\n')
    db = str(tmp_path / "b.db")
    r = odrec("catalog", "import", str(bad), "--db", db)
    assert r.returncode == 1 and "bad.jsonl:3" in r.stderr
    r = odrec("recommend", "x", "--db", db, "--json")
    assert json.loads(r.stdout) == []


def test_bundle_verify_and_info() -> None:
    r = odrec("bundle", "verify")
    assert r.returncode == 0 and r.stdout.startswith("ok:")
    r = odrec("bundle", "info", "--json")
    assert json.loads(r.stdout)["kind"] == "text-embedder"
    assert "base model" in odrec("bundle", "info").stdout


def test_export_summary_flags_a_weak_teacher() -> None:
    from dataclasses import replace

    from ondevice_rec.bundle import FileEntry, Manifest, TextEncoderSpec
    from ondevice_rec.cli import export_summary

    base = Manifest(
        name="s",
        kind="text-embedder",
        text_encoder=TextEncoderSpec(model="a", tokenizer="a", dim=4, max_length=8),
        files={"a": FileEntry("0" * 64, 2_000_000)},
        validation={
            "valid_ndcg10_torch": 0.1,
            "valid_ndcg10_onnx_fp32": 0.1,
            "valid_ndcg10_onnx_int8": 0.099,
            "max_abs_onnx_fp32_vs_torch": 1e-6,
        },
    )
    weak = export_summary(replace(base, teacher={"teacher_hr1_on_candidates": 0.105, "random_hr1_on_candidates": 0.05}))
    assert weak[0] == "teacher: the true item first on 10.5% of its candidate sets (random 5.0%)"
    assert "--distill-weight 0" in weak[1] and weak[2].startswith("size 2.0 MB")
    strong = export_summary(replace(base, teacher={"teacher_hr1_on_candidates": 0.4, "random_hr1_on_candidates": 0.05}))
    assert len(strong) == 2 and "weak" not in " ".join(strong)
    assert len(export_summary(replace(base, teacher={"used": False}))) == 1


def test_build_default_never_rewrites_the_installed_bundle_without_overwrite() -> None:
    from ondevice_rec.bundle import default_bundle_path, read_manifest

    before = read_manifest(default_bundle_path())
    r = odrec("bundle", "build-default")
    assert r.returncode == 1 and "shipped inside the installed package" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert read_manifest(default_bundle_path()) == before


def test_consent_for_an_undeclared_purpose_is_one_line(tmp_path: Path) -> None:
    db = str(tmp_path / "c.db")
    r = odrec("consent", "grant", "u", "cloud-lm", "--db", db)
    assert r.returncode == 1 and "not declared" in r.stderr and "personalization" in r.stderr
    assert odrec("consent", "declare", "cloud-llm", "Ask a cloud LLM", "--db", db).returncode == 0
    assert odrec("consent", "grant", "u", "cloud-llm", "--db", db).returncode == 0
    assert "cloud-llm: Ask a cloud LLM" in odrec("consent", "purposes", "--db", db).stdout
