"""``odrec export --item-vectors FILE``: the app's own item vectors (image, audio, …) for the student's item tower.

FILE is JSON Lines, one item per line, ``{"id": ..., "vectors": {"image": [...]}}`` — the catalogue file the runtime
imports will do (other fields are ignored here). Each modality's vectors are read at unit length, as the runtime
reads them (``backends.two_tower.modality_block``), and an item without one gets zeros there, so it is seen by its
text and id alone, in training as on the device.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..backends.two_tower import modality_block
from ..errors import ExportError
from ..inputs.files import Source, read_rows
from ..inputs.items import check_id, modality_vectors


@dataclass(frozen=True)
class ItemVectors:
    """Per modality its dimension (sorted by name: the order the item tower reads them), and each split item's
    vectors (an empty mapping for an item the file gives none)."""

    dims: dict[str, int]
    per_item: list[dict[str, np.ndarray]]
    report: dict[str, Any]

    def block(self) -> np.ndarray:
        """(n_items, sum of dims): the item tower's modality features of the split's items."""
        return modality_block(self.dims, self.per_item, len(self.per_item))


def read_item_vectors(path: Source, item_ids: list[str]) -> ItemVectors:
    """The vectors ``path`` gives the split's items (``item_ids``, in split order); a modality whose dimension
    differs between items, or a file that covers none of these items, is refused."""
    by_id: dict[str, dict[str, np.ndarray]] = {}
    first: dict[str, int] = {}
    dims: dict[str, int] = {}
    for lineno, row in read_rows(path, "jsonl", what="item vectors"):
        raw_id = row.get("id")
        try:  # MovieLens-style numeric ids are the same ids as text
            item_id = check_id(
                str(raw_id) if isinstance(raw_id, int) and not isinstance(raw_id, bool) else raw_id, "id"
            )
            got = modality_vectors(item_id, row.get("vectors"))
        except (TypeError, ValueError) as e:  # ArgumentError/ArgumentTypeError
            raise ExportError(f"{path}:{lineno}: {e}") from None
        if item_id in by_id:
            raise ExportError(f"{path}:{lineno}: item id {item_id!r} appears again (first on line {first[item_id]})")
        first[item_id] = lineno
        for name, v in got.items():
            if dims.setdefault(name, int(v.size)) != v.size:
                raise ExportError(
                    f"{path}:{lineno}: item {item_id!r} has {v.size} numbers of modality {name!r}, others have "
                    f"{dims[name]}"
                )
        by_id[item_id] = got
    if not dims:
        raise ExportError(f'{path}: no item has a "vectors" object (e.g. {{"id": "1", "vectors": {{"image": [...]}}}})')
    per_item = [dict(by_id.get(str(i), {})) for i in item_ids]
    covered = {name: sum(name in v for v in per_item) for name in sorted(dims)}
    if not any(covered.values()):
        raise ExportError(f"{path}: none of its {len(by_id)} items is one of the dataset's {len(item_ids)} items")
    report = {
        "file_items": len(by_id),
        "items": len(item_ids),
        "items_with_vectors": covered,
        "file_items_not_in_dataset": len(set(by_id) - {str(i) for i in item_ids}),
    }
    return ItemVectors({name: dims[name] for name in sorted(dims)}, per_item, report)
