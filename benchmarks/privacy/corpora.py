"""Third-party NER corpora for the privacy benchmark, rebuilt from fetched copies and checked by sha256.

Nobody on this project wrote these texts or their labels. Their licences are kept: nothing here is committed
but this script; it reads each file from a local copy of the source repository (a git clone or mirror, e.g.
what the search tool's ``fetch`` brings), verifies its sha256, and writes JSON lines
``{"id", "text", "spans": [[start, end, label], ...]}`` with character spans on a detokenised text.

    python benchmarks/privacy/corpora.py --mirror /work/.mirror --out benchmarks/privacy/data

``--mirror DIR`` holds ``<owner>+<name>/repo`` (git directories); ``--source owner/name=PATH`` overrides one.

| corpus | source (repository @ commit) | licence | splits | text |
|---|---|---|---|---|
| wnut17 | leondz/emerging_entities_17 @ e52a2d2 | CC BY 4.0 | train, dev, test | tweets, Reddit, YouTube, StackExchange |
| btc | GateNLP/broad_twitter_corpus @ 0c45ef7 (``train_dev_test_conll``) | CC BY 4.0 | train, dev, test | tweets (UK, global, news, celebrities) |
| conll2003-en | Babelscape/wikineural @ d2e28c7 (``data/conll/en``) | Reuters RCV1 terms: research use, not redistributed | train, dev, test | news |
| conll2003-de, conll2002-es, conll2002-nl | Babelscape/wikineural (``data/conll/{de,es,nl}``) | as above / CoNLL-2002 terms | train, dev, test | news |
| wikineural-fr | Babelscape/wikineural (``data/wikineural``) | CC BY-NC-SA 4.0 | dev (val), test | Wikipedia |
| wikineural-{de,es,it,nl,pt} | Babelscape/wikineural (``data/wikineural``) | CC BY-NC-SA 4.0 | train (val's first 80 %), dev (val's last 20 %), test | Wikipedia |

Labels are mapped to PERSON, LOCATION, ORGANIZATION and MISC (WNUT's corporation/group → ORGANIZATION,
product/creative-work → MISC).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

WIKINEURAL = ("Babelscape/wikineural", "d2e28c770cba2b285e742529ae18ed849e336c65")
WNUT = ("leondz/emerging_entities_17", "e52a2d2a71ac1a051ca2d532eef28653c5c02603")
BTC = ("GateNLP/broad_twitter_corpus", "0c45ef7b1924a6b8115bceab388781590b1b553a")

LABELS = {
    "PER": "PERSON",
    "person": "PERSON",
    "LOC": "LOCATION",
    "location": "LOCATION",
    "ORG": "ORGANIZATION",
    "corporation": "ORGANIZATION",
    "group": "ORGANIZATION",
    "MISC": "MISC",
    "product": "MISC",
    "creative-work": "MISC",
}


@dataclass(frozen=True)
class Source:
    repo: str
    commit: str
    path: str
    sha256: str
    fmt: str  # "conll" (token TAB label), "conllu" (index TAB token TAB label) or "lines" (plain sentences)
    lang: str
    licence: str
    group: bool  # join consecutive sentences into ~1 KB documents (news, Wikipedia); else one text per post
    part: tuple[float, float] = (0.0, 1.0)  # the share of the file's sentences kept, by position


_NEWS = "Reuters RCV1 terms (research use; not redistributed)"
_WN = "CC BY-NC-SA 4.0"
_ES = "CoNLL-2002 (EFE news; research use)"
_NL = "CoNLL-2002 (De Morgen news; research use)"
CORPORA: dict[str, dict[str, Source]] = {
    "wnut17": {
        "train": Source(
            *WNUT,
            "wnut17train.conll",
            "731820e13f71af324c6b55a1575ec2ce59fbaa2a0806f8f0400b98d56cd6a7a5",
            "conll",
            "en",
            "CC BY 4.0",
            False,
        ),
        "dev": Source(
            *WNUT,
            "emerging.dev.conll",
            "e053b752b8155113ca66e7db08af5f2f5f43ab993694e4774f1ec5bad42312d8",
            "conll",
            "en",
            "CC BY 4.0",
            False,
        ),
        "test": Source(
            *WNUT,
            "emerging.test.annotated",
            "2aa79b764e56ec9264a1b30fdd9b70195bd00ff400b62edd8f399d5f13c178f0",
            "conll",
            "en",
            "CC BY 4.0",
            False,
        ),
    },
    # Broad Twitter Corpus: the authors' recommended splits (dev = second half of section H, test = section F)
    "btc": {
        "train": Source(
            *BTC,
            "train_dev_test_conll/btc.train",
            "2117732e744d8f1692786c7ebb919c52dadd406f082b43fe1e625a51f2cadd0f",
            "conll",
            "en",
            "CC BY 4.0",
            False,
        ),
        "dev": Source(
            *BTC,
            "train_dev_test_conll/btc.dev",
            "9f7d33bcd195cecf9767357a5f1fe0ba879af6c55ebb68b8e846bff23c4e7fa5",
            "conll",
            "en",
            "CC BY 4.0",
            False,
        ),
        "test": Source(
            *BTC,
            "train_dev_test_conll/btc.test",
            "3bd2387dfc98ebc9d8b77d8b9c59826262e9beadce71ce8edde272821b9c87c8",
            "conll",
            "en",
            "CC BY 4.0",
            False,
        ),
    },
    "conll2003-en": {
        "train": Source(
            *WIKINEURAL,
            "data/conll/en/train.conllu",
            "08080f613c0185780fc95ba9609f8f4c84d138dbcef41e505bf7cbd7d48eb1e3",
            "conllu",
            "en",
            _NEWS,
            True,
        ),
        "dev": Source(
            *WIKINEURAL,
            "data/conll/en/val.conllu",
            "f183ddec0057e2252360b438c12fbadb16e5b5fe4dba795fa4eb73a69db9c185",
            "conllu",
            "en",
            _NEWS,
            True,
        ),
        "test": Source(
            *WIKINEURAL,
            "data/conll/en/test.conllu",
            "a569c9d154caa3c769afa25b2b5e7bb874c64b954eda5f3d499f6ee5d027b365",
            "conllu",
            "en",
            _NEWS,
            True,
        ),
    },
    "conll2003-de": {
        "dev": Source(
            *WIKINEURAL,
            "data/conll/de/val.conllu",
            "dc373c4c39a21b7064a9df63780eefb0c1b19f8b9dbafa4251867a3b98c882c4",
            "conllu",
            "de",
            _NEWS,
            True,
        ),
        "test": Source(
            *WIKINEURAL,
            "data/conll/de/test.conllu",
            "890e661e284ee228b90771e5ac8260b16ed604e248118d816682d3e333e49e75",
            "conllu",
            "de",
            _NEWS,
            True,
        ),
    },
    "conll2002-es": {
        "dev": Source(
            *WIKINEURAL,
            "data/conll/es/val.conllu",
            "87471f18212bb270a74a870f0963ee1cd5638b202aa5c73624b0b2f98b9e1017",
            "conllu",
            "es",
            _ES,
            True,
        ),
        "test": Source(
            *WIKINEURAL,
            "data/conll/es/test.conllu",
            "5255f674aa7d45dbd1565bca8b0f76ba3c24a27086dbb11aae9a7c3c571cc1ba",
            "conllu",
            "es",
            _ES,
            True,
        ),
    },
    "conll2002-nl": {
        "dev": Source(
            *WIKINEURAL,
            "data/conll/nl/val.conllu",
            "e0d04bec525b8c01b29c977aee6cebdc88c65f4e21e224f5dad72170b4de74da",
            "conllu",
            "nl",
            _NL,
            True,
        ),
        "test": Source(
            *WIKINEURAL,
            "data/conll/nl/test.conllu",
            "d012e0333afeec3775fc8ba63c08e1f2143919ed50cba452d476fe430b357a02",
            "conllu",
            "nl",
            _NL,
            True,
        ),
    },
}
for _lang, _dev, _test in (
    (
        "fr",
        "0a75e421dd2e48940632d90f1a1899c814e4f7c85f5914f6dee28a20205f0b5f",
        "61fc4f72dc356f10776e2b9be193d4d2cf216ffb198ad919a25f40b2f0db8485",
    ),
    (
        "it",
        "344b95fab0a6ee56a68034a8333ec6162cbcfdb20e67a696c2e18c67855672ce",
        "7c178c31602b865d03aba50b9d097e66fd1b95f71766e9ad0947d4f0b906f600",
    ),
    (
        "de",
        "061e57750c6a93d95f43bb85d9010cfdcb64c1e1c7dcac76ee7a9bddf0dfc3ab",
        "b1c57d8825bee42c707f0f804b41557ffc475f031ce5a0f25cd13c5a1604bf0d",
    ),
    (
        "es",
        "d4c67b9687df3069b1e9e889e685b8e87387602bced81e6ac3b160d2b9ba8513",
        "370421c9c8a81fce30722fd576140f2f8b16ff78511135f06a3da64bae0d1480",
    ),
    (
        "nl",
        "9999ef4bd5bb0f9bb6a6a63527c9a0e67ee61b4bad69446215fd86db3e47c7d8",
        "e884472966f6bb6ad1c241ee3506f4db5ecc9116c265bf3421510a7fcfb613ea",
    ),
    (
        "pt",
        "11cf840d3047351c1155a435790670647456ecb09f05631fc74e3841d5194d86",
        "054bc2b585775948c5521ed466b737feb650dfd13f7148470d5ace4b5ce4fb64",
    ),
):
    _val = f"data/wikineural/{_lang}/val.conllu"
    if _lang == "fr":
        CORPORA["wikineural-fr"] = {"dev": Source(*WIKINEURAL, _val, _dev, "conllu", _lang, _WN, True)}
    else:
        # WikiNEuRal's train splits are not in the snapshot: the EU PII tagger trains on the first 80 % of the
        # validation sentences (one text per sentence) and chooses its thresholds on the last 20 % (dev)
        CORPORA[f"wikineural-{_lang}"] = {
            "train": Source(*WIKINEURAL, _val, _dev, "conllu", _lang, _WN, False, (0.0, 0.8)),
            "dev": Source(*WIKINEURAL, _val, _dev, "conllu", _lang, _WN, True, (0.8, 1.0)),
        }
    CORPORA[f"wikineural-{_lang}"]["test"] = Source(
        *WIKINEURAL, f"data/wikineural/{_lang}/test.conllu", _test, "conllu", _lang, _WN, True
    )
for _name, _lang, _sha, _lic in (
    ("conll2003-de", "de", "4c8801ef7e77c97de802d7e9826b4281014e8bee8dbe5c851c1487b333c16ad4", _NEWS),
    ("conll2002-es", "es", "3140e8abf5fa9da3a906c4b553ec1fa148f9543d781db95dad60c64790a2f0b2", _ES),
    ("conll2002-nl", "nl", "add2bdd1e14e138d23d96c977058c28486619387ffab75d318f198bc547c155e", _NL),
):
    CORPORA[_name]["train"] = Source(
        *WIKINEURAL, f"data/conll/{_lang}/train.conllu", _sha, "conllu", _lang, _lic, False
    )

_NO_SPACE_BEFORE = {".", ",", ";", ":", "!", "?", ")", "]", "}", "%", "'s", "n't", "'re", "'ve", "'ll", "'d", "'m"}
_NO_SPACE_AFTER = {"(", "[", "{", "$", "#", "@"}  # WNUT splits "@handle" into "@" "handle"


def read_source(src: Source, mirror: Path, overrides: dict[str, Path]) -> bytes:
    """The file's bytes from a local copy of its repository, refused unless the sha256 matches."""
    root = overrides.get(src.repo) or mirror / src.repo.replace("/", "+") / "repo"
    git_dir = root / ".git" if (root / ".git").is_dir() else root
    if (root / src.path).is_file():
        data = (root / src.path).read_bytes()
    else:
        try:
            data = subprocess.run(
                ["git", "--git-dir", str(git_dir), "show", f"{src.commit}:{src.path}"], capture_output=True, check=True
            ).stdout
        except (subprocess.CalledProcessError, FileNotFoundError) as e:
            raise SystemExit(f"cannot read {src.repo}@{src.commit[:7]}:{src.path} from {root} ({e})") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != src.sha256:
        raise SystemExit(f"{src.repo}:{src.path}: sha256 {digest} does not match the expected {src.sha256}")
    return data


