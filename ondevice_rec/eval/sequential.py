"""Sequential baselines on LlamaRec's published recipe: SASRec and LRURec, trained the way LlamaRec trains its
retrievers (``config.py``, ``trainer/base.py``, ``trainer/lru.py`` of Yueeeeeeee/LlamaRec):

- sliding windows of 200 items over each whole training sequence; full-softmax cross-entropy at every
  position (padding ignored);
- AdamW, lr 1e-3, weight decay 0.01 (none on biases and layer norms), eps 1e-9, gradient norm clipped at 5,
  batch 16, no learning-rate schedule;
- 2 blocks, hidden 64, 2 heads, dropout 0.2 (embeddings, attention/recurrence, feed-forward);
- validation every 500 iterations (and before training) on Recall@10 of the validation item without masking
  history, keeping the best; stop after 20 validations without improvement.

The models are written here from their papers (Kang & McAuley 2018; Yue et al. 2024), not copied.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..datasets import Split
from ..datasets.windows import next_item_batch, training_windows

Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class SeqRecipe:
    max_len: int = 200
    hidden: int = 64
    blocks: int = 2
    heads: int = 2
    dropout: float = 0.2
    attn_dropout: float = 0.2
    lr: float = 1e-3
    weight_decay: float = 0.01
    adam_eps: float = 1e-9
    grad_clip: float = 5.0
    batch: int = 16
    val_every: int = 500  # iterations
    patience: int = 20  # validations without improvement
    max_epochs: int = 500
    seed: int = 0


# --- models --------------------------------------------------------------------------------------------
def sasrec_net(torch: Any, n_items: int, r: SeqRecipe) -> Any:
    """SASRec: learned item and position embeddings, causal self-attention blocks (pre-norm query, residual on
    the normalised query as in the original), point-wise feed-forward; scores = hidden · item embeddings."""
    nn: Any = torch.nn

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln1 = nn.LayerNorm(r.hidden, eps=1e-8)
            self.attn = nn.MultiheadAttention(r.hidden, r.heads, dropout=r.attn_dropout, batch_first=True)
            self.ln2 = nn.LayerNorm(r.hidden, eps=1e-8)
            self.ff = nn.Sequential(
                nn.Linear(r.hidden, r.hidden),
                nn.ReLU(),
                nn.Dropout(r.dropout),
                nn.Linear(r.hidden, r.hidden),
                nn.Dropout(r.dropout),
            )

        def forward(self, x: Any, causal: Any, pad: Any) -> Any:
            q = self.ln1(x)
            a, _ = self.attn(q, x, x, attn_mask=causal, need_weights=False)
            x = q + a
            y = self.ln2(x)
            x = y + self.ff(y)
            return x * (~pad).unsqueeze(-1)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.item = nn.Embedding(n_items + 1, r.hidden, padding_idx=0)
            self.pos = nn.Embedding(r.max_len, r.hidden)
            self.drop = nn.Dropout(r.dropout)
            self.blocks = nn.ModuleList([Block() for _ in range(r.blocks)])
            self.ln = nn.LayerNorm(r.hidden, eps=1e-8)
            _truncated_normal(torch, self)

        def hidden_states(self, seq: Any) -> Any:
            width = seq.shape[1]
            pad = seq == 0
            # right-aligned: the most recent item always gets the last position embedding
            x = self.item(seq) * math.sqrt(r.hidden) + self.pos.weight[r.max_len - width :].unsqueeze(0)
            x = self.drop(x) * (~pad).unsqueeze(-1)
            causal = torch.triu(torch.ones(width, width, dtype=torch.bool), diagonal=1)
            for b in self.blocks:
                x = b(x, causal, pad)
            return self.ln(x)

        def logits(self, h: Any) -> Any:
            return h @ self.item.weight.T

    return Net()


def lrurec_net(torch: Any, n_items: int, r: SeqRecipe) -> Any:
    """LRURec (Yue et al., WSDM 2024): linear recurrent units (diagonal complex recurrence
    h_t = λ ⊙ h_{t−1} + γ ⊙ B x_t, y_t = Re(C h_t), residual + layer norm) with point-wise feed-forward, over
    layer-normed item embeddings; scores = hidden · item embeddings + item bias. The recurrence runs as a
    parallel (Hillis–Steele) scan in log₂(L) steps; padded positions feed nothing into it."""
    nn: Any = torch.nn
    f: Any = torch.nn.functional

    class LRU(nn.Module):
        def __init__(self, d: int, r_min: float = 0.8, r_max: float = 0.99) -> None:
            super().__init__()
            h = 2 * d
            u1, u2 = torch.rand(h), torch.rand(h)
            nu_log = torch.log(-0.5 * torch.log(u1 * (r_max**2 - r_min**2) + r_min**2))
            theta_log = torch.log(u2 * 2 * math.pi)
            lam_abs = torch.exp(-torch.exp(nu_log))
            gamma_log = torch.log(torch.sqrt(1 - lam_abs**2))
            self.params_log = nn.Parameter(torch.stack([nu_log, theta_log, gamma_log]))
            with warnings.catch_warnings():  # torch flags complex parameters as a new feature; they work here
                warnings.simplefilter("ignore", UserWarning)
                self.inp = nn.Linear(d, h).to(torch.cfloat)
                self.out = nn.Linear(h, d).to(torch.cfloat)
            self.drop = nn.Dropout(r.attn_dropout)
            self.layer_norm = nn.LayerNorm(d)

        def forward(self, x: Any, valid: Any) -> Any:
            nu, theta, gamma = torch.exp(self.params_log)
            lam = torch.exp(torch.complex(-nu, theta))
            u = self.inp(x.to(torch.cfloat)) * gamma * valid.unsqueeze(-1)
            length = u.shape[1]
            h, step, power = u, 1, lam
            while step < length:  # after k steps h_t = Σ_{j<2^k} λ^j u_{t−j}
                shifted = f.pad(h[:, :-step], (0, 0, step, 0))
                h = h + power * shifted
                power = power * power
                step *= 2
            y = self.drop(self.out(h).real) + x
            return self.layer_norm(y)

    class FFN(nn.Module):
        def __init__(self, d: int) -> None:
            super().__init__()
            self.w1, self.w2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
            self.drop = nn.Dropout(r.dropout)
            self.layer_norm = nn.LayerNorm(d)

        def forward(self, x: Any) -> Any:
            return self.layer_norm(self.drop(self.w2(self.drop(f.gelu(self.w1(x))))) + x)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.item = nn.Embedding(n_items + 1, r.hidden)
            self.emb_layer_norm = nn.LayerNorm(r.hidden)
            self.drop = nn.Dropout(r.dropout)
            self.lrus = nn.ModuleList([LRU(r.hidden) for _ in range(r.blocks)])
            self.ffns = nn.ModuleList([FFN(r.hidden) for _ in range(r.blocks)])
            self.bias = nn.Parameter(torch.zeros(n_items + 1))
            _truncated_normal(torch, self)

        def hidden_states(self, seq: Any) -> Any:
            valid = (seq > 0).to(torch.float32)
            x = self.emb_layer_norm(self.drop(self.item(seq)))
            for lru, ffn in zip(self.lrus, self.ffns):
                x = ffn(lru(x, valid))
            return x

        def logits(self, h: Any) -> Any:
            return h @ self.item.weight.T + self.bias

    return Net()


def _truncated_normal(torch: Any, net: Any, std: float = 0.02) -> None:
    """N(0, std²) truncated at ±2 std for every weight but layer norms and the recurrence's own parameters."""
    with torch.no_grad():
        for name, p in net.named_parameters():
            if "layer_norm" in name or "params_log" in name or name.startswith("ln") or ".ln" in name:
                continue
            if name.endswith("bias") and not torch.is_complex(p):
                p.zero_()
                continue
            if torch.is_complex(p):
                torch.nn.init.trunc_normal_(p.real, std=std, a=-2 * std, b=2 * std)
                torch.nn.init.trunc_normal_(p.imag, std=std, a=-2 * std, b=2 * std)
            else:
                torch.nn.init.trunc_normal_(p, std=std, a=-2 * std, b=2 * std)


