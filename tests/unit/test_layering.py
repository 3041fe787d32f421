"""Imports point one way, adapters -> projections -> domain, and never in a circle.

domain/ imports nothing outward: never projections/, adapters/ or a concrete backend. projections/
imports domain/ and projections/ only: never adapters/ nor a concrete backend (its views are
handed in). The import graph of engagement_tracker has no cycle.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

DOMAIN = Path(__file__).resolve().parents[2] / "domain"
#: The application layer's folder inside domain/: it may use eventsourcing's application and
#: persistence modules and the model; the model (every other module of domain/) may not import it.
APPLICATION = DOMAIN / "application"
APPLICATION_PACKAGE = "engagement_tracker.domain.application"
MODEL_ALLOWED = {"attrs", "transitions", "eventsourcing.domain", "engagement_tracker.domain"}
APPLICATION_ALLOWED = MODEL_ALLOWED | {"eventsourcing.application", "eventsourcing.persistence",
                                      "eventsourcing.utils"}  # resolve_topic, for the mapper (stored_format.py)
#: domain/__init__.py is the package's front door: it re-exports the application for embedders.
FRONT_DOOR = DOMAIN / "__init__.py"
FORBIDDEN = (
    "engagement_tracker.projections", "engagement_tracker.adapters", "projections", "adapters",
    "eventsourcing.sqlite", "eventsourcing.postgres", "eventsourcing.popo",
    # storage and crypto belong to adapters, even when the standard library ships them
    "sqlite3", "psycopg", "cryptography", "dbm", "shelve",
)


def imported_modules(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def is_allowed(module: str, allowed: set[str]) -> bool:
    top = module.split(".", maxsplit=1)[0]
    if top in sys.stdlib_module_names or top == "__future__":
        return True
    return any(module == a or module.startswith(a + ".") for a in allowed)


def domain_files() -> list[Path]:
    return sorted(DOMAIN.rglob("*.py"))


def in_application(path: Path) -> bool:
    return APPLICATION in path.parents


@pytest.mark.parametrize("path", domain_files(), ids=lambda p: str(p.relative_to(DOMAIN)))
def test_domain_module_imports_only_what_it_may(path: Path) -> None:
    allowed = APPLICATION_ALLOWED if in_application(path) else MODEL_ALLOWED
    bad = [m for m in imported_modules(path) if m.startswith(FORBIDDEN) or not is_allowed(m, allowed)]
    assert bad == [], f"{path.name} imports {bad}"


@pytest.mark.parametrize("path", [p for p in domain_files() if not in_application(p) and p != FRONT_DOOR],
                         ids=lambda p: p.name)
def test_the_model_imports_nothing_from_the_application(path: Path) -> None:
    """Type-only imports included: a model that names the application in a hint leans on it all the same."""
    bad = [m for m in imported_modules(path) if m == APPLICATION_PACKAGE or m.startswith(APPLICATION_PACKAGE + ".")]
    assert bad == [], f"{path.name} imports {bad}"


def test_the_application_has_a_folder_of_its_own() -> None:
    assert (APPLICATION / "__init__.py").is_file()
    assert {p.name for p in APPLICATION.glob("*.py")} >= {"command_path.py", "steps.py", "views.py"}
    assert not (DOMAIN / "command_path.py").exists()


def test_the_check_catches_an_outward_import(tmp_path: Path) -> None:
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text("from engagement_tracker.adapters.vault import SQLiteVault\nimport eventsourcing.sqlite\n")
    found = [m for m in imported_modules(sneaky) if m.startswith(FORBIDDEN)]
    assert found == ["engagement_tracker.adapters.vault", "eventsourcing.sqlite"]


# --- projections/: domain and projections only, never a backend ---------------------------------

ROOT = DOMAIN.parent
PROJECTIONS = ROOT / "projections"
PROJECTIONS_FORBIDDEN = (
    "engagement_tracker.adapters", "adapters", "eventsourcing.sqlite", "eventsourcing.postgres", "eventsourcing.popo",
    # storage belongs to adapters: a projection is handed its view and its reader of the store
    "sqlite3", "psycopg",
)


def projection_files() -> list[Path]:
    return sorted(PROJECTIONS.glob("*.py"))


@pytest.mark.parametrize("path", projection_files(), ids=lambda p: p.name)
def test_projection_module_imports_no_adapter_nor_backend(path: Path) -> None:
    bad = [m for m in imported_modules(path) if m.startswith(PROJECTIONS_FORBIDDEN)]
    assert bad == [], f"{path.name} imports {bad}"


def test_the_check_catches_a_projection_that_picks_its_backend(tmp_path: Path) -> None:
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text("import sqlite3\nfrom eventsourcing.popo import POPOTrackingRecorder\n"
                      "from engagement_tracker.adapters.views.sqlite import SQLiteAnalyticsView\n")
    found = [m for m in imported_modules(sneaky) if m.startswith(PROJECTIONS_FORBIDDEN)]
    assert found == ["sqlite3", "eventsourcing.popo", "engagement_tracker.adapters.views.sqlite"]


# --- no import cycle in engagement_tracker -------------------------------------------------------

PACKAGE = "engagement_tracker"
LAYERS = ("domain", "projections", "adapters")


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([PACKAGE, *parts])


def is_type_checking(node: ast.stmt) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def package_imports(path: Path, name: str, known: set[str], lazy: bool = False, typing: bool = False) -> set[str]:
    """The package's modules that ``path`` imports when it is imported (not in functions, not for
    typing); with ``lazy``, also those it imports inside functions (a run-time import all the same;
    imports for type checkers only never run)."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    tree = ast.parse(path.read_text(), str(path))
    typing_only = set() if typing else {id(n) for block in ast.walk(tree)
                                        if isinstance(block, ast.If) and is_type_checking(block) for n in ast.walk(block)}
    body: list[ast.AST] = [n for n in ast.walk(tree) if id(n) not in typing_only] if lazy else list(tree.body)
    while body:
        node = body.pop(0)
        if lazy and not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        if isinstance(node, ast.Try):
            body[:0] = [*node.body, *node.orelse, *node.finalbody]
        elif isinstance(node, ast.If) and (typing or not is_type_checking(node)):
            body[:0] = [*node.body, *node.orelse]
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the module's package
                base = name.split(".")[: len(name.split(".")) - node.level + (1 if is_package else 0)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            for alias in node.names:  # `from package import module` imports the module
                found.add(f"{module}.{alias.name}" if f"{module}.{alias.name}" in known else module)
    return {m for m in found if m in known}


def import_graph(root: Path = ROOT, lazy: bool = False, typing: bool = False) -> dict[str, set[str]]:
    files = {module_name(p, root): p for layer in LAYERS for p in sorted((root / layer).rglob("*.py"))}
    known = set(files)
    return {name: package_imports(path, name, known, lazy, typing) - {name} for name, path in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (its modules, the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_the_import_graph_of_engagement_tracker_has_no_cycle() -> None:
    graph = import_graph()
    assert f"{PACKAGE}.projections.tracking" in graph and f"{PACKAGE}.adapters.views.sqlite" in graph
    assert f"{PACKAGE}.adapters.stored_records" in graph[f"{PACKAGE}.adapters.bootstrap"]
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_no_cycle_either_through_imports_inside_functions() -> None:
    """A lazy import does not break a circle, it hides it: the graph with every import has none either."""
    graph = import_graph(lazy=True)
    assert f"{PACKAGE}.adapters.views.postgres" in graph[f"{PACKAGE}.adapters.bootstrap"]
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def without(graph: dict[str, set[str]], prefixes: tuple[str, ...]) -> dict[str, set[str]]:
    return {a: {b for b in bs if not b.startswith(prefixes)} for a, bs in graph.items() if not a.startswith(prefixes)}


#: The model's aggregates: each event's ``keep(record)`` names its record type, and the deadline
#: rules name the histories they read; both only for type checkers (see the xfail below).
MODEL_AGGREGATES = tuple(f"{PACKAGE}.domain.{m}" for m in (
    "engagement_history", "engagement_record", "cohort_history", "cohort_record", "deadlines"))


def test_no_cycle_either_through_imports_for_type_checkers() -> None:
    """An import under TYPE_CHECKING never runs, but a circle through it is a circle in the design:
    none through the application layer, the projections or the adapters."""
    graph = without(import_graph(lazy=True, typing=True), MODEL_AGGREGATES)
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_no_type_only_cycle_inside_the_model_either() -> None:
    """The aggregates and their records, and the deadline rules, name each other only by shape (Protocols)."""
    graph = import_graph(lazy=True, typing=True)
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_imports_point_one_way_adapters_projections_domain() -> None:
    rank = {"domain": 0, "projections": 1, "adapters": 2}
    upward = [(a, b) for a, targets in import_graph().items() for b in targets
              if rank[b.split(".")[1]] > rank[a.split(".")[1]]]
    assert upward == []


def test_the_cycle_check_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None
