"""Faults that lose nothing: SIGKILL in the middle of an events import, a catalogue write, a catalogue import, an
erasure and an export; a full disk (RLIMIT_FSIZE) and I/O errors (EIO from an LD_PRELOAD shim, on the WAL's writes
or on the database file's fsync) under every write path.

Every case ends in the whole operation or none of it (an events import: whole batches, which a re-run completes
without repeating a row), the data committed before it intact, the file passing ``integrity_check``, and — where
the operation failed rather than died — one ``OdrecError`` line. The counts are printed and, with
``ODREC_FAULT_REPORT=FILE``, written there (``benchmarks/results/faults/results.json`` is the README's fault table).
"""

from __future__ import annotations

import csv
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ondevice_rec import Recommender

ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).with_name("_fault_worker.py")
SHIM = Path(__file__).with_name("_eio_shim.c")
ITEMS = [{"id": f"i{n}", "title": f"item {n}", "text": f"text of item {n}"} for n in range(20)]
VICTIM = "victim-fault-secret"
KEEPERS = [f"keeper{k}" for k in range(5)]
IMPORT_ROWS = 3000
BATCH = 200  # the worker's import batch
NEW_ITEMS = 300  # the worker's add_items / catalogue import
REPORT: list[dict[str, Any]] = []


# --- fixtures ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A store holding a catalogue, keepers' events and a victim with a profile; an events file to import and a
    catalogue file to import."""
    root = tmp_path_factory.mktemp("faults")
    db = root / "template.db"
    with Recommender.open(db) as rec:
        rec.add_items(ITEMS)
        for k, user in enumerate(KEEPERS):
            rec.record_many(
                {"user_id": user, "item_id": f"i{n % 20}", "kind": "view", "at": 1_500_000_000.0 + k * 1000 + n}
                for n in range(40)
            )
        rec.record_many(
            {"user_id": VICTIM, "item_id": f"i{n % 20}", "kind": "view", "at": 1_500_100_000.0 + n} for n in range(300)
        )
        rec.set_profile(VICTIM, f"profile of {VICTIM}")
    events = root / "events.csv"
    rng = random.Random(0)
    with open(events, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["user", "item", "kind", "at"])
        for n in range(IMPORT_ROWS):
            w.writerow([f"imp{n % 50}", f"i{rng.randrange(20)}", "click", 1_550_000_000 + n])
    catalog = root / "catalog.csv"
    with open(catalog, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "title", "text"])
        for n in range(NEW_ITEMS):
            w.writerow([f"c{n}", f"imported {n}", f"catalogue row {n}"])
    return {"db": db, "events": events, "catalog": catalog}


@pytest.fixture(scope="module")
def shim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("no C compiler for the EIO shim")
    out = tmp_path_factory.mktemp("shim") / "eio.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-O1", "-o", str(out), str(SHIM), "-ldl"], check=True)
    return out


@pytest.fixture(scope="module", autouse=True)
def report() -> Iterator[None]:
    yield
    dst = os.environ.get("ODREC_FAULT_REPORT")
    if dst and REPORT:
        rows = sorted(REPORT, key=lambda r: (r["operation"], r["fault"]))
        Path(dst).write_text(json.dumps({"command": "ODREC_FAULT_REPORT=... pytest tests/test_faults.py",
                                         "cases": rows}, indent=2) + "\n")  # fmt: skip


def _copy(template: dict[str, Path], dst: Path) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    db = dst / "rec.db"
    shutil.copy(template["db"], db)  # closed cleanly: everything is in the main file
    return db


def _q(db: Path, sql: str, *args: Any) -> Any:
    conn = sqlite3.connect(str(db))
    try:
        return conn.execute(sql, args).fetchone()[0]
    finally:
        conn.close()


def _state(db: Path) -> dict[str, Any]:
    """What a check compares: integrity, keepers' events, catalogue, the victim, imported rows."""
    return {
        "integrity": _q(db, "PRAGMA integrity_check"),
        "keepers": _q(db, "SELECT count(*) FROM events e JOIN users u USING(uid) WHERE u.user_id LIKE 'keeper%'"),
        "base_items": _q(db, "SELECT count(*) FROM items WHERE item_id GLOB 'i[0-9]*'"),
        "new_items": _q(db, "SELECT count(*) FROM items WHERE item_id GLOB 'r*' OR item_id GLOB 'c[0-9]*'"),
        "vectors_missing": _q(
            db, "SELECT count(*) FROM items i WHERE NOT EXISTS (SELECT 1 FROM item_vectors v WHERE v.iid = i.iid)"
        ),  # fmt: skip
        "victim_events": _q(db, "SELECT count(*) FROM events e JOIN users u USING(uid) WHERE u.user_id = ?", VICTIM),
        "victim_profile": _q(db, "SELECT count(*) FROM profiles p JOIN users u USING(uid) WHERE u.user_id = ?", VICTIM),
        "imported": _q(db, "SELECT count(*) FROM events e JOIN users u USING(uid) WHERE u.user_id GLOB 'imp*'"),
        "faulty": _q(db, "SELECT count(*) FROM events e JOIN users u USING(uid) WHERE u.user_id = 'faulty'"),
    }


