"""Picklable test doubles for the Ray tests (imported by the tests and by their driver subprocess)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ondevice_rec.export.teacher import LabelTask


@dataclass(frozen=True)
class FakeLabeller:
    """Scores every candidate by its title's length; ``crash_marker``: the first worker to see a shard with
    ``crash_on`` among its histories dies (os._exit) after creating the marker; ``sleep``: seconds per shard."""

    crash_marker: str | None = None
    crash_on: str = ""
    sleep: float = 0.0

    def build(self) -> FakeLabeller:
        return self

    def _mine(self, tasks: list[tuple[list[str], list[str]]]) -> bool:
        return any(self.crash_on in line for history, _ in tasks for line in history)

    def label(self, tasks: list[tuple[list[str], list[str]]]) -> list[np.ndarray]:
        if self.crash_marker and self._mine(tasks) and not os.path.exists(self.crash_marker):
            Path(self.crash_marker).write_text("crashed")
            os._exit(1)  # the worker process dies mid-shard
        time.sleep(self.sleep)
        return [np.array([len(c) for c in cands], dtype=np.float32) for _, cands in tasks]


def _tasks(n: int) -> list[LabelTask]:
    return [
        LabelTask(f"user{u}", np.arange(u, u + 4), [f"history of user{u}"], [f"item {u}", "b", "cc", "ddd"])
        for u in range(n)
    ]
