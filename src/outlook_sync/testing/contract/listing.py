"""The contract of listings: complete vs incremental, the inclusive watermark, deletions.

A change listing may over-report (an unchanged item again, or a complete listing
instead) but never hides a change made at or after its cursor's watermark; it always
includes the items that carry no partner key; and a deletion since the cursor is
reported, in ``deleted`` or by absence from a complete listing. ``list_all`` is
complete: every item, with its partner key.
"""

from __future__ import annotations

import datetime as dt

import pytest

from outlook_sync.model import Cursor, Item
from outlook_sync.protocols import Calendar
from outlook_sync.testing.contract.backend import Backend, BackendFactory
from outlook_sync.testing.contract.base import ContractBase, listed, reports_gone
from outlook_sync.testing.contract.samples import meeting

HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)

__all__ = ["ListingContract"]


def _unlinked(backend: Backend, subject: str) -> str:
    if backend.add_unlinked is None:
        pytest.skip("the backend gives no add_unlinked hook")
    return backend.add_unlinked(meeting(subject, hour=14))


class ListingContract(ContractBase):
    """Tests of ``list_all`` and ``list_changes``."""

    def test_an_empty_calendar_lists_nothing_and_says_it_is_complete(
        self, calendar: Calendar
    ) -> None:
        listing = calendar.list_all()
        assert listing.complete
        assert (listing.items, listing.broken) == ((), ())

    def test_list_all_is_complete_with_every_item_and_its_partner_key(
        self, backend: Backend, calendar: Calendar
    ) -> None:
        first = calendar.create(meeting("Ett"), partner_key="P-1")
        second = calendar.create(meeting("Två", hour=11), partner_key="P-2")
        expected: dict[str, str | None] = {first.id: "P-1", second.id: "P-2"}
        if backend.add_unlinked is not None:
            expected[backend.add_unlinked(meeting("Skrivet av användaren", hour=14))] = None
        listing = calendar.list_all()
        assert listing.complete
        assert {item.id: item.partner_key for item in listing.items} == expected
        for item in listing.items:
            assert calendar.get(item.id) == item  # a listing and a read agree

    def test_listed_items_say_when_the_backend_last_changed_them(
        self, calendar: Calendar
    ) -> None:
        created = calendar.create(meeting(), partner_key="P-1")
        (before,) = calendar.list_all().items
        assert before.changed is not None, "Item.changed is not set"
        assert before.changed.tzinfo is not None
        updated = calendar.update(created.id, meeting("Ändrat"),
                                  expected_version=created.version)  # fmt: skip
        (after,) = calendar.list_all().items
        assert after.version == updated.version
        assert after.changed is not None
        assert after.changed >= before.changed

    def test_changes_after_a_listing_are_in_the_next_change_listing(
        self, backend: Backend, calendar: Calendar
    ) -> None:
        edited = calendar.create(meeting("Före"), partner_key="P-1")
        untouched = calendar.create(meeting("Orörd", hour=11), partner_key="P-2")
        backend.wait(DAY)
        cursor = calendar.list_all().cursor
        backend.wait(HOUR)
        updated = calendar.update(edited.id, meeting("Efter"), expected_version=edited.version)
        new = calendar.create(meeting("Ny", hour=13), partner_key="P-3")
        changes = calendar.list_changes(cursor)
        assert listed(changes, edited.id) == updated
        assert listed(changes, new.id) == new
        assert not reports_gone(changes, untouched.id)

    def test_a_deletion_after_a_listing_is_reported(
        self, backend: Backend, calendar: Calendar
    ) -> None:
        doomed = calendar.create(meeting("Struken"), partner_key="P-1")
        kept = calendar.create(meeting("Kvar", hour=11), partner_key="P-2")
        backend.wait(DAY)
        cursor = calendar.list_all().cursor
        backend.wait(HOUR)
        calendar.delete(doomed.id, expected_version=doomed.version)
        changes = calendar.list_changes(cursor)
        assert reports_gone(changes, doomed.id)
        assert not reports_gone(changes, kept.id)

    def test_the_cursor_of_a_change_listing_carries_on(
        self, backend: Backend, calendar: Calendar
    ) -> None:
        item = calendar.create(meeting(), partner_key="P-1")
        other = calendar.create(meeting("Annat", hour=11), partner_key="P-2")
        backend.wait(DAY)
        first = calendar.list_changes(calendar.list_all().cursor)
        backend.wait(HOUR)
        updated = calendar.update(item.id, meeting("Andra gången"),
                                  expected_version=item.version)  # fmt: skip
        calendar.delete(other.id, expected_version=other.version)
        second = calendar.list_changes(first.cursor)
        assert listed(second, item.id) == updated
        assert reports_gone(second, other.id)

    def test_the_watermark_is_inclusive(self, calendar: Calendar) -> None:
        created = calendar.create(meeting(), partner_key="P-1")
        updated = calendar.update(created.id, meeting("Ändrat"),
                                  expected_version=created.version)  # fmt: skip
        stamp = updated.changed or _read_stamp(calendar, created.id)
        changes = calendar.list_changes(Cursor(watermark=stamp))
        assert listed(changes, created.id) == updated, "a change at the watermark was hidden"

    def test_a_cursor_without_a_watermark_gets_a_complete_listing(
        self, calendar: Calendar
    ) -> None:
        item = calendar.create(meeting(), partner_key="P-1")
        listing = calendar.list_changes(Cursor())
        assert listing.complete
        assert listed(listing, item.id) == item

    def test_unlinked_items_are_listed_whatever_their_time(
        self, backend: Backend, calendar: Calendar
    ) -> None:
        unlinked = _unlinked(backend, "Bokad av en kollega")
        backend.wait(DAY)
        cursor = calendar.list_all().cursor
        if cursor.token is not None:
            pytest.skip("a change-tracking token (delta) sees every change since its "
                        "listing; the rule is for watermark cursors (protocols.py)")
        backend.wait(HOUR)
        changes = calendar.list_changes(cursor)
        found = listed(changes, unlinked)
        assert found is not None, "an item without partner key was left out"
        assert found.partner_key is None

    def test_calendars_do_not_see_each_others_items(
        self, calendar: Calendar, make_backend: BackendFactory
    ) -> None:
        mine = calendar.create(meeting("Mitt"), partner_key="P-1")
        other = make_backend().calendar
        theirs = other.create(meeting("Deras"), partner_key="P-2")
        assert [item.id for item in calendar.list_all().items] == [mine.id]
        assert [item.id for item in other.list_all().items] == [theirs.id]
        assert list(other.find_by_partner_key("P-1")) == []
        # ids may coincide across calendars; then ``get`` must answer with its own item
        assert other.get(mine.id) in (None, other.get(theirs.id))


def _read_stamp(calendar: Calendar, item_id: str) -> dt.datetime:
    item = calendar.get(item_id)
    assert isinstance(item, Item)
    assert item.changed is not None, "Item.changed is not set"
    return item.changed
