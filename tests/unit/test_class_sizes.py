"""No class in domain/, projections/ or adapters/ is longer than 300 lines (issue #22).

A class's size is its whole body as written, nested event classes included: an aggregate that
needs more has more than one responsibility, and the parts go to modules of their own.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("domain", "projections", "adapters")
LIMIT = 300


@functools.cache
def class_sizes() -> dict[str, int]:
    sizes = {}
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
                    sizes[f"{path.relative_to(ROOT)}::{node.name}"] = node.end_lineno - node.lineno + 1
    return sizes


def test_the_measure_sees_the_classes() -> None:
    sizes = class_sizes()
    assert "domain/engagement.py::Engagement" in sizes
    assert len(sizes) > 100


@pytest.mark.parametrize("name", sorted(class_sizes()))
def test_no_class_is_above_the_limit(name: str) -> None:
    size = class_sizes()[name]
    assert size <= LIMIT, f"{name} is {size} lines (at most {LIMIT}): split it by responsibility"


def test_no_mixin_stack_in_the_application_layer() -> None:
    """The services are composed (each handed the one command path), never mixed in: no class of
    domain/application/ has more than one base, and none of them extends another service."""
    stacked = []
    for path in sorted((ROOT / "domain" / "application").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef):
                bases = [ast.unparse(b) for b in node.bases]
                if len(bases) > 1 or any(b.endswith(("Service", "Mixin", "Metrics")) for b in bases):
                    stacked.append(f"{path.relative_to(ROOT)}::{node.name}({', '.join(bases)})")
    assert stacked == []
