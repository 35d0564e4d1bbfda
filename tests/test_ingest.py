"""Bulk data paths (issue 15): catalogue files with Excel's byte-order mark, column mapping and extra columns
kept in meta; event files validated in full, written in batches and resumable without repeating a row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ondevice_rec import ImportFormatError, Recommender
from ondevice_rec.inputs.event_rows import EventColumns
from ondevice_rec.inputs.items import CatalogColumns

MOVIES = (
    "movieId,title,genres,year\n1,Toy Story,Animation|Children,1995\n2,Heat,Action|Crime,1995\n3,Alien,Horror|Sci-Fi,\n"
)


def test_excel_csv_with_bom_mapping_and_extra_columns(rec: Recommender, tmp_path: Path) -> None:
    p = tmp_path / "movies.csv"
    p.write_bytes(b"\xef\xbb\xbf" + MOVIES.encode())
    report = rec.import_items(p, columns=CatalogColumns(id="movieId", tags="genres"))
    assert (report.rows, report.written) == (3, 3)
    one = rec.get_item("1")
    assert one["title"] == "Toy Story" and one["tags"] == ["Animation", "Children"]
    assert one["meta"] == {"year": "1995"}  # kept, not dropped; empty cells are left out
    assert rec.get_item("3")["meta"] == {}


@pytest.mark.parametrize("fmt, body", [("tsv", MOVIES.replace(",", "\t")), ("jsonl", None)])
def test_tsv_and_jsonl(rec: Recommender, tmp_path: Path, fmt: str, body: str | None) -> None:
    p = tmp_path / f"m.{fmt}"
    if body is None:
        rows = [{"movieId": "1", "title": "Toy Story", "genres": "Animation", "meta": {"studio": "Pixar"}, "x": 1}]
        body = "".join(json.dumps(r) + "\n" for r in rows)
    p.write_text(body, encoding="utf-8")
    rec.import_items(p, columns=CatalogColumns(id="movieId", tags="genres"))
    assert rec.get_item("1")["tags"][0] == "Animation"
    if fmt == "jsonl":
        assert rec.get_item("1")["meta"] == {"x": 1, "studio": "Pixar"}


def test_a_catalogue_re_import_embeds_only_what_changed_and_says_so(rec: Recommender, tmp_path: Path) -> None:
    p = tmp_path / "movies.csv"
    p.write_text(MOVIES, encoding="utf-8")
    cols = CatalogColumns(id="movieId", tags="genres")
    assert rec.import_items(p, columns=cols).embedded == 3
    assert rec.import_items(p, columns=cols).embedded == 0  # the same file: nothing embedded again
    p.write_text(MOVIES.replace("Heat", "Heat (director's cut)"), encoding="utf-8")
    again = rec.import_items(p, columns=cols)
    assert (again.written, again.embedded) == (3, 1) and again.as_dict()["embedded"] == 1


def test_a_missing_id_column_is_named_on_the_header_line(rec: Recommender, tmp_path: Path) -> None:
    p = tmp_path / "m.csv"
    p.write_text(MOVIES, encoding="utf-8")
    with pytest.raises(ImportFormatError, match=r"m\.csv:1: .*'id'"):
        rec.import_items(p)
    assert rec.count_items() == 0


@pytest.mark.parametrize(
    "body, where",
    [
        # an unclosed quote merges the next row into item 2's title: refused, naming the row's first line
        ('movieId,title,genres\n1,Toy Story,Animation\n2,"Heat,Action\n3,Fargo",Crime\n4,Up,Animation\n',
         r"m\.csv:3: the title .* spans lines"),
        ('movieId,title,genres\n1,Toy Story,Animation\n"2\n3",Heat,Action\n', r"m\.csv:3: the item id .* spans lines"),
        ("movieId,title,genres\n1,Toy Story,Animation\n2,Heat,Action\n1,Toy Story 2,Animation\n",
         r"m\.csv:4: item id '1' appears again \(first on line 2\)"),
        # a quote still open at the end of the file: it took every row after it
        ('movieId,title,genres\n1,Toy Story,Animation\n2,"Heat,Action\n', r"m\.csv:3: a quote opened on this row"),
        ('movieId,title,genres,text\n70,A,x,"open quote\n71,B,y,z\n72,C,y,z\n', r"m\.csv:2: a quote opened"),
        ("movieId,title,genres\n1,Toy Story,Animation\n\n\n1,Toy Story 2,Animation\n",  # blank lines counted
         r"m\.csv:5: item id '1' appears again \(first on line 2\)"),
    ],
)  # fmt: skip
def test_malformed_rows_and_duplicate_ids_import_nothing(rec: Recommender, tmp_path: Path, body, where) -> None:
    p = tmp_path / "m.csv"
    p.write_text(body, encoding="utf-8")
    with pytest.raises(ImportFormatError, match=where):
        rec.import_items(p, columns=CatalogColumns(id="movieId", tags="genres"))
    assert rec.count_items() == 0


@pytest.mark.parametrize("keep, title", [("first", "Toy Story"), ("last", "Toy Story 2")])
def test_on_duplicate_keeps_the_first_or_the_last_row(rec: Recommender, tmp_path: Path, keep, title) -> None:
    p = tmp_path / "m.csv"
    p.write_text("movieId,title\n1,Toy Story\n2,Heat\n1,Toy Story 2\n", encoding="utf-8")
    assert rec.import_items(p, columns=CatalogColumns(id="movieId"), on_duplicate=keep).rows == 2
    assert rec.get_item("1")["title"] == title


def test_line_breaks_where_they_are_legitimate_are_kept(rec: Recommender, tmp_path: Path) -> None:
    p = tmp_path / "m.jsonl"  # JSON escapes a line break: no quote can be left open
    p.write_text('{"id": "1", "title": "Dune\\nPart One"}\n', encoding="utf-8")
    rec.import_items(p)
    assert rec.get_item("1")["title"] == "Dune\nPart One"
    rec.add_items([{"id": "2", "title": "A\nB"}])  # the API takes what the app hands over
    rec.record("legacy\nuser", "2", kind="like")  # and an id like this stays erasable
    assert rec.forget_user("legacy\nuser")["user_found"]


def test_rows_without_a_time_are_counted_as_not_deduplicable(movies: Recommender, tmp_path: Path) -> None:
    p = tmp_path / "r.csv"
    p.write_text("userId,movieId,rating\nu1,1,4\nu1,2,5\n", encoding="utf-8")
    report = movies.import_events(p, columns=COLS)
    assert (report.written, report.untimed) == (2, 2) and report.as_dict()["without_time"] == 2


def test_a_multi_line_description_is_still_fine(rec: Recommender, tmp_path: Path) -> None:
    p = tmp_path / "m.csv"
    p.write_text('id,title,text\n1,Dune,"Desert planet.\nSpice, sandworms, and politics."\n2,Heat,Crime\n')
    rec.import_items(p)
    assert rec.get_item("1")["text"].count("\n") == 1 and rec.count_items() == 2


def test_sync_removes_what_the_file_no_longer_has(rec: Recommender, tmp_path: Path) -> None:
    p = tmp_path / "m.csv"
    p.write_text(MOVIES, encoding="utf-8")
    cols = CatalogColumns(id="movieId", tags="genres")
    rec.import_items(p, columns=cols)
    p.write_text("\n".join(MOVIES.splitlines()[:3]) + "\n", encoding="utf-8")  # Alien dropped
    report = rec.import_items(p, columns=cols, sync=True)
    assert report.removed == 1 and rec.count_items() == 2 and "removed" in rec.get_item("3")


def _events(path: Path, n: int) -> None:
    lines = ["userId,movieId,rating,timestamp"]
    lines += [f"u{i % 7},{1 + i % 3},{1 + i % 5},{881250949 + i}" for i in range(n)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


COLS = EventColumns(user="userId", item="movieId", value="rating", at="timestamp")


@pytest.fixture
def movies(rec: Recommender, tmp_path: Path) -> Recommender:
    p = tmp_path / "movies.csv"
    p.write_text(MOVIES, encoding="utf-8")
    rec.import_items(p, columns=CatalogColumns(id="movieId", tags="genres"))
    return rec


def test_events_import_maps_columns_and_reads_epoch_times(movies: Recommender, tmp_path: Path) -> None:
    p = tmp_path / "ratings.csv"
    _events(p, 50)
    report = movies.import_events(p, columns=COLS)
    assert (report.rows, report.written, report.resumed_from) == (50, 50, 0)
    events = movies.export_user("u0")["events"]
    assert len(events) == 8 and {e["kind"] for e in events} == {"rating"}
    assert min(e["at"] for e in events) == 881250949  # epoch text read as a time (Dec 1997)
    # importing the same file again writes nothing: it was fully imported
    assert movies.import_events(p, columns=COLS).written == 0


def test_an_interrupted_events_import_resumes_without_repeating_a_row(movies: Recommender, tmp_path: Path) -> None:
    p = tmp_path / "ratings.csv"
    _events(p, 95)
    calls = []

    def stop_after_two_batches(done: int, total: int) -> None:
        calls.append(done)
        if done >= 40:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        movies.import_events(p, columns=COLS, batch_size=20, progress=stop_after_two_batches)
    assert movies.info()["events"] == 40
    report = movies.import_events(p, columns=COLS, batch_size=20)
    assert report.resumed_from == 40 and report.written == 55
    assert movies.info()["events"] == 95


@pytest.mark.parametrize(
    "change",
    ["append one row", "re-sorted", "re-exported under another name", "a row repeated", "a BOM added"],
)
def test_re_importing_a_changed_export_adds_only_the_new_rows(movies: Recommender, tmp_path: Path, change: str) -> None:
    for u in range(10):
        movies.consent(f"u{u}").grant("personalization")
    p = tmp_path / "ratings.csv"
    _events(p, 60)
    assert movies.import_events(p, columns=COLS).written == 60
    header, *rows = p.read_text(encoding="utf-8").splitlines()
    new = 0
    q = p
    if change == "append one row":
        rows.append("u9,2,5,999999999")
        new = 1
    elif change == "re-sorted":
        rows.reverse()
    elif change == "re-exported under another name":
        q = tmp_path / "ratings (1).csv"
    elif change == "a row repeated":
        rows.insert(10, rows[3])
    q.write_text(("\ufeff" if change == "a BOM added" else "") + "\n".join([header, *rows]) + "\n", encoding="utf-8")
    report = movies.import_events(q, columns=COLS)
    # the same bytes under another name resume at their end; every other change is checked row by row
    assert (report.written, report.present) == (new, report.rows - new)
    assert movies.info()["events"] == 60 + new
    # and the popularity priors count each event once
    ratings = [1 + i % 5 for i in range(60)] + ([5] if new else [])
    assert sum(w for _, _, w, _ in movies._store.catalog.stats()) == pytest.approx(
        sum(max(0.0, (r - 3) / 2) for r in ratings)
    )


def test_without_dedupe_every_row_is_written(movies: Recommender, tmp_path: Path) -> None:
    p = tmp_path / "ratings.csv"
    _events(p, 30)
    movies.import_events(p, columns=COLS)
    q = tmp_path / "again.csv"
    q.write_bytes(p.read_bytes() + b"\n")
    assert movies.import_events(q, columns=COLS, dedupe=False).written == 30
    assert movies.info()["events"] == 60


@pytest.mark.parametrize(
    "body, where",
    [
        ("userId,movieId,rating,timestamp\nu1,1,4,881250949\nu1,1,lots,881250950\n", ":3:"),
        ("userId,movieId,rating,timestamp\nu1,1,4,881250949\nu1,99,4,881250950\n", ":3: unknown item '99'"),
        ("userId,movieId,rating,timestamp\nu1,1,4,yesterday\n", ":2:"),
    ],
)
def test_a_bad_events_file_imports_nothing_and_names_the_line(
    movies: Recommender, tmp_path: Path, body: str, where: str
) -> None:
    p = tmp_path / "bad.csv"
    p.write_text(body, encoding="utf-8")
    with pytest.raises(ImportFormatError, match=where):
        movies.import_events(p, columns=COLS)
    assert movies.info()["events"] == 0
