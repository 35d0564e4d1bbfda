"""Model bundles: a directory holding ``manifest.json`` plus the files it lists, each hash-verified.

A bundle is self-describing: the manifest records its schema version, the odrec version that wrote it, every
file's sha256 and size, the model's input/output signature, the base model and its licence, and the
validation figures measured when it was built. Loading refuses any file whose bytes do not match.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import BundleError, BundleIntegrityError, BundleVersionError

MANIFEST = "manifest.json"
BUNDLE_SCHEMA_VERSION = 1


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


@dataclass(frozen=True)
class Bundle:
    """A verified bundle: its manifest and the verified bytes of every file (read once, so a bundle
    swapped on disk while it is in use cannot change what is loaded)."""

    path: Path
    manifest: dict[str, Any]
    files: dict[str, bytes] = field(repr=False)

    @property
    def bundle_id(self) -> str:
        """Stable id of the model content: hash of the sorted file hashes (not of paths or timestamps)."""
        h = hashlib.sha256()
        for name in sorted(self.manifest["files"]):
            h.update(name.encode() + b"\0" + self.manifest["files"][name]["sha256"].encode())
        return h.hexdigest()[:16]

    @property
    def manifest_sha256(self) -> str:
        return sha256_bytes(json.dumps(self.manifest, sort_keys=True).encode())

    def verified_path(self, name: str) -> Path:
        """Path of a lazily verified file after checking its sha256 (streamed, not kept in memory)."""
        meta = self.manifest["files"].get(name)
        if meta is None:
            raise BundleError(f"bundle {self.path} has no file {name!r} in its manifest")
        fpath = self.path / name
        _check_size(fpath, meta)
        if sha256_file(fpath) != meta["sha256"]:
            raise BundleIntegrityError(f"bundle file {fpath} does not match its sha256 in the manifest (modified)")
        return fpath

    def file(self, name: str) -> bytes:
        try:
            return self.files[name]
        except KeyError:
            raise BundleError(f"bundle {self.path} has no file {name!r} in its manifest") from None


def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check a bundle's manifest (schema version, required keys) without reading its files."""
    root = Path(path)
    mpath = root / MANIFEST
    if not root.is_dir():
        raise BundleError(f"bundle directory not found: {root}")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError(f"{root} is not a bundle: {MANIFEST} is missing") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BundleIntegrityError(f"{mpath}: manifest is not valid JSON ({e})") from None
    if not isinstance(manifest, dict):
        raise BundleIntegrityError(f"{mpath}: manifest must be a JSON object")
    version = manifest.get("schema_version")
    if not isinstance(version, int):
        raise BundleIntegrityError(f"{mpath}: manifest has no integer schema_version")
    if version > BUNDLE_SCHEMA_VERSION:
        raise BundleVersionError(
            f"{root}: bundle schema version {version} is newer than this odrec supports "
            f"({BUNDLE_SCHEMA_VERSION}); upgrade ondevice-rec to load it"
        )
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise BundleIntegrityError(f"{mpath}: manifest lists no files")
    for name, meta in files.items():
        if (
            not isinstance(meta, dict)
            or not isinstance(meta.get("sha256"), str)
            or not isinstance(meta.get("size"), int)
        ):
            raise BundleIntegrityError(f"{mpath}: entry for {name!r} needs sha256 and size")
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise BundleIntegrityError(f"{mpath}: file name {name!r} escapes the bundle directory")
    return manifest


def load_bundle(path: str | os.PathLike[str] | None = None) -> Bundle:
    """Load a bundle and verify every file's size and sha256; raise :class:`BundleIntegrityError` naming
    the first file that does not match."""
    root = Path(path) if path is not None else default_bundle_path()
    manifest = read_manifest(root)
    data: dict[str, bytes] = {}
    for name, meta in manifest["files"].items():
        fpath = root / name
        if name in lazy_files(manifest):
            _check_size(fpath, meta)  # large optional files: hashed when first used (Bundle.verified_path)
            continue
        try:
            blob = fpath.read_bytes()
        except FileNotFoundError:
            raise BundleIntegrityError(f"bundle file missing: {fpath}") from None
        except OSError as e:
            raise BundleIntegrityError(f"bundle file unreadable: {fpath} ({e.strerror})") from None
        if len(blob) != meta["size"]:
            raise BundleIntegrityError(
                f"bundle file {fpath} has {len(blob)} bytes, manifest says {meta['size']} (truncated or replaced)"
            )
        if sha256_bytes(blob) != meta["sha256"]:
            raise BundleIntegrityError(f"bundle file {fpath} does not match its sha256 in the manifest (modified)")
        data[name] = blob
    return Bundle(path=root, manifest=manifest, files=data)


def lazy_files(manifest: dict[str, Any]) -> set[str]:
    """Files that are not read at load time (the optional GGUF LLM ranker): verified on first use."""
    llm = manifest.get("llm_ranker") or {}
    return {llm["file"]} if isinstance(llm, dict) and llm.get("file") else set()


def _check_size(fpath: Path, meta: dict[str, Any]) -> None:
    try:
        size = fpath.stat().st_size
    except FileNotFoundError:
        raise BundleIntegrityError(f"bundle file missing: {fpath}") from None
    if size != meta["size"]:
        raise BundleIntegrityError(
            f"bundle file {fpath} has {size} bytes, manifest says {meta['size']} (truncated or replaced)"
        )


def verify_bundle(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Verify every file of a bundle on disk (lazy files included); return its manifest."""
    b = load_bundle(path)
    for name in lazy_files(b.manifest):
        b.verified_path(name)
    return b.manifest


def file_entry(path: Path) -> dict[str, Any]:
    return {"sha256": sha256_file(path), "size": path.stat().st_size}


@contextmanager
def staged_bundle_dir(out: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary directory beside ``out``; on success it is renamed to ``out`` atomically.

    On any error the temporary directory is removed, so a failed build never leaves a half-written bundle.
    """
    target = Path(out).resolve()
    if target.exists() and not overwrite:
        raise BundleError(f"output {target} already exists (pass overwrite=True / --overwrite)")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    tmp.chmod(0o755)
    try:
        yield tmp
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_manifest(root: Path, manifest: dict[str, Any], files: list[str]) -> dict[str, Any]:
    """Record each file's hash and size and write ``manifest.json`` (sorted keys, stable bytes)."""
    manifest = dict(manifest)
    manifest["schema_version"] = BUNDLE_SCHEMA_VERSION
    manifest["files"] = {name: file_entry(root / name) for name in sorted(files)}
    (root / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return manifest
