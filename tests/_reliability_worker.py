"""Child process for tests/test_reliability.py: writes to a store and reports on stdout what has committed.

    python tests/_reliability_worker.py DB writes RUN      record batches + consent flips until killed
    python tests/_reliability_worker.py DB forget RUN      fill a user, then erase them (killed at random)
    python tests/_reliability_worker.py DB mixed PROC N    4 threads × N mixed operations; prints a JSON summary

A line ``done ...`` is printed (and flushed) only after the call that wrote it has returned, i.e. committed.
"""

from __future__ import annotations

import json
import os
import random
import sys
import threading
import traceback

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ondevice_rec import Recommender  # noqa: E402

BATCH = 3  # events per record_many call: all of a batch is visible, or none of it
BASE = 1_000_000  # event timestamps: EPOCH + RUN * BASE + op, so the parent can tell every write apart
EPOCH = 1_500_000_000  # (a real time: the SDK refuses times in the first day of 1970)


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def writes(rec: Recommender, run: int) -> None:
    user = f"u{run}"
    rng = random.Random(run)
    say("ready")
    for op in range(100_000):
        if op % 5 == 4:
            state = op % 10 == 4
            say(f"intent consent {op} {int(state)}")
            (rec.consent(user).grant if state else rec.consent(user).revoke)("personalization")
            say(f"done consent {op} {int(state)}")
        else:
            say(f"intent batch {op}")
            at = EPOCH + run * BASE + op
            rec.record_many(
                {"user_id": user, "item_id": f"i{rng.randrange(20)}", "kind": "like", "at": at + k / 10}
                for k in range(BATCH)
            )
            say(f"done batch {op}")


def forget(rec: Recommender, run: int) -> None:
    user = f"victim-{run}-secret"
    rec.record_many({"user_id": user, "item_id": f"i{k % 20}", "kind": "view"} for k in range(300))
    rec.set_profile(user, f"profile of {user}")
    say("ready")
    rec.forget_user(user)
    say("done forget")


def mixed(rec: Recommender, proc: int, n_ops: int) -> None:
    """Four threads; each owns three users and tracks how many events each should hold."""
    results: list[dict] = []
    lock = threading.Lock()

    def work(t: int) -> None:
        rng = random.Random(proc * 100 + t)
        users = [f"p{proc}t{t}u{k}" for k in range(3)]
        expected = dict.fromkeys(users, 0)
        items_added: list[str] = []
        errors: list[str] = []
        counts = dict.fromkeys(("record", "recommend", "add_items", "export_user", "forget_user"), 0)
        for n in range(n_ops):
            user = rng.choice(users)
            r = rng.random()
            try:
                if r < 0.5:
                    rec.record(user, f"i{rng.randrange(20)}", kind="like")
                    expected[user] += 1
                    counts["record"] += 1
                elif r < 0.7:
                    rec.consent(user).grant("personalization")
                    out = rec.recommend(user, k=5)
                    if len(out) != 5:
                        errors.append(f"recommend returned {len(out)} items")
                    counts["recommend"] += 1
                elif r < 0.8:
                    item = f"new-p{proc}t{t}n{n}"
                    rec.add_items([{"id": item, "title": f"new item {n}", "text": "added concurrently"}])
                    items_added.append(item)
                    counts["add_items"] += 1
                elif r < 0.95:
                    got = rec.export_user(user)
                    if len(got["events"]) != expected[user]:
                        errors.append(f"export_user({user}) saw {len(got['events'])} events, expected {expected[user]}")
                    counts["export_user"] += 1
                else:
                    rec.forget_user(user)
                    expected[user] = 0
                    counts["forget_user"] += 1
            except Exception:
                errors.append(traceback.format_exc(limit=3))
        with lock:
            results.append({"expected": expected, "items": items_added, "errors": errors, "counts": counts})

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    say(json.dumps(results))


def main() -> None:
    db, mode = sys.argv[1], sys.argv[2]
    with Recommender.open(db, busy_timeout=60.0) as rec:
        if mode == "writes":
            writes(rec, int(sys.argv[3]))
        elif mode == "forget":
            forget(rec, int(sys.argv[3]))
        elif mode == "mixed":
            mixed(rec, int(sys.argv[3]), int(sys.argv[4]))
        else:
            raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
