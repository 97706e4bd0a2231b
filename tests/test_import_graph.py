"""The package's modules import one another one way: the import graph has no cycle.

The graph is read from the source with ``ast``, so every import counts: those at the top of a
module, those inside functions (which would otherwise hide a cycle until the function runs)
and those under ``TYPE_CHECKING`` (a cycle in the types is a cycle in the design). ``from
package import name`` is an edge to the submodule when ``name`` is one, else to the package's
``__init__``. The implicit import of a parent package is not an edge.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
Graph = dict[str, set[str]]


def module_names(package_dir: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file of the package."""
    base = package_dir.parent
    modules: dict[str, Path] = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(base).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _imported(node: ast.AST, module: str, is_package: bool) -> Iterable[tuple[str, str | None]]:
    """(module, name or None) pairs one import statement names."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name, None
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            package = module.split(".") if is_package else module.split(".")[:-1]
            package = package[: len(package) - (node.level - 1)]
            base = ".".join([*package, node.module] if node.module else package)
        else:
            base = node.module or ""
        for alias in node.names:
            yield base, alias.name


def import_graph(modules: Mapping[str, Path]) -> Graph:
    """Module -> the modules of the same package it imports, anywhere in its source."""
    graph: Graph = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        for node in ast.walk(tree):
            for base, alias in _imported(node, name, is_package):
                target = f"{base}.{alias}" if alias and f"{base}.{alias}" in modules else base
                while target and target not in modules:  # import a.b.c: the deepest known one
                    target = target.rpartition(".")[0]
                if (target and target != name) or (target == name and alias is None):
                    graph[name].add(target)
    return graph


def cycles(graph: Graph) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph[node]):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_the_exporter_package_has_no_import_cycle() -> None:
    modules = module_names(ROOT / "exporter")
    graph = import_graph(modules)
    # the graph is really read: edges known to exist are in it
    assert "exporter.simulator.simulation" in graph["exporter.simulator.server"]
    assert "exporter.simulator.vbr.store" in graph["exporter.simulator.cms.actions"]
    assert cycles(graph) == []


SIM = "exporter.simulator"
# The simulator's model: records, stores, fleets, lifecycle, metric figures and CMS state.
SIM_MODEL: tuple[str, ...] = tuple(
    f"{SIM}.{m}"
    for m in ("lines", "vbr.model", "vbr.store", "vbr.fleet", "cms.metrics", "cms.state")
)
# What handles requests or serves them: the API handlers, the control plane, the server.
SIM_UPPER: tuple[str, ...] = tuple(
    f"{SIM}.{m}"
    for m in (
        *("vpc", "vbr.actions", "cms.actions", "auth"),
        *("simulation", "vbr.methods", "cms.methods"),
        *("control", "vbr.routes", "cms.routes", "server"),
    )
)
SIM_ENTRY = {SIM, f"{SIM}.__main__", f"{SIM}.cli"}


def _under(name: str, prefixes: Iterable[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_the_simulator_serves_on_top_of_its_handlers_and_its_model() -> None:
    """The model imports no handler, control route or server; in the simulator only the entry
    points import the server, and nothing imports the entry points."""
    graph = import_graph(module_names(ROOT / "exporter"))
    model = [m for m in graph if _under(m, SIM_MODEL)]
    assert f"{SIM}.lines.store" in model and f"{SIM}.cms.state" in model
    for name in model:
        assert not {t for t in graph[name] if _under(t, SIM_UPPER)}, name
    for name, targets in graph.items():
        if name.startswith(f"{SIM}.") and name not in SIM_ENTRY:
            assert f"{SIM}.server" not in targets, name
            assert not targets & SIM_ENTRY, name


def test_a_cycle_hidden_in_a_function_is_found(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.sub import b\n")
    (package / "sub" / "b.py").write_text("def f():\n    from .. import c\n")
    (package / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.a\n"
    )
    (package / "d.py").write_text("import pkg.a\nfrom pkg import sub\n")
    graph = import_graph(module_names(package))
    assert graph["pkg.d"] == {"pkg.a", "pkg.sub"}
    assert cycles(graph) == [["pkg.a", "pkg.c", "pkg.sub.b"]]
