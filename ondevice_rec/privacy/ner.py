"""The PII token classifier shipped with the package (``bundles/pii``): loaded, hash-verified, once per process."""

from __future__ import annotations

import threading
from importlib import resources
from pathlib import Path

from ..backends.token_classifier import OnnxTokenClassifier
from ..bundle import load_bundle
from ..errors import RedactionError

_lock = threading.Lock()
_loaded: dict[str, OnnxTokenClassifier | None] = {}


def pii_bundle_path() -> Path:
    return Path(str(resources.files("ondevice_rec") / "bundles" / "pii"))


def pii_classifier() -> OnnxTokenClassifier | None:
    """The verified classifier, or None when this install ships none (the masker then relies on spaCy's NER
    and the pattern recognizers alone). A bundle that is present but damaged fails closed."""
    with _lock:
        if "pii" not in _loaded:
            path = pii_bundle_path()
            if not (path / "manifest.json").is_file():
                _loaded["pii"] = None
            else:
                try:
                    b = load_bundle(path)
                except Exception as e:
                    raise RedactionError(f"the PII token classifier bundle is unusable: {e}") from None
                spec = b.manifest.token_classifier
                if spec is None:
                    raise RedactionError(f"{path} is not a token-classifier bundle")
                _loaded["pii"] = OnnxTokenClassifier(spec, b.file(spec.model), b.file(spec.tokenizer))
        return _loaded["pii"]
