from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ondevice_rec import ImportFormatError, Recommender
from ondevice_rec.inputs.items import demo_items, read_catalog_file, to_item


def test_demo_catalog_is_about_200_distinct_items() -> None:
    items = demo_items()
    assert 180 <= len(items) <= 220
    assert len({i["id"] for i in items}) == len(items)
    assert all(i["title"] and i["text"] and i["tags"] for i in items)


def test_csv_and_jsonl_import(tmp_path: Path) -> None:
    csv_file = tmp_path / "c.csv"
    csv_file.write_text('id,title,text,tags\na,Alpha,"First, item",x|y\nb,Beta,Second,\n', encoding="utf-8")
    items = read_catalog_file(csv_file)
    assert [i.id for i in items] == ["a", "b"] and items[0].tags == ("x", "y")
    jl = tmp_path / "c.jsonl"
    jl.write_text("\n".join(json.dumps(i) for i in demo_items()[:3]) + "\n\n", encoding="utf-8")
    assert len(read_catalog_file(jl)) == 3


@pytest.mark.parametrize(
    "name, content, where",
    [
        ("bad.jsonl", '{"id": "a", "title": "ok"}\n{"id": "b", "title": \n', ":2:"),
        ("bad.jsonl", '{"id": "a", "title": "ok"}\n{"title": "no id"}\n', ":2:"),
        ("bad.csv", "id,title\na,ok\nb,ok,extra\n", ":3:"),
        ("bad.csv", "name,title\na,ok\n", ":1:"),
        ("bad.txt", "whatever", "unknown catalog format"),
    ],
)
def test_malformed_file_names_the_line(tmp_path: Path, name: str, content: str, where: str) -> None:
    p = tmp_path / name
    p.write_text(content, encoding="utf-8")
    with pytest.raises(ImportFormatError, match=where):
        read_catalog_file(p)


def test_non_utf8_and_missing(tmp_path: Path) -> None:
    p = tmp_path / "x.csv"
    p.write_bytes(b"id,title\n\xff\xfe,bad\n")
    with pytest.raises(ImportFormatError, match="UTF-8"):
        read_catalog_file(p)
    with pytest.raises(ImportFormatError, match="no such file"):
        read_catalog_file(tmp_path / "missing.jsonl")


ids = st.text(
    alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), min_size=1, max_size=40
).filter(lambda s: s.strip())
texts = st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=200)


@settings(max_examples=40, deadline=None)
@given(item_id=ids, title=texts, text=texts, tags=st.lists(texts, max_size=5))
def test_items_round_trip_through_the_store(tmp_path_factory, item_id, title, text, tags) -> None:
    raw = {"id": item_id, "title": title, "text": text, "tags": tags}
    try:
        expected = to_item(raw)
    except ValueError:
        return  # nothing to store: no title, text or tags
    db = tmp_path_factory.mktemp("rt") / "r.db"
    with Recommender.open(db) as rec:
        rec.add_items([raw])
        got = rec.get_item(item_id)
    assert (got["id"], got["title"], got["text"], tuple(got["tags"])) == (
        expected.id,
        expected.title,
        expected.text,
        expected.tags,
    )
