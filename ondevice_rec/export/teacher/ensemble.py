"""``--teacher ensemble``: the export's own seed ensemble of students as the teacher of one student;
``--teacher blend``: the same ensemble with the item-item blend it would ship (:class:`BlendTeacher`);
``--teacher residual``: that blend taught to a student trained as it ships, with the same table added to its
scores, so that it learns what the table does not carry instead of counting the table's signal twice.

The members are the students an ``--ensemble N`` export trains (seeds seed, seed+1, …; the first is the student
without distillation, so the ablation costs nothing). The student distils their mean logits over the whole
catalogue at every position of every training window (``student.EnsembleTeacher``), not one candidate set per
user, and ships as one student: the ensemble's accuracy at one member's size and latency, when validation says
so. Distillation is tried only when the teacher beats the ensemble's first member on the validation users and
metric the student is early-stopped on (the teacher check), and kept only when it raises the student's validation
NDCG@10. The blend teacher is what an export ships at its best — towers and the table of what goes with and follows
each item — taught to the towers alone, whose own accuracy the table then adds to again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ...datasets import Split
from ...errors import ExportError
from ...ranking.cooccurrence import Neighbours
from .._deps import require
from ..item_item import candidate_tables, catalogue_prior, choose_blend, choose_weight
from ..student import (
    ENSEMBLE_AUTO,
    EnsembleTeacher,
    StudentConfig,
    build_ensemble,
    student_item_vectors,
    student_ndcg,
    student_vectors,
    train_student,
)

NAME = "ensemble"
BLEND = "blend"
RESIDUAL = "residual"


def is_ensemble(spec: str | None) -> bool:
    """Whether ``--teacher spec`` asks for the export's own seed ensemble (alone, or with its blend)."""
    return bool(spec) and str(spec).lower() in (NAME, BLEND, RESIDUAL)


class BlendTeacher(EnsembleTeacher):
    """The seed ensemble with its item-item blend, at every position of a training window: the runtime's score
    of each item after the prefix (the unit user vector · item vectors + the catalogue prior + weight × the
    prefix's recency-weighted neighbour sums, ``item_item.choose_weight``'s score) times the user vector's
    length, over the members. At each prefix it orders the catalogue as the shipped blend does, on the members'
    own logit scale: without the table it is :class:`EnsembleTeacher`'s mean logits plus the prior's share. The
    neighbour sums read the training window only (``Neighbours.prefix_scores``), as the members do. The teacher
    check compares this blend with the first member alone: whether the teacher beats the student it teaches."""

    def __init__(
        self,
        torch: Any,
        members: Sequence[Any],
        text_emb: np.ndarray,
        table: Neighbours,
        half_life: float | None,
        weight: float,
        prior: np.ndarray,
        residual: bool = False,
    ) -> None:
        super().__init__(torch, members, text_emb)
        self.table, self.half_life, self.weight = table, half_life, float(weight)
        self.prior = torch.as_tensor(np.asarray(prior, np.float32))
        self.residual = residual
        self._term: tuple[Any, Any] | None = None  # the last batch's windows and their table term

    def table_term(self, inp_t: Any) -> Any:
        """prior + weight × the prefix neighbour sums after each prefix, (B, width+1, n_items); kept for the
        batch's windows, which the student's and the teacher's scores both read."""
        if self._term is None or self._term[0] is not inp_t:
            co = self.torch.as_tensor(self.table.prefix_scores(inp_t.numpy() - 1, self.half_life))
            self._term = (inp_t, self.prior + self.weight * co)
        return self._term[1]

    def release(self) -> None:
        self._term = None

    def logits(self, inp_t: Any, prof_rows: Any) -> Any:
        torch = self.torch
        states = self.states(inp_t, prof_rows)
        length = torch.sqrt(sum((st * st).sum(-1, keepdim=True) for st in states))
        return (self.joint(states) + length * self.table_term(inp_t)) / len(self.members)

    def valid_ndcg(self, model: Any, split: Any, cfg: StudentConfig, users: np.ndarray | None) -> float:
        """The student's validation NDCG@10 with this table at the half-life and the weight the blend stage would
        choose for it (``item_item.choose_weight`` over its weights, the runtime's score)."""
        text = self.text_t.numpy()
        _, _, w, report = choose_weight(
            lambda hs: student_vectors(model, text, hs, cfg)[0], student_item_vectors(model, text), split,
            {"table": self.table}, users, half_lives=(self.half_life,),
        )  # fmt: skip
        return float(report["valid_ndcg10"][report["chosen"]][str(w)])


def teacher_members(cfg: StudentConfig, interactions: int) -> int:
    """Members of the teacher ensemble: ``--ensemble N`` when it asks for two or more, else ``ENSEMBLE_AUTO``."""
    n = cfg.members(interactions)
    return n if n > 1 else ENSEMBLE_AUTO


def member_config(cfg: StudentConfig, k: int) -> StudentConfig:
    """The ``k``-th member: the student without distillation, seed + k (member 0 is the student's own ablation)."""
    return replace(cfg, ensemble=1, distill_weight=0.0, seed=cfg.seed + k)


