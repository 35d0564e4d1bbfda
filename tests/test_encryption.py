"""Encryption at rest (SQLCipher, the ``encryption`` extra): nothing readable on disk, one-line key errors, rekey,
encrypting a plain store, doctor and the CLI's key file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ondevice_rec import Recommender, StoreError
from ondevice_rec.cli import app
from ondevice_rec.errors import WrongKeyError
from ondevice_rec.ranking import RankingConfig
from ondevice_rec.store import Store
from ondevice_rec.store.driver import encrypt_copy, is_plain

pytest.importorskip("sqlcipher3")

KEY = "correct horse battery staple"
RAW = bytes(range(32))
USER = "heather.smith.4711"  # the secrets a stolen file must not give away
TITLE = "Zanzibarian Quokka Chronicles"
PROFILE = "I adore xylophonic marmalade documentaries"
# a small catalogue treated as a large one: vector cache and ANN index would be written beside a plain store
BIG = RankingConfig(vector_cache_min_items=10, prefilter_min_items=10, half_precision_min_items=10, ann_min_items=50)
SECRETS = [s.encode() for s in (USER, "Zanzibarian", "Quokka", "xylophonic", "marmalade")]


def _fill(rec: Recommender, demo_catalog: list[dict]) -> None:
    rec.add_items([*demo_catalog[:80], {"id": "zq-1", "title": TITLE, "text": "A " + TITLE, "tags": ["quokka"]}])
    rec.consent(USER).grant("personalization")
    rec.record(USER, "zq-1", kind="like")
    rec.set_profile(USER, PROFILE)
    assert rec.recommend(USER, k=5)


def _on_disk(db: Path) -> dict[str, bytes]:
    """Every file the store left in its directory, by name."""
    return {p.name: p.read_bytes() for p in sorted(db.parent.iterdir()) if p.is_file()}


def _leaks(files: dict[str, bytes]) -> list[tuple[str, str]]:
    return [(name, s.decode()) for name, data in files.items() for s in SECRETS if s in data]


def test_raw_bytes_of_an_encrypted_store_hold_no_title_user_or_profile_word(
    tmp_path: Path, demo_catalog: list[dict]
) -> None:
    plain, enc = tmp_path / "plain" / "rec.db", tmp_path / "enc" / "rec.db"
    plain.parent.mkdir()
    enc.parent.mkdir()
    for db, key in ((plain, None), (enc, KEY)):
        with Recommender.open(db, config=BIG, encryption_key=key) as rec:
            _fill(rec, demo_catalog)
            open_files = _on_disk(db)  # while open: the WAL holds the recent pages
        for name, data in _on_disk(db).items():
            open_files.setdefault(name + " (closed)", data)
        if key is None:
            # the control: the same secrets are readable in a plain store, and it keeps its side files
            assert _leaks(open_files) and any(n.endswith("-vectors") for n in open_files)
        else:
            assert "rec.db-wal" in open_files, open_files.keys()
            assert _leaks(open_files) == []
            assert sorted(open_files) == ["rec.db", "rec.db (closed)", "rec.db-shm", "rec.db-wal"]
            assert not is_plain(enc)


def test_an_encrypted_store_reopens_with_its_key_and_works(tmp_path: Path, demo_catalog: list[dict]) -> None:
    db = tmp_path / "rec.db"
    with Recommender.open(db, config=BIG, encryption_key=RAW) as rec:
        _fill(rec, demo_catalog)
        want = [r.item_id for r in rec.recommend(USER, k=5)]
    with Recommender.open(db, config=BIG, encryption_key=RAW) as rec:
        assert [r.item_id for r in rec.recommend(USER, k=5)] == want
        assert rec.get_profile(USER) == PROFILE
        assert rec.forget_user(USER)["user_found"]
    assert _leaks(_on_disk(db)) == []


@pytest.mark.parametrize(
    ("key_at_create", "key_at_open", "says"),
    [
        (KEY, "wrong passphrase", "wrong encryption key"),
        (KEY, RAW, "wrong encryption key"),
        (KEY, None, "it is encrypted"),
        (None, KEY, "it is not encrypted"),
    ],
)
def test_a_wrong_or_missing_key_is_one_line(
    tmp_path: Path, key_at_create: Any, key_at_open: Any, says: str, capfd: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "rec.db"
    Store(db, encryption_key=key_at_create).close()
    with pytest.raises(StoreError) as e:
        Store(db, encryption_key=key_at_open)
    assert says in str(e.value) and "\n" not in str(e.value)
    assert isinstance(e.value, WrongKeyError)
    assert capfd.readouterr().err == ""  # SQLCipher's own log stays silent


@pytest.mark.parametrize("bad", ["", b"short", 42])
def test_a_malformed_key_is_refused(tmp_path: Path, bad: Any) -> None:
    from ondevice_rec import OdrecError

    with pytest.raises(OdrecError, match="encryption_key"):
        Store(tmp_path / "rec.db", encryption_key=bad)


def test_rekey_rotates_the_key_and_keeps_every_row(tmp_path: Path, demo_catalog: list[dict]) -> None:
    db = tmp_path / "rec.db"
    with Recommender.open(db, encryption_key=KEY) as rec:
        _fill(rec, demo_catalog)
        n = rec.info()["events"]
        rec.rekey(RAW)
        rec.record(USER, demo_catalog[1]["id"], kind="click")  # the open store goes on with the new key
    with pytest.raises(WrongKeyError):
        Store(db, encryption_key=KEY)
    with Recommender.open(db, encryption_key=RAW) as rec:
        assert rec.info()["events"] == n + 1
    plain = tmp_path / "plain.db"
    Store(plain).close()
    with pytest.raises(StoreError, match="not encrypted"):
        Store(plain).rekey(KEY)


def test_a_plain_store_is_encrypted_into_a_new_file(tmp_path: Path, demo_catalog: list[dict]) -> None:
    src, dst = tmp_path / "plain.db", tmp_path / "enc.db"
    with Recommender.open(src) as rec:
        _fill(rec, demo_catalog)
        before = rec.export_user(USER)
    encrypt_copy(src, dst, KEY)
    assert _leaks({"enc.db": dst.read_bytes()}) == []
    with Recommender.open(dst, encryption_key=KEY) as rec:
        after = rec.export_user(USER)
    assert after["events"] == before["events"] and after["profiles"] == before["profiles"]
    with pytest.raises(StoreError, match="exists"):
        encrypt_copy(src, dst, KEY)


def test_doctor_checks_and_recovers_an_encrypted_store_into_an_encrypted_file(
    tmp_path: Path, demo_catalog: list[dict]
) -> None:
    from ondevice_rec.store.doctor import diagnose, recover

    db = tmp_path / "rec.db"
    with Recommender.open(db, encryption_key=KEY) as rec:
        _fill(rec, demo_catalog)
    d = diagnose(db, KEY)
    assert d.ok and d.tables["events"] >= 1
    blind = diagnose(db)
    assert not blind.ok and "key-file" in blind.problems[0]
    r = recover(db, tmp_path / "copy.db", KEY)
    assert r.rows["events"] == d.tables["events"]
    assert not is_plain(tmp_path / "copy.db") and _leaks(_on_disk(tmp_path)) == []


def test_cli_key_file_keygen_encrypt_rekey_and_plaintext_export(tmp_path: Path, demo_catalog: list[dict]) -> None:
    run = CliRunner().invoke
    db, enc, key, key2 = tmp_path / "rec.db", tmp_path / "enc.db", tmp_path / "k", tmp_path / "k2"
    with Recommender.open(db) as rec:
        _fill(rec, demo_catalog)
    for k in (key, key2):
        res = run(app, ["store", "keygen", str(k)])
        assert res.exit_code == 0, res.output
        assert oct(k.stat().st_mode & 0o777) == "0o600" and len(k.read_text().strip()) == 64
    assert run(app, ["store", "keygen", str(key)]).exit_code != 0  # never overwrites a key
    res = run(app, ["--key-file", str(key), "store", "encrypt", str(db), str(enc)])
    assert res.exit_code == 0, res.output
    res = run(app, ["--key-file", str(key), "user", "list", "--db", str(enc)])
    assert res.exit_code == 0 and USER in res.output, res.output
    res = run(app, ["user", "list", "--db", str(enc)])
    assert res.exit_code == 1 and "encrypted" in str(res.exception)
    res = run(app, ["--key-file", str(key), "store", "rekey", "--new-key-file", str(key2), "--db", str(enc)])
    assert res.exit_code == 0, res.output
    res = run(app, ["--key-file", str(key), "user", "list", "--db", str(enc)])
    assert res.exit_code == 1 and "wrong encryption key" in str(res.exception)
    out = tmp_path / "me.json"
    args = ["--key-file", str(key2), "user", "export", USER, "--db", str(enc), "--out", str(out)]
    res = run(app, args)
    assert res.exit_code == 1 and "--plaintext" in str(res.exception) and not out.exists()
    res = run(app, [*args, "--plaintext"])
    assert res.exit_code == 0 and json.loads(out.read_text())["user_id"] == USER
    res = run(app, ["--key-file", str(key2), "doctor", str(enc)])
    assert res.exit_code == 0 and "ok" in res.output, res.output
    res = run(app, ["doctor", str(enc)])  # without its key: not "damaged", but how to check it
    assert res.exit_code == 1 and "odrec --key-file KEY doctor" in str(res.exception)


def test_a_64_hex_key_is_the_same_key_in_python_and_in_a_key_file(tmp_path: Path) -> None:
    from ondevice_rec.cli import read_key_file

    hex_key = RAW.hex()
    (tmp_path / "k").write_text(hex_key + "\n")
    Store(tmp_path / "rec.db", encryption_key=read_key_file(tmp_path / "k")).close()
    Store(tmp_path / "rec.db", encryption_key=hex_key).close()  # the str form opens what the file's key made
    Store(tmp_path / "rec.db", encryption_key=RAW).close()


@pytest.mark.parametrize("bad", ["a\x00b", "\ud800"])
def test_a_passphrase_no_store_can_take_is_refused_before_any_file_is_made(tmp_path: Path, bad: str) -> None:
    from ondevice_rec import OdrecError

    with pytest.raises(OdrecError, match="NUL characters or lone surrogates"):
        Store(tmp_path / "rec.db", encryption_key=bad)
    assert not (tmp_path / "rec.db").exists()


def test_rekey_leaves_nothing_the_old_key_opens(tmp_path: Path) -> None:
    import shutil

    db = tmp_path / "rec.db"
    s = Store(db, encryption_key=KEY)
    s.rekey(RAW)
    shutil.copy(db, tmp_path / "copy.db")  # the main file alone, as a backup or a thief would take it
    s.close()
    with pytest.raises(WrongKeyError):
        Store(tmp_path / "copy.db", encryption_key=KEY, readonly=True)
