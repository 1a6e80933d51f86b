"""The examples in ``examples/`` run as a reader would run them, and say what the docs say.

Each example listed in ``EXPECTED`` must print those lines; any other example must at
least run to completion (exit 0) within the time limit.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from outlook_sync import Calendar, Event
from outlook_sync.errors import ListingError, VersionConflictError

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

#: Lines each example must print (in this order, among others).
EXPECTED: dict[str, list[str]] = {
    "custom_backend.py": [
        "first sync: 4 writes",  # two creates and the two partner-key stamps
        "second sync: 1 writes",
        "third sync: 0 writes",
        "crm.json J1: Kundmöte Nordbygg | Göteborg",
        "crm.json J2: Lunch | -",
    ],
}


def run(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=path.parent,
        check=False,
        encoding="utf-8",
    )


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_example_runs_and_prints_what_the_docs_promise(name: str) -> None:
    result = run(EXAMPLES / name)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    position = 0
    for expected in EXPECTED.get(name, []):
        assert expected in lines[position:], f"{name} did not print {expected!r}:\n{result.stdout}"
        position = lines.index(expected, position) + 1


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name.removesuffix(".py"), EXAMPLES / name)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_custom_backend_is_a_calendar_that_guards_its_writes(tmp_path: Path) -> None:
    example = load("custom_backend.py")
    calendar = example.JsonFileCalendar(tmp_path / "crm.json")
    assert isinstance(calendar, Calendar)
    start = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)
    item = calendar.create(Event(subject="Möte", start=start, end=start), partner_key="O1")
    calendar.update(item.id, Event(subject="Flyttat", start=start, end=start),
                    expected_version=item.version)  # fmt: skip
    with pytest.raises(VersionConflictError):
        calendar.delete(item.id, expected_version=item.version)
    assert [i.event.subject for i in calendar.list_all().items] == ["Flyttat"]

    (tmp_path / "crm.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ListingError):
        calendar.list_all()


def test_an_unreadable_row_of_the_custom_backend_is_quarantined_not_fatal(
    tmp_path: Path,
) -> None:
    example = load("custom_backend.py")
    path = tmp_path / "crm.json"
    path.write_text(
        '{"items": {"J1": {"version": 1, "partner_key": null, "changed_at": '
        '"2026-01-01T00:00:00+00:00", "event": {"subject": "x"}}}, "deleted": {}, "next_id": 2}',
        encoding="utf-8",
    )
    listing = example.JsonFileCalendar(path).list_all()
    assert listing.items == ()
    assert [b.id for b in listing.broken] == ["J1"]


def test_the_command_line_is_installed_as_a_module_entry_point() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "outlook_sync.cli", "--help"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0
    assert "set-last-sync" in result.stdout


DOCS = EXAMPLES.parent / "docs"


def python_blocks(page: str) -> list[str]:
    text = (DOCS / page).read_text(encoding="utf-8")
    return [block.split("```", 1)[0] for block in text.split("```python\n")[1:]]


def test_the_getting_started_code_runs_as_written() -> None:
    [block] = python_blocks("getting-started.md")
    exec(compile(block, "getting-started.md", "exec"), {"__name__": "docs"})


def test_the_custom_backend_page_shows_what_the_example_prints() -> None:
    page = (DOCS / "custom-backend.md").read_text(encoding="utf-8")
    for line in EXPECTED["custom_backend.py"]:
        assert line in page
    assert '--8<-- "examples/custom_backend.py"' in page