def ensemble_teacher_stage(
    split: Split,
    student: StudentConfig,
    text_emb: np.ndarray,
    profiles: np.ndarray,
    checkpoint: Callable[[StudentConfig], Path | None],
    log: Callable[[str, float], None],
    valid_users: np.ndarray | None,
    *,
    blend: bool = False,
    residual: bool = False,
) -> tuple[EnsembleTeacher, dict[str, Any]]:
    """The trained members as an :class:`EnsembleTeacher` (with ``blend``, a :class:`BlendTeacher` with the
    blend chosen for them as the export's blend stage chooses it) and the teacher's report: its validation
    NDCG@10 and its first member's (``validation_quality``, read by the distillation-weight choice like any
    teacher check)."""
    torch = require("torch")
    n_items = split.n_items
    if student.sampled(n_items):
        name = RESIDUAL if residual else BLEND if blend else NAME
        raise ExportError(
            f"--teacher {name} distils over the whole catalogue: {n_items} items is above the "
            f"full softmax's {student.full_softmax_items}"
        )
    n = teacher_members(student, int(sum(len(t) for t in split.train)))
    members = []
    for k in range(n):
        log(f"training teacher ensemble member {k + 1} of {n}", 0.0)
        one = member_config(student, k)
        members.append(
            train_student(split, text_emb, one, profiles=profiles, progress=log, checkpoint=checkpoint(one))[0]
        )
    first = member_config(student, 0)
    single = student_ndcg(members[0], split, text_emb, first, stage="valid", users=valid_users)
    joint = student_ndcg(
        build_ensemble(torch, members).eval(), split, text_emb, replace(first, ensemble=n), stage="valid",
        users=valid_users,
    )  # fmt: skip
    log(f"teacher ensemble of {n}: validation NDCG@10 {joint:.4f} (its first member, the student, {single:.4f})", 1.0)
    teacher, figure, key = EnsembleTeacher(torch, members, text_emb), joint, f"{NAME}-{n}"
    report = None
    if blend or residual:
        found, report = _with_blend(torch, members, split, text_emb, replace(first, ensemble=n), valid_users, log)
        if found is not None:
            teacher, figure = found, float(report["teacher_ndcg10"])
            key = f"{NAME}-{n}+{report['chosen']}@{report['chosen_weight']:g}"
            if residual:  # the student is trained with the table: a different student from the same teacher
                found.residual, key = True, f"{key}/{RESIDUAL}"
                report["residual"] = True
        elif residual:
            log("--teacher residual: the blend chose no table, so the student distils the ensemble alone", 1.0)
            report["residual"] = "no table chosen: the ensemble alone"
    info: dict[str, Any] = {
        "used": True,
        "kind": NAME,
        "members": n,
        "teacher_key": key,
        "valid_ndcg10": round(joint, 5),  # the ensemble alone: what ships instead of a student that scores lower
        "validation_quality": {
            "measure": "validation NDCG@10, full protocol, on the users the student is early-stopped on",
            "teacher_ndcg10": round(figure, 5),
            "student_ndcg10": round(single, 5),
            "teacher_beats_retriever": figure > single,
            "reason_if_worse": "the teacher ensemble did not beat its first member (the student) on validation",
        },
    }
    if report is not None:
        info["blend"] = report
    return teacher, info


def _with_blend(
    torch: Any,
    members: Sequence[Any],
    split: Split,
    text_emb: np.ndarray,
    cfg: StudentConfig,
    valid_users: np.ndarray | None,
    log: Callable[[str, float], None],
) -> tuple[BlendTeacher | None, dict[str, Any]]:
    """The blend the export's blend stage would ship with the ensemble (``item_item.choose_blend`` on the torch
    towers) and its :class:`BlendTeacher`; None when validation chose no table (weight 0). The report is
    ``choose_blend``'s choice (its grid of figures left out) with ``teacher_ndcg10``, the chosen blend's validation
    NDCG@10, and ``used``."""
    log("choosing the teacher's item-item blend on validation", 0.0)
    ens = build_ensemble(torch, members).eval()
    table, half_life, weight, report = choose_blend(
        lambda hs: student_vectors(ens, text_emb, hs, cfg)[0], student_item_vectors(ens, text_emb), split,
        candidate_tables(split, log), valid_users, log,
    )  # fmt: skip
    kept = ("chosen", "chosen_half_life", "chosen_weight", "successor_factor", "successor_gain", "table_alone", "users")
    report = {
        **{k: report[k] for k in kept if k in report},
        "teacher_ndcg10": report["valid_ndcg10"][report["chosen"]][str(weight)],
        "used": table is not None and weight > 0,
    }
    if not report["used"]:
        return None, report
    log(f"teacher blend: {report['chosen']} at weight {weight:g}, validation NDCG@10 {report['teacher_ndcg10']}", 1.0)
    assert table is not None
    return BlendTeacher(torch, members, text_emb, table, half_life, weight, catalogue_prior(split)), report
