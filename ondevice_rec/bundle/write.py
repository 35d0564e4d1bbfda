"""Write a bundle: stage it in a temporary directory beside the target, hash every file into the manifest,
then rename it into place. A failed build never leaves a half-written bundle."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from ..errors import BundleError, ExportError
from .load import sha256_file
from .manifest import BUNDLE_SCHEMA_VERSION, MANIFEST, FileEntry, Manifest


def _replaceable(target: Path) -> bool:
    """Whether ``overwrite`` may replace ``target``: a bundle this SDK wrote (its manifest is there), or an empty
    directory. Anything else — a file, a folder of the user's — is never deleted."""
    if not target.is_dir():
        return False
    if not any(target.iterdir()):
        return True
    try:
        Manifest.from_json((target / MANIFEST).read_text())
    except (OSError, ValueError, TypeError, KeyError, BundleError):
        return False
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _clear_stale(target: Path) -> None:
    """What a build killed before it finished left beside ``target``: its own staging directories (named
    ``.<target>.<pid>.<random>.partial``) whose process is gone are removed, and a previous bundle set aside just
    before the kill (between the two renames that swap a bundle in) is put back when it is whole."""
    own = re.compile(rf"\.{re.escape(target.name)}\.(\d+)\.[A-Za-z0-9_]+\.partial")
    for p in target.parent.iterdir():
        m = own.fullmatch(p.name)
        if m and p.is_dir() and not _alive(int(m.group(1))):
            shutil.rmtree(p, ignore_errors=True)
    old = target.with_name(f".{target.name}.old")
    if old.is_dir() and not target.exists() and _replaceable(old) and any(old.iterdir()):
        os.replace(old, target)


@contextmanager
def staged_bundle_dir(out: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary directory beside ``out``; on success it is renamed to ``out`` atomically.

    On any error the temporary directory is removed, so a failed build never leaves a half-written bundle; one
    killed outright leaves its staging directory, which the next build beside the same target removes.
    """
    target = Path(out).resolve()
    if target.parent.is_dir():
        _clear_stale(target)
    if target.exists() and not overwrite:
        raise BundleError(f"output {target} already exists (pass overwrite=True / --overwrite)")
    if target.exists() and not _replaceable(target):
        raise BundleError(f"refusing to replace {target}: it is not a bundle (overwrite replaces only bundles)")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".partial", dir=target.parent))
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


def write_manifest(root: Path, manifest: Manifest, files: list[str]) -> Manifest:
    """Record each file's hash and size and write ``manifest.json`` (sorted keys, stable bytes)."""
    entries = {}
    for name in sorted(files):
        p = root / name
        entries[name] = FileEntry(sha256_file(p), p.stat().st_size)
    final = replace(manifest, schema_version=BUNDLE_SCHEMA_VERSION, files=entries)
    (root / MANIFEST).write_text(final.to_json(), encoding="utf-8")
    return final


def write_bundle(
    out: str | os.PathLike[str], manifest: Manifest, files: Mapping[str, bytes | Path], *, overwrite: bool = False
) -> Manifest:
    """Stage ``files`` (bytes, or paths to copy), hash them into ``manifest`` and rename into ``out``."""
    try:
        with staged_bundle_dir(out, overwrite=overwrite) as stage:
            for name, data in files.items():
                if isinstance(data, bytes):
                    (stage / name).write_bytes(data)
                else:
                    shutil.copyfile(data, stage / name)
            return write_manifest(stage, manifest, list(files))
    except OSError as e:  # e.g. a full disk: the staged directory is already gone
        raise ExportError(f"cannot write the bundle to {out} ({e.strerror or e}); no bundle written") from None
