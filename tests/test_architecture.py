"""The architecture, enforced: import rules between the tiers, no import circle (typing imports included),
store/ a DAG below everything else, SQL only in store/, at most five top-level modules, no function over 100
lines, the facade's size, one exception tree."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

import ondevice_rec
from ondevice_rec import errors

PKG = Path(ondevice_rec.__file__).parent
RUNTIME = (
    "recommender",
    "store",
    "ranking",
    "backends",
    "bundle",
    "privacy",
    "inputs",
    "live",
)
OFFLINE = ("export", "eval", "bench", "datasets", "cli", "demo")


def _modules() -> dict[str, Path]:
    out = {}
    for p in sorted(PKG.rglob("*.py")):
        parts = list(p.relative_to(PKG).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(["ondevice_rec", *parts])] = p
    return out


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES.get(name, Path()).name == "__init__.py"


def _imports(name: str, *, typing_only: bool) -> set[str]:
    """Modules of ondevice_rec that ``name`` imports anywhere in its body (function-level imports included);
    imports under ``if TYPE_CHECKING:`` only when ``typing_only``."""
    tree = ast.parse(MODULES[name].read_text())
    package = name if _is_package(name) else name.rsplit(".", 1)[0]
    skip: set[int] = set()
    if not typing_only:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                skip.update(id(n) for b in node.body for n in ast.walk(b))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("ondevice_rec"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if not mod.startswith("ondevice_rec"):
                continue
            found.add(mod)
            found.update(f"{mod}.{a.name}" for a in node.names if f"{mod}.{a.name}" in MODULES)
    out = set()
    for mod in found:
        # importing a.b.c runs the __init__ of every package above it that the importer is not already inside
        parts = mod.split(".")
        for i in range(2, len(parts) + 1):
            anc = ".".join(parts[:i])
            if anc in MODULES and not (name == anc or name.startswith(anc + ".")):
                out.add(anc)
    return out - {name}


def _tier(name: str) -> str:
    return name.split(".")[1] if name.count(".") else ""


@pytest.mark.parametrize("name", [m for m in MODULES if _tier(m) in RUNTIME])
def test_runtime_never_imports_export_eval_or_bench(name: str) -> None:
    bad = {m for m in _imports(name, typing_only=True) if _tier(m) in OFFLINE}
    assert not bad, f"{name} imports {sorted(bad)}"


@pytest.mark.parametrize("name", [m for m in MODULES if _tier(m) == "export"])
def test_export_uses_datasets_and_eval_metrics_only(name: str) -> None:
    # eval.runtime: the runtime's own scoring, which an export's runtime settings are chosen on; eval.sequential:
    # the harness's SASRec/LRURec as ranker teachers (``--teacher sasrec``)
    allowed_eval = {
        "ondevice_rec.eval.sequential",
        "ondevice_rec.eval",
        "ondevice_rec.eval.metrics",
        "ondevice_rec.eval.protocols",
        "ondevice_rec.eval.runtime",
    }
    got = _imports(name, typing_only=True)
    bad = {m for m in got if (_tier(m) == "eval" and m not in allowed_eval) or _tier(m) in ("bench", "cli", "demo")}
    assert not bad, f"{name} imports {sorted(bad)}"


@pytest.mark.parametrize("name", [m for m in MODULES if _tier(m) == "privacy"])
def test_privacy_never_imports_the_recommender(name: str) -> None:
    assert "ondevice_rec.recommender" not in _imports(name, typing_only=True)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for m in graph:
        if m not in index:
            visit(m)
    return cycles


def test_no_import_circle() -> None:
    graph = {m: _imports(m, typing_only=False) for m in MODULES}
    assert not _cycles(graph), f"import circles: {_cycles(graph)}"


_SQL = re.compile(r"""["'](?:\s*)(SELECT|INSERT|UPDATE|DELETE|CREATE|PRAGMA|WITH RECURSIVE|BEGIN|COMMIT)\b""")


# statements against files that are not the store: the language gate's read-only word-frequency table (package data)
_OWN_FILES = {"ondevice_rec.privacy.language"}


@pytest.mark.parametrize("name", [m for m in MODULES if _tier(m) not in ("store", "export") and m not in _OWN_FILES])
def test_sql_lives_in_the_store(name: str) -> None:
    """Every statement against the SDK's store is under store/ (export's label cache is its own file)."""
    assert not _SQL.search(MODULES[name].read_text()), f"{name} holds SQL"


def test_the_facade_is_small() -> None:
    assert len(MODULES["ondevice_rec.recommender"].read_text().splitlines()) <= 500


def test_every_sdk_error_is_defined_in_errors_and_derives_from_odrec_error() -> None:
    for name, path in MODULES.items():
        if name == "ondevice_rec.errors":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and any(
                ast.unparse(b).endswith(("Error", "Exception", "Blocked")) for b in node.bases
            ):
                pytest.fail(f"{name} defines exception {node.name}; the tree lives in errors.py")
    for _, cls in inspect.getmembers(errors, inspect.isclass):
        if issubclass(cls, Exception) and cls.__module__ == errors.__name__:
            assert issubclass(cls, errors.OdrecError), cls


