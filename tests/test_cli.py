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
    r = odrec("user", "forget", "ann", "--db", db, "--json", "--yes")
    assert r.returncode == 0 and json.loads(r.stdout)["user_found"] is True


@pytest.fixture(scope="module")
def small_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    d = tmp_path_factory.mktemp("small")
    cat = d / "c.jsonl"
    cat.write_text("".join(json.dumps({"id": f"i{i}", "title": f"Item {i}", "tags": ["t"]}) + "\n" for i in range(5)))
    db = str(d / "s.db")
    assert odrec("catalog", "import", str(cat), "--db", db).returncode == 0
    return db


@pytest.mark.parametrize(
    "args, message",
    [
        (["recommend", "ann", "-k", "0"], "k must be"),
        (["record", "ann", "nope", "--kind", "like"], "unknown item"),
        (["catalog", "import", "missing.jsonl"], "no such file"),
        (["events", "import", "missing.csv"], "no such file"),
        (["events", "import", "/"], "not a file"),
        (["consent", "revoke", "ann", "personalisation"], "not declared"),
        (["user", "forget", "ann"], "pass --yes"),  # no terminal to ask on: erasure needs --yes
        (["record", "ann", "nope", "--kind", "like"], "odrec catalog import"),
        (["bundle", "verify", "/nonexistent/bundle"], "not found"),
        (["record", "ann", "i1", "--at", "next tuesday"], "not an ISO date"),
        (["recommend", "ann", "--context", "weather"], "key=value"),
        (["user", "export", "ann", "-o", "/nonexistent/dir/x.json"], "directory /nonexistent/dir does not exist"),
    ],
)
def test_errors_are_one_line_and_exit_1(small_db: str, args: list[str], message: str) -> None:
    r = odrec(*args, "--db", small_db) if args[0] != "bundle" else odrec(*args)
    assert r.returncode == 1, r.stderr
    assert r.stderr.strip().count("\n") == 0 and message in r.stderr
    assert "Traceback" not in r.stderr


def test_a_mistyped_db_is_refused_and_not_created(tmp_path: Path) -> None:
    typo = tmp_path / "odrc.db"
    for args in (["recommend", "ann"], ["consent", "grant", "ann"], ["catalog", "list"], ["user", "list"]):
        r = odrec(*args, "--db", str(typo))
        assert r.returncode == 1 and "no store at" in r.stderr and r.stderr.count("\n") == 1, args
    assert not typo.exists()