def _intact(s: dict[str, Any]) -> None:
    assert s["integrity"] == "ok", s
    assert s["keepers"] == 5 * 40 and s["base_items"] == 20 and s["vectors_missing"] == 0, s


def _whole(op: str, s: dict[str, Any]) -> bool:
    """The operation's effect is all of it or none of it (an import: whole batches)."""
    if op == "import":
        return s["imported"] % BATCH == 0 and s["imported"] <= IMPORT_ROWS
    if op in ("items", "catalog"):
        return s["new_items"] in (0, NEW_ITEMS)
    if op == "forget":
        return (s["victim_events"], s["victim_profile"]) in ((300, 1), (0, 0))
    return s["faulty"] in (0, 1)


def _finish(op: str, db: Path, template: dict[str, Path]) -> dict[str, Any]:
    """Re-run the operation without the fault: it completes, with nothing repeated."""
    with Recommender.open(db) as rec:
        if op == "import":
            rep = rec.import_events(template["events"], batch_size=BATCH)
            assert rep.written + rep.present == IMPORT_ROWS  # present: rows an earlier run wrote
        elif op == "catalog":
            rec.import_items(template["catalog"])
        elif op == "forget":
            rec.forget_user(VICTIM)
    s = _state(db)
    _intact(s)
    if op == "import":
        assert s["imported"] == IMPORT_ROWS
    if op == "catalog":
        assert s["new_items"] == NEW_ITEMS
    if op == "forget":
        assert s["victim_events"] == 0 and s["victim_profile"] == 0
        for f in db.parent.iterdir():
            assert VICTIM.encode() not in f.read_bytes(), f"{f.name} still holds the erased user"
    return s


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    env.update(extra)
    return env


def _arg(op: str, template: dict[str, Path], run: int) -> str:
    return {"import": str(template["events"]), "catalog": str(template["catalog"]), "forget": VICTIM}.get(op, str(run))


# --- SIGKILL -------------------------------------------------------------------------------------------
def _kill_after(cmd: list[str], delay: float, env: dict[str, str]) -> list[str]:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=ROOT)
    assert proc.stdout is not None
    lines = [proc.stdout.readline().strip()]
    assert lines[0] == "ready", lines
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate(timeout=60)
    return lines + out.split()


@pytest.mark.slow
@pytest.mark.parametrize(("op", "runs", "window"), [("import", 8, 0.25), ("items", 6, 3.0), ("catalog", 6, 3.0),
                                                    ("forget", 6, 0.008)])  # fmt: skip
def test_sigkill_mid_operation_leaves_all_or_none(
    template: dict[str, Path], tmp_path: Path, op: str, runs: int, window: float
) -> None:
    rng = random.Random(op)
    outcomes = {"none": 0, "part (whole batches)": 0, "all": 0}
    for run in range(runs):
        db = _copy(template, tmp_path / f"run{run}")
        lines = _kill_after([sys.executable, str(WORKER), str(db), op, _arg(op, template, run)],
                            rng.uniform(0.0, window), _env())  # fmt: skip
        s = _state(db)
        _intact(s)
        assert _whole(op, s), (op, run, s, lines)
        acked = [int(x) for x in lines if x.isdigit()]  # the numbers of "committed N" lines
        if op == "import":
            assert s["imported"] >= max(acked, default=0), ("a committed batch was lost", s, lines)
        if "done" in lines:
            assert _whole(op, s) and {"items": s["new_items"] == NEW_ITEMS, "catalog": s["new_items"] == NEW_ITEMS,
                                      "forget": s["victim_events"] == 0}.get(op, True), (op, s, lines)  # fmt: skip
        effect = {"import": s["imported"], "items": s["new_items"], "catalog": s["new_items"],
                  "forget": 300 - s["victim_events"]}[op]  # fmt: skip
        full = {"import": IMPORT_ROWS, "items": NEW_ITEMS, "catalog": NEW_ITEMS, "forget": 300}[op]
        outcomes["none" if effect == 0 else "all" if effect == full else "part (whole batches)"] += 1
        _finish(op, db, template)
    REPORT.append({"operation": op, "fault": "SIGKILL", "runs": runs, "outcomes": outcomes, "lost": 0,
                   "half_written": 0})  # fmt: skip
    print(f"\nSIGKILL during {op}: {runs} kills, {outcomes}, committed rows lost 0")


