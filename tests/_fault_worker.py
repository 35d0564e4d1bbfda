"""Child process for tests/test_faults.py: one operation on a store, killed by the parent or failed by a fault.

    python tests/_fault_worker.py DB OP [ARG]

OP is ``import`` (ARG: an events CSV, batches of 200), ``items`` (ARG: a run number; 300 new items in one call),
``catalog`` (ARG: a catalogue CSV), ``forget`` (ARG: a user id), ``record`` (one event) or ``export`` (DB is the
bundle directory to write, ARG the dataset directory). ``ready`` is printed once the store is open,
``committed N`` after each import batch committed, ``done`` after the operation returned. With
ODREC_FSIZE_LIMIT set, the operation runs with RLIMIT_FSIZE at that many bytes (no write reaches past it: a full
disk); with ODREC_EIO_* set (and the shim preloaded), writes or fsyncs fail with EIO; ODREC_DURABILITY opens the
store "full". A failed operation prints ``raised <class> <one-line message>`` and exits 0, so the parent can
check what was said.
"""

from __future__ import annotations

import os
import resource
import signal
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ondevice_rec import OdrecError, Recommender  # noqa: E402

BATCH = 200


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def limit_file_size() -> None:
    limit = os.environ.get("ODREC_FSIZE_LIMIT")
    if not limit:
        return
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
    _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(limit), hard))


def operate(rec: Recommender, db: Path, op: str, arg: str) -> None:
    if op == "import":
        rec.import_events(arg, batch_size=BATCH, progress=lambda done, _n: say(f"committed {done}"))
    elif op == "items":
        rec.add_items({"id": f"r{arg}-{k}", "title": f"new {k}", "text": f"added in run {arg}"} for k in range(300))
    elif op == "catalog":
        rec.import_items(arg)
    elif op == "forget":
        rec.forget_user(arg)
    elif op == "record":
        rec.record("faulty", "i1", kind="like", at=1_600_000_000.0)
    else:
        raise SystemExit(f"unknown op {op}")


def main() -> None:
    target, op, arg = Path(sys.argv[1]), sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else ""
    if op == "export":
        from ondevice_rec.export.pipeline import run_export
        from tests.test_export_student import tiny_config

        say("ready")
        run_export(tiny_config(Path(arg), epochs=3, max_ndcg_drop_int8=1.0), target, overwrite=True)
        say("done")
        return
    try:
        durability = os.environ.get("ODREC_DURABILITY", "normal")
        with Recommender.open(target, busy_timeout=30.0, durability=durability) as rec:
            say("ready")
            limit_file_size()
            operate(rec, target, op, arg)
            say("done")
    except OdrecError as e:
        say(f"raised {type(e).__name__} {str(e)!r}")


if __name__ == "__main__":
    main()
