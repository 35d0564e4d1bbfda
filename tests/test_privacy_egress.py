from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ondevice_rec import EgressBlocked, Recommender
from ondevice_rec.privacy.egress import EgressTransportError

PAYLOAD = {"question": "I'm John Smith (john@example.com), what jazz should I try?", "limit": 5}


@pytest.fixture
def gate_rec(rec_demo: Recommender) -> Recommender:
    rec_demo.egress.declare("cloud-llm", "Ask a cloud LLM for a richer answer")
    rec_demo.record("u", "jazz-01", kind="like")
    return rec_demo


def audit(rec: Recommender, user: str) -> list[dict]:
    return rec.export_user(user)["audit"]


def test_send_masks_audits_then_transports(gate_rec: Recommender) -> None:
    gate_rec.consent("u").grant("cloud-llm")
    seen: list = []

    def transport(p):
        # the audit entry is already committed when the transport runs
        assert any(a["action"] == "egress.sent" for a in audit(gate_rec, "u"))
        seen.append(p)
        return "ok"

    assert gate_rec.egress.send("cloud-llm", PAYLOAD, transport, user_id="u", destination="llm.example") == "ok"
    sent = seen[0]
    assert "John Smith" not in json.dumps(sent) and "john@example.com" not in json.dumps(sent)
    assert sent["limit"] == 5 and "<EMAIL_ADDRESS>" in sent["question"]
    entry = [a for a in audit(gate_rec, "u") if a["action"] == "egress.sent"][0]
    assert entry["purpose"] == "cloud-llm" and entry["details"]["destination"] == "llm.example"
    assert entry["details"]["masked"] == {"EMAIL_ADDRESS": 1, "PERSON": 1}
    assert len(entry["details"]["payload_sha256"]) == 64
    assert "John" not in json.dumps(entry) and "example.com" not in json.dumps(entry)  # never the raw text


@pytest.mark.parametrize(
    "purpose, payload, grant, match",
    [
        ("cloud-llm", PAYLOAD, False, "not consented"),
        ("telemetry", PAYLOAD, True, "not declared"),
        ("cloud-llm", {"x": {1, 2}}, True, "not JSON-serialisable"),
        ("cloud-llm", {"x": float("nan")}, True, "not JSON-serialisable"),
        ("cloud-llm", {"x": "a" * 1_100_000}, True, "over the"),
        ("cloud-llm", {"q": "Jag vill ha en bok om historia och inte om deckare, tack så mycket"}, True, "Swedish"),
    ],
)
def test_refusals_send_nothing_and_are_audited(gate_rec: Recommender, purpose, payload, grant, match) -> None:
    if grant:
        gate_rec.consent("u").grant("cloud-llm")
    sent: list = []
    with pytest.raises(EgressBlocked, match=match):
        gate_rec.egress.send(purpose, payload, sent.append, user_id="u")
    assert sent == []
    blocked = [a for a in audit(gate_rec, "u") if a["action"] == "egress.blocked"]
    assert blocked and match.split()[0] in blocked[-1]["details"]["reason"]


def test_deny_by_default_and_withdrawal_works_at_once(gate_rec: Recommender) -> None:
    sent: list = []
    with pytest.raises(EgressBlocked):
        gate_rec.egress.send("cloud-llm", "hello", sent.append, user_id="u")
    gate_rec.consent("u").grant("cloud-llm")
    gate_rec.egress.send("cloud-llm", "hello", sent.append, user_id="u")
    gate_rec.consent("u").revoke("cloud-llm")
    with pytest.raises(EgressBlocked, match="not consented"):
        gate_rec.egress.send("cloud-llm", "hello again", sent.append, user_id="u")
    assert sent == ["hello"]


def test_transport_error_is_typed_and_audited(gate_rec: Recommender) -> None:
    gate_rec.consent("u").grant("cloud-llm")

    def broken(_):
        raise ConnectionError("offline")

    with pytest.raises(EgressTransportError):
        gate_rec.egress.send("cloud-llm", "hi", broken, user_id="u")
    assert any(a["action"] == "egress.transport_failed" for a in audit(gate_rec, "u"))


def test_masking_failure_blocks(gate_rec: Recommender, monkeypatch: pytest.MonkeyPatch) -> None:
    from ondevice_rec.privacy.masking import RedactionError, get_redactor

    gate_rec.consent("u").grant("cloud-llm")

    def fail(*a, **k):
        raise RedactionError("analyzer unavailable")

    monkeypatch.setattr(get_redactor(), "redact", fail)
    sent: list = []
    with pytest.raises(EgressBlocked, match="analyzer unavailable"):
        gate_rec.egress.send("cloud-llm", {"q": "hi"}, sent.append, user_id="u")
    assert sent == []


