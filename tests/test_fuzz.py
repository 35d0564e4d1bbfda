"""Fuzzing the two doors through which outside input reaches the store: the import parsers and the privacy
centre's forms (issue 30, item 5).

What Hypothesis generates:

- catalogue and events files in CSV, TSV and JSON Lines, built from random headers (duplicated, missing, empty,
  named for a random ``CatalogColumns`` / ``EventColumns`` mapping), ragged rows, and cells holding quotes,
  delimiters, line breaks, NUL, byte-order marks, lone surrogates, huge fields (past csv's 128 KiB limit), deep
  JSON nesting and numbers of hundreds or thousands of digits; written with the csv module or naively (unbalanced
  quotes), as ``\\n``, ``\\r\\n`` or ``\\r`` lines, encoded as UTF-8, UTF-8 with a BOM, UTF-16, Latin-1 or cp1252,
  sometimes with invalid bytes spliced in or cut mid-character, or plain random bytes; given as a file on disk
  (any suffix) or as standard input (``InMemoryFile``), with or without ``fmt``;
- POSTs to the privacy centre's consent, profile, retention and erase forms: random, huge (past the 64 KiB body
  limit) or missing fields, the right CSRF token or a wrong, empty, missing or extended one, odd user ids in the
  path (empty, NUL, 600 characters, slashes, markup), as urlencoded or multipart bodies.

Properties:

- the importers raise nothing but :class:`OdrecError` (no bare ValueError, TypeError, UnicodeError, csv.Error,
  JSON, Recursion or Overflow error);
- a catalogue import that raises leaves the catalogue as it was (it is all-or-nothing); an events import that
  raises leaves the event count as it was (every row is validated before the first batch is written; batches of
  one or two rows are fuzzed too, so a failure while writing would show), and one that succeeds adds exactly the
  rows it reports; the store passes ``PRAGMA integrity_check`` after every import;
- the centre never answers 5xx; a wrong or missing CSRF token is a 403 that changes nothing; a request the centre
  rejects (4xx, "not saved", an unconfirmed erasure) leaves every table of the store exactly as it was; the
  store stays intact.

The explicit regressions at the end are the inputs that fuzzing found escaping as builtin errors or as a 500.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from hypothesis import HealthCheck, currently_in_test_context, event, given, settings
from hypothesis import strategies as st

from ondevice_rec import CatalogColumns, EventColumns, OdrecError, Recommender
from ondevice_rec.inputs.files import InMemoryFile
from ondevice_rec.inputs.items import read_catalog_file

ITEMS = [{"id": f"i{n}", "title": f"item {n}", "text": f"the text of item {n}"} for n in range(1, 6)]
FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# --- files -------------------------------------------------------------------------------------------------
SURROGATES = ["\ud800", "a\udc00b"]
NASTY = ['"', "'", ",", "\t", "\n", "\r", "\r\n", "\x00", "\ufeff", "\\", "|", "{", "}", "[", "]", "é", *SURROGATES]
CATALOG_COLUMNS = ["id", "title", "text", "tags", "popularity", "meta", "movieId", "name", "genres", "", " id"]
EVENT_COLUMNS = ["user", "item", "user_id", "item_id", "kind", "value", "at", "context", "time", "device", "userId"]
# valid values per column, so that about half the generated files import and reach the write path ...
GOOD: dict[str, list[str]] = {
    "id": ["a", "b", "i1", "7", "é-1", *(f"c{n}" for n in range(25))],
    "movieId": ["a", "b", "m1"],
    "title": ["A title", "Fargo", "Amélie, the film"],
    "name": ["Heat", ""],
    "text": ["some words", "", "a line\nand another"],
    "tags": ["x|y", "", "|"],
    "genres": ["Drama|Crime", ""],
    "popularity": ["1", "0.5", ""],
    "meta": ["", '{"k": 1}', "x"],
    "user": ["u1", "u2", "ü"],
    "user_id": ["u1", "u3"],
    "userId": ["u1", "u4"],
    "rating": ["4", "3.5"],
    "item": ["i1", "i2", "i3"],
    "item_id": ["i1", "i4"],
    "kind": ["view", "like", "click", ""],
    "value": ["", "4", "0.5"],
    "at": ["", "1700000000", "2024-05-01T10:00:00", "2024-05-01 10:00:00+02:00"],
    "context": ["", '{"device": "mobile"}', '{"time": "evening"}'],
    "time": ["evening", "", "2024-05-01T10:00:00"],
    "device": ["mobile", ""],
}
# ... and invalid ones, for the rest
BAD = [
    *SURROGATES,
    "",
    "  ",
    "-1",
    "nan",
    "1e400",
    "lots",
    "bogus",
    "nope",
    "1999",
    "1e12",
    "yesterday",
    "[",
    "[]",
    '{"bogus": 1}',
]
_plain_cell = st.one_of(
    st.text(max_size=12),
    st.lists(st.sampled_from(NASTY), max_size=6).map("".join),
    st.sampled_from(BAD),
    st.sampled_from(["y" * 5000, "x" * 140_000]),  # a long field; one past csv's field_size_limit (128 KiB)
)
_json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=10),
    st.sampled_from(SURROGATES),
)
_json_value = st.recursive(
    _json_leaf, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3), max_leaves=8
)
# JSON that json.loads reads but Python chokes on later, or that the parser itself cannot read, by kind
ODD_JSON = [
    ["[" * 5000 + "]" * 5000, "[" * 40 + "]" * 40],  # past the parser's recursion limit; past MAX_JSON_DEPTH
    ["9" * 320, "-" + "9" * 5000, "12345678901234567890123"],  # past float range; past the 4300-digit limit
    ['"\\ud800"', '"x\\udc00"', '["\\udbff"]'],  # lone surrogates: read by json, refused by UTF-8
    ["NaN", "-Infinity", "1e999", '{"a":', "tru", "1700000000", "4", "{}"],
]
_odd_json = st.sampled_from(ODD_JSON).flatmap(st.sampled_from)
_raw_json = st.one_of(_json_value.map(json.dumps), _odd_json)  # json.dumps writes NaN and \\ud800 escapes too


@st.composite
def _table(draw: st.DrawFn, required: list[str], columns: list[str], mode: str) -> tuple[list[str], list[list[str]]]:
    """A header with the ``required`` columns and rows of valid cells (``mode`` clean), one of them replaced by any
    text (``one``); or (``hostile``) a header maybe duplicated, empty or missing what the mapping needs, and ragged
    rows of any cells."""
    hostile = mode == "hostile"
    extra = draw(st.lists(st.sampled_from(columns), max_size=4, unique=True))
    header = [*required, *(c for c in extra if c not in required)]
    if hostile:
        header = draw(st.sampled_from([header, draw(st.lists(st.sampled_from(columns), max_size=6))]))
        header = draw(st.sampled_from([header, draw(st.lists(_plain_cell, max_size=3))]))
    rows = []
    for _ in range(draw(st.integers(0 if hostile else 1, 5))):
        width = len(header)
        if hostile:
            width = draw(st.sampled_from([width, width, 0, max(width - 1, 0), width + 1]))
        cells = [st.sampled_from(GOOD.get(header[i] if i < len(header) else "", ["v"])) for i in range(width)]
        rows.append([draw(st.one_of(c, _plain_cell) if hostile else c) for c in cells])
    if mode == "one" and header:
        row = draw(st.sampled_from(rows))
        row[draw(st.integers(0, len(row) - 1))] = draw(_plain_cell)
    return header, rows


@st.composite
def _delimited_text(draw: st.DrawFn, table: st.SearchStrategy[Any], delimiter: str, mode: str) -> str:
    header, rows = draw(table)
    hostile = mode == "hostile"
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    style = draw(st.sampled_from(["minimal", "all", "naive"] if hostile else ["minimal", "all"]))
    if style == "naive":  # no quoting at all: delimiters and quotes in cells break the row
        text = newline.join(delimiter.join(r) for r in [header, *rows])
    else:
        buf = io.StringIO()
        writer = csv.writer(
            buf,
            delimiter=delimiter,
            quoting=csv.QUOTE_MINIMAL if style == "minimal" else csv.QUOTE_ALL,
            lineterminator=newline,
        )
        writer.writerows([header, *rows])
        text = buf.getvalue()
    return text + draw(st.sampled_from(["", newline, newline * 2, '"'] if hostile else ["", newline]))


@st.composite
def _jsonl_text(draw: st.DrawFn, table: st.SearchStrategy[Any], mode: str) -> str:
    header, rows = draw(table)
    hostile = mode == "hostile"
    odd = (draw(st.integers(0, len(rows) - 1)), draw(st.integers(0, len(header) - 1))) if rows and header else None
    lines = []
    for r, row in enumerate(rows):
        pairs: list[str] = []
        for key, cell in zip(header, row):
            raw = json.dumps(cell)
            if key in ("at", "value", "rating", "popularity") and cell and not hostile:
                raw = draw(st.sampled_from([raw, cell if cell[0].isdigit() else raw]))  # a number, not a string
            if hostile or (mode == "one" and odd == (r, len(pairs))):
                raw = draw(st.one_of(st.just(raw), _raw_json) if hostile else st.one_of(_odd_json, _raw_json))
            pairs.append(f"{json.dumps(key)}: {raw}")
        lines.append("{" + ", ".join(pairs) + "}")
    if hostile and draw(st.booleans()):  # a line that is not one JSON object
        at = draw(st.integers(0, len(lines)))
        lines.insert(at, draw(st.sampled_from(["", "[1, 2]", "not json", "{", '"x"', "{} {}", "null"])))
    return draw(st.sampled_from(["\n", "\r\n"])).join(lines)


ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "latin-1", "cp1252"]


@st.composite
def _file_bytes(draw: st.DrawFn, table: st.SearchStrategy[Any], fmt: str, mode: str) -> bytes:
    """A file of ``fmt`` (csv, tsv, jsonl) holding a ``table``: UTF-8 (with or without a BOM; a lone surrogate
    becomes invalid bytes), or (``hostile``) in any encoding, maybe with a stray character, invalid bytes or cut
    short; or any bytes."""
    if mode == "hostile" and draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=300))
    if fmt == "jsonl":
        text = draw(_jsonl_text(table, mode))
    else:
        text = draw(_delimited_text(table, "\t" if fmt == "tsv" else ",", mode))
    if mode != "hostile":
        return text.encode(draw(st.sampled_from(["utf-8", "utf-8-sig"])), "surrogatepass")
    if draw(st.booleans()) and text:  # a stray character anywhere: a quote, a NUL, a BOM, a line break
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(NASTY)) + text[at:]
    encoding = draw(st.sampled_from(ENCODINGS))
    data = text.encode(encoding, "surrogatepass" if encoding.startswith("utf") else "replace")
    damage = draw(st.sampled_from(["none", "none", "splice", "cut"]))
    if damage == "splice":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=4)) + data[at:]
    elif damage == "cut" and data:
        data = data[: draw(st.integers(0, len(data) - 1))]
    return data


@dataclass(frozen=True)
class Upload:
    """One generated import: the file's bytes, how it is given (on disk under a suffix, or as stdin) and ``fmt``."""

    data: bytes
    suffix: str  # the file's suffix on disk; "" for standard input (InMemoryFile)
    fmt: str | None
    columns: dict[str, Any] | None = None  # CatalogColumns / EventColumns keywords; built in the call under test

    def mapped(self, cls: Callable[..., Any]) -> Any:
        return None if self.columns is None else cls(**self.columns)

    def source(self, folder: Path) -> Path | InMemoryFile:
        if not self.suffix:
            return InMemoryFile("<stdin>", self.data)
        path = folder / f"upload{self.suffix}"
        path.write_bytes(self.data)
        return path


