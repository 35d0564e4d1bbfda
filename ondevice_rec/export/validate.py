"""The one validation step of every export (``odrec export`` and ``odrec bundle build-default``).

Stages measure figures (exported vs reference outputs, quantised vs full precision, ranking quality);
:func:`validate` checks them against gates and returns a :class:`ValidationReport`, which is recorded in the
manifest; a failed report raises before anything is written, so no bundle is left behind.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ExportError


@dataclass(frozen=True)
class Gate:
    """``figures[figure] <op> limit`` must hold, e.g. ``Gate("max_abs_onnx_fp32_vs_torch", "<=", 1e-4, …)``."""

    figure: str
    op: str  # "<=" or ">="
    limit: float
    label: str  # what the figure is, in words (used in the failure message)
    fmt: str = ".4g"

    def check(self, value: float) -> str | None:
        ok = value <= self.limit if self.op == "<=" else value >= self.limit
        if ok:
            return None
        bad = ">" if self.op == "<=" else "<"
        return f"{self.label} {value:{self.fmt}} {bad} {self.limit}"


@dataclass(frozen=True)
class ValidationReport:
    figures: Mapping[str, Any]
    gates: Mapping[str, Any]  # the thresholds (and validation parameters) the figures were checked against
    failures: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        """The manifest's ``validation`` section."""
        return {**self.figures, "gates": dict(self.gates), "passed": self.passed}

    def require(self) -> ValidationReport:
        """Raise :class:`ExportError` naming every failed gate; return ``self`` when all hold."""
        if self.failures:
            raise ExportError("validation failed, no bundle written: " + "; ".join(self.failures))
        return self


def validate(
    figures: Mapping[str, Any], gates: Sequence[Gate], *, recorded: Mapping[str, Any] | None = None
) -> ValidationReport:
    """Check ``figures`` against ``gates``. ``recorded`` is what the manifest keeps as the gates (default:
    each gate's limit by figure name)."""
    missing = [g.figure for g in gates if g.figure not in figures]
    if missing:
        raise ExportError(f"validation: no figure for gate(s) {', '.join(missing)}")
    failures = tuple(msg for g in gates if (msg := g.check(float(figures[g.figure]))) is not None)
    return ValidationReport(dict(figures), dict(recorded or {g.figure: g.limit for g in gates}), failures)


def compare_outputs(reference: np.ndarray, candidate: np.ndarray) -> dict[str, float]:
    """Exported vs reference outputs, row-wise: max |diff| and the mean/min cosine of the rows."""
    ref = np.asarray(reference, dtype=np.float64).reshape(len(reference), -1)
    got = np.asarray(candidate, dtype=np.float64).reshape(len(candidate), -1)
    if ref.shape != got.shape:
        raise ExportError(f"validation: output shapes differ ({ref.shape} vs {got.shape})")
    cos = np.sum(ref * got, axis=1) / np.maximum(np.linalg.norm(ref, axis=1) * np.linalg.norm(got, axis=1), 1e-12)
    return {
        "max_abs": float(np.max(np.abs(ref - got))),
        "mean_cosine": float(cos.mean()),
        "min_cosine": float(cos.min()),
    }


def top_k_overlap(
    queries_ref: np.ndarray, docs_ref: np.ndarray, queries: np.ndarray, docs: np.ndarray, k: int = 10
) -> float:
    """Mean share of each query's top-``k`` documents (by dot product) kept when both sides are replaced."""
    ref = np.argsort(-(queries_ref @ docs_ref.T), axis=1)[:, :k]
    new = np.argsort(-(queries @ docs.T), axis=1)[:, :k]
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(ref, new)]))
