"""The in-memory calendar, the reference semantics, runs the Calendar contract suite.

As a backend without series (Säljstöd's shape) and with them (Outlook's), writing one
item per call and in bulk (:class:`InMemoryBulkCalendar`).
"""

from __future__ import annotations

import datetime as dt

import pytest

from outlook_sync import InMemoryBulkCalendar, InMemoryCalendar
from outlook_sync.model import Event, Item
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


@pytest.mark.parametrize("armed", [False, True], ids=["one-step", "item-by-item"])
def test_an_id_asked_twice_in_one_bulk_update_is_refused_the_second_time(armed: bool) -> None:
    """The bulk calendar writes a run in order, each item checked just before its
    write: the second request for an id expects a version the first one replaced, and
    is answered a version conflict, whether the run goes in one step or (faults
    armed) item by item."""
    from outlook_sync import BackendUnavailableError, VersionConflictError
    from tests.world import meeting

    calendar = InMemoryBulkCalendar(clock=ManualClock(), id_prefix="S")
    first = calendar.add(meeting("Kundmöte"))
    other = calendar.add(meeting("Uppföljning"))
    def item(item_id: str) -> Item:
        found = calendar.get(item_id)
        assert isinstance(found, Item)
        return found

    version = item(first).version
    if armed:  # both writes' answers lost: the run goes item by item
        calendar.fail_next("after_update", BackendUnavailableError("answer lost"))
        calendar.fail_next("after_update", BackendUnavailableError("answer lost"))
    results = calendar.update_many([
        (first, meeting("Kundmöte, flyttat"), version, "O1"),
        (first, meeting("Kundmöte, igen"), version, "O2"),
        (other, meeting("Uppföljning, ny tid"), item(other).version, None),
    ])
    assert [type(result).__name__ for result in results] == (
        ["BackendUnavailableError", "VersionConflictError", "BackendUnavailableError"]
        if armed else ["Item", "VersionConflictError", "Item"])
    assert isinstance(results[1], VersionConflictError)
    assert calendar.items()[first].subject == "Kundmöte, flyttat"
    assert item(first).partner_key == "O1"
    assert calendar.items()[other].subject == "Uppföljning, ny tid"
