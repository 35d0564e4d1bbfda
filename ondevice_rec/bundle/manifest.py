"""The bundle manifest, typed: the only code that reads or writes ``manifest.json`` keys.

A manifest says what a bundle is (``kind``), which files it holds (sha256 and size of each), how to build
each runtime component from those files (the component specs), and how it was made and validated (recipe,
versions, validation report). Reports (``validation``, ``training``, ``teacher`` …) are free-form figure
dictionaries; everything a component needs to load is a typed field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any

from ..errors import BundleError, BundleIntegrityError, BundleVersionError

MANIFEST = "manifest.json"
BUNDLE_SCHEMA_VERSION = 1
KINDS = ("text-embedder", "two-tower", "token-classifier")


@dataclass(frozen=True)
class FileEntry:
    sha256: str
    size: int


@dataclass(frozen=True)
class TextEncoderSpec:
    """A sentence encoder run by onnxruntime: token ids → hidden states → pooled, L2-normalised vector."""

    model: str  # int8 ONNX file
    tokenizer: str  # tokenizers JSON file
    dim: int
    max_length: int
    pooling: str = "mean"
    normalize: bool = True
    output: str = "last_hidden_state"
    model_fp32: str | None = None  # optional fp32 ONNX file (benchmarks, comparisons)


@dataclass(frozen=True)
class TwoTowerSpec:
    """A trained student: item tower arrays (text projection + id embeddings) and an ONNX user tower."""

    user_tower: dict[str, str]  # precision ("fp32", "int8") → ONNX file
    item_tower: str  # .npz of proj_w, proj_b, id_emb, profile_w, profile_b
    item_ids: str  # JSON list: row i of id_emb is this item id
    max_len: int
    dim: int
    default_precision: str = "int8"
    # item-item co-occurrence neighbours of the training items (.npz CSR over item_ids rows: indptr, indices,
    # weights), blended into the score as ``item_item_weight`` × the history's summed similarity; the weight is
    # chosen on validation at export (0: the blend did not help and is skipped)
    item_item: str | None = None
    item_item_weight: float = 0.0
    # each history item's row scaled by its recency: 1 for the newest, halving every this many items back (chosen
    # on validation at export; None: every history item counts fully)
    item_item_half_life: float | None = None
    # popularity weight for a user with no events of their own (a profile only), chosen on validation at export;
    # None: the bundle kind's usual weight
    cold_popularity_weight: float | None = None
    # for such a user whose profile names catalogue titles (their whole history): the popularity weight and the
    # factor on ``item_item_weight``, chosen on validation at export; None: as above, no factor
    cold_titles_popularity_weight: float | None = None
    cold_titles_item_item_scale: float | None = None
    # the profile model for such users (``ranking.profile_model``: .npz of title and genre rows and their
    # weights, chosen on validation at export); None: none was fitted or it did not help
    profile_model: str | None = None
    # app-encoded modalities (name → dimension, in the order the item tower reads them after the text vector)
    # the student was exported with (``odrec export --item-vectors``); None: text and ids alone
    item_modalities: dict[str, int] | None = None

    def cold_start(self) -> dict[str, float | None]:
        """The cold-start settings chosen at export, as ``ranking.config.for_bundle_kind`` reads them."""
        return {
            "cold_popularity_weight": self.cold_popularity_weight,
            "cold_titles_popularity_weight": self.cold_titles_popularity_weight,
            "cold_titles_item_item_scale": self.cold_titles_item_item_scale,
        }


@dataclass(frozen=True)
class LlmRankerSpec:
    """A GGUF causal LM answering Yes/No for (history, candidate) prompts, run by llama.cpp."""

    file: str
    type: str  # GGUF quantisation type, e.g. "Q8_0"
    prompt_template: str = "ondevice_rec.ranking.templates.ranker_prompt"
    validation: dict[str, Any] = field(default_factory=dict)
    # weight of the LLM in the fused re-rank score, chosen on validation at export (0: re-ranking does not help
    # this bundle and is skipped); None for bundles exported before fusion existed (LLM order alone)
    fusion_weight: float | None = None
    fusion_report: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TokenClassifierSpec:
    """A wordpiece tagger (BIO labels) run by onnxruntime; inputs input_ids, attention_mask and case_ids (the
    letter case of each piece's word: lower, Title, UPPER…, which an uncased vocabulary cannot see)."""

    model: str
    tokenizer: str
    labels: list[str]
    max_length: int
    stride: int = 32
    thresholds: dict[str, float] = field(default_factory=dict)  # entity type → probability to mask at


@dataclass(frozen=True)
class DatasetInfo:
    """What a trained bundle was trained on."""

    name: str
    users: int
    items: int
    held_out_cold_items: bool = False
    # how timestamp ties were broken when splitting (``datasets.splits.ORDERS``): an evaluation on another
    # order may hold out items this bundle was trained on, so ``odrec eval`` checks it
    split_order: str = "stable"
    interactions: int | None = None  # training interactions used (None: bundles written before it was recorded)


@dataclass(frozen=True)
class Manifest:
    name: str
    kind: str
    text_encoder: TextEncoderSpec | None = None
    files: dict[str, FileEntry] = field(default_factory=dict)
    schema_version: int = BUNDLE_SCHEMA_VERSION
    odrec_version: str = ""
    description: str = ""
    two_tower: TwoTowerSpec | None = None
    llm_ranker: LlmRankerSpec | None = None
    token_classifier: TokenClassifierSpec | None = None
    dataset: DatasetInfo | None = None
    base_model: dict[str, Any] = field(default_factory=dict)
    signature: dict[str, Any] = field(default_factory=dict)
    quantization: dict[str, Any] | None = None
    validation: dict[str, Any] = field(default_factory=dict)
    recipe: dict[str, Any] = field(default_factory=dict)
    config_sha256: str = ""
    versions: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] | None = None
    teacher: dict[str, Any] | None = None
    stage_seconds: dict[str, float] | None = None
    # each export stage's own peak resident memory (MB)
    peak_rss_mb: dict[str, float] | None = None

    # --- serialisation -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The JSON object written to ``manifest.json`` (absent optional parts are left out)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if v is None:
                continue
            if f.name == "files":
                out["files"] = {k: {"sha256": e.sha256, "size": e.size} for k, e in sorted(v.items())}
            elif f.name in _SPECS:
                out[f.name] = {sf.name: getattr(v, sf.name) for sf in fields(v) if getattr(v, sf.name) is not None}
            else:
                out[f.name] = v
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data: Any, where: str = "manifest") -> Manifest:
        """Check and type a manifest read from JSON; unknown keys mean a newer writer (refused)."""
        if not isinstance(data, dict):
            raise BundleIntegrityError(f"{where}: manifest must be a JSON object")
        version = data.get("schema_version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise BundleIntegrityError(f"{where}: manifest has no integer schema_version")
        if version > BUNDLE_SCHEMA_VERSION:
            raise BundleVersionError(
                f"{where}: bundle schema version {version} is newer than this odrec supports "
                f"({BUNDLE_SCHEMA_VERSION}); upgrade ondevice-rec to load it"
            )
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise BundleVersionError(
                f"{where}: manifest has keys this odrec does not know ({', '.join(unknown)}); "
                "it was written by a newer ondevice-rec: upgrade to load it"
            )
        files = data.get("files")
        if not isinstance(files, dict) or not files:
            raise BundleIntegrityError(f"{where}: manifest lists no files")
        entries: dict[str, FileEntry] = {}
        for name, meta in files.items():
            if (
                not isinstance(meta, dict)
                or not isinstance(meta.get("sha256"), str)
                or not isinstance(meta.get("size"), int)
            ):
                raise BundleIntegrityError(f"{where}: entry for {name!r} needs sha256 and size")
            parts = name.replace("\\", "/").split("/")
            if name.startswith(("/", "\\")) or ".." in parts or (len(name) > 1 and name[1] == ":"):
                raise BundleIntegrityError(f"{where}: file name {name!r} escapes the bundle directory")
            entries[name] = FileEntry(meta["sha256"], meta["size"])
        kind = data.get("kind")
        if kind not in KINDS:
            raise BundleIntegrityError(f"{where}: unsupported kind {kind!r} (this odrec loads {', '.join(KINDS)})")
        kw: dict[str, Any] = {k: v for k, v in data.items() if k not in ("files", *_SPECS)}
        for key, spec_cls in _SPECS.items():
            raw = data.get(key)
            kw[key] = None if raw is None else _spec(spec_cls, raw, f"{where}: '{key}'")
        if kw["text_encoder"] is None and kind != "token-classifier":
            raise BundleIntegrityError(f"{where}: manifest has no 'text_encoder'")
        if kind == "token-classifier" and kw["token_classifier"] is None:
            raise BundleIntegrityError(f"{where}: a token-classifier bundle needs a 'token_classifier' section")
        if kind == "two-tower" and kw["two_tower"] is None:
            raise BundleIntegrityError(f"{where}: a two-tower bundle needs a 'two_tower' section")
        m = cls(files=entries, **kw)
        for spec_name, names in m.component_files().items():
            missing = [n for n in names if n not in entries]
            if missing:
                raise BundleIntegrityError(f"{where}: '{spec_name}' names files not in the manifest: {missing}")
        return m

    @classmethod
    def from_json(cls, text: str, where: str = "manifest") -> Manifest:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise BundleIntegrityError(f"{where}: manifest is not valid JSON ({e})") from None
        return cls.from_dict(data, where)

    # --- what the runtime needs ----------------------------------------------------------------
    def component_files(self) -> dict[str, list[str]]:
        """Files each component loads (every one must be listed in ``files``)."""
        out: dict[str, list[str]] = {}
        te = self.text_encoder
        if te is not None:
            out["text_encoder"] = [te.model, te.tokenizer, *([te.model_fp32] if te.model_fp32 else [])]
        if self.token_classifier is not None:
            out["token_classifier"] = [self.token_classifier.model, self.token_classifier.tokenizer]
        if self.two_tower is not None:
            tt = self.two_tower
            out["two_tower"] = [
                *tt.user_tower.values(),
                tt.item_tower,
                tt.item_ids,
                *([tt.item_item] if tt.item_item else []),
                *([tt.profile_model] if tt.profile_model else []),
            ]
        if self.llm_ranker is not None:
            out["llm_ranker"] = [self.llm_ranker.file]
        return out

    @property
    def encoder(self) -> TextEncoderSpec:
        """The text encoder of a text-embedder or two-tower bundle."""
        if self.text_encoder is None:
            raise BundleError(f"bundle {self.name!r} ({self.kind}) has no text encoder")
        return self.text_encoder

    def lazy_files(self) -> set[str]:
        """Files that are not read at load time (the optional GGUF LLM ranker): verified on first use."""
        return {self.llm_ranker.file} if self.llm_ranker is not None else set()

    @property
    def size_bytes(self) -> int:
        return sum(e.size for e in self.files.values())

    @property
    def trained_without_cold_items(self) -> bool:
        """Fair in the eval harness's cold-item scenario: zero-shot, or trained with ``--holdout-cold-items``."""
        return self.kind != "two-tower" or (self.dataset is not None and self.dataset.held_out_cold_items)


_SPECS: dict[str, type] = {
    "text_encoder": TextEncoderSpec,
    "two_tower": TwoTowerSpec,
    "llm_ranker": LlmRankerSpec,
    "token_classifier": TokenClassifierSpec,
    "dataset": DatasetInfo,
}


def _spec(cls: type, raw: Any, where: str) -> Any:
    if not isinstance(raw, dict):
        raise BundleIntegrityError(f"{where} must be an object")
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise BundleVersionError(f"{where} has keys this odrec does not know ({', '.join(unknown)}): upgrade")
    try:
        obj = cls(**raw)
    except TypeError as e:
        raise BundleIntegrityError(f"{where} is incomplete ({e})") from None
    for f in fields(cls):  # light type checks of what loaders index into
        v = getattr(obj, f.name)
        if f.type in ("int",) and (not isinstance(v, int) or isinstance(v, bool)):
            raise BundleIntegrityError(f"{where}: {f.name} must be an integer")
        if f.type in ("str",) and not isinstance(v, str):
            raise BundleIntegrityError(f"{where}: {f.name} must be a string")
    return obj
