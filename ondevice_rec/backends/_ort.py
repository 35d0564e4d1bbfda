"""onnxruntime, configured once: telemetry off, the default thread count and the session options every
backend uses. This is the only module that imports onnxruntime for the runtime."""

from __future__ import annotations

import os
import sys
from typing import Any

from ..errors import ArgumentError, BundleError, PrivacyError

# onnxruntime 1.32 (Linux) ships Microsoft's 1DS telemetry: on the first session it writes a device id and an
# SQLite event queue under $XDG_CACHE_HOME/Microsoft/DeveloperTools/.onnxruntime (and TMPDIR/.ses), and can
# upload them over HTTPS. ``disable_telemetry_events()`` does not stop the queue; the ORT_DISABLE_TELEMETRY
# environment variable does, but only if it is set before onnxruntime is imported (checked in
# tests/test_footprint.py).
TELEMETRY_ENV = "ORT_DISABLE_TELEMETRY"


def telemetry_off_before_import() -> None:
    """Set the switch while it still works (before anything imports onnxruntime); a no-op afterwards."""
    if "onnxruntime" not in sys.modules:
        os.environ[TELEMETRY_ENV] = "1"


def refuse_if_telemetry_on() -> None:
    """Fail closed if the app already imported onnxruntime with telemetry on: nothing we do in this process
    can stop it then. Cheap (imports nothing), so backends that build their session later check at once."""
    telemetry_off_before_import()
    if os.environ.get(TELEMETRY_ENV) != "1":
        raise PrivacyError(
            "onnxruntime was imported before ondevice_rec with its telemetry on (it writes a device id and an "
            f"event queue and may upload them): set {TELEMETRY_ENV}=1 in the environment, or import "
            "ondevice_rec first"
        )


def import_onnxruntime() -> Any:
    """onnxruntime with its telemetry disabled (see :func:`refuse_if_telemetry_on`)."""
    refuse_if_telemetry_on()
    import onnxruntime as ort

    ort.disable_telemetry_events()
    return ort


_THREADS: int | None = None


def default_threads() -> int:
    """Threads for inference and training when the caller does not say: at most 2 (small models gain nothing
    from more, and an app shares the machine with its own work), or what :func:`set_default_threads` set."""
    return _THREADS or max(1, min(2, os.cpu_count() or 1))


def set_default_threads(n: int | None) -> None:
    """Set the process's default thread count (``--threads`` of ``odrec eval``/``export``: two runs side by
    side on a 2-core machine take one each); None restores the automatic choice."""
    global _THREADS
    if n is not None and n < 1:
        raise ArgumentError(f"threads must be >= 1, got {n}")
    _THREADS = n


def session(model: bytes, *, threads: int | None, what: str) -> Any:
    """An onnxruntime CPU session over verified in-memory model bytes."""
    ort = import_onnxruntime()

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or default_threads()
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own types
        raise BundleError(f"cannot load {what} ({type(e).__name__}: {e})") from None