def test_a_corrupt_store_is_one_line_naming_doctor_and_doctor_recovers(tmp_path: Path, small_db: str) -> None:
    import shutil

    db = tmp_path / "bad.db"
    shutil.copy(small_db, db)
    raw = bytearray(db.read_bytes())
    page = 4096
    for p in range(1, len(raw) // page):  # damage every page after the first (the header stays readable)
        raw[p * page + 8 : p * page + 200] = b"\xff" * 192
    db.write_bytes(bytes(raw))
    r = odrec("recommend", "ann", "--db", str(db))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1 and "odrec doctor" in r.stderr and str(db) in r.stderr
    r = odrec("doctor", str(db))
    assert r.returncode == 2 and "DAMAGED" in r.stdout
    r = odrec("doctor", str(db), "--recover", str(tmp_path / "new.db"))
    assert r.returncode == 0 and "recovered into" in r.stdout and (tmp_path / "new.db").exists()
    assert odrec("doctor", small_db).stdout.split()[1] == "ok"


def test_version_and_short_help() -> None:
    from ondevice_rec import __version__

    assert odrec("--version").stdout.strip() == f"odrec {__version__}"
    r = odrec("-h")
    assert r.returncode == 0 and "Usage" in r.stdout and "events" in r.stdout
    assert odrec("catalog", "-h").returncode == 0


def test_catalog_and_user_listing_commands(tmp_path: Path) -> None:
    cat = tmp_path / "movies.csv"
    cat.write_bytes(b"\xef\xbb\xbfmovieId,title,genres,year\n1,Toy Story,Animation|Children,1995\n2,Heat,Action,1995\n")
    db = str(tmp_path / "l.db")
    r = odrec("catalog", "import", str(cat), "--db", db, "--id-col", "movieId", "--tags-col", "genres")
    assert r.returncode == 0 and "imported 2 items" in r.stdout and "items/s" in r.stdout
    assert odrec("catalog", "count", "--db", db).stdout.strip() == "2"
    shown = json.loads(odrec("catalog", "show", "1", "--db", db).stdout)
    assert shown["tags"] == ["Animation", "Children"] and shown["meta"] == {"year": "1995"}
    assert [i["id"] for i in json.loads(odrec("catalog", "list", "--db", db, "--json").stdout)] == ["1", "2"]
    ratings = tmp_path / "ratings.csv"
    ratings.write_text("userId,movieId,rating,timestamp\n7,1,5,881250949\n7,2,3,881250950\n8,2,4,881250951\n")
    r = odrec(
        "events",
        "import",
        str(ratings),
        "--db",
        db,
        "--user-col",
        "userId",
        "--item-col",
        "movieId",
        "--value-col",
        "rating",
        "--at-col",
        "timestamp",
    )
    assert r.returncode == 0 and "imported 3 new events" in r.stdout and "rows/s" in r.stdout
    again = tmp_path / "ratings-reexport.csv"  # the app's next export: re-sorted, one row more
    again.write_text("userId,movieId,rating,timestamp\n8,2,4,881250951\n7,2,3,881250950\n7,1,5,881250949\n"
                     "8,1,2,881250999\n")  # fmt: skip
    cols = ("--user-col", "userId", "--item-col", "movieId", "--value-col", "rating", "--at-col", "timestamp")
    r = odrec("events", "import", str(again), "--db", db, *cols)
    assert r.returncode == 0 and "imported 1 new event from" in r.stdout and "3 already present" in r.stdout, r.stdout
    users = json.loads(odrec("user", "list", "--db", db, "--json").stdout)
    assert [(u["user_id"], u["events"]) for u in users] == [("7", 2), ("8", 2)]
    assert odrec("record", "8", "1", "--kind", "like", "--at", "1998-03-01T10:00:00", "--db", db).returncode == 0
    got = json.loads(odrec("user", "export", "8", "--db", db).stdout)["events"]
    assert any(abs(e["at"] - 888746400) < 86400 for e in got)  # 1998-03-01, in whatever local zone
    assert "removed 1 of 1" in odrec("catalog", "remove", "2", "--db", db).stdout
    assert odrec("catalog", "count", "--db", db).stdout.strip() == "1"
    r = odrec("similar", "1", "--db", db, "--json")
    assert r.returncode == 0 and json.loads(r.stdout) == []  # the only other item was removed


def test_import_error_names_line_and_imports_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "title": "A"}\n{"id": "b", "title": "B"}\n{oops}\n')
    db = str(tmp_path / "b.db")
    r = odrec("catalog", "import", str(bad), "--db", db)
    assert r.returncode == 1 and "bad.jsonl:3" in r.stderr
    r = odrec("catalog", "count", "--db", db)
    assert r.stdout.strip() == "0"


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
    quality = {"teacher_ndcg10": 0.12, "student_ndcg10": 0.11, "teacher_beats_retriever": True}
    ens = export_summary(replace(base, teacher={"kind": "ensemble", "members": 3, "valid_ndcg10": 0.12,
                                                "validation_quality": quality}))  # fmt: skip
    assert (
        ens[0] == "teacher ensemble of 3 vs its first member (the student alone), validation NDCG@10: 0.1200 vs 0.1100"
    )
    cut = {"budget_s": 1800.0, "member_seconds": [655.2], "members_asked": 3, "members_trained": 1}
    training = {"ensemble": {"members": 1, "used": False, "time_budget": cut}, "stopped_by": "time budget",
                "log": [{"epoch": 5}, {"epoch": 10}]}  # fmt: skip
    short = export_summary(replace(base, training=training))
    assert short[:2] == [
        "time budget: the student stopped after epoch 10, its best validation state kept",
        "time budget 30 min: 1 of 3 students trained (one took 655 s); --ensemble 3 or --time-budget 0 trains them all",
    ]
    pm = {"used": True, "weights": {"titles": 1.0, "genres_with_titles": 0.5, "genres": 0.25}, "bytes": 5_800_000,
          "valid_ndcg10_chosen": {"words": 0.041, "titles": 0.06}, "best_valid_ndcg10_without": {"words": 0.04,
          "titles": 0.05}}  # fmt: skip
    said = export_summary(replace(base, training={"cold_start": {"profile_model": pm}}))
    assert said[0] == (
        "profile model for users without events: weights {'titles': 1.0, 'genres_with_titles': 0.5, 'genres': 0.25}, "
        "5.8 MB (validation NDCG@10: profiles in words 0.0410 (0.0400 without); naming titles 0.0600 (0.0500 without))"
    )
    pm = {**pm, "used": False, "bytes": 0, "valid_ndcg10_chosen": {"words": 0.04, "titles": None}}
    said = export_summary(replace(base, training={"cold_start": {"profile_model": pm}}))
    assert said[0] == (
        "profile model for users without events: not shipped, no weight beat none on validation: "
        "profiles in words 0.0400 (0.0400 without)"
    )


def test_build_default_never_rewrites_the_installed_bundle_without_overwrite() -> None:
    from ondevice_rec.bundle import default_bundle_path, read_manifest

    before = read_manifest(default_bundle_path())
    r = odrec("bundle", "build-default")
    assert r.returncode == 1 and "shipped inside the installed package" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert read_manifest(default_bundle_path()) == before