def sentences(data: bytes, fmt: str) -> Iterator[list[tuple[str, str]]]:
    """(token, BIO label) lists, one per sentence ("lines": one plain sentence per line, no labels)."""
    if fmt == "lines":
        yield from ([(tok, "O") for tok in line.split()] for line in data.decode("utf-8").splitlines() if line.strip())
        return
    sent: list[tuple[str, str]] = []
    for raw in data.decode("utf-8").splitlines():
        line = raw.rstrip("\n")
        if not line.strip():
            if sent:
                yield sent
            sent = []
            continue
        parts = line.split("\t")
        if fmt == "conllu":
            if len(parts) < 3:
                continue
            tok, lab = parts[1], parts[2]
        else:
            if len(parts) < 2:
                continue
            tok, lab = parts[0], parts[1] or "O"
        if tok == "-DOCSTART-":
            continue
        sent.append((tok, lab.strip() or "O"))
    if sent:
        yield sent


def detokenise(sent: list[tuple[str, str]]) -> tuple[str, list[list[object]]]:
    """Text with light English spacing, and the character spans of its entities."""
    text = ""
    spans: list[list[object]] = []
    cur: list[object] | None = None
    prev = ""
    for tok, lab in sent:
        if text and tok not in _NO_SPACE_BEFORE and prev not in _NO_SPACE_AFTER:
            text += " "
        start = len(text)
        text += tok
        kind = lab[2:] if lab[:2] in ("B-", "I-") else None
        mapped = LABELS.get(kind or "")
        glued = prev == "@" and cur is not None and cur[1] == start  # BTC labels "@" and the handle B-, B-
        if (lab.startswith("I-") or glued) and cur is not None and cur[2] == mapped:
            cur[1] = len(text)
        elif mapped is not None:
            cur = [start, len(text), mapped]
            spans.append(cur)
        else:
            cur = None
        prev = tok
    return text, spans


