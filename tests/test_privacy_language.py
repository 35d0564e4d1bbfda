"""Language gate of PII masking: English, French, German, Spanish, Italian, Dutch and Portuguese are each masked
with their own model; every other language is refused (fail closed) at any length of 3 words or more; 1-2-word
Latin-script texts cannot be told and are accepted as English."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ondevice_rec.errors import RedactionError
from ondevice_rec.privacy import language
from ondevice_rec.privacy.language import SUPPORTED, detect, refusal


@pytest.fixture(scope="module", autouse=True)
def no_network() -> Iterator[None]:
    """The detector and its tables load from installed packages only: any connection attempt fails the module."""
    attempts: list[str] = []
    real = (socket.socket.connect, socket.getaddrinfo)

    def refuse(*a: object, **k: object) -> None:  # pragma: no cover - only runs if something tries
        attempts.append(repr(a))
        raise OSError("network access attempted")

    socket.socket.connect = refuse  # type: ignore[method-assign]
    socket.getaddrinfo = refuse  # type: ignore[assignment]
    yield
    socket.socket.connect, socket.getaddrinfo = real  # type: ignore[method-assign]
    assert not attempts, attempts


# the sentences the stopword detector let through (all but the Dutch one were masked with the English model):
# each is now told as its language, and masked with the European PII tagger
ADDRESSES = [
    ("de", "Hallo, ich heiße Hans Müller und wohne in Berlin, Hauptstraße 5, 10115."),
    ("es", "Hola, me llamo Juan García y vivo en Madrid, Calle Mayor 5, 28013."),
    ("it", "Ciao, mi chiamo Marco Rossi e abito a Roma, Via Garibaldi 5, 00184."),
    ("pt", "Olá, chamo-me João Silva e moro em Lisboa, Rua Augusta 5, 1100-048."),
    ("nl", "Hallo, ik heet Jan de Vries en ik woon in Amsterdam, Kerkstraat 5, 1017 GC."),
]
THREE_WORDS = [
    ("de", "Ich heiße Hans"),
    ("de", "das ist gut"),
    ("es", "Me llamo Juan"),
    ("es", "vivo en Madrid"),
    ("it", "Mi chiamo Marco"),
    ("it", "abito a Roma"),
    ("pt", "Chamo-me João Silva"),
    ("pt", "moro em Lisboa"),
    ("nl", "Ik heet Jan"),
    ("nl", "ik woon hier"),
]
REFUSED = [
    # languages the first detector does not know are labelled one of its eight; the second opinion refuses them
    ("sv", "Hej, jag heter Anna Lindqvist och bor i Göteborg, jag vill ha fler deckare."),
    ("da", "Hei, jeg heter Ole Hansen og bor i Oslo, jeg vil ha flere bøker."),  # Norwegian, named as its neighbour
    ("cs", "Dobrý den, jmenuji se Petr Novák a bydlím v Brně, chtěl bych další knihy."),
    ("fi", "Hyvää päivää, olen Matti Virtanen ja asun Helsingissä, haluaisin lisää dekkareita."),  # lingua: "fr"
    ("ro", "Bună ziua, mă numesc Andrei Popescu și locuiesc în Cluj, aș vrea mai multe romane."),  # lingua: "fr"
    ("pl", "Mam na imię Anna"),
    ("pl", "Dzień dobry, nazywam się Jan Kowalski i mieszkam w Krakowie, ul. Floriańska 5."),
    ("pl", "Mieszkam w Warszawie i szukam dobrych kryminałów na wakacje."),
]
ACCEPTED = [
    ("fr", "Bonjour, je suis Marie Dupont"),
    ("fr", "J'habite au 12 rue de la Paix, 75002 Paris, appelez-moi."),
    ("fr", "Je m'appelle Jean-Pierre Dubois et j'habite à Lyon."),
    ("en", "Hi, I'm John Smith"),
    ("en", "Heather Smith lives at 12 rue Lepic, Paris."),
    ("en", "My name is Jürgen Müller and I live at Hauptstraße 5, 10115 Berlin."),
    ("en", "Name: María de la Cruz\nAddress: Calle de la Paz 5, Madrid\nPlease ship it"),
    ("en", "lmao this new album is fire 🔥 #NowPlaying @djkhaled u gotta hear it"),
    ("en", "omg @jess_22 cant wait 4 tonight!!! #blessed https://t.co/xyz"),
    ("en", "novel jazz ok"),  # three English words lingua alone would call Italian: the lexicon keeps them
    ("en", "Chapter 12 of 20: the 1920s."),
]
SHORT = ["Hans Müller", "Danke schön", "Hola", "Berlin", "Calle Mayor 5", "DNI 12345678Z", "2024", "Jürgen", "#tbt"]


@pytest.mark.parametrize("lang, text", ADDRESSES + THREE_WORDS)
def test_the_five_european_languages_are_told_at_three_words(lang: str, text: str) -> None:
    assert detect(text) == lang
    assert refusal(detect(text)) is None


@pytest.mark.parametrize("lang, text", REFUSED)
def test_other_languages_are_refused_naming_the_language(lang: str, text: str) -> None:
    assert detect(text) == lang
    why = refusal(detect(text))
    assert why and "Dutch and Portuguese only" in why and "nothing was sent" in why
    assert language.language_name(lang) in why  # "in Polish", "in Swedish"


def test_the_second_opinion_leaves_name_heavy_short_texts_alone() -> None:
    # two words besides the names: neither detector can tell much from trigrams of names
    assert detect("Ich bin Hans Müller.") == "de"
    gate = language.LanguageGate(language.Config(veto="", function_words=0, frequencies=False))
    assert gate.detect("Hej, jag heter Anna Lindqvist och bor i Göteborg, jag vill ha fler deckare.") in SUPPORTED


@pytest.mark.parametrize("lang, text", ACCEPTED)
def test_english_and_french_are_accepted_with_names_and_addresses(lang: str, text: str) -> None:
    assert detect(text) == lang
    assert refusal(detect(text)) is None


@pytest.mark.parametrize("text", SHORT)
def test_one_or_two_latin_words_are_accepted_as_english(text: str) -> None:
    assert detect(text) == "en"


@pytest.mark.parametrize("text", ["Иван Петров", "张伟", "Москва", "Мне нравятся научно-фантастические романы"])
def test_non_latin_script_is_refused_at_any_length(text: str) -> None:
    assert detect(text) == "non-latin"
    assert "non-Latin script" in (refusal("non-latin") or "")


def test_what_is_not_language_is_left_out() -> None:
    # handles, URLs, e-mails and numbers are no words: two words are left, too few to tell
    assert language.words(language.clean("@hans_mueller https://example.de hans@example.de 10115 Danke schön")) == [
        "Danke",
        "schön",
    ]
    assert language.words("NINO QQ 12 34 56 C") == ["NINO", "QQ"]  # a lone capital is an initial or a code
    assert detect("Ship to 上海市浦东新区世纪大道100号 please") == "en"  # a CJK address is not the language


def test_names_do_not_decide_the_language() -> None:
    assert language.without_names("Hallo ich heiße Hans Müller und wohne in Berlin".split()) == [
        "ich",
        "heiße",
        "und",
        "wohne",
        "in",
    ]
    assert language.without_names("Calle de la Paz".split()) == []
    assert detect("Csenger Gábor asked for a refund") == "en"
    # nothing but capitalised words: lingua decides on all of them (deciding "English" would leak German labels)
    assert detect("Adresse: Hauptstraße 12, 10115 Berlin") == "de"


def test_refusal_names_supported_and_unknown() -> None:
    assert set(SUPPORTED) == {"en", "fr", "de", "es", "it", "nl", "pt"}
    assert all(refusal(lang) is None for lang in SUPPORTED)
    assert "could not be told" in (refusal("und") or "")
    assert "in Swedish" in (refusal("sv") or "")


def test_detector_is_built_once_across_threads() -> None:
    gate = language.LanguageGate(language.Config(languages="english,french", lexicon=False))  # small: quick
    built: list[object] = []
    barrier = threading.Barrier(8)

    def work() -> None:
        barrier.wait()
        built.append(gate.detector())

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(built) == 8 and len({id(d) for d in built}) == 1


NAME_HEAVY_ENGLISH = [
    "Remind Søren Kierkegaard about lunch",
    "Give Hans Peter Müller a call",
    "Contact Wolfgang Amadeus Mozart",
    "I met Bella Ciao at the café",
    "Meet Heather Smith at the café",
    "Send my résumé to Tom Baker",
    "My fiancée Jenny Lee loved the entrée",
]


@pytest.mark.parametrize("text", NAME_HEAVY_ENGLISH)
def test_english_messages_about_people_with_foreign_names_are_english(text: str) -> None:
    assert detect(text) == "en"


# rule 8: texts lingua, the second opinion and the function words all let through, refused by word frequencies
FREQUENCY_REFUSED = [
    ("af", "Ek het die boek gelees en dit was baie goed."),
    ("tl", "Nagustuhan ko talaga ang pelikulang ito."),
    ("la", "Puer in horto cum amicis ludit et cantat."),  # Latin's list: the Universal Declaration of Human Rights
]


@pytest.mark.parametrize("lang, text", FREQUENCY_REFUSED)
def test_word_frequencies_refuse_what_the_other_rules_let_through(lang: str, text: str) -> None:
    without = language.LanguageGate(language.Config(frequencies=False))
    assert without.detect(text) in SUPPORTED
    assert detect(text) == lang
    assert refusal(detect(text))


@pytest.mark.parametrize(
    "lang, text",
    [
        ("de", "Ich habe den Film gestern mit Hans gesehen."),
        ("es", "Me gustó mucho la película, gracias María."),
        ("nl", "Dit is een hele mooie film, bedankt Jan."),
        ("en", "Hi, I am John Smith and I loved the film."),
    ],
)
def test_word_frequencies_leave_supported_languages_alone(lang: str, text: str) -> None:
    assert detect(text) == lang


@pytest.mark.parametrize(
    "text", ["my my +1 100 100000 my my", "a ok ok , ok novel ? +1 100 100000 a ok ok , ok novel ?"]
)
def test_word_frequencies_judge_three_distinct_words_or_more(text: str) -> None:
    """Repeating a word ("my" is also Afrikaans) is no evidence of a language: found by hypothesis."""
    assert detect(text) == "en"


def test_tokens_are_spelled_as_the_frequency_table_spells_them() -> None:
    assert language.tokens(["Straße", "aujourd'hui", "l'homme", "a"]) == ["strasse", "aujourd", "hui", "homme"]


def test_frequency_scores_rank_the_language_of_the_words() -> None:
    logp, known = language._frequencies().score(["jeg", "vil", "gerne", "se", "flere", "film"])
    assert max(logp, key=lambda k: logp[k]) in ("da", "nb")
    assert known["da"] == 6 and known["en"] < 3


def test_a_missing_frequency_table_fails_closed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import importlib.resources

    monkeypatch.setattr(importlib.resources, "files", lambda _pkg: tmp_path)
    with pytest.raises(RedactionError, match="word-frequency table"):
        language._Frequencies()


def test_a_long_text_is_judged_on_a_sample_of_its_words() -> None:
    # tens of thousands of distinct words: the frequency query sees the same 1,000-word sample lingua does
    words = " ".join(f"Wort{i:05d}".translate(str.maketrans("0123456789", "abcdefghij")) for i in range(40_000))
    assert detect("Ich habe den Film gestern gesehen und er war sehr gut. " * 200 + words) == "de"
