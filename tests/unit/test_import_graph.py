"""Imports point inward: the domain knows no infrastructure, projections no drivers."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STDLIB = set(sys.stdlib_module_names) | {"__future__"}


def imported_top_level_names(source: str) -> set[str]:
    """The first component of every absolute module imported, at any depth."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def top_level_imports(path: Path) -> set[str]:
    return imported_top_level_names(path.read_text())


def sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


DOMAIN_FILES = sources("domain")
PROJECTION_FILES = sources("projections")
REACTOR_FILES = sources("reactors")


def test_the_domain_package_has_the_modules_this_check_expects():
    # Guards against the check passing vacuously (a moved or renamed package).
    names = {p.name for p in DOMAIN_FILES}
    assert {"order.py", "application.py", "money.py", "records.py", "testing.py"} <= names


def test_the_domain_import_check_sees_eventsourcing():
    assert "eventsourcing" in top_level_imports(ROOT / "domain" / "order.py")


@pytest.mark.parametrize("path", DOMAIN_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_domain_imports_only_the_standard_library_and_eventsourcing(path):
    foreign = top_level_imports(path) - STDLIB - {"eventsourcing", "domain"}
    assert not foreign, f"{path.relative_to(ROOT)} imports {sorted(foreign)}"


FORBIDDEN_IN_PROJECTIONS = {"aiokafka", "kafka", "confluent_kafka", "psycopg", "psycopg2", "sqlite3", "adapters"}


@pytest.mark.parametrize("path", PROJECTION_FILES + REACTOR_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_projections_and_reactors_import_no_drivers_and_no_adapters(path):
    forbidden = top_level_imports(path) & FORBIDDEN_IN_PROJECTIONS
    assert not forbidden, f"{path.relative_to(ROOT)} imports {sorted(forbidden)}"


def test_the_reactors_package_has_the_modules_this_check_expects():
    assert "contract.py" in {p.name for p in REACTOR_FILES}


def test_the_import_check_sees_imports_inside_functions():
    source = "def f():\n    import aiokafka.consumer\n    from psycopg import sql\n    from . import x\n"
    assert imported_top_level_names(source) == {"aiokafka", "psycopg"}