# column mappings as keywords: valid ones, and (hostile) ones mapping a column twice or naming an unknown kind
MAPPINGS: dict[str, dict[str, tuple[list[Any], list[Any]]]] = {
    "catalog": {
        "id": (["id", "movieId"], ["title"]),
        "title": (["title", "name"], ["text"]),
        "tags": (["tags", "genres"], []),
        "tags_sep": (["|", ";"], ["", ","]),
    },
    "events": {
        "user": (["user", "userId", "user_id"], []),
        "value": (["value", "rating"], ["user"]),
        "default_kind": ([None, "view", "rating"], ["stare"]),
    },
}
DEFAULT = {"catalog": {"id": "id", "title": "title"}, "events": {"user": "user", "item": "item"}}


@st.composite
def _uploads(draw: st.DrawFn, what: str) -> Upload:
    """A ``what`` (catalog or events) file under a column mapping: valid, valid but for one cell, or hostile
    throughout (given under a wrong name or format too)."""
    mode = draw(st.sampled_from(["clean", "one", "hostile"]))
    hostile = mode == "hostile"
    columns = None
    if draw(st.booleans()):
        columns = {
            k: draw(st.sampled_from(good + bad if hostile else good)) for k, (good, bad) in MAPPINGS[what].items()
        }
    names = {**DEFAULT[what], **(columns or {})}
    required = [names[k] for k in DEFAULT[what]]
    table = _table(required, CATALOG_COLUMNS if what == "catalog" else EVENT_COLUMNS, mode)
    fmt = draw(st.sampled_from(["csv", "tsv", "jsonl", "jsonl"]))
    data = draw(_file_bytes(table, fmt, mode))
    alias = {"tsv": ".tab", "jsonl": ".ndjson", "csv": ".CSV"}[fmt]
    suffix = draw(st.sampled_from(["", f".{fmt}", alias, ".txt"] if hostile else ["", f".{fmt}", alias]))
    given = draw(st.sampled_from([None, fmt, fmt, "xml"] if hostile else [None, fmt]))
    return Upload(data, suffix, given, columns)


