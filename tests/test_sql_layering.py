"""The shared SQL plumbing has one home: ``outlook_sync.sql`` imports only the vocabulary,
and the SQL state store and the SQL adapter never import each other (the state tables'
migrations, which ``upgrade`` applies on request, live in the plumbing)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).parents[1] / "src" / "outlook_sync"
VOCABULARY = ("outlook_sync.errors", "outlook_sync.model", "outlook_sync.sql")


def imports(folder: Path) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted(folder.glob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
            elif isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
        found[path.name] = {n for n in names if n.startswith("outlook_sync")}
    return found


def test_the_shared_sql_package_imports_only_the_vocabulary() -> None:
    for module, names in imports(SRC / "sql").items():
        assert all(name.startswith(VOCABULARY) for name in names), (module, names)


def test_the_state_store_does_not_import_the_adapter() -> None:
    for module, names in imports(SRC / "state" / "sql").items():
        assert not any(name.startswith("outlook_sync.adapters") for name in names), module


def test_the_adapter_does_not_import_the_state_store() -> None:
    """``upgrade()`` creates the state tables from the shared plumbing's
    ``state_schema``, not through the state store's package."""
    for module, names in imports(SRC / "adapters" / "sql").items():
        assert not any(name.startswith("outlook_sync.state") for name in names), module
