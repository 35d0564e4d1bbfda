"""Evaluation harness: dataset loaders, splits, protocols, metrics and faithful baselines (``odrec eval``)."""

from .datasets import Dataset, load_dataset
from .metrics import METRICS, bootstrap_ci, paired_test
from .splits import Split, leave_one_out

__all__ = ["Dataset", "load_dataset", "Split", "leave_one_out", "METRICS", "bootstrap_ci", "paired_test"]
