"""The in-memory calendar's listing semantics: the reference every adapter matches."""

from __future__ import annotations

import datetime as dt

from outlook_sync import Cursor, InMemoryCalendar
from tests.world import UTC, ManualClock, meeting


def test_a_change_listing_is_inclusive_and_always_shows_unkeyed_items() -> None:
    clock = ManualClock(step=dt.timedelta(0))
    cal = InMemoryCalendar(clock=clock)
    old = cal.add(meeting("Gammal"), partner_key="O9")
    unkeyed = cal.add(meeting("Ingen nyckel"))
    clock.advance(hours=1)
    at_mark = clock.now
    edited = cal.add(meeting("Ny"), partner_key="O8")
    ids = {item.id for item in cal.list_changes(Cursor(watermark=at_mark)).items}
    assert ids == {edited, unkeyed}
    assert old not in ids


def test_deletions_since_the_watermark_are_reported() -> None:
    clock = ManualClock()
    cal = InMemoryCalendar(clock=clock)
    item_id = cal.add(meeting(), partner_key="O1")
    mark = clock.now
    cal.delete(item_id)
    listing = cal.list_changes(Cursor(watermark=mark))
    assert listing.deleted == frozenset({item_id})
    assert not listing.complete


def test_a_clock_that_goes_back_never_hides_a_change() -> None:
    clock = ManualClock()
    cal = InMemoryCalendar(clock=clock)
    first = cal.add(meeting("A"), partner_key="O1")
    clock.now -= dt.timedelta(hours=2)  # the host's clock was corrected backwards
    second = cal.add(meeting("B"), partner_key="O2")
    since = dt.datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
    ids = {item.id for item in cal.list_changes(Cursor(watermark=since)).items}
    assert ids == {first}  # changed at 08:00, after the last change (06:00) in list order
    assert second not in ids
