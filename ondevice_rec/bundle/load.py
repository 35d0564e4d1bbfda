"""Open a bundle: read its typed manifest and verify every file's size and sha256 before anything uses it.

Files are read once into memory (so a bundle swapped on disk while in use cannot change what is loaded),
except lazy files (the optional GGUF LLM ranker), which are hashed when first used.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from ..errors import BundleError, BundleIntegrityError
from .manifest import MANIFEST, FileEntry, Manifest


def default_bundle_path() -> Path:
    """Path of the bundle shipped inside the package (int8 all-MiniLM-L6-v2)."""
    return Path(str(resources.files("ondevice_rec") / "bundles" / "default"))


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def content_id(files: dict[str, FileEntry]) -> str:
    """Stable id of a bundle's content: hash of the sorted file hashes (not of paths or timestamps)."""
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + files[name].sha256.encode())
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class Bundle:
    """A verified bundle: its typed manifest and the verified bytes of every eagerly loaded file."""

    path: Path
    manifest: Manifest
    files: dict[str, bytes] = field(repr=False)

    @property
    def bundle_id(self) -> str:
        return content_id(self.manifest.files)

    @property
    def manifest_sha256(self) -> str:
        return sha256_bytes(self.manifest.to_json().encode())

    def file(self, name: str) -> bytes:
        try:
            return self.files[name]
        except KeyError:
            raise BundleError(f"bundle {self.path} has no file {name!r} in its manifest") from None

    def verified_path(self, name: str) -> Path:
        """Path of a lazily verified file after checking its sha256 (streamed, not kept in memory)."""
        entry = self.manifest.files.get(name)
        if entry is None:
            raise BundleError(f"bundle {self.path} has no file {name!r} in its manifest")
        fpath = self.path / name
        _check_size(fpath, entry)
        if sha256_file(fpath) != entry.sha256:
            raise BundleIntegrityError(f"bundle file {fpath} does not match its sha256 in the manifest (modified)")
        return fpath


def read_manifest(path: str | os.PathLike[str] | None = None) -> Manifest:
    """Read and check a bundle's manifest (schema version, keys, component files) without reading its files."""
    root = Path(path) if path is not None else default_bundle_path()
    mpath = root / MANIFEST
    if not root.is_dir():
        raise BundleError(f"bundle directory not found: {root}")
    try:
        text = mpath.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BundleError(f"{root} is not a bundle: {MANIFEST} is missing") from None
    except UnicodeDecodeError as e:
        raise BundleIntegrityError(f"{mpath}: manifest is not valid JSON ({e})") from None
    return Manifest.from_json(text, str(mpath))


def load_bundle(path: str | os.PathLike[str] | None = None) -> Bundle:
    """Load a bundle and verify every file's size and sha256; raise :class:`BundleIntegrityError` naming
    the first file that does not match."""
    root = Path(path) if path is not None else default_bundle_path()
    manifest = read_manifest(root)
    lazy = manifest.lazy_files()
    data: dict[str, bytes] = {}
    for name, entry in manifest.files.items():
        fpath = root / name
        if name in lazy:
            _check_size(fpath, entry)
            continue
        try:
            blob = fpath.read_bytes()
        except FileNotFoundError:
            raise BundleIntegrityError(f"bundle file missing: {fpath}") from None
        except OSError as e:
            raise BundleIntegrityError(f"bundle file unreadable: {fpath} ({e.strerror})") from None
        if len(blob) != entry.size:
            raise BundleIntegrityError(
                f"bundle file {fpath} has {len(blob)} bytes, manifest says {entry.size} (truncated or replaced)"
            )
        if sha256_bytes(blob) != entry.sha256:
            raise BundleIntegrityError(f"bundle file {fpath} does not match its sha256 in the manifest (modified)")
        data[name] = blob
    return Bundle(path=root, manifest=manifest, files=data)


def verify_bundle(path: str | os.PathLike[str] | None = None) -> Manifest:
    """Verify every file of a bundle on disk (lazy files included); return its manifest."""
    b = load_bundle(path)
    for name in b.manifest.lazy_files():
        b.verified_path(name)
    return b.manifest


def _check_size(fpath: Path, entry: FileEntry) -> None:
    try:
        size = fpath.stat().st_size
    except FileNotFoundError:
        raise BundleIntegrityError(f"bundle file missing: {fpath}") from None
    if size != entry.size:
        raise BundleIntegrityError(
            f"bundle file {fpath} has {size} bytes, manifest says {entry.size} (truncated or replaced)"
        )
