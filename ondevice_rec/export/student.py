"""The on-device student: an item tower (frozen text embedding → projection, plus a learned id embedding for
items seen in training) and a user tower (a small causal transformer over the user's recent item vectors, with
an optional natural-language profile token). Per request the user tower runs once; per candidate the cost is
one dot product against item vectors computed at catalogue-ingest time.

Trained with next-item cross-entropy — a full softmax over the catalogue, or above ``full_softmax_items`` items
a logQ-corrected sampled softmax whose cost does not grow with the catalogue — plus an optional distillation
loss (KL divergence towards the teacher's scores on candidate sets).
"""

from __future__ import annotations

import os
import pickle
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..datasets.windows import training_windows
from ..errors import ArgumentError, ExportError
from ._deps import require

ENSEMBLE_AUTO = 3


@dataclass(frozen=True)
class StudentConfig:
    dim: int = 64
    blocks: int = 2
    heads: int = 2
    max_len: int = 50
    dropout: float = 0.3
    # share of items seen by their text alone (as history and as targets), so items that arrive after training
    # score sensibly. Chosen on validation only (benchmarks/results/cold-items: ML-100K, three held-out item
    # sets; validation NDCG@10 with the held-out items in the catalogue 0.1078 at 0.25, 0.1032 at 0.5, 0.0988
    # at 0.75); test cold-item NDCG@10 0.0154 [0.0050, 0.0286] at 0.25, 4.2x random
    id_dropout: float = 0.25
    profile_rate: float = 0.3  # share of training sequences that also get a profile token
    # weight of a cold-start loss (profile alone, no history → the user's items) trained jointly with the
    # next-item loss: 0 by default, because sharing the user tower with it cost a third of warm NDCG@10 on
    # ml-latest-small validation (0.0724 → 0.0566 at 0.5); the cold-start path is trained after, on its own
    cold_weight: float = 0.0
    cold_targets: int = 8  # items of the user predicted from the profile alone, per sequence and step
    # second stage: with everything else frozen, the profile projection alone learns the cold-start loss,
    # early-stopped on the validation item of profile-only users (0 epochs: no second stage)
    cold_stage_epochs: int = 30
    cold_patience: int = 3
    lr: float = 1e-3
    batch: int = 64
    full_history: bool = True  # train on windows over whole histories (False: only each user's last max_len + 1)
    epochs: int = 120
    eval_every: int = 5
    # evaluations without a new best before stopping: validation NDCG@10 of a few hundred users moves by ±0.005
    # between evaluations, and 5 stopped ml-latest-small at epoch ~60 (0.066) where epoch 120 reached 0.0786
    patience: int = 10
    distill_weight: float = 0.1  # weight of the KL(teacher || student) term; 0 switches distillation off
    distill_temperature: float = 1.0
    seed: int = 0
    # next-item loss: "full" softmax over the catalogue (exact; cost grows with it), "sampled" softmax over the
    # positive and ``negatives`` items shared by the batch, drawn ∝ count**negative_power and logQ-corrected
    # (cost independent of the catalogue), or "auto": full up to ``full_softmax_items`` items, sampled above
    loss: str = "auto"
    full_softmax_items: int = 10_000
    negatives: int = 1024
    negative_power: float = 0.0
    # sequences per step of the sampled softmax: large catalogues come with many short sequences, where a
    # step's fixed cost (optimizer over every id embedding, op dispatch) dominates a batch of 64
    sampled_batch: int = 256
    # early stopping (and the cold-start stage) score a fixed random sample of this many validation users at
    # most: full-catalogue ranking of every user of a large dataset every few epochs would dominate training
    valid_users: int = 5_000
    # students trained from seeds seed, seed+1, … and shipped as one two-tower model whose vectors are theirs
    # side by side (a dot product of concatenations is the sum of the members' scores): a seed ensemble at the
    # price of one wider tower. 0: ``ENSEMBLE_AUTO`` members up to ``ensemble_max_interactions`` training
    # interactions (small data, where one seed's variance is largest and training is cheap), else 1
    ensemble: int = 0
    ensemble_max_interactions: int = 300_000

    def __post_init__(self) -> None:
        if not 0.0 <= self.id_dropout < 1.0:
            raise ArgumentError(f"id_dropout must be in [0, 1), got {self.id_dropout}")
        if self.loss not in ("auto", "full", "sampled"):
            raise ArgumentError(f"loss must be auto, full or sampled, got {self.loss!r}")
        if self.negatives < 1:
            raise ArgumentError(f"negatives must be at least 1, got {self.negatives}")
        if self.ensemble < 0:
            raise ArgumentError(f"ensemble must be 0 (automatic) or a number of students, got {self.ensemble}")

    def members(self, interactions: int) -> int:
        """How many students an export of ``interactions`` training interactions trains."""
        if self.ensemble:
            return self.ensemble
        return ENSEMBLE_AUTO if interactions <= self.ensemble_max_interactions else 1

    @property
    def tower_dim(self) -> int:
        """Width of the exported vectors: ``dim`` per member of the ensemble (resolved: 1 or more)."""
        return self.dim * max(1, self.ensemble)

    def sampled(self, n_items: int) -> bool:
        """Whether training on ``n_items`` items uses the sampled softmax."""
        return self.loss == "sampled" or (self.loss == "auto" and n_items > self.full_softmax_items)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_student(torch: Any, n_items: int, text_dim: int, cfg: StudentConfig, profile_dim: int | None = None) -> Any:
    """``text_dim``: the item features the item tower projects (the text vector, then any app-encoded modality
    vectors); ``profile_dim``: the profile text vector's (default ``text_dim``)."""
    nn: Any = torch.nn

    class Attention(nn.Module):
        """Causal multi-head self-attention written with plain ops, so the ONNX graph keeps batch and length
        dynamic (nn.MultiheadAttention's traced graph bakes the batch size into a reshape)."""

        def __init__(self) -> None:
            super().__init__()
            self.qkv = nn.Linear(cfg.dim, 3 * cfg.dim)
            self.out = nn.Linear(cfg.dim, cfg.dim)
            self.drop = nn.Dropout(cfg.dropout)
            self.hd = cfg.dim // cfg.heads

        def forward(self, x: Any, causal: Any) -> Any:
            b, n = x.shape[0], x.shape[1]
            q, k, v = self.qkv(x).reshape(b, n, 3, cfg.heads, self.hd).permute(2, 0, 3, 1, 4)
            att = (q @ k.transpose(-1, -2)) / (self.hd**0.5)
            att = att.masked_fill(causal, -1e9).softmax(-1)
            y = (self.drop(att) @ v).transpose(1, 2).reshape(b, n, cfg.dim)
            return self.out(y)

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln1 = nn.LayerNorm(cfg.dim)
            self.attn = Attention()
            self.ln2 = nn.LayerNorm(cfg.dim)
            self.ff = nn.Sequential(
                nn.Linear(cfg.dim, 2 * cfg.dim),
                nn.GELU(),
                nn.Dropout(cfg.dropout),
                nn.Linear(2 * cfg.dim, cfg.dim),
                nn.Dropout(cfg.dropout),
            )

        def forward(self, x: Any, causal: Any) -> Any:
            x = x + self.attn(self.ln1(x), causal)
            return x + self.ff(self.ln2(x))

    class UserTower(nn.Module):
        """history (B, L, dim) right-aligned with zero rows as padding; profile (B, dim) with a zero row for
        "no profile". Returns the user vector (B, dim)."""

        def __init__(self) -> None:
            super().__init__()
            self.pos = nn.Parameter(torch.zeros(cfg.max_len + 1, cfg.dim))
            nn.init.normal_(self.pos, std=0.02)
            self.profile_tag = nn.Parameter(torch.zeros(cfg.dim))
            self.drop = nn.Dropout(cfg.dropout)
            self.blocks = nn.ModuleList([Block() for _ in range(cfg.blocks)])
            self.ln = nn.LayerNorm(cfg.dim)

        def forward(self, history: Any, profile: Any) -> Any:
            b, length, _ = history.shape
            prof = (profile + self.profile_tag * (profile.abs().sum(-1, keepdim=True) > 0)).unsqueeze(1)
            x = torch.cat([prof, history], dim=1) + self.pos[cfg.max_len - length :].unsqueeze(0)
            x = self.drop(x)
            n = length + 1
            causal = torch.triu(torch.ones(n, n, dtype=torch.bool), diagonal=1)
            for blk in self.blocks:
                x = blk(x, causal)
            return self.ln(x)  # (B, L+1, dim): position t predicts the item after history[:t]

    class Student(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = nn.Linear(text_dim, cfg.dim)
            self.ids = nn.Embedding(n_items + 1, cfg.dim, padding_idx=0)  # 0 = unknown item (text only)
            nn.init.normal_(self.ids.weight, std=0.02)
            with torch.no_grad():
                self.ids.weight[0].zero_()
            self.profile_proj = nn.Linear(profile_dim or text_dim, cfg.dim)
            self.user = UserTower()

        def item_vectors(self, text: Any, ids: Any) -> Any:
            return self.proj(text) + self.ids(ids)

    return Student()


def build_ensemble(torch: Any, members: Sequence[Any]) -> Any:
    """Trained students as one model with the student's interface: item, profile and user vectors are the
    members' side by side, so every score is the sum of the members' scores."""
    nn: Any = torch.nn
    d = members[0].proj.out_features

    class Side(nn.Module):
        """The members' outputs side by side (``parts``: one module per member)."""

        def __init__(self, parts: Sequence[Any]) -> None:
            super().__init__()
            self.parts = nn.ModuleList(parts)

        def forward(self, *args: Any) -> Any:
            return torch.cat([p(*args) for p in self.parts], -1)

    class Users(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.parts = nn.ModuleList([m.user for m in members])

        def forward(self, history: Any, profile: Any) -> Any:
            return torch.cat(
                [
                    u(history[..., k * d : (k + 1) * d], profile[..., k * d : (k + 1) * d])
                    for k, u in enumerate(self.parts)
                ],
                -1,
            )

    class Ensemble(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.members = nn.ModuleList(members)
            self.profile_proj = Side([m.profile_proj for m in members])
            self.user = Users()

        def item_vectors(self, text: Any, ids: Any) -> Any:
            return torch.cat([m.item_vectors(text, ids) for m in self.members], -1)

    return Ensemble()


def export_arrays(model: Any) -> dict[str, np.ndarray]:
    """The item tower as plain arrays: the runtime computes item vectors with numpy at ingest time (an
    ensemble's members side by side)."""
    if hasattr(model, "members"):
        parts = [export_arrays(m) for m in model.members]
        return {k: np.concatenate([p[k] for p in parts], axis=-1) for k in parts[0]}
    return {
        "proj_w": model.proj.weight.detach().numpy().T.astype(np.float32).copy(),  # (text_dim, dim)
        "proj_b": model.proj.bias.detach().numpy().astype(np.float32).copy(),
        "id_emb": model.ids.weight.detach().numpy()[1:].astype(np.float32).copy(),  # row i = training item i
        "profile_w": model.profile_proj.weight.detach().numpy().T.astype(np.float32).copy(),
        "profile_b": model.profile_proj.bias.detach().numpy().astype(np.float32).copy(),
    }


@dataclass
class _Run:
    """What every training step of one ``train_student`` call reads."""

    torch: Any
    model: Any
    cfg: StudentConfig
    split: Any
    text_t: Any  # item text embeddings (n_items, text_dim)
    all_ids: Any  # 1..n_items
    absent: Any  # items with no training interaction: left out of the softmax
    prof_t: Any  # per-user profile embeddings, or None
    seqs: list[np.ndarray]  # training windows
    users: list[int]  # the user of each window
    tail: list[bool]  # the window ends at the user's last training item
    teacher: dict[int, tuple[np.ndarray, np.ndarray]] | EnsembleTeacher | None
    sampled: bool
    present: np.ndarray | None = None  # sampled softmax: items that can be negatives, and their probabilities
    q: np.ndarray | None = None

    @property
    def residual(self) -> bool:
        """Whether the student is trained and early-stopped with its teacher's table (``--teacher residual``)."""
        return isinstance(self.teacher, EnsembleTeacher) and self.teacher.residual


def train_student(
    split: Any,
    text_emb: np.ndarray,
    cfg: StudentConfig,
    *,
    teacher: dict[int, tuple[np.ndarray, np.ndarray]] | EnsembleTeacher | None = None,
    profiles: np.ndarray | None = None,
    progress: Callable[[str, float], None] = lambda m, f: None,
    checkpoint: Path | None = None,
    deadline: float | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Train on ``split.train``; early-stop on validation NDCG@10 (full protocol), or at the first validation
    after ``deadline`` (``time.monotonic()``: an export's time budget), the best state so far kept. ``teacher``
    maps a user to (candidate item indices, teacher scores) for the item following their training sequence, or is
    an :class:`EnsembleTeacher` distilled at every position. ``profiles``:
    per-user profile embeddings (text_dim) used for the profile token. ``checkpoint``: a file the run's whole
    state (weights, optimizer, both random generators, early-stopping state) is written to at every validation,
    and the finished model at the end; a run started with the same file continues from it, ending as the
    uninterrupted run would (the caller keys the file by everything that determines the run)."""
    torch = require("torch")
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    n_items, text_dim = text_emb.shape
    model = build_student(torch, n_items, text_dim, cfg, None if profiles is None else profiles.shape[1])
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-4)
    # items with no training interaction (e.g. held out as cold items) are left out of the softmax: they do not
    # exist yet at training time, and as permanent negatives their text would be learned as "never relevant"
    counts = np.bincount(np.concatenate([s for s in split.train if len(s)]), minlength=n_items)
    seqs, users, tail = _training_sequences(split, cfg)
    run = _Run(
        torch, model, cfg, split, torch.as_tensor(text_emb, dtype=torch.float32), torch.arange(1, n_items + 1),
        torch.as_tensor(counts == 0), torch.as_tensor(profiles, dtype=torch.float32) if profiles is not None else None,
        seqs, users, tail, teacher, cfg.sampled(n_items),
    )  # fmt: skip
    if run.sampled:
        run.present = np.flatnonzero(counts > 0)
        q = counts[run.present].astype(np.float64) ** cfg.negative_power
        run.q = q / q.sum()
        lengths = np.asarray([min(len(w), cfg.max_len + 1) for w in seqs])
    valid_sample = validation_users(split, cfg)
    step = cfg.sampled_batch if run.sampled else cfg.batch
    ck = _Checkpoint(torch, checkpoint)
    saved = ck.load()
    if saved is not None and "final" in saved:  # finished before: the trained model as it was returned
        model.load_state_dict(saved["final"])
        model.eval()
        progress("student loaded from its checkpoint", 1.0)
        return model, saved["info"]
    best, best_state, bad, history_log, start, stopped = ck.restore(saved, model, opt, rng)
    # training seconds, across resumes: what an export's time budget projects a further student's cost from
    t0, before = time.monotonic(), float((saved or {}).get("seconds", 0.0))
    budget_stop = False
    if start:
        progress(f"student resumed after epoch {start}", start / cfg.epochs)
    for epoch in range(start, cfg.epochs):
        if stopped:
            break
        order = rng.permutation(len(seqs))
        if run.sampled:
            order = _length_batches(order, lengths, step, rng)
        total = _train_epoch(run, opt, order, step, rng)
        progress(f"student epoch {epoch + 1}", (epoch + 1) / cfg.epochs)
        if (epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs:  # the last epoch is always validated
            score = _valid_ndcg(run, text_emb, valid_sample)
            history_log.append({"epoch": epoch + 1, "loss": round(total, 3), "valid_ndcg10": round(score, 5)})
            progress(f"student epoch {epoch + 1}: validation NDCG@10 {score:.4f}", (epoch + 1) / cfg.epochs)
            if score > best:
                best, bad = score, 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                bad += 1
            stopped = bad >= cfg.patience
            # a budget stop belongs to the run, not to the student: the checkpoint is saved as not stopped (and no
            # final state is written), so an export resumed with more time trains on from here
            ck.save(
                model=model.state_dict(), opt=opt.state_dict(), rng=rng.bit_generator.state,
                torch_rng=torch.get_rng_state(), best=best, best_state=best_state, bad=bad, log=history_log,
                epoch=epoch + 1, stopped=stopped, seconds=before + time.monotonic() - t0,
            )  # fmt: skip
            if not stopped and epoch + 1 < cfg.epochs and deadline is not None and time.monotonic() > deadline:
                stopped = budget_stop = True
                history_log[-1]["stopped_by"] = "time budget"
                progress(f"student stopped after epoch {epoch + 1}: the export's time budget is spent", 1.0)
    if best_state is not None:
        model.load_state_dict(best_state)
    info = _training_info(run, best, history_log, valid_sample)
    if run.prof_t is not None and cfg.cold_stage_epochs > 0:
        info["cold_stage"] = _train_cold_stage(
            torch, model, split, run.text_t, run.prof_t, run.absent, cfg, rng, progress, valid_sample, deadline
        )
    model.eval()
    info["train_seconds"] = round(before + time.monotonic() - t0, 1)
    if isinstance(teacher, EnsembleTeacher):
        teacher.release()
    if not budget_stop:
        ck.save(final=model.state_dict(), info=info)
    return model, info


def checkpoint_finished(path: Path | None) -> bool:
    """Whether ``path`` holds a finished student: loading it costs no training."""
    saved = _Checkpoint(require("torch"), path).load()
    return saved is not None and "final" in saved


def _training_info(run: _Run, best: float, log: list[dict[str, Any]], valid: np.ndarray | None) -> dict[str, Any]:
    """The training report of a student: its best validation figure, the log of its validations, its loss."""
    info: dict[str, Any] = {
        "best_valid_ndcg10": best,
        "log": log,
        "loss": "sampled" if run.sampled else "full",
        "validation_users": run.split.n_users if valid is None else len(valid),
        "training_sequences": len(run.seqs),
    }
    if run.sampled:
        info["negatives"] = run.cfg.negatives
    if log and log[-1].get("stopped_by"):
        info["stopped_by"] = log[-1]["stopped_by"]
    return info


def _train_epoch(run: _Run, opt: Any, order: np.ndarray, step: int, rng: np.random.Generator) -> float:
    """One pass over the training windows in ``order``, ``step`` at a time; the summed loss."""
    torch, model = run.torch, run.model
    model.train()
    total = 0.0
    for s in range(0, len(order), step):
        loss = _batch_loss(run, order[s : s + step], rng)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        total += float(loss.detach())
    return total


class _Checkpoint:
    """A training run's state in one file, replaced atomically (a kill mid-write leaves the previous one)."""

    def __init__(self, torch: Any, path: Path | None) -> None:
        self.torch, self.path = torch, path

    def load(self) -> dict[str, Any] | None:
        if self.path is None or not self.path.is_file():
            return None
        try:  # weights_only: tensors and plain containers, nothing a file could smuggle code in with
            return dict(self.torch.load(self.path, weights_only=True))
        except (OSError, RuntimeError, EOFError, ValueError, IndexError, KeyError, pickle.UnpicklingError):
            return None  # unreadable (a torn disk, another torch): train from the start, as without one

    def restore(self, saved: dict[str, Any] | None, model: Any, opt: Any, rng: np.random.Generator) -> tuple[Any, ...]:
        """Weights, optimizer and both generators as ``saved`` left them; (best, best_state, bad, log, epoch,
        stopped) to go on from — a fresh run's when there is nothing saved."""
        if saved is None:
            return -1.0, None, 0, [], 0, False
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["opt"])
        rng.bit_generator.state = saved["rng"]
        self.torch.set_rng_state(saved["torch_rng"])
        return saved["best"], saved["best_state"], saved["bad"], saved["log"], saved["epoch"], saved["stopped"]

    def save(self, **state: Any) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        self.torch.save(state, tmp)
        os.replace(tmp, self.path)


def _training_sequences(split: Any, cfg: StudentConfig) -> tuple[list[np.ndarray], list[int], list[bool]]:
    """Every position of every history, not only its tail: LlamaRec's sliding windows of max_len + 1 items (the
    model reads max_len of them); ``tail`` marks the window ending at the user's last training item."""
    seqs: list[np.ndarray] = []
    users: list[int] = []
    tail: list[bool] = []
    for u, seq in enumerate(split.train):
        for w_i, w in enumerate(training_windows([seq], cfg.max_len + 1) if cfg.full_history else [seq]):
            if len(w) >= 2:
                seqs.append(w)
                users.append(u)
                tail.append(w_i == 0)
    return seqs, users, tail


def _batch_loss(run: _Run, idx: np.ndarray, rng: np.random.Generator) -> Any:
    """The loss of one batch of training windows: next-item (full or sampled softmax), the cold-start term and
    the distillation term."""
    torch, model, cfg = run.torch, run.model, run.cfg
    n_items = len(run.all_ids)
    batch = [run.seqs[k][-(cfg.max_len + 1) :] for k in idx]
    width = max(len(b) for b in batch) - 1
    inp = np.zeros((len(batch), width), dtype=np.int64)  # item index + 1, 0 = pad
    tgt = np.zeros((len(batch), width + 1), dtype=np.int64)
    use_prof = np.zeros(len(batch), dtype=bool)
    for r, seq in enumerate(batch):
        x, y = seq[:-1] + 1, seq[1:] + 1
        inp[r, width - len(x) :] = x
        tgt[r, width + 1 - len(y) :] = y
        if run.prof_t is not None:
            use_prof[r] = rng.random() < cfg.profile_rate
    inp_t = torch.as_tensor(inp)
    # ID dropout: some items are seen through their text only
    drop = torch.rand(inp_t.shape) < cfg.id_dropout
    ids_in = torch.where(drop, torch.zeros_like(inp_t), inp_t)
    prof_rows = None
    if run.prof_t is not None and use_prof.any():
        prof_rows = run.prof_t[torch.as_tensor([run.users[k] for k in idx])] * torch.as_tensor(use_prof).unsqueeze(-1)
    out = _user_states(torch, model, run.text_t, inp_t, ids_in, prof_rows)  # (B, width+1, dim)
    t = torch.as_tensor(tgt)
    logits = None
    if run.sampled:
        assert run.present is not None and run.q is not None
        loss = _sampled_nll(torch, model, run.text_t, out, t, run.present, run.q, cfg, rng)
        items = None
    else:
        # target-side id dropout too: new items (text only) must be scorable as targets
        target_ids = torch.where(torch.rand(n_items) < cfg.id_dropout, torch.zeros_like(run.all_ids), run.all_ids)
        items = model.item_vectors(run.text_t, target_ids)  # (n_items, dim)
        logits = out @ items.T
        if run.residual:  # trained as shipped, with the teacher's table
            assert isinstance(run.teacher, EnsembleTeacher)
            logits = logits + out.norm(dim=-1, keepdim=True) * run.teacher.table_term(inp_t)
        logits = logits.masked_fill(run.absent, -1e9)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, n_items), (t - 1).reshape(-1), ignore_index=-1)
    if run.prof_t is not None and cfg.cold_weight > 0:
        if items is None:  # the joint cold-start term ranks the whole catalogue
            items = model.item_vectors(run.text_t, run.all_ids)
        # cold start, exactly as the runtime sees it: one empty history row plus the profile; the
        # targets are items of the user's whole training sequence (the profile describes all of them)
        users = [run.users[k] for k in idx]
        cold = _cold_nll(torch, model, run.prof_t, items, run.absent, users, run.split, cfg, rng)
        loss = loss + cfg.cold_weight * cold
    if run.teacher is not None and cfg.distill_weight > 0:
        if isinstance(run.teacher, EnsembleTeacher):
            kl = _positions_kl(run, run.teacher, inp_t, prof_rows, t, logits)
        else:
            kl = _distillation_kl(run, idx, out, logits)
        if kl is not None:
            loss = loss + cfg.distill_weight * kl
    return loss


def _valid_ndcg(run: _Run, text_emb: np.ndarray, users: np.ndarray | None) -> float:
    """The early-stopping figure: validation NDCG@10 of the student alone, or as it ships with a residual
    teacher's table."""
    if run.residual:
        assert isinstance(run.teacher, EnsembleTeacher)
        was_training = run.model.training
        run.model.eval()
        try:
            return run.teacher.valid_ndcg(run.model, run.split, run.cfg, users)
        finally:
            run.model.train(was_training)
    return student_ndcg(run.model, run.split, text_emb, run.cfg, stage="valid", users=users)


def _user_states(torch: Any, model: Any, text_t: Any, inp_t: Any, ids_in: Any, prof_rows: Any) -> Any:
    """A student's output at every position of right-aligned windows: ``inp_t`` item index + 1 (0 = padding),
    ``ids_in`` the ids it sees (0 where id dropout hid one), ``prof_rows`` profile embeddings with a zero row for
    "no profile" (None: none in the batch)."""
    hist = model.proj(text_t[(inp_t - 1).clamp(min=0)]) + model.ids(ids_in)
    hist = hist * (inp_t > 0).unsqueeze(-1)
    prof = torch.zeros(inp_t.shape[0], hist.shape[-1])
    if prof_rows is not None:
        prof = model.profile_proj(prof_rows) * (prof_rows.abs().sum(-1, keepdim=True) > 0)
    return model.user(hist, prof)


class EnsembleTeacher:
    """Frozen students (the export's own seed ensemble, ``--teacher ensemble``) whose mean logits over the whole
    catalogue at every position of a training window are what a student distils: the signal of every next item,
    not of one candidate set per user. Its members see true ids (no id dropout) and the same profile token."""

    # whether the student is trained as it ships with the teacher's table: its logits plus :meth:`table_term`
    # scaled by its user vector's length (``--teacher residual``); it then learns what the table does not carry
    residual = False

    def __init__(self, torch: Any, members: Sequence[Any], text_emb: np.ndarray) -> None:
        self.torch = torch
        self.members = [m.eval() for m in members]
        self.text_t = torch.as_tensor(text_emb, dtype=torch.float32)
        ids = torch.arange(1, len(text_emb) + 1)
        with torch.no_grad():
            self.items = [m.item_vectors(self.text_t, ids) for m in self.members]

    def states(self, inp_t: Any, prof_rows: Any) -> list[Any]:
        """Each member's (B, width+1, dim) output after each prefix (no gradient)."""
        with self.torch.no_grad():
            return [_user_states(self.torch, m, self.text_t, inp_t, inp_t, prof_rows) for m in self.members]

    def logits(self, inp_t: Any, prof_rows: Any) -> Any:
        """(B, width+1, n_items): the members' mean logits for the item after each prefix."""
        return self.joint(self.states(inp_t, prof_rows)) / len(self.members)

    def table_term(self, inp_t: Any) -> Any:
        """(B, width+1, n_items) the table's part of the shipped score after each prefix (a residual teacher's)."""
        raise NotImplementedError("only a residual teacher has a table term")

    def release(self) -> None:
        """Drop what was kept for the last batch (a student's training is over)."""

    def valid_ndcg(self, model: Any, split: Any, cfg: StudentConfig, users: np.ndarray | None) -> float:
        """A student's validation NDCG@10 as it would ship with this teacher's table (a residual teacher's)."""
        raise NotImplementedError("only a residual teacher measures a student with its table")

    def joint(self, states: Sequence[Any]) -> Any:
        """The members' summed logits, given their :meth:`states` (the ensemble's concatenated dot product)."""
        total = None
        for st, items in zip(states, self.items, strict=True):
            part = st @ items.T
            total = part if total is None else total + part
        assert total is not None
        return total


def _positions_kl(run: _Run, teacher: EnsembleTeacher, inp_t: Any, prof_rows: Any, t: Any, logits: Any) -> Any:
    """Mean KL(teacher || student) over the catalogue at every target position of the batch."""
    torch, cfg = run.torch, run.cfg
    if logits is None:
        raise ExportError("distilling a teacher ensemble at every position needs the full softmax (loss 'full')")
    temp = cfg.distill_temperature
    mask = t > 0
    t_log = torch.log_softmax(teacher.logits(inp_t, prof_rows).masked_fill(run.absent, -1e9)[mask] / temp, -1)
    s_log = torch.log_softmax(logits[mask] / temp, -1)
    return (t_log.exp() * (t_log - s_log)).sum(-1).mean() * temp * temp


def _distillation_kl(run: _Run, idx: np.ndarray, out: Any, logits: Any) -> Any:
    """Mean KL between the teacher's and the student's distributions over each labelled window's candidates
    (None when no window of the batch is labelled)."""
    torch, model, cfg = run.torch, run.model, run.cfg
    assert isinstance(run.teacher, dict)
    kl_terms = []
    for r, k in enumerate(idx):
        lab = run.teacher.get(run.users[k]) if run.tail[k] else None
        if lab is None:
            continue
        cand, tscore = lab
        # the teacher scored the item following the user's training prefix minus one:
        # compare with the student's prediction at the last real position
        cand_t = torch.as_tensor(cand)
        st = (
            out[r, -1] @ model.item_vectors(run.text_t[cand_t], cand_t + 1).T if run.sampled else logits[r, -1, cand_t]
        ) / cfg.distill_temperature
        t_scores = torch.tensor(np.asarray(tscore), dtype=torch.float32)
        tp = torch.softmax(t_scores / cfg.distill_temperature, 0)
        kl_terms.append(torch.sum(tp * (torch.log(tp + 1e-9) - torch.log_softmax(st, 0))))
    return torch.stack(kl_terms).mean() if kl_terms else None


def validation_users(split: Any, cfg: StudentConfig) -> np.ndarray | None:
    """The users early stopping scores: all (None) up to ``cfg.valid_users``, else a fixed seeded sample."""
    if split.n_users <= cfg.valid_users:
        return None
    return np.sort(np.random.default_rng(cfg.seed + 7).choice(split.n_users, cfg.valid_users, replace=False))


def _length_batches(order: np.ndarray, lengths: np.ndarray, batch: int, rng: np.random.Generator) -> np.ndarray:
    """``order`` regrouped so that each batch holds sequences of similar length (within shuffled pools of 50
    batches), batches in random order: short sequences are then not padded to the longest of a random batch."""
    pool = batch * 50
    batches: list[np.ndarray] = []
    for s in range(0, len(order), pool):
        part = order[s : s + pool]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches.extend(part[i : i + batch] for i in range(0, len(part), batch))
    return np.concatenate([batches[i] for i in rng.permutation(len(batches))]) if batches else order


def _sampled_nll(
    torch: Any,
    model: Any,
    text_t: Any,
    out: Any,
    tgt: Any,
    present: np.ndarray,
    q: np.ndarray,
    cfg: StudentConfig,
    rng: np.random.Generator,
) -> Any:
    """Sampled softmax: each real position's target against ``cfg.negatives`` items shared by the batch, drawn
    from the training items with probabilities ``q``; every logit, the target's too, is corrected by
    log(negatives · q) (logQ, as TensorFlow's ``sampled_softmax_loss``), so the gradients estimate the full
    softmax's (the value is offset by a constant); a negative equal to the position's target is masked out. Item vectors
    are computed for these items only, with the same id dropout as the full softmax."""
    real = tgt > 0
    pos = tgt[real] - 1  # (P,)
    pick = rng.choice(len(present), cfg.negatives, p=q)
    neg = torch.as_tensor(present[pick])
    items = torch.cat([pos, neg])
    ids = torch.where(torch.rand(len(items)) < cfg.id_dropout, torch.zeros_like(items), items + 1)
    vecs = model.item_vectors(text_t[items], ids)
    logq_of = np.zeros(int(present.max()) + 1)
    logq_of[present] = np.log(cfg.negatives * q)
    logq = torch.as_tensor(logq_of, dtype=torch.float32)
    u = out[real]  # (P, dim)
    pos_logit = (u * vecs[: len(pos)]).sum(-1) - logq[pos]
    neg_logit = (u @ vecs[len(pos) :].T - logq[neg]).masked_fill(neg.unsqueeze(0) == pos.unsqueeze(1), -1e9)
    logits = torch.cat([pos_logit.unsqueeze(1), neg_logit], dim=1)
    return torch.nn.functional.cross_entropy(logits, torch.zeros(len(pos), dtype=torch.long))


def _cold_nll(
    torch: Any,
    model: Any,
    prof_t: Any,
    items: Any,
    absent: Any,
    us: Sequence[int],
    split: Any,
    cfg: StudentConfig,
    rng: np.random.Generator,
) -> Any:
    """The cold-start loss, exactly as the runtime scores a profile-only user (one empty history row plus the
    profile): mean negative log-likelihood of up to ``cfg.cold_targets`` items of each user's training sequence
    (the profile describes all of them)."""
    p_idx = torch.as_tensor(list(us))
    cold_u = model.user(torch.zeros(len(us), 1, cfg.dim), model.profile_proj(prof_t[p_idx]))[:, -1]
    lp = torch.log_softmax((cold_u @ items.T).masked_fill(absent, -1e9), -1)
    picks = [rng.choice(split.train[u], min(cfg.cold_targets, len(split.train[u])), replace=False) for u in us]
    rows = torch.as_tensor(np.concatenate([np.full(len(pk), r) for r, pk in enumerate(picks)]))
    return -lp[rows, torch.as_tensor(np.concatenate(picks))].mean()


def _train_cold_stage(
    torch: Any,
    model: Any,
    split: Any,
    text_t: Any,
    prof_t: Any,
    absent: Any,
    cfg: StudentConfig,
    rng: np.random.Generator,
    progress: Callable[[str, float], None],
    valid_sample: np.ndarray | None = None,
    deadline: float | None = None,
) -> dict[str, Any]:
    """Teach the profile projection (everything else frozen, so warm ranking is untouched) to map a profile
    alone to the user's items, as the runtime scores a profile-only user; keep the epoch (0 = none) with the
    best validation NDCG@10 of profile-only users. Past ``deadline`` (an export's time budget) it stops after
    the epoch under way (on Amazon Sports its 8 epochs took 4.5 minutes after the warm stage had used the
    budget)."""
    trainable = [model.profile_proj.weight, model.profile_proj.bias, model.user.profile_tag]
    frozen = [p for p in model.parameters() if all(p is not t for t in trainable)]
    for p in frozen:
        p.requires_grad_(False)
    opt = torch.optim.AdamW(trainable, lr=cfg.lr, weight_decay=1e-4)
    users = [u for u in range(split.n_users) if len(split.train[u])]
    best = student_cold_ndcg(model, split, text_t.numpy(), prof_t.numpy(), cfg, users=valid_sample)
    start, best_state, bad = best, None, 0
    log: list[dict[str, Any]] = []
    try:
        for epoch in range(cfg.cold_stage_epochs):
            model.train()
            with torch.no_grad():
                items = model.item_vectors(text_t, torch.arange(1, text_t.shape[0] + 1))  # frozen: once per epoch
            order = rng.permutation(len(users))
            for s in range(0, len(users), cfg.batch):
                us = [users[k] for k in order[s : s + cfg.batch]]
                loss = _cold_nll(torch, model, prof_t, items, absent, us, split, cfg, rng)
                opt.zero_grad()
                loss.backward()
                opt.step()
            score = student_cold_ndcg(model, split, text_t.numpy(), prof_t.numpy(), cfg, users=valid_sample)
            log.append({"epoch": epoch + 1, "valid_cold_ndcg10": round(score, 5)})
            progress(f"student cold-start epoch {epoch + 1}", (epoch + 1) / cfg.cold_stage_epochs)
            if score > best:
                best, bad = score, 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                bad += 1
                if bad >= cfg.cold_patience:
                    break
            if deadline is not None and time.monotonic() > deadline:
                log[-1]["stopped_by"] = "time budget"
                break
    finally:
        for p in frozen:
            p.requires_grad_(True)
    if best_state is not None:
        model.load_state_dict(best_state)
    return {"valid_cold_ndcg10_before": round(start, 5), "best_valid_cold_ndcg10": round(best, 5), "log": log}


def student_cold_ndcg(
    model: Any,
    split: Any,
    text_emb: np.ndarray,
    profiles: np.ndarray,
    cfg: StudentConfig,
    users: np.ndarray | None = None,
) -> float:
    """Mean NDCG@10 of the validation item for profile-only users (no history; training items masked):
    how the runtime ranks for someone who wrote a profile and did nothing yet (``users``: these only)."""
    from ..eval.metrics import metrics_from_rank, rank_of_target

    was_training = model.training
    model.eval()
    try:
        us = np.arange(split.n_users) if users is None else np.asarray(users)
        out = []
        for s in range(0, len(us), 256):
            part = us[s : s + 256]
            empty = [np.zeros(0, np.int64)] * len(part)
            scores = student_scores(model, text_emb, empty, cfg, profiles=profiles[part])
            for r, u in enumerate(part.tolist()):
                mask = np.ones(split.n_items, dtype=bool)
                mask[split.train[u]] = False
                mask[int(split.valid[u])] = True
                rank = rank_of_target(scores[r], int(split.valid[u]), np.flatnonzero(mask))
                out.append(metrics_from_rank(rank)["NDCG@10"])
        return float(np.mean(out))
    finally:
        model.train(was_training)


def student_scores(
    model: Any,
    text_emb: np.ndarray,
    histories: Sequence[np.ndarray],
    cfg: StudentConfig,
    profiles: np.ndarray | None = None,
) -> np.ndarray:
    """Scores of every item for each history (torch, for validation)."""
    users, items = student_vectors(model, text_emb, histories, cfg, profiles)
    return users @ items.T


def student_item_vectors(model: Any, text_emb: np.ndarray) -> np.ndarray:
    """Every item's vector from the torch student's item tower."""
    torch = require("torch")
    with torch.no_grad():
        text_t = torch.as_tensor(text_emb, dtype=torch.float32)
        return np.asarray(model.item_vectors(text_t, torch.arange(1, text_emb.shape[0] + 1)).numpy())


def student_vectors(
    model: Any,
    text_emb: np.ndarray,
    histories: Sequence[np.ndarray],
    cfg: StudentConfig,
    profiles: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(user vectors after each history, every item's vector) of the torch student, as its towers compute them."""
    torch = require("torch")
    with torch.no_grad():
        items = torch.as_tensor(student_item_vectors(model, text_emb))
        width = max(1, min(cfg.max_len, max(len(h) for h in histories)))
        inp = np.zeros((len(histories), width), dtype=np.int64)
        for r, h in enumerate(histories):
            h = np.asarray(h[-width:]) + 1
            if len(h):
                inp[r, width - len(h) :] = h
        inp_t = torch.as_tensor(inp)
        hist = items[(inp_t - 1).clamp(min=0)] * (inp_t > 0).unsqueeze(-1)
        prof = torch.zeros(len(histories), cfg.tower_dim)
        if profiles is not None:
            prof = model.profile_proj(torch.as_tensor(profiles, dtype=torch.float32))
        u = model.user(hist, prof)[:, -1]
        return u.numpy(), items.numpy()


def student_ndcg(
    model: Any, split: Any, text_emb: np.ndarray, cfg: StudentConfig, *, stage: str, users: np.ndarray | None = None
) -> float:
    """Mean NDCG@10 (full protocol) of the torch student over ``users`` (default all); leaves the model in the
    mode it found it in."""
    from ..eval.protocols import full_protocol_ndcg

    was_training = model.training
    model.eval()
    try:
        score = lambda us, hists: student_scores(model, text_emb, hists, cfg)  # noqa: E731
        return float(full_protocol_ndcg(split, stage, score, users=users).mean())
    finally:
        model.train(was_training)
