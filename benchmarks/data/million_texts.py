"""A real one-million-text catalogue for the 1M-item scale measurement, rebuilt from fetched public repositories
and embedded with the default bundle's text encoder, resumably.

Nobody on this project wrote these texts, and none of them is committed: this script reads them from mirrors
brought by the tool library's ``fetch`` (``/work/.mirror/<owner>+<name>/repo``, bare git), pinned by commit:

- Babelscape/wikineural @ d2e28c7 (CC BY-NC-SA 4.0): every sentence of every ``.conllu`` file the mirror holds
  (WikiNEuRal, WikiANN, CoNLL, BSNLP and WikiNER validation/test splits; 9 languages), detokenised;
- hermitdave/FrequencyWords @ 525f9b5 (CC BY-SA 4.0, from OpenSubtitles 2018): the most frequent words of 50
  languages, round-robin, to fill up to ``--n``.

Sentences come first (deduplicated, in file order); words fill the rest: the result is a catalogue of short
multilingual texts (a sentence or a single word) — the shapes of real titles in many scripts, not a
generated distribution. Written under ``--out``: ``texts.tsv`` (``item_id<TAB>text``), ``sources.json`` (counts
per source, the commits and the sha256 of ``texts.tsv``) and ``vec/NNNNN.npy`` (float16 unit vectors of the
default bundle's text encoder, ``--chunk`` rows each). A run that is stopped continues where it stopped:
finished chunks are kept, so embedding a million texts (about 40 minutes on 2 cores) can span sessions.

    python benchmarks/data/million_texts.py --mirror /work/.mirror --out /tmp/odrec-1m --n 1000000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

WIKINEURAL = ("Babelscape+wikineural", "d2e28c770cba2b285e742529ae18ed849e336c65")
FREQWORDS = ("hermitdave+FrequencyWords", "525f9b560de45753a5ea01069454e72e9aa541c6")
_SPACE_BEFORE = re.compile(r" ([,.;:!?%)\]}»])")
_SPACE_AFTER = re.compile(r"([(\[{«]) ")


def _git(mirror: Path, name: str, *args: str) -> str:
    repo = mirror / name / "repo"
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, encoding="utf-8"
    ).stdout


def _present(mirror: Path, name: str, commit: str, suffix: str) -> list[str]:
    """Paths at ``commit`` whose blobs the mirror holds (large files of a partial clone may be absent)."""
    paths = [p for p in _git(mirror, name, "ls-tree", "-r", "--name-only", commit).splitlines() if p.endswith(suffix)]
    repo = mirror / name / "repo"
    check = subprocess.run(
        ["git", "-C", str(repo), "cat-file", "--batch-check"],
        input="".join(f"{commit}:{p}\n" for p in paths),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    return [p for p, line in zip(paths, check, strict=True) if not line.endswith("missing")]


def sentences(mirror: Path) -> Iterator[str]:
    name, commit = WIKINEURAL
    for path in sorted(_present(mirror, name, commit, ".conllu")):
        tokens: list[str] = []
        for line in _git(mirror, name, "show", f"{commit}:{path}").splitlines() + [""]:
            cols = line.split("\t")
            if len(cols) >= 2 and not line.startswith("#"):
                tokens.append(cols[1])
            elif tokens:
                text = _SPACE_AFTER.sub(r"\1", _SPACE_BEFORE.sub(r"\1", " ".join(tokens)))
                tokens = []
                if len(text) >= 12:
                    yield text


def words(mirror: Path) -> Iterator[str]:
    name, commit = FREQWORDS
    lists = []
    for path in sorted(_present(mirror, name, commit, "_50k.txt")):
        if "/2018/" in path:
            lists.append([ln.split(" ")[0] for ln in _git(mirror, name, "show", f"{commit}:{path}").splitlines()])
    for i in range(max(len(w) for w in lists)):
        for w in lists:
            if i < len(w) and w[i]:
                yield w[i]


def build_texts(mirror: Path, out: Path, n: int) -> Path:
    tsv = out / "texts.tsv"
    if tsv.exists():
        return tsv
    seen: set[str] = set()
    counts = {"sentences": 0, "words": 0}
    rows: list[str] = []
    for kind, it in (("sentences", sentences(mirror)), ("words", words(mirror))):
        for text in it:
            text = text.replace("\t", " ").replace("\n", " ").strip()
            if len(rows) >= n:
                break
            if text and text not in seen:
                seen.add(text)
                rows.append(text)
                counts[kind] += 1
    body = "".join(f"t{i:07d}\t{t}\n" for i, t in enumerate(rows)).encode("utf-8")
    tmp = tsv.with_suffix(".part")
    tmp.write_bytes(body)
    tmp.replace(tsv)
    meta = {
        "texts": len(rows),
        **counts,
        "sources": {WIKINEURAL[0]: WIKINEURAL[1], FREQWORDS[0]: FREQWORDS[1]},
        "texts_sha256": hashlib.sha256(body).hexdigest(),
    }
    (out / "sources.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    print(f"{len(rows)} texts ({counts['sentences']} sentences, {counts['words']} words) -> {tsv}", flush=True)
    return tsv


def read_texts(out: Path) -> tuple[list[str], list[str]]:
    ids, texts = [], []
    with open(out / "texts.tsv", encoding="utf-8") as f:
        for line in f:
            i, t = line.rstrip("\n").split("\t", 1)
            ids.append(i)
            texts.append(t)
    return ids, texts


def embed(out: Path, chunk: int, threads: int) -> None:
    from ondevice_rec.backends.base import open_text_encoder
    from ondevice_rec.bundle import load_bundle

    _, texts = read_texts(out)
    enc = open_text_encoder(load_bundle(), threads=threads)
    vec = out / "vec"
    vec.mkdir(exist_ok=True)
    t0, done = time.perf_counter(), 0
    for c, start in enumerate(range(0, len(texts), chunk)):
        path = vec / f"{c:05d}.npy"
        if path.exists():
            continue
        v = enc.embed(texts[start : start + chunk], batch_size=64).astype(np.float16)
        tmp = vec / f"{c:05d}.part.npy"
        np.save(tmp, v)
        tmp.replace(path)
        done += len(v)
        rate = done / (time.perf_counter() - t0)
        print(f"chunk {c}: rows {start}-{start + len(v)}, {rate:.0f} texts/s", flush=True)


def load_vectors(out: Path) -> np.ndarray:
    """Every chunk, in order (float16, one row per line of texts.tsv); raises if a chunk is missing."""
    with open(out / "texts.tsv", encoding="utf-8") as f:
        n = sum(1 for _ in f)
    chunks = sorted((out / "vec").glob("[0-9][0-9][0-9][0-9][0-9].npy"))
    v = np.concatenate([np.load(p) for p in chunks]) if chunks else np.zeros((0, 0), np.float16)
    if len(v) != n:
        raise SystemExit(f"{out}: {len(v)} of {n} texts embedded; run million_texts.py again to continue")
    return v


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mirror", type=Path, default=Path("/work/.mirror"))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--chunk", type=int, default=20_000)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    build_texts(a.mirror, a.out, a.n)
    embed(a.out, a.chunk, a.threads)
    print("all chunks embedded", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
