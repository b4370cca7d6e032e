"""The layers of core/ (DESIGN.md, ARCHITECTURE.md) hold: each package imports only from the layers
below it, ui/ only from core, pages/ only from ui and core, and no two modules import each other."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Rank of each layer: a module may import from its own layer's package or from a lower rank.
# ingest and analytics are siblings (rank 2): neither may import the other.
LAYERS = {
    "core.domain": 0,
    "core.storage": 1,
    "core.ingest": 2,
    "core.analytics": 2,
    "core.present": 3,
    "core.api_docs": 4,
    "core.auth": 4,
    "core.demo": 5,
    "core.alerts": 5,
    "core.cli": 6,
    "core.__main__": 7,
    "ui": 8,
    "pages": 9,
    "app": 10,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> str | None:
    for layer in sorted(LAYERS, key=len, reverse=True):
        if module == layer or module.startswith(layer + "."):
            return layer
    return None


def project_imports(path: Path) -> set[str]:
    """Modules of this project that `path` imports (absolute imports; `from core.x import y` counts
    core.x.y when y is a module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {n for n in names if layer_of(n) and n in MODULES}
    return found


SOURCES = [p for d in ("core", "ui", "pages") for p in (ROOT / d).rglob("*.py")] + [ROOT / "app.py"]
MODULES = {module_name(p) for p in SOURCES} | {"core"}
GRAPH = {module_name(p): project_imports(p) for p in SOURCES}


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    wrong = []
    for module, imports in graph.items():
        own = layer_of(module)
        if own is None:
            continue
        for target in imports:
            theirs = layer_of(target)
            if theirs is None or theirs == own:
                continue
            if LAYERS[theirs] >= LAYERS[own]:
                wrong.append(f"{module} imports {target} ({theirs} is not below {own})")
    return sorted(wrong)


def two_way_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(f"{a} <-> {b}" for a, targets in graph.items() for b in targets if a < b and a in graph.get(b, set()))


def test_every_source_module_belongs_to_a_layer():
    assert sorted(m for m in GRAPH if layer_of(m) is None and m != "core") == []


def test_no_module_imports_from_a_layer_above_or_beside_it():
    assert upward_imports(GRAPH) == []


def test_no_two_modules_import_each_other():
    assert two_way_imports(GRAPH) == []


def test_core_never_imports_streamlit():
    offenders = [module_name(p) for p in (ROOT / "core").rglob("*.py")
                 if any(isinstance(n, (ast.Import, ast.ImportFrom)) and "streamlit" in ast.dump(n) for n in ast.walk(ast.parse(p.read_text())))]
    assert offenders == []


@pytest.mark.parametrize("graph, expected", [
    ({"core.domain.scope": {"core.storage.models"}, "core.storage.models": set()},
     ["core.domain.scope imports core.storage.models (core.storage is not below core.domain)"]),
    ({"core.ingest.enrich": {"core.analytics.metrics"}, "core.analytics.metrics": set()},
     ["core.ingest.enrich imports core.analytics.metrics (core.analytics is not below core.ingest)"]),
    ({"core.present.fmt": {"core.domain.scope"}, "core.domain.scope": set()}, []),
])
def test_the_layer_check_catches_an_upward_import(graph, expected):
    assert upward_imports(graph) == expected


def test_the_two_way_check_catches_a_cycle():
    assert two_way_imports({"core.storage.a": {"core.storage.b"}, "core.storage.b": {"core.storage.a"}}) == [
        "core.storage.a <-> core.storage.b"]


def test_no_source_file_is_over_500_lines():
    long = [f"{p.relative_to(ROOT)} ({n})" for p in SOURCES if (n := len(p.read_text().splitlines())) > 500]
    assert long == []
