"""``--teacher ensemble``: the export's own seed ensemble of students as the teacher of one student.

The members are the students an ``--ensemble N`` export trains (seeds seed, seed+1, …; the first is the student
without distillation, so the ablation costs nothing). The student distils their mean logits over the whole
catalogue at every position of every training window (``student.EnsembleTeacher``), not one candidate set per
user, and ships as one student: the ensemble's accuracy at one member's size and latency, when validation says
so. Distillation is tried only when the ensemble beats its first member on the validation users and metric the
student is early-stopped on (the teacher check), and kept only when it raises the student's validation NDCG@10.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ...datasets import Split
from ...errors import ExportError
from .._deps import require
from ..student import ENSEMBLE_AUTO, EnsembleTeacher, StudentConfig, build_ensemble, student_ndcg, train_student

NAME = "ensemble"


def is_ensemble(spec: str | None) -> bool:
    """Whether ``--teacher spec`` asks for the export's own seed ensemble."""
    return bool(spec) and str(spec).lower() == NAME


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
) -> tuple[EnsembleTeacher, dict[str, Any]]:
    """The trained members as an :class:`EnsembleTeacher` and the teacher's report: its validation NDCG@10 and
    its first member's (``validation_quality``, read by the distillation-weight choice like any teacher check)."""
    torch = require("torch")
    n_items = split.n_items
    if student.sampled(n_items):
        raise ExportError(
            f"--teacher ensemble distils over the whole catalogue: {n_items} items is above the full softmax's "
            f"{student.full_softmax_items}"
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
    beats = joint > single
    info: dict[str, Any] = {
        "used": True,
        "kind": NAME,
        "members": n,
        "teacher_key": f"{NAME}-{n}",
        "valid_ndcg10": round(joint, 5),
        "validation_quality": {
            "measure": "validation NDCG@10, full protocol, on the users the student is early-stopped on",
            "teacher_ndcg10": round(joint, 5),
            "student_ndcg10": round(single, 5),
            "teacher_beats_retriever": beats,
            "reason_if_worse": "the teacher ensemble did not beat its first member (the student) on validation",
        },
    }
    return EnsembleTeacher(torch, members, text_emb), info
