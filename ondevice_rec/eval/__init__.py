"""Evaluation harness (``odrec eval``): protocols, metrics, faithful baselines, the runner and its report.
Data, splits and scenarios live in :mod:`ondevice_rec.datasets`, apart from every model."""

from .metrics import METRICS, bootstrap_ci, paired_test

__all__ = ["METRICS", "bootstrap_ci", "paired_test"]
