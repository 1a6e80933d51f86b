"""The Calendar contract suite, run against the JSON-file calendar of ``custom_backend.py``.

Run it: ``python examples/test_custom_backend.py`` (or ``python -m pytest`` on this file).
docs/custom-backend.md shows it; your own backend's test looks the same.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import pytest
from custom_backend import JsonFileCalendar

from outlook_sync.model import Event
from outlook_sync.testing.contract import Backend, BackendFactory, CalendarContract, Capabilities


class TestJsonFileCalendar(CalendarContract):
    # What the backend can store, and which optional protocols it implements.
    capabilities = Capabilities(series=False)
    # Contract tests this backend fails today, each with the reason (marked xfail, strict).
    known_failures: ClassVar[dict[str, str]] = {}

    @pytest.fixture
    def make_backend(self, tmp_path: Path) -> BackendFactory:
        numbers = itertools.count(1)

        def make() -> Backend:  # a new, empty calendar on each call
            calendar = JsonFileCalendar(tmp_path / f"calendar-{next(numbers)}.json")

            def add_unlinked(event: Event) -> str:  # as the user would: no partner key
                return calendar.create(event).id

            return Backend(calendar=calendar, add_unlinked=add_unlinked)

        return make


if __name__ == "__main__":  # a fresh interpreter, so that pytest sees every import
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__]
    sys.exit(subprocess.call(command))  # noqa: S603 - our own interpreter and file
