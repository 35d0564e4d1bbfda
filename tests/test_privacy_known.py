"""Exemptions from masking (privacy/known.py): a catalogue title or allowed term releases a found name, place or
address only when it equals the span's whole text; containing, overlapping or sitting inside it is not enough."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ondevice_rec.privacy.known import KnownText, normalise
from ondevice_rec.privacy.masking import get_redactor

SHORT_TITLES = ["Her", "Up", "Pi", "It", "Us", "Heat", "Paris"]

# (text, value that must not leave, allow-list) — the value contains, overlaps or sits inside an allowed term
LEAKS_BEFORE = [
    ("Heather Smith and Marie Dupont live at 12 rue Lepic, Paris.", "Heather Smith", SHORT_TITLES),
    ("Heather Smith and Marie Dupont live at 12 rue Lepic, Paris.", "Marie Dupont", SHORT_TITLES),
    ("Heather Smith and Marie Dupont live at 12 rue Lepic, Paris.", "Lepic", SHORT_TITLES),
    ("Please send the parcel to Hauptstraße 5, 10115 Berlin.", "Hauptstraße", SHORT_TITLES),
    ("Ship it to via Appia 12, Rome please.", "Appia", SHORT_TITLES),
    ("My sister lives at Rua Augusta 20, Lisbon.", "Augusta", SHORT_TITLES),
    ("Call Julius Upton about the order.", "Upton", SHORT_TITLES),
    ("Loved it. Pierre Dupuis recommended it to me.", "Pierre Dupuis", SHORT_TITLES),
    ("I watched Heat with Heath Ledger's cousin, Tom Heaton.", "Tom Heaton", SHORT_TITLES),
    ("Thanks, Heather Smith", "Heather Smith", ["Heather"]),  # a title that is the given name alone
]


@pytest.mark.parametrize("text,value,allow", LEAKS_BEFORE)
def test_a_term_inside_or_overlapping_a_name_never_releases_it(text: str, value: str, allow: list[str]) -> None:
    red = get_redactor()
    assert value not in red.redact(text).text, "the masker must find it without an allow-list"
    assert value not in red.redact(text, tuple(allow)).text
    assert value not in red.redact(text, known=KnownText.build(allow)).text


EXEMPT = [
    # (text, allowed term, what must stay) — the found span equals the term as a whole phrase
    ("Loved Jane Eyre! Mail me: jane.eyre@example.com", "Jane Eyre", "Loved Jane Eyre!"),
    ("I loved Jane  Eyre so much.", "JANE EYRE", "Jane  Eyre"),
    ("I want more like Amélie please", "Amélie", "Amélie"),
    ("I want more like Ame\u0301lie please", "Amélie", "Ame\u0301lie"),  # decomposed accent (NFKC-equal)
]


@pytest.mark.parametrize("text,term,kept", EXEMPT)
def test_a_term_equal_to_the_whole_span_releases_it(text: str, term: str, kept: str) -> None:
    assert kept not in get_redactor().redact(text).text
    out = get_redactor().redact(text, (term,)).text
    assert kept in out
    assert "@example.com" not in out


def test_structured_identifiers_are_never_exempt() -> None:
    text = "Mail jane.eyre@example.com or call +44 20 7946 0958"
    out = get_redactor().redact(text, ("jane.eyre@example.com", "+44 20 7946 0958")).text
    assert "jane.eyre" not in out and "7946" not in out


def test_a_catalogue_passage_still_exempts_what_it_quotes() -> None:
    passage = "Route 66 from Chicago to Santa Monica with diners and desert motels."
    known = KnownText.build(phrases=["Being John Malkovich: a puppeteer finds a portal"], texts=[passage])
    out = get_redactor().redact(f"Tell me more: {passage}", known=known).text
    assert passage in out
    assert "Chicago" not in get_redactor().redact("I moved to Chicago last year.", known=known).text


def test_inside_a_catalogue_title_as_written_is_title_text() -> None:
    known = KnownText.build(titles=["Wuthering Heights", "Being John Malkovich", "Dear John"])
    red = get_redactor()
    out = red.redact("Is Jane Eyre like Wuthering Heights or Being John Malkovich?", known=known).text
    assert "Wuthering Heights" in out and "Being John Malkovich" in out
    assert "John Smith" not in red.redact("Dear John Smith, your order shipped.", known=known).text
    assert "John Malkovich" not in red.redact("being john malkovich called me today", known=known).text


# --- the rule itself, without the masker -----------------------------------------------------------
def test_normalise_folds_case_unicode_form_and_space() -> None:
    assert normalise("  Ame\u0301lie\u00a0 POULAIN. ") == normalise("amélie poulain")
    assert normalise("STRASSE") == normalise("Straße")


def test_a_span_that_runs_on_into_another_is_not_exempt() -> None:
    text = "Heather Smith called"
    known = KnownText.build(["Heather"])
    assert known.exempt(text, [(0, 7), (8, 13)]) == [False, False]  # "Heather" + "Smith": one name
    assert known.exempt("Heather called", [(0, 7)]) == [True]


def test_a_span_inside_a_word_is_not_exempt() -> None:
    assert KnownText.build(["her"]).exempt("Heather", [(4, 7)]) == [False]


_WORDS = st.text(alphabet="abcdeHhrtUpsSmiéß", min_size=1, max_size=8)


@settings(max_examples=300, deadline=None)
@given(words=st.lists(_WORDS, min_size=1, max_size=8), data=st.data())
def test_no_span_is_released_by_terms_that_do_not_equal_it(words: list[str], data: st.DataObject) -> None:
    text = " ".join(words)
    # spans on word boundaries, sorted, apart
    bounds = []
    pos = 0
    for w in words:
        bounds.append((pos, pos + len(w)))
        pos += len(w) + 1
    picks = sorted(data.draw(st.sets(st.integers(0, len(words) - 1), min_size=1, max_size=len(words))))
    spans = [bounds[i] for i in picks]
    terms = data.draw(st.lists(st.one_of(_WORDS, st.sampled_from(words)), max_size=6))
    free = KnownText.build(terms).exempt(text, spans)
    allowed = {normalise(t) for t in terms}
    for (s, e), f in zip(spans, free):
        if f:
            assert normalise(text[s:e]) in allowed


NAMES = ["Heather Smith", "Marie Dupont", "Hans Müller", "Julius Upton", "Tom Heaton", "Pierre Dupuis"]
FRAMES = ["Please ask {} to call me back.", "I met {} yesterday at the shop.", "Thanks a lot, {}. See you soon."]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.sampled_from(NAMES),
    frame=st.sampled_from(FRAMES),
    terms=st.lists(
        st.sampled_from(SHORT_TITLES + ["Heath", "Smith's", "Dupon", "Hans Müller Jr", "ask", "Müll"]), max_size=5
    ),
)
def test_allow_lists_that_equal_no_span_release_nothing(name: str, frame: str, terms: list[str]) -> None:
    """The masker's own spans, with and without an allow-list that equals none of them: the same spans."""
    red = get_redactor()
    text = frame.format(name)
    found = red.analyze(text)
    texts = {normalise(text[s.start : s.end]) for s in found}
    terms = [t for t in terms if normalise(t) not in texts]
    assert [(s.start, s.end) for s in red.analyze(text, tuple(terms))] == [(s.start, s.end) for s in found]