def test_keys_and_long_numbers_are_masked_too(gate_rec: Recommender) -> None:
    gate_rec.consent("u").grant("cloud-llm")
    out = gate_rec.egress.send(
        "cloud-llm", {"john@example.com": 1, "card": 4111111111111111, "n": 42}, lambda p: p, user_id="u"
    )
    assert out == {"<EMAIL_ADDRESS>": 1, "card": "<CREDIT_CARD>", "n": 42}


def test_summary_is_minimised(gate_rec: Recommender) -> None:
    gate_rec.record("u", "jazz-02", kind="like")
    gate_rec.record("u", "horr-01", kind="dislike")
    s = gate_rec.egress.summary("u")
    assert s["interests"][0] == {"tag": "jazz", "count": 2}
    assert s["avoids"][0]["tag"] == "horror" and s["activity"] == "1-9"
    text = json.dumps(s)
    assert "jazz-0" not in text and "horr-01" not in text  # no item ids
    assert set(s) == {"interests", "avoids", "activity"}  # no timestamps, no free text
    assert gate_rec.egress.summary("stranger") == {"interests": [], "avoids": [], "activity": "0"}


def test_remote_candidates_go_through_the_gate(gate_rec: Recommender) -> None:
    received: list = []

    def fetch(summary):
        received.append(summary)
        return [{"id": "remote-1", "title": "Late Night Jazz Sessions", "text": "Smoky club jazz.", "tags": ["jazz"]}]

    gate_rec.consent("u").grant("personalization")
    with pytest.raises(EgressBlocked, match="remote-candidates"):
        gate_rec.recommend("u", k=3, remote=fetch)
    assert received == []
    gate_rec.consent("u").grant("remote-candidates")
    recs = gate_rec.recommend("u", k=3, remote=fetch, diversity=0.0)
    assert received and set(received[0]) == {"interests", "avoids", "activity"}
    assert "remote-1" in [r.item_id for r in recs]


def test_erasure_removes_egress_audit_entries(gate_rec: Recommender, db_path: Path) -> None:
    gate_rec.consent("u").grant("cloud-llm")
    gate_rec.egress.send("cloud-llm", "hello", lambda p: None, user_id="u", destination="llm.example")
    gate_rec.forget_user("u")
    import sqlite3

    rows = sqlite3.connect(db_path).execute("SELECT action, details FROM audit").fetchall()
    assert [r[0] for r in rows] == ["erasure"]


