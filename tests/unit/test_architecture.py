"""The dependency rules of docs/ARCHITECTURE.md, read from the source with `ast`.

Every import counts, module-level or inside a function: a lazy import is still a
dependency, so it may not close a cycle either.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import topsmile

ROOT = Path(topsmile.__file__).parent
# The composition root and the shared plumbing: they may import any domain, and every
# domain may import them, so they are no node of the domain graph.
INFRASTRUCTURE = frozenset(
    {
        "core",
        "config",
        "runtime",
        "app",
        "cli",
        "wiring",
        "piccolo_conf",
        "migrations",
        "__init__",
        "__main__",
    }
)
HANDLERS = frozenset({"notifications", "audit"})

Graph = dict[str, set[str]]


def _package_of(path: Path) -> str:
    return path.relative_to(ROOT).parts[0].removesuffix(".py")


def _imported(tree: ast.AST, module: str, is_package: bool) -> Iterator[str]:
    """The dotted names a module imports, relative imports resolved."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = module.split(".")
                base = parts[: len(parts) - node.level + (1 if is_package else 0)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            yield name
            yield from (f"{name}.{alias.name}" for alias in node.names)


def _imports_by_module() -> dict[Path, set[str]]:
    found: dict[Path, set[str]] = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        is_package = parts[-1] == "__init__"
        module = ".".join(parts[:-1] if is_package else parts)
        tree = ast.parse(path.read_text("utf-8"), str(path))
        found[path] = set(_imported(tree, module, is_package))
    return found


def _domain(name: str) -> str | None:
    parts = name.split(".")
    if parts[0] != "topsmile" or len(parts) < 2 or parts[1] in INFRASTRUCTURE:
        return None
    return parts[1]


def domain_graph() -> Graph:
    graph: Graph = {}
    for path, names in _imports_by_module().items():
        source = _package_of(path)
        if source in INFRASTRUCTURE:
            continue
        targets = {d for n in names if (d := _domain(n)) is not None and d != source}
        graph.setdefault(source, set()).update(targets)
    return graph


def find_cycle(graph: Graph) -> list[str] | None:
    """One cycle as a path `a -> b -> ... -> a`, or None (depth-first, three colours)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)) is not None:
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)) is not None:
            return cycle
    return None


def test_the_graph_sees_the_domains() -> None:
    graph = domain_graph()
    for package in ("accounts", "auth", "clinics", "users", "patients", "scheduling", "events"):
        assert package in graph
    assert "users" in graph["accounts"]  # sign-in reads users through users.queries
    assert "auth" in graph["users"]


def test_no_import_cycle_between_domain_packages() -> None:
    cycle = find_cycle(domain_graph())
    assert cycle is None, "import cycle between packages: " + " -> ".join(cycle or [])


def test_events_imports_no_handler() -> None:
    """Subscribers own their subscriptions; the composition root wires them (wiring.py)."""
    offenders = sorted(
        f"{path.relative_to(ROOT)} imports {name}"
        for path, names in _imports_by_module().items()
        if _package_of(path) == "events"
        for name in names
        if _domain(name) in HANDLERS
    )
    assert offenders == []


def test_find_cycle_sees_long_cycles_not_only_pairs() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
