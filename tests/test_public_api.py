"""The public surface the host application codes against, and the purity of the core."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import outlook_sync
import outlook_sync._core

CONTRACT = {
    "Event", "MemoryStateStore", "SqliteStateStore", "Synchronizer", "InMemoryCalendar",
    "SyncReport", "OutlookSyncError", "SyncPlan", "SyncPolicy", "Calendar", "StateStore",
}


def test_all_is_sorted_and_complete() -> None:
    names = outlook_sync.__all__
    assert names == sorted(names)
    assert set(names) >= CONTRACT
    for name in names:
        assert hasattr(outlook_sync, name), name


def test_every_error_derives_from_one_root() -> None:
    errors = [getattr(outlook_sync, n) for n in outlook_sync.__all__ if n.endswith("Error")]
    assert errors
    for error in errors:
        assert issubclass(error, outlook_sync.OutlookSyncError), error


def test_importing_the_package_needs_no_optional_dependency() -> None:
    code = (
        "import sys\n"
        "for blocked in ('httpx', 'msal', 'psycopg', 'win32com', 'pythoncom'):\n"
        "    sys.modules[blocked] = None\n"
        "import outlook_sync, outlook_sync.adapters.sql, outlook_sync.testing.graph\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


# The pure core may import the standard library's pure modules, attrs and dateutil, and
# the package's own value modules. No I/O modules, no clock, no randomness, no adapter.
ALLOWED_STDLIB = {"__future__", "collections", "collections.abc", "enum", "itertools",
                  "typing", "datetime", "re", "functools", "dataclasses", "math"}
ALLOWED_OWN = {"outlook_sync.model", "outlook_sync.records", "outlook_sync.policy",
               "outlook_sync.scope", "outlook_sync.timezones",
               "outlook_sync.errors", "outlook_sync.recurrence", "outlook_sync._slots"}
#: the pure calendar math may be imported module by module
ALLOWED_OWN_PACKAGES = ("outlook_sync.recurrence.",)
FORBIDDEN_CALLS = {"now", "utcnow", "today", "random", "open", "urandom", "monotonic"}


def test_the_core_imports_nothing_that_does_io() -> None:
    root = Path(outlook_sync._core.__file__).parent
    for module in pkgutil.iter_modules([str(root)]):
        path = root / f"{module.name}.py"
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                    assert node.func.attr not in FORBIDDEN_CALLS, (path.name, node.func.attr)
                continue
            for name in names:
                ok = (name in ALLOWED_STDLIB or name.split(".")[0] in {"attrs", "dateutil"}
                      or name in ALLOWED_OWN or name.startswith("outlook_sync._core")
                      or name.startswith(ALLOWED_OWN_PACKAGES))
                assert ok, f"{path.name} imports {name}"
        importlib.import_module(f"outlook_sync._core.{module.name}")
