"""The label cache: teacher scores of candidate sets in SQLite, keyed by (user, candidate set, teacher), so an
interrupted export resumes."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    pass


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

    def forget(self, teacher: str) -> int:
        """Drop the rows of ``teacher`` and of the checks derived from it (``teacher-…`` keys); other teachers'
        rows stay. Returns how many went."""
        with self.conn:
            cur = self.conn.execute(
                "DELETE FROM labels WHERE teacher=? OR substr(teacher, 1, ?)=?",
                (teacher, len(teacher) + 1, teacher + "-"),
            )
        return int(cur.rowcount)

    def close(self) -> None:
        self.conn.close()
