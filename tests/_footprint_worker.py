"""Child process of tests/test_footprint.py: installs an audit hook that records (and refuses) every socket
connection and DNS lookup, then runs one scenario: ``api DB`` or ``cli ARGS...``."""

from __future__ import annotations

import sys

ATTEMPTS: list[str] = []


def hook(event: str, args: tuple[object, ...]) -> None:
    if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr"):
        ATTEMPTS.append(f"{event} {args!r}")
        sys.stderr.write(f"AUDIT {event} {args!r}\n")
        raise RuntimeError(f"network access attempted: {event}")


def api(db: str) -> None:
    from ondevice_rec import Recommender
    from ondevice_rec.inputs.items import demo_items

    sent: list[object] = []
    with Recommender.open(db) as rec:
        rec.add_items(demo_items())
        rec.consent("u").grant("personalization")
        rec.set_profile("u", "I love jazz, no horror")
        rec.record("u", "jazz-01", kind="like", context={"time": "evening", "device": "mobile"})
        rec.recommend("u", k=5, context={"time": "evening"})
        rec.egress.declare("cloud-llm", "Ask a cloud LLM")
        rec.consent("u").grant("cloud-llm")
        rec.egress.send(
            "cloud-llm", {"q": "Mail jane@example.com about jazz"}, sent.append, user_id="u", destination="x"
        )
        rec.export_user("u")
        rec.forget_user("u")
    assert sent and "jane@example.com" not in str(sent)


def main() -> None:
    sys.addaudithook(hook)
    mode, rest = sys.argv[1], sys.argv[2:]
    if mode == "api":
        api(rest[0])
    else:
        from ondevice_rec.cli import main as cli

        sys.argv = ["odrec", *rest]
        try:
            cli()
        except SystemExit as e:
            if e.code not in (0, None):
                raise
    if ATTEMPTS:
        sys.exit(f"network attempts: {ATTEMPTS}")


if __name__ == "__main__":
    main()
