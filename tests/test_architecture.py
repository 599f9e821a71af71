"""The import graph has no cycles, between modules or between packages (imports inside functions included)."""
from __future__ import annotations

import ast
from pathlib import Path

import phronesis

ROOT = Path(phronesis.__file__).parent


def _imports() -> dict[str, set[str]]:
    """module -> the phronesis modules and packages it imports, read from the source (nothing is imported)."""
    graph: dict[str, set[str]] = {}
    for file in ROOT.rglob("*.py"):
        parts = ["phronesis", *file.relative_to(ROOT).with_suffix("").parts]
        is_package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_package else parts)
        package = name if is_package else name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join(up + ([node.module] if node.module else []))
                found |= {base} | {f"{base}.{alias.name}" for alias in node.names}
            elif isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names}
        graph[name] = found
    # a package's __init__ may gather its own modules: that edge is containment, not a dependency
    return {m: {d for d in deps if d in graph and d != m and not d.startswith(m + ".")} for m, deps in graph.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _package(module: str) -> str:
    """The subpackage a module is in; a module at the top level (pipeline, bench) counts as its own unit."""
    return ".".join(module.split(".")[:2])


def test_the_cycle_finder_finds_a_cycle_it_is_shown():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_itself_back_through_others():
    assert cycles(_imports()) == []


def test_no_package_imports_itself_back_through_another_package():
    packages: dict[str, set[str]] = {}
    for module, deps in _imports().items():
        packages.setdefault(_package(module), set()).update(_package(d) for d in deps if _package(d) != _package(module))
    assert cycles(packages) == []


# The layers of docs/architecture.md, lowest first: a module may import its own layer and the ones below.
LAYERS = {
    "foundations": "core",
    "data": "data",
    "models": "models",
    "feedback": "judges rewards evaluation curation",
    "training": "training",
    "pipeline": "stages pipeline report",
    "surfaces": "cli serving bench __main__",
}


def _layer_of() -> dict[str, int]:
    return {unit: rank for rank, units in enumerate(LAYERS.values()) for unit in units.split()}


def _unit(module: str) -> str:
    """The top-level module or subpackage a module belongs to ("phronesis" itself for the package root)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "phronesis"


def test_every_module_has_a_layer_and_imports_only_its_own_layer_or_lower():
    layer = _layer_of()
    units = {_unit(m) for m in _imports()} - {"phronesis"}
    assert units <= set(layer), f"add to LAYERS and docs/architecture.md: {sorted(units - set(layer))}"
    upward = sorted((m, d) for m, deps in _imports().items() for d in deps
                    if "phronesis" not in (_unit(m), _unit(d)) and layer[_unit(d)] > layer[_unit(m)])
    assert upward == []


def test_the_documented_layers_are_the_tested_ones():
    doc = (Path(__file__).resolve().parents[1] / "docs" / "architecture.md").read_text(encoding="utf-8")
    for name, units in LAYERS.items():
        line = next((x for x in doc.splitlines() if x.startswith(f"| {name} |")), None)
        assert line is not None, f"docs/architecture.md has no row for layer {name!r}"
        assert all(f"`{u}`" in line for u in units.split()), f"layer {name!r}: the doc's row lists other modules"


def test_no_stage_borrows_another_stages_private_helpers():
    """Shared helpers live in a lower layer (io, trl_adapter, policy_inputs), not behind a leading underscore
    in a sibling stage."""
    borrowed = []
    for file in (ROOT / "stages").glob("*.py"):
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
                borrowed += [f"{file.stem} <- {node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
    assert borrowed == []


def test_the_top_level_holds_only_the_layer_packages_and_the_spine():
    """Each module lives in the package of its layer; only the pipeline, bench and the entry points are flat."""
    flat = sorted(p.stem for p in ROOT.glob("*.py"))
    assert flat == ["__init__", "__main__", "bench", "pipeline"]
