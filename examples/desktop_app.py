"""A small desktop app over a local catalogue, in the standard library's Tkinter:

    python examples/desktop_app.py [--db PATH] [--user NAME]

The window is up at once: the store and models open on a background thread, and every call into the SDK runs
off the UI thread (results come back through a queue the UI polls), so the window never freezes. "Open" and
"Like" record the interaction and refresh the list; each pick shows its reason, and "Why this?" lists every
term of its score; the check box grants or withdraws personalization (withdrawal takes effect at once);
"Privacy centre" opens the local page of what is held about the user (needs ``pip install
'ondevice-rec[centre]'``). Without ``--db`` it uses a store in a temporary directory over the shipped demo
catalogue. ``--self-test PNG`` drives the window once (like, why, consent off and on), saves a screenshot and
prints what it saw as JSON (``tests/test_examples.py`` runs it under Xvfb).
"""

from __future__ import annotations

import argparse
import json
import queue
import sys
import tempfile
import threading
import tkinter as tk
import webbrowser
from collections.abc import Callable
from pathlib import Path
from tkinter import ttk
from typing import Any

from ondevice_rec import OdrecError, Recommendation, Recommender
from ondevice_rec.inputs.items import demo_items


class App:
    """The window: a list of picks with reasons, actions on the selected pick, consent and the privacy centre."""

    def __init__(self, root: tk.Tk, db: Path, user: str) -> None:
        self.root, self.db, self.user = root, db, user
        self.rec: Recommender | None = None
        self.picks: list[Recommendation] = []
        self.centre_url = ""
        self.done: queue.Queue[tuple[Callable[[Any], None], Any]] = queue.Queue()
        root.title(f"odrec desktop — {user}")
        root.geometry("900x480")
        self.status = tk.StringVar(value="Loading the models…")
        self.consent = tk.BooleanVar(value=False)
        top = ttk.Frame(root, padding=6)
        top.pack(fill="x")
        ttk.Label(top, textvariable=self.status).pack(side="left")
        ttk.Button(top, text="Privacy centre", command=self.open_centre).pack(side="right")
        self.consent_box = ttk.Checkbutton(
            top, text="Personalise with my activity", variable=self.consent, command=self.toggle_consent
        )
        self.consent_box.pack(side="right", padx=8)
        self.tree = ttk.Treeview(root, columns=("title", "reason"), show="headings", height=12)
        self.tree.heading("title", text="For you")
        self.tree.heading("reason", text="Why")
        self.tree.column("title", width=300)
        self.tree.column("reason", width=560)
        self.tree.pack(fill="both", expand=True, padx=6)
        bar = ttk.Frame(root, padding=6)
        bar.pack(fill="x")
        for text, cmd in (("Open", lambda: self.act("click")), ("Like", lambda: self.act("like")),
                          ("Not for me", lambda: self.act("dislike")), ("Why this?", self.why)):  # fmt: skip
            ttk.Button(bar, text=text, command=cmd).pack(side="left", padx=2)
        self.detail = tk.StringVar(value="")
        ttk.Label(root, textvariable=self.detail, padding=6, wraplength=860, justify="left").pack(fill="x")
        root.after(30, self._poll)
        self.background(self._open, self._opened)

    # --- running SDK calls off the UI thread ---------------------------------------------------------
    def background(self, work: Callable[[], Any], then: Callable[[Any], None]) -> None:
        """Run ``work`` on a worker thread; ``then(result)`` runs on the UI thread (an OdrecError is shown)."""

        def run() -> None:
            try:
                self.done.put((then, work()))
            except OdrecError as e:
                self.done.put((self._failed, e))

        threading.Thread(target=run, daemon=True).start()

    def _poll(self) -> None:
        while not self.done.empty():
            then, result = self.done.get_nowait()
            then(result)
        self.root.after(30, self._poll)

    def _failed(self, error: OdrecError) -> None:
        self.status.set(f"Error: {error}")

    # --- actions --------------------------------------------------------------------------------------
    def _open(self) -> bool:
        rec = Recommender.open(self.db)
        if rec.count_items() == 0:
            rec.add_items(demo_items())
        self.rec = rec
        return rec.consent(self.user).granted("personalization")

    def _opened(self, consented: bool) -> None:
        self.consent.set(consented)
        self.refresh()

    def refresh(self) -> None:
        rec = self.rec
        if rec is not None:
            self.status.set("Ranking…")
            self.background(lambda: rec.recommend(self.user, k=10), self._show)

    def _show(self, picks: list[Recommendation]) -> None:
        self.picks = picks
        self.tree.delete(*self.tree.get_children())
        for i, r in enumerate(picks):
            self.tree.insert("", "end", iid=str(i), values=(r.title or r.item_id, r.reason))
        if picks:
            self.tree.selection_set("0")
        mode = "personalised" if any(r.personalized for r in picks) else "not personalised"
        self.status.set(f"{len(picks)} picks for {self.user}, {mode}, ranked on this device")

    def selected(self) -> Recommendation | None:
        sel = self.tree.selection()
        return self.picks[int(sel[0])] if sel else None

    def act(self, kind: str) -> None:
        rec, pick = self.rec, self.selected()
        if rec is None or pick is None:
            return
        self.detail.set(f"Recorded: {kind} of “{pick.title}”")

        def work() -> list[Recommendation]:
            rec.record(self.user, pick.item_id, kind=kind)
            return rec.recommend(self.user, k=10)

        self.background(work, self._show)

    def why(self) -> None:
        pick = self.selected()
        if pick is None:
            return
        terms = pick.explanation.get("contributions", {})
        parts = ", ".join(f"{k} {v:+.3f}" for k, v in terms.items() if v)
        self.detail.set(f"“{pick.title}”: {pick.reason}. Score {pick.score:.3f} = {parts or 'no terms'}.")

    def toggle_consent(self) -> None:
        rec, granted = self.rec, self.consent.get()
        if rec is None:
            return

        def work() -> list[Recommendation]:
            handle = rec.consent(self.user)
            handle.grant("personalization") if granted else handle.revoke("personalization")
            return rec.recommend(self.user, k=10)

        self.background(work, self._show)

    def open_centre(self) -> None:
        """Serve the privacy centre for this user on a loopback port (once) and open it in the browser."""
        rec = self.rec
        if rec is None:
            return
        if self.centre_url:
            webbrowser.open(self.centre_url)
            return

        def run() -> None:
            from ondevice_rec.centre import serve

            try:  # without the centre extra this is a one-line error naming the pip install
                serve(rec, user_id=self.user, ready=lambda url: self.done.put((self._centre_ready, url)))
            except OdrecError as e:
                self.done.put((self._failed, e))

        threading.Thread(target=run, daemon=True).start()

    def _centre_ready(self, url: str) -> None:
        self.centre_url = url
        self.detail.set(f"Privacy centre: {url}")
        webbrowser.open(url)


