"""Bulk paths into the store: catalogue and event files, validated in full before anything is written, then
written in batches with progress. An events import is resumable: each batch commits together with the count
of rows done under the file's sha256, so a killed import resumes where it stopped and never repeats a row."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ImportFormatError, StoreError
from ..store import EventRow, Store
from ..store.statements import Increments
from .event_rows import EventColumns, event_from_row, to_event_row
from .files import InMemoryFile, Source, check_file, file_digest, is_delimited, read_rows, spans_lines
from .items import CatalogColumns, Item, read_catalog_file

Progress = Callable[[int, int], None]  # (rows done, rows in the file)


@dataclass(frozen=True)
class ImportReport:
    """What an import did: rows in the file, rows written now, rows an earlier (interrupted) run had written,
    items a ``sync`` removed, the wall time, and rows not written because the store already held them (an
    event with the same user, item, kind and time, or a row an earlier run of the same file wrote)."""

    file: str
    rows: int
    written: int
    resumed_from: int = 0
    removed: int = 0
    seconds: float = 0.0
    present: int = 0
    untimed: int = 0  # rows without a time: stamped at import, so a re-import cannot recognise them
    embedded: int | None = None  # catalogue imports: items whose text changed (or was new), so were embedded

    @property
    def rows_per_second(self) -> float:
        """Rows read and checked (or written) per second by this run."""
        return (self.rows - self.resumed_from) / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "rows": self.rows,
            "written": self.written,
            "resumed_from": self.resumed_from,
            "removed": self.removed,
            "already_present": self.present,
            "without_time": self.untimed,
            **({"embedded": self.embedded} if self.embedded is not None else {}),
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows_per_second, 1),
        }


def import_items(
    path: Source,
    add: Callable[[Sequence[Item]], int],
    *,
    fmt: str | None = None,
    columns: CatalogColumns | None = None,
    sync: Callable[[set[str]], int] | None = None,
    batch_size: int = 512,
    progress: Progress | None = None,
    on_duplicate: str = "error",
    check: Callable[[Sequence[Item]], None] | None = None,
) -> ImportReport:
    """Validate the whole file (a bad line imports nothing and is named; ``check`` is the store's own check of
    every item, e.g. its modalities' dimensions), then ``add`` it in batches; with ``sync``, remove the live
    items the file no longer has. Re-running is cheap: unchanged items are not embedded again."""
    t0 = time.perf_counter()
    items = read_catalog_file(path, fmt=fmt, columns=columns, on_duplicate=on_duplicate)
    if check is not None:
        check(items)
    done = 0
    for s in range(0, len(items), batch_size):
        done += add(items[s : s + batch_size])
        if progress is not None:
            progress(done, len(items))
    removed = sync({it.id for it in items}) if sync is not None else 0
    return ImportReport(str(path), len(items), done, 0, removed, time.perf_counter() - t0)


def import_events(
    path: Source,
    store: Store,
    increments: Increments,
    *,
    fmt: str | None = None,
    columns: EventColumns | None = None,
    declared: Sequence[str] = (),
    batch_size: int = 5000,
    progress: Progress | None = None,
    dedupe: bool = True,
) -> ImportReport:
    """Validate every row (and that every item is in the catalogue), then write in batches, each committed
    together with the import's progress. Rows an earlier run of the same file committed are skipped. With
    ``dedupe`` (the default) an event's identity is (user, item, kind, at): a row the store already holds is
    not written again, so re-importing an app's re-export — rows appended, re-sorted, or the same file under
    another name — adds only the new rows. ``dedupe=False`` writes every row (events that really repeat
    within the same second and are all wanted). A row without a time is stamped with the time of the import,
    so no later import can recognise it: the report counts such rows (``untimed``)."""
    t0 = time.perf_counter()
    p = check_file(path)  # one line for a missing file or a directory, before anything reads it
    cols = columns or EventColumns()
    digest = file_digest(p)
    start = store.events.import_progress(digest)
    first_line: dict[str, int] = {}
    n = untimed = 0
    for lineno, row, timed in _rows(p, fmt, cols, declared):
        first_line.setdefault(row.item_id, lineno)
        n += 1
        untimed += not timed
    known = store.catalog.iids(list(first_line))
    missing = [i for i in first_line if i not in known]
    if missing:
        bad = min(missing, key=lambda i: first_line[i])
        raise ImportFormatError(
            f"{p}:{first_line[bad]}: unknown item {bad!r} ({len(missing)} unknown in all): import the catalogue "
            "first; nothing was imported"
        )
    if progress is not None:
        progress(min(start, n), n)
    done, written = start, 0
    batch: list[EventRow] = []
    try:
        for i, (_, row, _timed) in enumerate(_rows(p, fmt, cols, declared)):
            if i < start:
                continue
            batch.append(row)
            if len(batch) >= batch_size:
                done, written = _flush(store, increments, batch, digest, p, (done, written), n, progress, dedupe)
        if batch:
            done, written = _flush(store, increments, batch, digest, p, (done, written), n, progress, dedupe)
    except StoreError as e:  # the batches before it are committed: say so, and how to go on
        kept = (
            "those are committed, the failing batch was rolled back; import the same file again to resume"
            if done
            else "nothing was written"
        )
        raise type(e)(f"events import of {p} stopped after {done} of {n} rows ({kept}): {e}") from None
    return ImportReport(str(p), n, written, start, 0, time.perf_counter() - t0, n - written, untimed)


def _flush(
    store: Store,
    increments: Increments,
    batch: list[EventRow],
    digest: str,
    path: Path | InMemoryFile,
    counts: tuple[int, int],
    total: int,
    progress: Progress | None,
    dedupe: bool,
) -> tuple[int, int]:
    """Write one batch with the import's progress; (rows done, rows written) after it."""
    done = counts[0] + len(batch)
    written = counts[1] + store.events.insert(batch, increments, mark=(digest, path.name, done), skip_present=dedupe)
    batch.clear()
    if progress is not None:
        progress(done, total)
    return done, written


def _rows(
    path: Path | InMemoryFile, fmt: str | None, cols: EventColumns, declared: Sequence[str]
) -> Iterator[tuple[int, EventRow, bool]]:
    """(line, event, whether the row gave a time) per row; CSV/TSV ids that span lines are refused."""
    delimited = is_delimited(path, fmt)
    for lineno, raw in read_rows(path, fmt):
        try:
            row = to_event_row(event_from_row(raw, cols, declared), declared)
        except (TypeError, ValueError) as e:  # ArgumentError / ArgumentTypeError
            raise ImportFormatError(f"{path}:{lineno}: {e}; nothing was imported") from None
        if delimited:
            spans_lines(path, lineno, ("user id", row.user_id), ("item id", row.item_id))
        yield lineno, row, raw.get(cols.at) not in (None, "")
