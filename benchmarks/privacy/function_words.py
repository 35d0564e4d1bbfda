"""The word lists behind the language gate's function-word rule (``privacy/language.py``, rule 7).

For each Latin-script language lingua knows and the masker has no model for, the 60 most frequent words of the
dev half of lingua-py's published test sentences (Leipzig news sentences, ``langid.py``'s LINGUA source, each
file checked by sha256) that occur at most twice in the supported languages' text: the same sentences for
English, French, German, Spanish, Italian, Dutch and Portuguese, and the train and dev splits of this
benchmark's corpora in those languages. Only the word lists are written (words, not sentences).

    python benchmarks/privacy/function_words.py --mirror /work/.mirror
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

from corpora import read_source, sentences  # noqa: E402
from langid import EXTRA, LINGUA, OTHER_LANGUAGES  # noqa: E402

OUT = ROOT / "ondevice_rec" / "privacy" / "data" / "function_words.json"
SUPPORTED = ("en", "fr", "de", "es", "it", "nl", "pt")
WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
TOP, SEARCH, MAX_IN_SUPPORTED = 60, 400, 2


def words(mirror: Path, lang: str) -> collections.Counter[str]:
    src = EXTRA[f"leipzig-{lang}"]["dev"]
    sents = list(sentences(read_source(src, mirror, {}), src.fmt))
    lo, hi = (round(f * len(sents)) for f in src.part)
    return collections.Counter(w.lower() for s in sents[lo:hi] for tok, _ in s for w in WORD.findall(tok))


def supported_words(mirror: Path, data: Path) -> collections.Counter[str]:
    out: collections.Counter[str] = collections.Counter()
    for lang in SUPPORTED:
        out.update(words(mirror, lang))
        for path in [*data.glob(f"*-{lang}.dev.jsonl"), *data.glob(f"*-{lang}.train.jsonl")]:
            for line in path.read_text(encoding="utf-8").splitlines():
                out.update(w.lower() for w in WORD.findall(json.loads(line)["text"]))
    for name in ("wnut17", "btc"):
        for split in ("train", "dev"):
            path = data / f"{name}.{split}.jsonl"
            if path.is_file():
                for line in path.read_text(encoding="utf-8").splitlines():
                    out.update(w.lower() for w in WORD.findall(json.loads(line)["text"]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mirror", type=Path, default=Path("/work/.mirror"))
    ap.add_argument("--data", type=Path, default=HERE / "data")
    args = ap.parse_args()
    common = supported_words(args.mirror, args.data)
    lists = {}
    for lang in OTHER_LANGUAGES:
        freq = words(args.mirror, lang)
        cand = [
            w
            for w, _ in freq.most_common(SEARCH)
            if len(w) >= 2 and common[w] <= MAX_IN_SUPPORTED and "ďż" not in w  # "ďż": a mis-decoded byte mark
        ]
        lists[lang] = cand[:TOP]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "source": f"{LINGUA[0]}@{LINGUA[1]} language-testdata/sentences (dev half), Leipzig Corpora Collection",
        "command": "python benchmarks/privacy/function_words.py " + " ".join(sys.argv[1:]),
        "rule": f"top {TOP} of each language's {SEARCH} most frequent words, <= {MAX_IN_SUPPORTED}x in supported text",
    }
    OUT.write_text(json.dumps({"meta": meta, "words": lists}, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    print(f"wrote {OUT}: {len(lists)} languages")


if __name__ == "__main__":
    main()
