"""Model bundles: a directory holding ``manifest.json`` plus the files it lists, each hash-verified.

``manifest`` (the typed format), ``load`` (verify + open), ``write`` (staged, atomic writing).
"""

from .load import (
    Bundle,
    content_id,
    default_bundle_path,
    load_bundle,
    read_manifest,
    sha256_bytes,
    sha256_file,
    verify_bundle,
)
from .manifest import (
    BUNDLE_SCHEMA_VERSION,
    MANIFEST,
    DatasetInfo,
    FileEntry,
    LlmRankerSpec,
    Manifest,
    TextEncoderSpec,
    TokenClassifierSpec,
    TwoTowerSpec,
)
from .write import staged_bundle_dir, write_bundle, write_manifest

__all__ = [
    "BUNDLE_SCHEMA_VERSION",
    "MANIFEST",
    "Bundle",
    "DatasetInfo",
    "FileEntry",
    "LlmRankerSpec",
    "Manifest",
    "TextEncoderSpec",
    "TokenClassifierSpec",
    "TwoTowerSpec",
    "content_id",
    "default_bundle_path",
    "load_bundle",
    "read_manifest",
    "sha256_bytes",
    "sha256_file",
    "staged_bundle_dir",
    "verify_bundle",
    "write_bundle",
    "write_manifest",
]
