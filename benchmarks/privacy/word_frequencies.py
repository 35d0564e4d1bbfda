"""The word-frequency table behind the language gate's rule 8 (``privacy/language.py``).

For the seven languages the masker supports and 25 Latin-script languages it does not, every word at least
``CUTOFF`` frequent (per running word) in a third-party frequency list, written to one read-only SQLite file,
``ondevice_rec/privacy/data/word_frequencies.sqlite`` (table ``words``: the word, casefolded, and a blob of
(language index, rounded -4·log10 frequency) byte pairs; table ``meta``: languages, sources, licences).

Sources (neither is a test split of the language benchmark: ``langid.py`` measures on Leipzig sentences):

- ``wordfreq`` 3.1.1 (PyPI; data CC BY-SA 4.0: Wikipedia, OpenSubtitles, news, books, web text, Reddit,
  Twitter), its "best" list, for the 27 Latin-script languages it has.
- hermitdave/FrequencyWords @525f9b5 (OpenSubtitles 2018 counts; content CC BY-SA 4.0) for Afrikaans, Esperanto,
  Estonian, Basque and Albanian, which wordfreq lacks; each file checked by sha256.

    pip install wordfreq==3.1.1
    python benchmarks/privacy/word_frequencies.py --mirror /work/.mirror
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sqlite3
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
OUT = ROOT / "ondevice_rec" / "privacy" / "data" / "word_frequencies.sqlite"
CUTOFF = 1e-6

SUPPORTED = ("en", "fr", "de", "es", "it", "nl", "pt")
WORDFREQ = (
    "ca cs da fi hu id is lt lv ms nb pl ro sh sk sl sv tr vi fil".split()  # "sh": Serbo-Croatian (bs, hr)
)
FREQUENCY_WORDS = ("hermitdave/FrequencyWords", "525f9b560de45753a5ea01069454e72e9aa541c6")
FW_FILES = {
    "af": ("content/2018/af/af_full.txt", "c3c0a0a2f3935deb9d2d418e9c94a4edc6a5ce96c668d80d14a133b75631cff9"),
    "eo": ("content/2018/eo/eo_full.txt", "2e5eb94fd99d6778ceadf238d7edffa5c90dae218179b1d7c3b6e9189f9ac369"),
    "et": ("content/2018/et/et_50k.txt", "ede602b6d0569606692e91bdf8fd5fe66cf281547d21640d92b2ed2ef73c4270"),
    "eu": ("content/2018/eu/eu_50k.txt", "f4cce0f8567e877e108e8bdd18c74e9b23bff2d5f418ac04306ae003b025baf2"),
    "sq": ("content/2018/sq/sq_50k.txt", "5a6d41243584b9c594b35191e9b5851ff8f9d3571e4ca71efde557a7af8f56b2"),
}
# the Universal Declaration of Human Rights (NLTK's udhr2 corpus, public domain) for languages neither source
# has: one document of ~2,000 words each, enough for the function words that tell a language apart
UDHR = (
    "nltk/nltk_data",
    "5db857e6f7df11eabb5e5665836db9ec8df07e28",
    "packages/corpora/udhr2.zip",
    "0796c314b09a930c989c6f9d93d226af9af13feccd88496e196c743dd266c7f3",
)
UDHR_FILES = {
    "az": "azj_latn.txt",
    "cy": "cym.txt",
    "ga": "gle.txt",
    "la": "lat.txt lat_1.txt",  # two translations
    "lg": "lug.txt",
    "mi": "mri.txt",
    "nn": "nno.txt",
    "sn": "sna.txt",
    "so": "som.txt",
    "st": "sot.txt",
    "sw": "swh.txt",
    "tn": "tsn.txt",
    "ts": "tso_MZ.txt",
    "xh": "xho.txt",
    "yo": "yor.txt",
    "zu": "zul.txt",
}
LANGUAGES = (*SUPPORTED, *WORDFREQ, *FW_FILES, *UDHR_FILES)
# ISO 639-1 codes the gate reports for wordfreq's "sh" and "fil"
CODES = {"sh": "hr", "fil": "tl"}


def wordfreq_list(lang: str) -> dict[str, float]:
    from importlib.metadata import version

    import wordfreq

    if version("wordfreq") != "3.1.1":
        raise SystemExit(f"wordfreq {version('wordfreq')}: the table is built from 3.1.1 (pip install wordfreq==3.1.1)")
    return dict(wordfreq.get_frequency_dict(lang, wordlist="best"))


def frequency_words(mirror: Path, lang: str) -> dict[str, float]:
    path, sha = FW_FILES[lang]
    git_dir = mirror / FREQUENCY_WORDS[0].replace("/", "+") / "repo"
    data = subprocess.run(
        ["git", "--git-dir", str(git_dir), "show", f"{FREQUENCY_WORDS[1]}:{path}"], capture_output=True, check=True
    ).stdout
    if hashlib.sha256(data).hexdigest() != sha:
        raise SystemExit(f"{FREQUENCY_WORDS[0]}:{path}: sha256 does not match {sha}")
    pairs = [line.rsplit(" ", 1) for line in data.decode("utf-8").splitlines() if " " in line]
    total = sum(int(c) for _, c in pairs)
    out: dict[str, float] = {}
    for w, c in pairs:
        w = w.casefold()
        out[w] = out.get(w, 0.0) + int(c) / total
    return out


def udhr_list(mirror: Path, lang: str) -> dict[str, float]:
    """Relative frequencies of ``lang``'s UDHR words, tokenised as the gate tokenises (Yoruba's under-dots
    written as the precomposed letters news text uses); a count is discounted by 0.5 so that a word seen once
    in one document does not count as common."""
    import io
    import unicodedata
    import zipfile

    from ondevice_rec.privacy.language import tokens

    repo, commit, path, sha = UDHR
    git_dir = mirror / repo.replace("/", "+") / "repo"
    data = subprocess.run(
        ["git", "--git-dir", str(git_dir), "show", f"{commit}:{path}"], capture_output=True, check=True
    ).stdout
    if hashlib.sha256(data).hexdigest() != sha:
        raise SystemExit(f"{repo}:{path}: sha256 does not match {sha}")
    archive = zipfile.ZipFile(io.BytesIO(data))
    text = "\n".join(archive.read(f"udhr2/{name}").decode("utf-8") for name in UDHR_FILES[lang].split())
    text = unicodedata.normalize("NFC", unicodedata.normalize("NFD", text).replace("\u0329", "\u0323"))
    counts: dict[str, int] = {}
    for t in tokens(text.split()):
        counts[t] = counts.get(t, 0) + 1
    total = sum(counts.values())
    return {w: (c - 0.5) / total for w, c in counts.items()}


def source(mirror: Path, lang: str) -> dict[str, float]:
    if lang in FW_FILES:
        return frequency_words(mirror, lang)
    if lang in UDHR_FILES:
        return udhr_list(mirror, lang)
    return wordfreq_list(lang)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mirror", type=Path, default=Path("/work/.mirror"))
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    table: dict[str, bytearray] = {}
    sizes = {}
    for i, lang in enumerate(LANGUAGES):
        freqs = source(args.mirror, lang)
        kept = {w: f for w, f in freqs.items() if f >= CUTOFF and w.isalpha()}
        sizes[CODES.get(lang, lang)] = len(kept)
        for w, f in kept.items():
            table.setdefault(w, bytearray()).extend((i, min(255, round(-4 * math.log10(f)))))
    args.out.unlink(missing_ok=True)
    db = sqlite3.connect(args.out)
    db.execute("CREATE TABLE words (word TEXT PRIMARY KEY, freq BLOB NOT NULL) WITHOUT ROWID")
    db.executemany("INSERT INTO words VALUES (?, ?)", ((w, bytes(b)) for w, b in sorted(table.items())))
    meta = {
        "languages": [CODES.get(lang, lang) for lang in LANGUAGES],
        "cutoff": CUTOFF,
        "encoding": "freq: (language index, round(-4 log10 frequency)) byte pairs; words casefolded, letters only",
        "sources": {
            "wordfreq 3.1.1 (best lists), data CC BY-SA 4.0": [CODES.get(x, x) for x in (*SUPPORTED, *WORDFREQ)],
            f"{FREQUENCY_WORDS[0]}@{FREQUENCY_WORDS[1][:7]} (OpenSubtitles 2018), content CC BY-SA 4.0": list(FW_FILES),
            f"{UDHR[0]}@{UDHR[1][:7]} udhr2 (Universal Declaration of Human Rights), public domain": list(UDHR_FILES),
        },
        "licence": "CC BY-SA 4.0 (derived from the sources above)",
        "command": "python benchmarks/privacy/word_frequencies.py " + " ".join(sys.argv[1:]),
        "words": sizes,
    }
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.executemany("INSERT INTO meta VALUES (?, ?)", ((k, json.dumps(v)) for k, v in meta.items()))
    db.commit()
    db.execute("VACUUM")
    db.close()
    print(f"wrote {args.out}: {len(table)} words, {args.out.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