NETS = {"sasrec": sasrec_net, "lrurec": lrurec_net}


# --- training --------------------------------------------------------------------------------------------
def _optimizer(torch: Any, net: Any, r: SeqRecipe) -> Any:
    decay: list[Any] = []
    no_decay: list[Any] = []
    for name, p in net.named_parameters():
        (
            no_decay if ("bias" in name or "layer_norm" in name or name.startswith("ln") or ".ln" in name) else decay
        ).append(p)
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": r.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=r.lr,
        eps=r.adam_eps,
    )


def last_hidden(torch: Any, net: Any, histories: Sequence[np.ndarray], max_len: int) -> Any:
    width = max(1, min(max_len, max((len(h) for h in histories), default=1)))
    inp = np.zeros((len(histories), width), dtype=np.int64)
    for i, h in enumerate(histories):
        h = np.asarray(h[-max_len:], dtype=np.int64) + 1
        if len(h):
            inp[i, width - len(h) :] = h
    return net.hidden_states(torch.as_tensor(inp))[:, -1, :]


def scores(torch: Any, net: Any, histories: Sequence[np.ndarray], max_len: int, batch: int = 256) -> np.ndarray:
    """(len(histories), n_items) scores of every item (padding column dropped)."""
    net.eval()
    out = []
    with torch.no_grad():
        for s in range(0, len(histories), batch):
            h = last_hidden(torch, net, histories[s : s + batch], max_len)
            out.append(net.logits(h)[:, 1:].numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def validation_recall10(torch: Any, net: Any, split: Split, max_len: int) -> float:
    """LlamaRec's validation: Recall@10 of the validation item, history not masked (users in chunks, so memory
    stays at a chunk × catalogue)."""
    hits = 0
    for a in range(0, split.n_users, 1024):
        s = scores(torch, net, list(split.train[a : a + 1024]), max_len)
        target = s[np.arange(len(s)), split.valid[a : a + 1024]]
        hits += int(((s > target[:, None]).sum(axis=1) < 10).sum())
    return hits / max(split.n_users, 1)


def train_sequential(
    torch: Any, name: str, split: Split, r: SeqRecipe, progress: Progress = lambda m, f: None
) -> tuple[Any, dict[str, Any]]:
    """Train ``name`` ("sasrec" or "lrurec") on ``split.train``; return the best network and a log."""
    torch.manual_seed(r.seed)
    rng = np.random.default_rng(r.seed)
    net = NETS[name](torch, split.n_items, r)
    opt = _optimizer(torch, net, r)
    windows = training_windows(split.train, r.max_len)
    ce = torch.nn.CrossEntropyLoss(ignore_index=0)
    best, best_state, bad, it, log = -1.0, None, 0, 0, []

    def validate() -> bool:
        nonlocal best, best_state, bad
        score = validation_recall10(torch, net, split, r.max_len)
        log.append({"iteration": it, "valid_recall10": round(score, 5)})
        if score > best:
            best, bad = score, 0
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        else:
            bad += 1
        return bad >= r.patience

    stop = validate()
    for _epoch in range(r.max_epochs):
        if stop:
            break
        order = rng.permutation(len(windows))
        for s in range(0, len(order), r.batch):
            net.train()
            inp, lab = next_item_batch([windows[k] for k in order[s : s + r.batch]], r.max_len)
            h = net.hidden_states(torch.as_tensor(inp))
            logits = net.logits(h)
            loss = ce(logits.reshape(-1, logits.shape[-1]), torch.as_tensor(lab).reshape(-1))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), r.grad_clip)
            opt.step()
            it += 1
            if it % r.val_every == 0:
                stop = validate()
                progress(
                    f"{name} iteration {it}: valid R@10 {log[-1]['valid_recall10']:.4f}", min(1.0, bad / r.patience)
                )
                if stop:
                    break
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    return net, {"iterations": it, "best_valid_recall10": best, "windows": len(windows), "log": log}