def self_test(root: tk.Tk, app: App, png: Path) -> None:
    """Drive the window once and report what it showed: picks, like → refresh, why, consent off → on."""
    seen: dict[str, Any] = {}

    def set_consent(on: bool) -> None:
        app.consent.set(on)
        app.toggle_consent()

    def like_first() -> None:
        seen["first"] = [r.item_id for r in app.picks]
        app.act("like")

    def ask_why() -> None:
        seen["after_like"] = [r.reason for r in app.picks]
        seen["personalised"] = any(r.personalized for r in app.picks)
        app.why()

    def withdraw() -> None:
        seen["why"] = app.detail.get()
        set_consent(False)

    def grant_again() -> None:
        seen["after_revoke"] = [r.personalized for r in app.picks]
        set_consent(True)

    steps: list[Callable[[], None]] = [lambda: set_consent(True), like_first, ask_why, withdraw, grant_again]

    def step(i: int = 0) -> None:
        if app.rec is None or app.status.get().startswith(("Loading", "Ranking")) or not app.done.empty():
            root.after(100, lambda: step(i))
            return
        if i < len(steps):
            steps[i]()
            root.after(400, lambda: step(i + 1))
            return
        root.update()
        from PIL import ImageGrab

        x, y = root.winfo_rootx(), root.winfo_rooty()
        ImageGrab.grab((x, y, x + root.winfo_width(), y + root.winfo_height()), xdisplay=None).save(png)
        seen.update(status=app.status.get(), screenshot=str(png))
        print(json.dumps(seen))
        root.destroy()

    root.after(200, step)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", type=Path, help="store file (default: a temporary one over the demo catalogue)")
    ap.add_argument("--user", default="me")
    ap.add_argument("--self-test", type=Path, metavar="PNG", help="drive the window once, save a screenshot")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = tk.Tk()
        app = App(root, args.db or Path(tmp) / "desktop.db", args.user)
        if args.self_test:
            self_test(root, app, args.self_test)
        root.mainloop()
        if app.rec is not None:
            app.rec.close()
    sys.exit(0)


if __name__ == "__main__":
    main()
