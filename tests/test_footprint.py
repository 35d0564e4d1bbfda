"""Nothing leaves the device and nothing is written outside the store: with HOME, XDG_* and TMPDIR pointing at
empty directories, the Python API, the CLI and the demo create no file but the store (db/-wal/-shm) and what the
user names, and an audit hook sees no socket connection or DNS lookup."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ondevice_rec.inputs.items import demo_items

WORKER = Path(__file__).with_name("_footprint_worker.py")
ROOT = Path(__file__).resolve().parents[1]


def _env(tmp: Path) -> dict[str, str]:
    dirs = {
        k: tmp / k.lower()
        for k in ("HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "TMPDIR")
    }
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "ORT_", "TLDEXTRACT_"))}
    env.update({k: str(v) for k, v in dirs.items()})
    env["PYTHONPATH"] = str(ROOT)
    env["HF_HUB_OFFLINE"] = "1"
    return env


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def _run(env: dict[str, str], cwd: Path, *args: str) -> str:
    p = subprocess.run([sys.executable, str(WORKER), *args], cwd=cwd, env=env, capture_output=True, text=True)
    assert p.returncode == 0 and "AUDIT" not in p.stderr, (args, p.stdout[-2000:], p.stderr[-2000:])
    return p.stdout


def test_the_api_and_the_egress_gate_leave_no_footprint_and_open_no_socket(tmp_path: Path) -> None:
    env = _env(tmp_path / "env")
    work = tmp_path / "work"
    work.mkdir()
    _run(env, work, "api", str(work / "rec.db"))
    assert _files(tmp_path / "env") == set()
    assert _files(work) <= {"rec.db", "rec.db-wal", "rec.db-shm"}


def test_every_cli_command_and_the_demo_leave_no_footprint(tmp_path: Path) -> None:
    env = _env(tmp_path / "env")
    work = tmp_path / "work"
    work.mkdir()
    (work / "catalog.jsonl").write_text("".join(json.dumps(it) + "\n" for it in demo_items()[:40]))
    (work / "note.txt").write_text("Hi, I am Jane Miller, call +44 20 7946 0958.")
    db = ["--db", "s.db"]
    for cmd in (
        ["catalog", "import", "catalog.jsonl", *db],
        ["consent", "grant", "u", "personalization", *db],
        ["record", "u", demo_items()[0]["id"], "--kind", "like", *db],
        ["profile", "u", "jazz in the evening", *db],
        ["recommend", "u", "-k", "3", "--json", *db],
        ["consent", "status", "u", *db],
        ["user", "export", "u", "-o", "u.json", *db],
        ["user", "forget", "u", "--yes", *db],
        ["bundle", "verify"],
        ["bundle", "info"],
        ["privacy", "check", "note.txt"],
        ["demo"],
        ["version"],
    ):
        _run(env, work, "cli", *cmd)
    assert _files(tmp_path / "env") == set()
    assert _files(work) <= {"catalog.jsonl", "note.txt", "u.json", "s.db", "s.db-wal", "s.db-shm"}


def test_onnxruntime_imported_first_with_telemetry_on_is_refused(tmp_path: Path) -> None:
    env = _env(tmp_path / "env")
    code = (
        "import onnxruntime\n"
        "from ondevice_rec import Recommender, PrivacyError\n"
        "try:\n    Recommender.open('x.db')\nexcept PrivacyError as e:\n    print('refused:', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    # importing onnxruntime alone already wrote its telemetry files: nothing this process does can undo that,
    # so the SDK refuses to run on top of it rather than pretend
    assert "refused: onnxruntime was imported before ondevice_rec" in out.stdout, out.stderr


@pytest.mark.parametrize("var", ["ORT_DISABLE_TELEMETRY"])
def test_the_switch_that_works_is_the_one_we_set(var: str) -> None:
    from ondevice_rec.backends import _ort

    assert var == _ort.TELEMETRY_ENV