def test_the_cli_catches_only_sdk_errors() -> None:
    """main() turns OdrecError into one line and nothing else: a bug still looks like a bug. Elsewhere the CLI
    only turns specific, expected failures of its own inputs (a file it reads) into OdrecError."""
    src = MODULES["ondevice_rec.cli"].read_text()
    main = src[src.index("def main()") :]
    assert re.findall(r"except\s+(\w+)", main) == ["OdrecError", "KeyboardInterrupt"]
    caught = re.findall(r"except\s+\(?([A-Za-z_., ]+?)\)?\s*(?:as \w+)?:", src)
    flat = {c.strip() for group in caught for c in group.split(",")}
    expected = {
        "FileNotFoundError",
        "OSError",
        "UnicodeDecodeError",
        "json.JSONDecodeError",
        "ValueError",
        "ImportError",
    }
    assert flat <= expected | {"OdrecError", "KeyboardInterrupt"}, flat


_BUILTIN_RAISE = re.compile(r"raise (ValueError|TypeError|KeyError|RuntimeError|Exception)\(")


def test_deliberate_errors_are_sdk_errors() -> None:
    """A caller catches OdrecError (or its ValueError/TypeError/KeyError subclasses) for everything the SDK
    raises on purpose; a bare builtin exception is left for bugs."""
    for name, path in MODULES.items():
        hits = _BUILTIN_RAISE.findall(path.read_text())
        assert not hits, f"{name} raises {hits}: use a class from ondevice_rec.errors"


# onnxruntime's telemetry switch is read only from the environment, before its import (backends/_ort.py)
_ENV_WRITERS = {"ondevice_rec.backends._ort"}


def test_library_code_never_writes_the_host_environment() -> None:
    """Models load with ``local_files_only=True``; Ray gets its settings through ``ray.init``."""
    write = re.compile(r"os\.environ(?:\[[^\]]+\]\s*=|\.(?:setdefault|update|pop)\()|os\.putenv\(")
    for name, path in MODULES.items():
        if name not in _ENV_WRITERS:
            assert not write.search(path.read_text()), f"{name} writes os.environ"


def test_ndcg_is_computed_only_in_eval_metrics() -> None:
    """One NDCG (tie-aware, ``eval.metrics``): the discount ``1/log2(rank + 2)`` is written nowhere else."""
    discount = re.compile(r"log2\(\s*[\w.]+\s*\+\s*2")
    for name, path in MODULES.items():
        if name != "ondevice_rec.eval.metrics":
            assert not discount.search(path.read_text()), f"{name} computes NDCG itself: use eval.metrics"


# the modules directly in ondevice_rec/: the facade, the exception tree, the CLI, the demo, the version
TOP_LEVEL = {"recommender", "errors", "cli", "demo", "_version"}


def test_at_most_five_top_level_modules() -> None:
    top = {p.stem for p in PKG.glob("*.py") if p.stem != "__init__"}
    assert top == TOP_LEVEL, f"top-level modules {sorted(top - TOP_LEVEL)}: put them in the room they belong to"


# a room's own configuration, pipeline, report and runner may share a name with another room's
_ROOM_ROLES = {"config", "pipeline", "report", "runner"}


def test_no_two_modules_share_a_name() -> None:
    seen: dict[str, str] = {}
    for name in MODULES:
        if _is_package(name):
            continue
        stem = name.rsplit(".", 1)[1]
        if stem in _ROOM_ROLES:
            continue
        assert stem not in seen, f"{name} and {seen[stem]} share a name"
        seen[stem] = name


@pytest.mark.parametrize("name", [m for m in MODULES if _tier(m) == "store"])
def test_store_imports_nothing_above_it(name: str) -> None:
    bad = {m for m in _imports(name, typing_only=True) if _tier(m) != "store" and m != "ondevice_rec.errors"}
    assert not bad, f"{name} imports {sorted(bad)}"


_TABLES = ("catalog", "events", "users")


@pytest.mark.parametrize("table", _TABLES)
def test_store_tables_depend_on_the_connection_protocol_not_on_each_other(table: str) -> None:
    name = f"ondevice_rec.store.{table}"
    got = _imports(name, typing_only=True)
    assert "ondevice_rec.store.db" not in got, f"{name} imports the Store itself"
    others = {f"ondevice_rec.store.{t}" for t in _TABLES if t != table}
    assert not got & others, f"{name} imports {sorted(got & others)}"


def test_no_import_circle_even_for_type_checking() -> None:
    graph = {m: _imports(m, typing_only=True) for m in MODULES}
    assert not _cycles(graph), f"import circles: {_cycles(graph)}"


def _function_lengths() -> list[tuple[int, str]]:
    out = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno:
                out.append((node.end_lineno - node.lineno + 1, f"{name}.{node.name}"))
    return out


def test_no_function_longer_than_100_lines() -> None:
    long = sorted((n, f) for n, f in _function_lengths() if n > 100)
    assert not long, f"functions over 100 lines: {long}"


def test_the_readme_architecture_names_every_module() -> None:
    readme = (PKG.parent / "README.md").read_text()
    section = readme[readme.index("## Architecture") :]
    section = section[: section.index("\n## ", 5)]
    missing = [
        name
        for name, path in MODULES.items()
        if path.name != "__init__.py" and f"`{path.name}`" not in section and f"`{path.stem}`" not in section
    ]
    packages = [name for name in MODULES if _is_package(name) and "." in name]
    missing += [f"{name}/" for name in packages if f"`{name.rsplit('.', 1)[1]}/`" not in section]
    assert not missing, f"README's architecture section does not name {missing}"