def test_privacy_check_cli(tmp_path: Path) -> None:
    txt = tmp_path / "payload.txt"
    txt.write_text("Contact Maria Garcia at maria@example.org or +34 612 345 678.")
    r = subprocess.run(
        [sys.executable, "-m", "ondevice_rec.cli", "privacy", "check", str(txt), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert "maria@example.org" not in out["would_send"] and out["masked_counts"]["EMAIL_ADDRESS"] == 1
    js = tmp_path / "payload.json"
    js.write_text(json.dumps({"note": "card 4111 1111 1111 1111", "n": 3}))
    r = subprocess.run(
        [sys.executable, "-m", "ondevice_rec.cli", "privacy", "check", str(js)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0 and "<CREDIT_CARD>" in r.stdout and "4111" not in r.stdout
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    r = subprocess.run(
        [sys.executable, "-m", "ondevice_rec.cli", "privacy", "check", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 1 and "bad.json:1" in r.stderr


def test_the_gate_knows_the_catalogue_so_titles_pass_but_people_do_not(gate_rec: Recommender) -> None:
    from ondevice_rec.privacy import redact

    gate_rec.consent("u").grant("cloud-llm")
    text = "Is Jane Eyre like Wuthering Heights? Ask Margit Kovács, jane@example.com"
    assert "Jane Eyre" not in redact(text)  # without the catalogue, a title that looks like a name is masked
    kept = gate_rec.egress.send("cloud-llm", text, lambda p: p, user_id="u")
    assert "Jane Eyre" in kept and "Wuthering Heights" in kept  # catalogue titles: not personal data
    assert "Margit" not in kept and "Kovács" not in kept and "<EMAIL_ADDRESS>" in kept


def test_a_gate_timeout_does_not_change_the_shared_redactor() -> None:
    from ondevice_rec.privacy.egress import mask_payload
    from ondevice_rec.privacy.masking import get_redactor

    shared = get_redactor()
    before = shared.timeout
    masked, _ = mask_payload({"q": "write to jane@example.com"}, timeout=30.0)
    assert "jane@example.com" not in str(masked)
    assert shared.timeout == before


def _luhn_card(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        y = int(ch) * 2 if i % 2 == 0 else int(ch)
        total += y - 9 if y > 9 else y
    return body + str((10 - total % 10) % 10)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    digits=st.text(alphabet="0123456789", min_size=14, max_size=14),
    form=st.sampled_from(["int", "float", "float-exp", "fraction", "string", "negative"]),
)
def test_a_card_number_leaves_masked_whatever_its_json_type(digits: str, form: str) -> None:
    from ondevice_rec.privacy.egress import mask_payload

    card = _luhn_card("4" + digits)  # 16 digits, Luhn-valid
    value = {
        "int": int(card),
        "float": float(card),
        "float-exp": float(f"{card[0]}.{card[1:]}e15"),
        "fraction": float("0." + card),
        "string": card,
        "negative": -int(card),
    }[form]
    masked, counts = mask_payload({"n": value, "items": [value]})
    out = json.dumps(masked)
    assert card not in out and card[:15] not in out.replace(".", "").replace("e+", "")
    assert sum(counts.values()) >= 2


def test_ordinary_numbers_pass_unchanged() -> None:
    from ondevice_rec.privacy.egress import mask_payload

    payload = {"rating": 4.5, "count": 12, "share": 0.123456789, "year": 1999, "price": 12.99}
    assert mask_payload(payload)[0] == payload


def test_the_audit_entry_names_the_detectors_that_ran(gate_rec: Recommender) -> None:
    gate_rec.consent("u").grant("cloud-llm")
    gate_rec.egress.send("cloud-llm", PAYLOAD, lambda p: p, user_id="u")
    entry = [a for a in audit(gate_rec, "u") if a["action"] == "egress.sent"][0]
    ran = entry["details"]["detectors"]
    assert "language:en" in ran and "odrec-patterns" in ran
    assert any(d.startswith("pii-tagger:pii-ner-minilm@") for d in ran)
    assert any(d.startswith("spacy:en_core_web_sm") for d in ran)


def test_titles_a_server_sent_never_become_exemptions(gate_rec: Recommender) -> None:
    """A server answering recommend(remote=...) could name an item after a person to unmask them later."""

    def fetch(summary):
        return [
            {"id": "planted", "title": "Margit Kovács", "text": "Margit Kovács lives at 12 Baker Street.", "tags": []}
        ]

    gate_rec.egress.declare("remote-candidates", "Fetch fresh items from the app's server")
    gate_rec.consent("u").grant("personalization")
    gate_rec.consent("u").grant("remote-candidates")
    gate_rec.consent("u").grant("cloud-llm")
    gate_rec.recommend("u", k=3, remote=fetch)
    assert gate_rec.get_item("planted")["title"] == "Margit Kovács"
    gate_rec.egress.allow_terms([], catalog_titles=True)
    out = gate_rec.egress.send("cloud-llm", "Please ask Margit Kovács about it", lambda p: p, user_id="u")
    assert "Kovács" not in out
    out = gate_rec.egress.send("cloud-llm", "Margit Kovács lives at 12 Baker Street.", lambda p: p, user_id="u")
    assert "Kovács" not in out and "Baker" not in out
    # the same item written by the app itself is catalogue content again
    gate_rec.add_items([{"id": "planted", "title": "Margit Kovács", "text": "A novel.", "tags": []}])
    assert "Margit Kovács" in gate_rec.egress.send(
        "cloud-llm", "I loved the story of Margit Kovács!", lambda p: p, user_id="u"
    )


def test_warm_up_loads_in_the_background_and_sends_wait_for_it(gate_rec: Recommender) -> None:
    gate = gate_rec.egress
    gate.warm_up()
    gate_rec.consent("u").grant("cloud-llm")
    assert gate.send("cloud-llm", "hello Jane Smith", lambda p: p, user_id="u") == "hello <PERSON>"
    assert gate.ready


def test_a_warm_up_failure_fails_the_send_closed(gate_rec: Recommender, monkeypatch: pytest.MonkeyPatch) -> None:
    from ondevice_rec.privacy import egress
    from ondevice_rec.privacy.masking import RedactionError

    def broken() -> None:
        raise RedactionError("the spaCy model is not installed")

    monkeypatch.setattr(egress, "get_redactor", broken)
    gate = egress.EgressGate(gate_rec._store, gate_rec._consent)
    gate.warm_up()
    gate_rec.consent("u").grant("cloud-llm")
    sent: list = []
    with pytest.raises(EgressBlocked, match="spaCy model is not installed"):
        gate.send("cloud-llm", "hello", sent.append, user_id="u")
    assert sent == [] and not gate.ready
    with pytest.raises(RedactionError, match="not installed"):
        gate.warm_up(wait=True)


def test_open_can_warm_the_gate(rec_demo: Recommender, db_path: Path) -> None:
    rec_demo.close()
    with Recommender(db_path, warm_privacy=True) as rec:
        rec.egress._warming.join(timeout=120)
        assert rec.egress.ready


def test_a_server_never_rewrites_the_apps_own_items(gate_rec: Recommender) -> None:
    gate_rec.egress.declare("remote-candidates", "Fetch fresh items from the app's server")
    for purpose in ("personalization", "remote-candidates"):
        gate_rec.consent("u").grant(purpose)
    before = gate_rec.get_item("jazz-01")["title"]
    gate_rec.recommend("u", k=3, remote=lambda s: [{"id": "jazz-01", "title": "Jane Doe", "text": "x", "tags": []}])
    assert gate_rec.get_item("jazz-01")["title"] == before


@pytest.mark.parametrize(
    "payload, sent",
    [
        # field names keep the schema; only identifiers inside them are masked
        ({"a": None, "b": True, "c": 1.5}, {"a": None, "b": True, "c": 1.5}),
        ({"ip": "192.168.1.23", "first": "x"}, {"ip": "<IP_ADDRESS>", "first": "x"}),
        ({"idfa": "6D92078A-8246-4BA4-AE5B-76104861E7DC"}, {"idfa": "<DEVICE_ID>"}),
        ({"Heather Smith": 3}, {"<PERSON>": 3}),
        ({"heather_smith": 3, "first_name": "x"}, {"<PERSON>": 3, "first_name": "x"}),
        # values that are personal data by the field they are in
        ({"postcode": "75018", "zip": 10115}, {"postcode": "<POSTCODE>", "zip": "<POSTCODE>"}),
        ({"lat": 48.85837, "lon": 2.294481}, {"lat": "<COORDINATES>", "lon": "<COORDINATES>"}),
        ({"pos": "48.858370,2.294481"}, {"pos": "<COORDINATES>"}),
        ({"device_id": "550e8400-e29b-41d4-a716-446655440000"}, {"device_id": "<DEVICE_ID>"}),
    ],
)
def test_payload_fields(payload: dict, sent: dict) -> None:
    from ondevice_rec.privacy.egress import mask_payload

    assert mask_payload(payload)[0] == sent


def test_privacy_check_cli_knows_the_catalogue_with_db(tmp_path: Path) -> None:
    db = tmp_path / "rec.db"
    with Recommender(db) as rec:
        rec.add_items(
            [{"id": "m1", "title": "Being John Malkovich", "text": "A puppeteer finds a portal.", "tags": []}]
        )
    txt = tmp_path / "msg.txt"
    txt.write_text("I loved Being John Malkovich, says John Smith.")
    base = [sys.executable, "-m", "ondevice_rec.cli", "privacy", "check", str(txt), "--json"]
    env = {k: v for k, v in os.environ.items() if k != "ODREC_DB"}
    plain = json.loads(subprocess.run(base, capture_output=True, text=True, timeout=120, env=env).stdout)
    known = json.loads(
        subprocess.run([*base, "--db", str(db)], capture_output=True, text=True, timeout=120, env=env).stdout
    )
    assert "Being John Malkovich" not in plain["would_send"]
    assert "Being John Malkovich" in known["would_send"] and "John Smith" not in known["would_send"]


def test_german_is_masked_and_the_audit_names_the_european_tagger(gate_rec: Recommender) -> None:
    gate_rec.consent("u").grant("cloud-llm")
    seen: list = []
    payload = {"q": "Hallo, ich heiße Hans Müller und wohne in Berlin, Hauptstraße 5, 10115."}
    gate_rec.egress.send("cloud-llm", payload, seen.append, user_id="u")
    assert "Müller" not in json.dumps(seen, ensure_ascii=False) and "10115" not in json.dumps(seen)
    entry = [a for a in audit(gate_rec, "u") if a["action"] == "egress.sent"][-1]
    ran = entry["details"]["detectors"]
    assert "language:de" in ran and any(d.startswith("pii-tagger:pii-ner-minilm-eu@") for d in ran), ran
