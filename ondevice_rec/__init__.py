"""ondevice-rec: LLM-quality recommendations computed entirely on the device, private by design.

from ondevice_rec import Recommender
with Recommender.open("rec.db") as rec:
    rec.add_items([{"id": "b1", "title": "...", "text": "...", "tags": ["..."]}])
    rec.consent("alice").grant("personalization")
    rec.record("alice", "b1", kind="like")
    for r in rec.recommend("alice", k=10):
        print(r.item_id, r.score, r.reason)
"""

from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import (
    ArgumentError,
    ArgumentTypeError,
    BenchError,
    BundleError,
    BundleIntegrityError,
    BundleVersionError,
    ConsentError,
    DatasetError,
    EgressBlocked,
    EgressTransportError,
    ExportError,
    ImportFormatError,
    ItemNotFoundError,
    MissingExtraError,
    OdrecError,
    PrivacyError,
    RedactionError,
    StoreBusyError,
    StoreError,
    StoreFullError,
    WrongKeyError,
)
from .inputs.event_rows import EventColumns
from .inputs.imports import ImportReport
from .inputs.items import CatalogColumns
from .privacy.consent import ConsentHandle
from .ranking import RankingConfig
from .ranking.pipeline import Recommendation
from .recommender import Recommender

if TYPE_CHECKING:
    from .privacy.egress import EgressGate

__all__ = [
    "__version__",
    "Recommender",
    "Recommendation",
    "ConsentHandle",
    "RankingConfig",
    "CatalogColumns",
    "EventColumns",
    "ImportReport",
    "EgressGate",
    "OdrecError",
    "ArgumentError",
    "ArgumentTypeError",
    "BenchError",
    "BundleError",
    "BundleIntegrityError",
    "BundleVersionError",
    "StoreError",
    "StoreBusyError",
    "StoreFullError",
    "WrongKeyError",
    "ItemNotFoundError",
    "ImportFormatError",
    "PrivacyError",
    "RedactionError",
    "ConsentError",
    "DatasetError",
    "EgressBlocked",
    "EgressTransportError",
    "ExportError",
    "MissingExtraError",
]


def __getattr__(name: str) -> Any:
    """``EgressGate`` is imported on first use: it pulls in the masking stack."""
    if name == "EgressGate":
        from .privacy.egress import EgressGate

        return EgressGate
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
