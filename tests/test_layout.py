"""The package layout: no import cycles between modules (lazy imports inside functions count;
imports for type checking only do not)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

def module_graph() -> dict[str, set[str]]:
    modules: dict[str, Path] = {}
    for path in (SRC / "afon").rglob("*.py"):
        name = ".".join(path.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")
        modules[name] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        typing_only = {
            id(n)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for n in ast.walk(node)
        }
        targets: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("afon"):
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    targets.add(full if full in modules else str(node.module))
            elif isinstance(node, ast.Import):
                targets.update(a.name for a in node.names if a.name.startswith("afon."))
        graph[name] = {t for t in targets if t in modules and t not in (name, "afon")}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [{"a", "b", "c"}]


def test_no_import_cycles() -> None:
    graph = module_graph()
    assert "afon.web.trainer" in graph and "afon.web.serve" in graph
    assert "afon.web.serve" not in graph["afon.web.trainer"]
    # the lock files sit beside the cameras that write them; `afon focus` opens cameras by URL
    assert graph["afon.cameras.focus_lock"] == set()
    assert "afon.cameras.url" in graph["afon.focus_once"]
    assert cycles(graph) == []


TRUTH_RULE_EXCEPTIONS: set[tuple[str, str]] = set()


def test_the_engine_and_the_body_never_import_the_truth() -> None:
    """DESIGN.md: focus/ and body.py never import from cameras/sim/ or bench/ (the truth);
    import-linter checks top-level imports, this also those inside functions."""
    graph = module_graph()
    crossings = {
        (m, t)
        for m, targets in graph.items()
        if m.startswith("afon.focus") or m == "afon.body"
        for t in targets
        if t.startswith(("afon.cameras.sim", "afon.bench"))
    }
    assert crossings <= TRUTH_RULE_EXCEPTIONS, crossings - TRUTH_RULE_EXCEPTIONS
    assert graph["afon.body"] and graph["afon.focus.engine"] is not None