def _sdk_call(fn: Callable[[], Any]) -> tuple[Any, OdrecError | None]:
    """``fn()`` and the OdrecError it raised (None if it returned); any other exception fails the test."""
    try:
        out = fn()
    except OdrecError as e:
        assert str(e) and "\n" not in str(e).strip(), f"not a one-line message: {e!r}"
        _note(f"refused: {type(e).__name__}")
        return None, e
    _note("accepted")
    return out, None


def _note(what: str) -> None:
    """Count ``what`` in Hypothesis's statistics (``--hypothesis-show-statistics``) when a fuzzed test runs."""
    if currently_in_test_context():
        event(what)


def _intact(rec: Recommender) -> None:
    assert rec._store.integrity() == ["ok"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-files")


@pytest.fixture(scope="module")
def catalog_rec(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recommender]:
    with Recommender.open(tmp_path_factory.mktemp("fuzz-catalog") / "rec.db") as rec:
        rec.add_items(ITEMS)
        yield rec


@pytest.fixture(scope="module")
def events_rec(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recommender]:
    with Recommender.open(tmp_path_factory.mktemp("fuzz-events") / "rec.db") as rec:
        rec.add_items(ITEMS)
        yield rec


# --- importers -----------------------------------------------------------------------------------------------
@settings(FUZZ, max_examples=500)
@given(upload=_uploads("catalog"), dup=st.sampled_from(["error", "first", "last"]))
def test_reading_a_catalogue_raises_only_sdk_errors(folder: Path, upload: Upload, dup: str) -> None:
    items, _ = _sdk_call(
        lambda: read_catalog_file(
            upload.source(folder), fmt=upload.fmt, columns=upload.mapped(CatalogColumns), on_duplicate=dup
        )
    )
    if items is not None:
        ids = [it.id for it in items]
        assert len(set(ids)) == len(ids)
        for it in items:
            for text in (it.id, it.title, it.text, *it.tags):  # every text read can be stored
                assert "\x00" not in text
                text.encode("utf-8")


def _check_catalog_import(rec: Recommender, folder: Path, upload: Upload, **kwargs: Any) -> OdrecError | None:
    """Import ``upload`` into the catalogue and check the properties; the OdrecError it raised, if any."""
    before = rec.count_items(removed=True), rec.count_items()
    report, error = _sdk_call(
        lambda: rec.import_items(upload.source(folder), fmt=upload.fmt, columns=upload.mapped(CatalogColumns), **kwargs)
    )
    after = rec.count_items(removed=True), rec.count_items()
    if error is not None:
        assert after == before, f"a failed catalogue import changed the catalogue ({error})"
    else:
        assert after[0] - before[0] <= report.rows
    _intact(rec)
    return error


@settings(FUZZ, max_examples=250)
@given(upload=_uploads("catalog"), dup=st.sampled_from(["error", "first", "last"]))
def test_a_catalogue_import_is_all_or_nothing(catalog_rec: Recommender, folder: Path, upload: Upload, dup: str) -> None:
    _check_catalog_import(catalog_rec, folder, upload, on_duplicate=dup)


def _check_events_import(rec: Recommender, folder: Path, upload: Upload, **kwargs: Any) -> OdrecError | None:
    """Import ``upload`` as events and check the properties; the OdrecError it raised, if any."""
    before = rec._store.events.count()
    report, error = _sdk_call(
        lambda: rec.import_events(upload.source(folder), fmt=upload.fmt, columns=upload.mapped(EventColumns), **kwargs)
    )
    after = rec._store.events.count()
    if error is not None:
        assert after == before, f"a failed events import wrote {after - before} events ({error})"
    else:
        assert after - before == report.written <= report.rows
    _intact(rec)
    return error


@settings(FUZZ, max_examples=400)
@given(upload=_uploads("events"), batch=st.sampled_from([1, 2, 5000]), dedupe=st.booleans())
def test_an_events_import_that_fails_writes_nothing(
    events_rec: Recommender, folder: Path, upload: Upload, batch: int, dedupe: bool
) -> None:
    _check_events_import(events_rec, folder, upload, batch_size=batch, dedupe=dedupe)


# --- the privacy centre ----------------------------------------------------------------------------------------
TOKEN = "T0ken-for-the-fuzz-tests"
HOST = {"Host": "127.0.0.1:8080"}
ROUTES = ["consent", "profile", "retention", "erase"]
FIELDS = ["purpose", "decision", "text", "delete", "days", "confirm", "other"]
GOOD_FIELDS = [
    "personalization",
    "grant",
    "revoke",
    "erase",
    "1",
    "0",
    "-3",
    "nan",
    "inf",
    "1e308",
    " 2 ",
    "I like Fargo",
]
ODD_UIDS = ["", " ", "a\x00b", "x" * 600, "../..", "a/b", "%2F", "é", "<b>x</b>", "\ufeff", "alice/consent"]
CSRF = ["right", "right", "right", "missing", "empty", "wrong", "extended", "prefix"]


@dataclass
class Centre:
    rec: Recommender
    db: Path
    client: Any
    csrf: str


def _seed(rec: Recommender) -> None:
    """alice: consent, events and a profile (again after a fuzzed erasure removed her)."""
    rec.consent("alice").grant("personalization")
    now = time.time()
    rec.record_many(
        {"user_id": "alice", "item_id": it["id"], "at": now - 86400 * (5 + n)} for n, it in enumerate(ITEMS)
    )
    rec.set_profile("alice", "I like item 2")


def _digest(db: Path) -> str:
    """Every row of every table of the store (read through a connection of its own)."""
    h = hashlib.sha256()
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"):
            h.update(table.encode())
            for row in sorted(repr(r) for r in conn.execute(f'SELECT * FROM "{table}"')):
                h.update(row.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


@pytest.fixture(scope="module")
def centre(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Centre]:
    pytest.importorskip("flask")
    from ondevice_rec.centre import app

    db = tmp_path_factory.mktemp("fuzz-centre") / "rec.db"
    with Recommender.open(db) as rec:
        rec.add_items(ITEMS)
        _seed(rec)
        client = app(rec, token=TOKEN).test_client()
        page = client.get(f"/{TOKEN}/u/alice", headers=HOST)
        m = re.search(r'name="csrf" value="([^"]+)"', page.data.decode())
        assert page.status_code == 200 and m
        yield Centre(rec, db, client, m.group(1))


def _csrf(choice: str, right: str) -> dict[str, str]:
    forms = {"right": right, "empty": "", "wrong": "forged-token-forged-token", "extended": right + "x"}
    if choice == "missing":
        return {}
    return {"csrf": forms.get(choice, right[:-1])}


def _rejected(status: int, location: str) -> bool:
    """Did the centre refuse the request (so must have written nothing)?"""
    if status >= 400:
        return True
    if status != 303:
        return False
    msg = parse_qs(urlsplit(location).query).get("msg", [""])[0]
    return location.split("?")[0].endswith("/erase") or msg.startswith(("profile not saved", "retention: give"))


def _post(c: Centre, uid: str, route: str, form: dict[str, str], multipart: bool) -> tuple[int, str, bool, bool]:
    """POST ``form`` to ``route`` of ``uid``'s page: (status, Location, store unchanged, request rejected)."""
    before = _digest(c.db)
    kwargs: dict[str, Any] = {"content_type": "multipart/form-data"} if multipart else {}
    r = c.client.post(f"/{TOKEN}/u/{quote(uid, safe='')}/{route}", data=form, headers=HOST, **kwargs)
    location = r.headers.get("Location", "")
    unchanged = _digest(c.db) == before
    return r.status_code, location, unchanged, _rejected(r.status_code, location)


WELL_FORMED = {
    "consent": {"purpose": "personalization", "decision": "grant"},
    "profile": {"text": "I like item 3"},
    "retention": {"days": "30"},
    "erase": {"confirm": "erase"},
}
_form_value = st.one_of(
    st.sampled_from([*GOOD_FIELDS, "w" * 11_000, "z" * 70_000]),  # past the profile limit; past the 64 KiB body
    st.text(max_size=20),
)


@st.composite
def _forms(draw: st.DrawFn) -> tuple[str, dict[str, str]]:
    """(route, form): the route's own form or none, with fields added, replaced or left out."""
    route = draw(st.sampled_from(ROUTES))
    form = dict(WELL_FORMED[route]) if draw(st.booleans()) else {}
    form.update(draw(st.dictionaries(st.sampled_from(FIELDS), _form_value, max_size=3)))
    for name in draw(st.lists(st.sampled_from(sorted(form)), unique=True)) if form else []:
        del form[name]
    return route, form


@settings(FUZZ, max_examples=300)
@given(
    uid=st.one_of(st.sampled_from(["alice", "alice", "bob"]), st.sampled_from(ODD_UIDS), st.text(max_size=15)),
    request=_forms(),
    csrf=st.sampled_from(CSRF),
    multipart=st.booleans(),
)
def test_centre_forms_never_fail_and_a_rejected_request_writes_nothing(
    centre: Centre, uid: str, request: tuple[str, dict[str, str]], csrf: str, multipart: bool
) -> None:
    route, fields = request
    status, location, unchanged, rejected = _post(centre, uid, route, {**fields, **_csrf(csrf, centre.csrf)}, multipart)
    assert status < 500, f"{route} for {uid!r} with {sorted(fields)} answered {status}"
    _note(f"{status} {'rejected' if rejected else 'accepted'}")
    if csrf != "right":
        assert status in (403, 413) and unchanged, f"a {csrf} CSRF token got {status}, unchanged={unchanged}"
    if rejected:
        assert unchanged, f"a rejected {route} ({status} {location}) changed the store"
    _intact(centre.rec)
    if centre.rec._store.users.uid("alice") is None:
        _seed(centre.rec)  # a fuzzed erasure went through: give the next examples someone to act on


# --- regressions: what the fuzzing above found ---------------------------------------------------------------
DEEP = "[" * 5000 + "]" * 5000
BIG = "1" + "0" * 400  # an int past float range (OverflowError)
HUGE = "1" * 5000  # past Python's 4300-digit limit on int parsing (ValueError)


@pytest.mark.parametrize(
    "line",
    [
        f'{{"id": "a", "title": "t", "popularity": {BIG}}}',
        f'{{"id": "a", "title": "t", "meta": {{"x": {HUGE}}}}}',
        f'{{"id": "a", "title": "t", "meta": {DEEP}}}',
        '{"id": "\\ud800", "title": "t"}',
        '{"id": "a", "title": "\\udc00"}',
        '{"id": "a", "title": "t", "tags": ["\\ud800"]}',
    ],
)
def test_found_catalogue_lines_raise_sdk_errors(catalog_rec: Recommender, folder: Path, line: str) -> None:
    rows = "".join(json.dumps({"id": f"r{n}", "title": f"row {n}"}) + "\n" for n in range(600))
    upload = Upload(f"{rows}{line}\n".encode(), "", "jsonl")
    assert _check_catalog_import(catalog_rec, folder, upload) is not None  # 600 good rows first: none kept


@pytest.mark.parametrize(
    "fmt, bad",
    [
        ("jsonl", f'{{"user": "u", "item": "i1", "kind": "rating", "value": {BIG}}}'),
        ("jsonl", f'{{"user": "u", "item": "i1", "at": {BIG}}}'),
        ("jsonl", f'{{"user": "u", "item": "i1", "context": {{"time": {BIG}}}}}'),
        ("jsonl", f'{{"user": "u", "item": "i1", "context": {DEEP}}}'),
        ("jsonl", '{"user": "\\ud800", "item": "i1"}'),
        ("jsonl", '{"user": "u", "item": "i1", "context": {"device": "\\ud800"}}'),
        ("csv", f"u,i1,{DEEP}"),
    ],
)
def test_found_event_rows_raise_sdk_errors(events_rec: Recommender, folder: Path, fmt: str, bad: str) -> None:
    good = "user,item,context\n" + "u1,i1,\n" * 5 if fmt == "csv" else '{"user": "u1", "item": "i2"}\n' * 5
    upload = Upload(f"{good}{bad}\n".encode(), "", fmt)
    assert _check_events_import(events_rec, folder, upload, batch_size=2) is not None  # 5 good rows first: none kept


@pytest.mark.parametrize("uid", [" ", "\t", "a\x00b", "x" * 600])
@pytest.mark.parametrize("route", ROUTES)
def test_found_user_ids_no_store_can_hold_are_a_400(centre: Centre, uid: str, route: str) -> None:
    form = {"purpose": "personalization", "decision": "grant", "text": "hi", "days": "1", "confirm": "erase"}
    status, _, unchanged, _ = _post(centre, uid, route, {**form, "csrf": centre.csrf}, multipart=False)
    assert status == 400 and unchanged
    for page in ("", "/export.json", "/erase"):
        assert centre.client.get(f"/{TOKEN}/u/{quote(uid, safe='')}{page}", headers=HOST).status_code == 400