def test_consent_for_an_undeclared_purpose_is_one_line(tmp_path: Path) -> None:
    db = str(tmp_path / "c.db")
    assert odrec("consent", "declare", "newsletter", "Email me news", "--db", db).returncode == 0  # creates it
    r = odrec("consent", "grant", "u", "cloud-lm", "--db", db)
    assert r.returncode == 1 and "not declared" in r.stderr and "personalization" in r.stderr
    assert odrec("consent", "declare", "cloud-llm", "Ask a cloud LLM", "--db", db).returncode == 0
    assert odrec("consent", "grant", "u", "cloud-llm", "--db", db).returncode == 0
    assert "cloud-llm: Ask a cloud LLM" in odrec("consent", "purposes", "--db", db).stdout


def _odrec_in(stdin: bytes, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "ondevice_rec.cli", *args], input=stdin, capture_output=True,
                          env=ENV, timeout=300)  # fmt: skip


def test_imports_read_standard_input_and_read_commands_speak_csv_and_json(tmp_path: Path) -> None:
    import csv
    import io

    db = str(tmp_path / "s.db")
    r = _odrec_in("\ufeffid,title,tags\n1,Toy Story,Animation\n2,Heat,Action\n3,Up,Animation\n".encode(), "catalog",
                  "import", "-", "--db", db)  # fmt: skip
    assert r.returncode == 0 and b"imported 3 items from <stdin>" in r.stdout, r.stderr
    jsonl = b'{"user": "u", "item": "1", "kind": "like", "at": 1700000000}\n{"user": "u", "item": "3"}\n'
    r = _odrec_in(jsonl, "events", "import", "-", "--db", db)
    assert r.returncode == 0 and b"imported 2 new events" in r.stdout, r.stderr
    assert b"2 already present" in _odrec_in(jsonl, "events", "import", "-", "--db", db).stdout  # resumes: same bytes
    odrec("consent", "grant", "u", "--db", db, "--json")
    for args in (("catalog", "list"), ("user", "list"), ("recommend", "u", "-k", "2"), ("similar", "1", "-k", "2"),
                 ("consent", "status", "u"), ("consent", "purposes")):  # fmt: skip
        out = odrec(*args, "--db", db, "--csv")
        assert out.returncode == 0, (args, out.stderr)
        rows = list(csv.DictReader(io.StringIO(out.stdout)))
        assert rows and all(None not in r for r in rows), (args, out.stdout)
    assert json.loads(odrec("catalog", "count", "--db", db, "--json").stdout) == {"items": 3}
    assert json.loads(odrec("record", "u", "2", "--db", db, "--json").stdout)["recorded"]["item_id"] == "2"
    assert json.loads(odrec("profile", "u", "action films", "--db", db, "--json").stdout)["profile"] == "set"
    assert json.loads(odrec("consent", "revoke", "u", "--db", db, "--json").stdout)["granted"] is False
    page = odrec("catalog", "list", "--db", db, "--limit", "2", "--csv")
    assert len(page.stdout.strip().splitlines()) == 3 and "1–2 of 3; --offset 2 for more" in page.stderr
    bad = odrec("catalog", "import", "x.csv", "--db", db, "--on-duplicate", "newest")
    assert bad.returncode != 0 and "--on-duplicate must be error, first or last" in bad.stderr
    both = odrec("user", "list", "--db", db, "--csv", "--json")
    assert both.returncode != 0 and "choose one of --json and --csv" in both.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--distill-weight", "0.1,x"], "numbers separated by commas"),
        (["--distill-weight", "-0.1"], "finite weights of 0 or more"),
        (["--distill-weight", "nan"], "finite weights of 0 or more"),
        (["--distill-weight", ""], "numbers separated by commas"),
        (["--teacher-candidates", "1"], "at least 2 items"),
        (["--time-budget", "-1"], "--time-budget takes minutes"),
        (["--time-budget", "nan"], "--time-budget takes minutes"),
    ],
)
def test_export_options_are_checked_before_any_work(tmp_path: Path, args: list[str], message: str) -> None:
    r = odrec("export", "--dataset", "generic", "--data-dir", str(tmp_path), "--out", str(tmp_path / "b"), *args)
    assert r.returncode == 1 and message in r.stderr and r.stderr.strip().count("\n") == 0, r.stderr
    assert not (tmp_path / "b").exists()


def test_a_logged_export_shows_where_each_fast_stage_ended(capsys: pytest.CaptureFixture[str]) -> None:
    """Without a terminal the progress callback logs lines (at most every 30 s within a stage): a stage that
    ends sooner still logs its last line before the next stage's first."""
    from ondevice_rec.cli import _stage_progress

    class Bar:
        def add_task(self, *a: object, **k: object) -> int:
            return 0

        def update(self, *a: object, **k: object) -> None:
            pass

    log = _stage_progress(Bar())
    for e in range(1, 41):
        log(f"student epoch {e}", e / 40)
    log("onnx export", 0.0)
    lines = [ln.split(" ", 1)[1] for ln in capsys.readouterr().err.splitlines()]
    assert lines == ["student epoch 1", "student epoch 40", "onnx export"]
