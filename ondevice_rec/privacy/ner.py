"""The PII token classifiers shipped with the package: loaded, hash-verified, once per process each.

``pii`` (``bundles/pii``) masks English; ``pii-eu`` (``bundles/pii-eu``) masks German, Spanish, Italian, Dutch and
Portuguese. Both are built by ``odrec bundle build-pii`` (recipes ``export/pii-ner.json`` and
``export/pii-ner-eu.json``).
"""

from __future__ import annotations

import threading
from importlib import resources
from pathlib import Path

from ..backends.token_classifier import OnnxTokenClassifier
from ..bundle import load_bundle
from ..errors import RedactionError

ENGLISH, EUROPEAN = "pii", "pii-eu"
# which classifier masks a language's text (French is masked by spaCy's French NER)
CLASSIFIER_OF = {"en": ENGLISH, "de": EUROPEAN, "es": EUROPEAN, "it": EUROPEAN, "nl": EUROPEAN, "pt": EUROPEAN}

_lock = threading.Lock()
_loaded: dict[str, OnnxTokenClassifier] = {}
_ids: dict[str, str] = {}


def pii_bundle_path(name: str = ENGLISH) -> Path:
    return Path(str(resources.files("ondevice_rec") / "bundles" / name))


def pii_classifier(name: str = ENGLISH) -> OnnxTokenClassifier:
    """The verified classifier ``name``. Masking is measured with it (spaCy's English NER alone let several times
    more names through; no other German, Spanish, Italian, Dutch or Portuguese model is installed), so an install
    without it, or with a damaged one, fails closed: masking never carries on weaker than its published figures."""
    with _lock:
        if name not in _loaded:
            path = pii_bundle_path(name)
            if not (path / "manifest.json").is_file():
                raise RedactionError(
                    f"the PII token classifier bundle is missing ({path}/manifest.json); reinstall ondevice-rec "
                    "(or rebuild it with `odrec bundle build-pii`): masking does not run without it"
                )
            try:
                b = load_bundle(path)
            except Exception as e:
                raise RedactionError(f"the PII token classifier bundle {name} is unusable: {e}") from None
            spec = b.manifest.token_classifier
            if spec is None:
                raise RedactionError(f"{path} is not a token-classifier bundle")
            _loaded[name] = OnnxTokenClassifier(spec, b.file(spec.model), b.file(spec.tokenizer))
            _ids[name] = f"{b.manifest.name}@{b.manifest.files[spec.model].sha256[:12]}"
        return _loaded[name]


def pii_classifier_id(name: str = ENGLISH) -> str:
    """The loaded classifier's name and model hash, as the audit log records it."""
    pii_classifier(name)
    return _ids[name]
