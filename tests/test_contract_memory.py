"""The in-memory calendar, the reference semantics, runs the Calendar contract suite.

As a backend without series (Säljstöd's shape) and with them (Outlook's), writing one
item per call and in bulk (:class:`InMemoryBulkCalendar`).
"""

from __future__ import annotations

import datetime as dt

import pytest

from outlook_sync import InMemoryBulkCalendar, InMemoryCalendar
from outlook_sync.model import Event
from outlook_sync.testing.contract import Backend, BackendFactory, CalendarContract, Capabilities
from tests.world import ManualClock


def factory(*, series: bool, kind: type[InMemoryCalendar] = InMemoryCalendar) -> BackendFactory:
    clock = ManualClock()  # one second per reading, and as far as the suite says

    def pass_time(delta: dt.timedelta) -> None:
        clock.advance(seconds=delta.total_seconds())

    def make() -> Backend:
        calendar = kind(clock=clock, supports_series=series)

        def add_unlinked(event: Event) -> str:
            return calendar.add(event)

        return Backend(calendar=calendar, add_unlinked=add_unlinked, pass_time=pass_time)

    return make


class TestInMemoryCalendar(CalendarContract):
    capabilities = Capabilities(series=False, change_notifier=True, item_opener=True,
                                identified=True, item_restorer=True)  # fmt: skip

    @pytest.fixture
    def make_backend(self) -> BackendFactory:
        return factory(series=False)


class TestInMemoryCalendarWithSeries(TestInMemoryCalendar):
    capabilities = Capabilities(series=True, change_notifier=True, item_opener=True,
                                identified=True, item_restorer=True)  # fmt: skip

    @pytest.fixture
    def make_backend(self) -> BackendFactory:
        return factory(series=True)


class TestInMemoryBulkCalendar(TestInMemoryCalendar):
    capabilities = Capabilities(series=False, bulk_writer=True, bulk_deleter=True,
                                change_notifier=True, item_opener=True, identified=True,
                                item_restorer=True)  # fmt: skip

    @pytest.fixture
    def make_backend(self) -> BackendFactory:
        return factory(series=False, kind=InMemoryBulkCalendar)


class TestInMemoryBulkCalendarWithSeries(TestInMemoryCalendar):
    capabilities = Capabilities(series=True, bulk_writer=True, bulk_deleter=True,
                                change_notifier=True, item_opener=True, identified=True,
                                item_restorer=True)  # fmt: skip

    @pytest.fixture
    def make_backend(self) -> BackendFactory:
        return factory(series=True, kind=InMemoryBulkCalendar)
