"""Data for evaluation and export, apart from any model: dataset loaders, the one leave-one-out split, and
scenarios built from it (simulated cold-user profiles, the cold-item split)."""

from ..errors import DatasetError
from .loaders import DATASETS, Dataset, load_dataset, movie_text
from .scenarios import cold_item_split, cold_user_profile, onboarding_profile, profile_from_history
from .splits import Split, k_core, leave_one_out

__all__ = [
    "DATASETS",
    "Dataset",
    "DatasetError",
    "Split",
    "cold_item_split",
    "k_core",
    "leave_one_out",
    "load_dataset",
    "cold_user_profile",
    "movie_text",
    "onboarding_profile",
    "profile_from_history",
]
