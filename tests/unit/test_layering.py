"""domain/ imports nothing outward: never projections/, adapters/ or a concrete backend."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

DOMAIN = Path(__file__).resolve().parents[2] / "domain"
MODEL_ALLOWED = {"attrs", "transitions", "eventsourcing.domain", "engagement_tracker.domain"}
APPLICATION_ALLOWED = MODEL_ALLOWED | {"eventsourcing.application", "eventsourcing.persistence"}
#: The application's modules (the eventsourcing Application and what it is split into) may also
#: use eventsourcing.application and .persistence; the model modules only eventsourcing.domain.
APPLICATION_MODULES = {
    "__init__.py", "application.py", "command_path.py", "engagement_commands.py", "cohort_commands.py",
    "views.py", "transcodings.py",
}
FORBIDDEN = (
    "engagement_tracker.projections", "engagement_tracker.adapters", "projections", "adapters", "eventsourcing.sqlite", "eventsourcing.postgres", "eventsourcing.popo",
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
    return sorted(DOMAIN.glob("*.py"))


@pytest.mark.parametrize("path", domain_files(), ids=lambda p: p.name)
def test_domain_module_imports_only_what_it_may(path: Path) -> None:
    allowed = APPLICATION_ALLOWED if path.name in APPLICATION_MODULES else MODEL_ALLOWED
    bad = [m for m in imported_modules(path) if m.startswith(FORBIDDEN) or not is_allowed(m, allowed)]
    assert bad == [], f"{path.name} imports {bad}"


def test_the_check_catches_an_outward_import(tmp_path: Path) -> None:
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text("from engagement_tracker.adapters.vault import SQLiteVault\nimport eventsourcing.sqlite\n")
    found = [m for m in imported_modules(sneaky) if m.startswith(FORBIDDEN)]
    assert found == ["engagement_tracker.adapters.vault", "eventsourcing.sqlite"]
