"""The PII token classifier shipped with the package (``bundles/pii``): loaded, hash-verified, once per process."""

from __future__ import annotations

import threading
from importlib import resources
from pathlib import Path

from ..backends.token_classifier import OnnxTokenClassifier
from ..bundle import load_bundle
from ..errors import RedactionError

_lock = threading.Lock()
_loaded: dict[str, OnnxTokenClassifier] = {}
_ids: dict[str, str] = {}


def pii_bundle_path() -> Path:
    return Path(str(resources.files("ondevice_rec") / "bundles" / "pii"))


def pii_classifier() -> OnnxTokenClassifier:
    """The verified classifier. English masking is measured with it (spaCy's NER alone let several times more
    names through), so an install without it, or with a damaged one, fails closed: masking never carries on
    weaker than its published figures."""
    with _lock:
        if "pii" not in _loaded:
            path = pii_bundle_path()
            if not (path / "manifest.json").is_file():
                raise RedactionError(
                    f"the PII token classifier bundle is missing ({path}/manifest.json); reinstall ondevice-rec "
                    "(or rebuild it with `odrec bundle build-pii`): English masking does not run without it"
                )
            else:
                try:
                    b = load_bundle(path)
                except Exception as e:
                    raise RedactionError(f"the PII token classifier bundle is unusable: {e}") from None
                spec = b.manifest.token_classifier
                if spec is None:
                    raise RedactionError(f"{path} is not a token-classifier bundle")
                _loaded["pii"] = OnnxTokenClassifier(spec, b.file(spec.model), b.file(spec.tokenizer))
                _ids["pii"] = f"{b.manifest.name}@{b.manifest.files[spec.model].sha256[:12]}"
        return _loaded["pii"]


def pii_classifier_id() -> str:
    """The loaded classifier's name and model hash, as the audit log records it."""
    pii_classifier()
    return _ids["pii"]
