"""The layers as the README draws them: `newsbot, bot -> ingest -> retrieval`, settings read
only in the composition root (newsbot/), no import cycle, and no module near 1,000 lines
without a reason in its docstring."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("retrieval", "ingest", "bot", "newsbot")
# What each layer may import of ours.
ALLOWED = {
    "retrieval": {"retrieval"},
    "ingest": {"ingest", "retrieval"},
    "bot": {"bot", "ingest", "retrieval"},
    "newsbot": {"newsbot", "bot", "ingest", "retrieval"},
}
# Entry points: they are the composition root's callers.
ENTRY_POINTS = {"bot.__main__"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(path): path for package in PACKAGES for path in (REPO / package).rglob("*.py")
    }


def _imports(path: Path) -> set[str]:
    """Our modules that `path` imports, anywhere in it (TYPE_CHECKING and functions too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name.split(".")[0] in PACKAGES}


def test_layers_import_only_downwards() -> None:
    wrong = []
    for name, path in _modules().items():
        if name in ENTRY_POINTS:
            continue
        layer = name.split(".")[0]
        wrong += [
            f"{name} imports {imported}"
            for imported in sorted(_imports(path))
            if imported.split(".")[0] not in ALLOWED[layer]
        ]
    assert wrong == []


def test_no_module_below_the_entry_layer_reads_settings() -> None:
    readers = [
        name
        for name, path in _modules().items()
        if not name.startswith("newsbot") and name not in ENTRY_POINTS
        if any(imported.startswith("newsbot.settings") for imported in _imports(path))
    ]
    assert readers == []


def test_there_is_no_import_cycle() -> None:
    modules = _modules()
    graph = {
        name: {imported for imported in _imports(path) if imported in modules and imported != name}
        for name, path in modules.items()
    }
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for nxt in sorted(graph[name]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    # A package's __init__ importing its own modules is not a cycle between modules.
    cycles = [c for c in cycles if not any(m in PACKAGES for m in c)]
    assert cycles == []


@pytest.mark.parametrize("package", [*PACKAGES, "tests", "bench"])
def test_no_module_is_near_a_thousand_lines_without_saying_why(package: str) -> None:
    long = []
    for path in (REPO / package).rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        if source.count("\n") >= 900:
            doc = ast.get_docstring(ast.parse(source)) or ""
            if "one module because" not in doc:
                long.append(f"{path.relative_to(REPO)}: {source.count(chr(10))} lines")
    assert long == []