def documents(src: Source, data: bytes, max_chars: int = 1000) -> Iterator[dict[str, object]]:
    buf_text, buf_spans, n = "", [], 0
    sents = list(sentences(data, src.fmt))
    lo, hi = (round(f * len(sents)) for f in src.part)
    for i, sent in enumerate(sents[lo:hi], start=lo):
        text, spans = detokenise(sent)
        if not src.group:
            yield {"id": f"{i}", "text": text, "spans": spans}
            continue
        if buf_text and len(buf_text) + 1 + len(text) > max_chars:
            yield {"id": f"{n}", "text": buf_text, "spans": buf_spans}
            buf_text, buf_spans, n = "", [], n + 1
        offset = len(buf_text) + (1 if buf_text else 0)
        buf_text = (buf_text + " " if buf_text else "") + text
        buf_spans.extend([s + offset, e + offset, lab] for s, e, lab in spans)  # type: ignore[operator]
    if buf_text:
        yield {"id": f"{n}", "text": buf_text, "spans": buf_spans}


def build(out: Path, mirror: Path, overrides: dict[str, Path], only: set[str] | None = None) -> dict[str, object]:
    out.mkdir(parents=True, exist_ok=True)
    old = out / "MANIFEST.json"
    manifest: dict[str, object] = json.loads(old.read_text()) if only and old.is_file() else {}  # --only adds
    for name, splits in CORPORA.items():
        if only and name not in only:
            continue
        for split, src in splits.items():
            data = read_source(src, mirror, overrides)
            path = out / f"{name}.{split}.jsonl"
            n = 0
            with open(path, "w", encoding="utf-8") as f:
                for doc in documents(src, data):
                    f.write(json.dumps(doc, ensure_ascii=False) + "\n")
                    n += 1
            manifest[f"{name}.{split}"] = {
                "source": f"{src.repo}@{src.commit}:{src.path}",
                "sha256": src.sha256,
                "licence": src.licence,
                "lang": src.lang,
                "texts": n,
            }
            print(f"{path}: {n} texts ({src.licence})")
    (out / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def load(data_dir: Path, name: str, split: str) -> list[dict[str, object]]:
    path = data_dir / f"{name}.{split}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mirror", type=Path, default=Path("/work/.mirror"))
    ap.add_argument("--source", action="append", default=[], help="owner/name=PATH of a local copy")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "data")
    ap.add_argument("--only", action="append", default=[])
    args = ap.parse_args()
    overrides = {k: Path(v) for k, v in (s.split("=", 1) for s in args.source)}
    build(args.out, args.mirror, overrides, set(args.only) or None)


if __name__ == "__main__":
    main()