@pytest.mark.slow
def test_sigkill_mid_export_leaves_no_bundle_or_a_whole_one(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from ondevice_rec.bundle import verify_bundle
    from tests.test_eval import _write_generic

    _write_generic(tmp_path / "data")
    out = tmp_path / "out" / "bundle"
    cmd = [sys.executable, str(WORKER), str(out), "export", str(tmp_path / "data")]
    t0 = time.monotonic()
    subprocess.run(cmd, check=True, env=_env(), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    took = time.monotonic() - t0
    verify_bundle(out)
    rng = random.Random(7)
    outcomes = {"old bundle": 0, "new bundle": 0}
    runs = 4
    for _ in range(runs):
        before = out.stat().st_ino
        _kill_after(cmd, rng.uniform(0.1, 1.0) * took, _env())
        set_aside = out.with_name(".bundle.old")  # killed between the two renames: the next export puts it back
        assert out.is_dir() or set_aside.is_dir(), "a killed export took the previous bundle away"
        verify_bundle(out if out.is_dir() else set_aside)  # whole: every file matches its hash
        outcomes["old bundle" if out.is_dir() and out.stat().st_ino == before else "new bundle"] += 1
    subprocess.run(cmd, check=True, env=_env(), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    verify_bundle(out)
    leftovers = [p.name for p in out.parent.iterdir() if p.name != "bundle"]
    assert leftovers == [], f"killed exports left {leftovers}"
    REPORT.append({"operation": "export", "fault": "SIGKILL", "runs": runs, "outcomes": outcomes, "lost": 0,
                   "half_written": 0})  # fmt: skip
    print(f"\nSIGKILL during export: {runs} kills, {outcomes}; the next export left nothing behind")


# --- a full disk and I/O errors ------------------------------------------------------------------------
FAULTS = {
    "disk full": {"ODREC_FSIZE_LIMIT": "65536"},
    "EIO on WAL writes": {"ODREC_EIO_SUFFIX": "-wal", "ODREC_EIO_AFTER": "2"},
    "EIO on fsync of the db": {"ODREC_EIO_SUFFIX": "rec.db", "ODREC_EIO_AFTER": "0", "ODREC_EIO_FSYNC": "1"},
    "EIO on fsync of the WAL (durability full)": {
        "ODREC_EIO_SUFFIX": "-wal", "ODREC_EIO_AFTER": "0", "ODREC_EIO_FSYNC": "1", "ODREC_DURABILITY": "full"
    },
}  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("op", ["import", "items", "catalog", "forget", "record"])
def test_io_faults_fail_in_one_line_and_lose_nothing(
    template: dict[str, Path], shim: Path, tmp_path: Path, op: str, fault: str
) -> None:
    db = _copy(template, tmp_path)
    env = _env(**FAULTS[fault])
    if "ODREC_EIO_SUFFIX" in env:
        env["LD_PRELOAD"] = str(shim)
    res = subprocess.run([sys.executable, str(WORKER), str(db), op, _arg(op, template, 0)], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    lines = res.stdout.split("\n")
    assert res.returncode == 0, res.stderr[-3000:]
    assert lines[0] == "ready", (res.stdout, res.stderr[-2000:])
    said = [x for x in lines if x.startswith("raised ")]
    assert said or "done" in lines, res.stdout
    s = _state(db)
    _intact(s)
    assert _whole(op, s), (s, said)
    if said and op == "import":
        assert "stopped after" in said[0], said  # and whether the batches before it are committed
    if said and "rolled back" in said[0]:  # what the message says is what the file holds
        undone = {"import": s["imported"] < IMPORT_ROWS, "items": s["new_items"] == 0, "catalog": s["new_items"] == 0,
                  "forget": s["victim_events"] == 300, "record": s["faulty"] == 0}[op]  # fmt: skip
        assert undone, ("said rolled back, but the write is there", s, said)
    _finish(op, db, template)
    outcome = "done (fault not reached)" if not said else said[0].split()[1]
    REPORT.append({"operation": op, "fault": fault, "runs": 1, "outcomes": {outcome: 1}, "lost": 0,
                   "half_written": 0, "message": said[0] if said else ""})  # fmt: skip
    print(f"\n{fault} during {op}: {said[0] if said else 'done'}")
