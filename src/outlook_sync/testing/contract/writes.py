"""The contract of reading and writing one item: get, find, create, update, delete.

Every write carries the version it expects and a stale one changes nothing; an item that
is gone is ``None`` to ``get`` and :class:`~outlook_sync.errors.ItemNotFoundError` to a
write; the partner key a write stores is found again by ``find_by_partner_key``; and any
valid :class:`~outlook_sync.model.Event` comes back equal, or is refused as a whole.
"""

from __future__ import annotations

import datetime as dt

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from outlook_sync.errors import ItemNotFoundError, ItemRejectedError, VersionConflictError
from outlook_sync.model import Event, Item
from outlook_sync.protocols import Calendar
from outlook_sync.testing.contract.backend import Backend
from outlook_sync.testing.contract.base import ContractBase
from outlook_sync.testing.contract.samples import contract_events, meeting, weekly_series

__all__ = ["WriteContract"]


def _read(calendar: Calendar, item_id: str) -> Item:
    found = calendar.get(item_id)
    assert isinstance(found, Item), f"get({item_id!r}) returned {found!r}, not the item"
    return found


class WriteContract(ContractBase):
    """Tests of ``get``, ``find_by_partner_key``, ``create``, ``update`` and ``delete``."""

    # -- create and read back -----------------------------------------------------------

    def test_a_created_item_reads_back_as_written(self, calendar: Calendar) -> None:
        event = meeting(location="Kontoret", body="Agenda\nrad två",
                        categories=("Kund", "Viktigt"), reminder_minutes=15)  # fmt: skip
        created = calendar.create(event, partner_key="P-1")
        assert created.event == event
        assert created.partner_key == "P-1"
        assert created.id
        assert _read(calendar, created.id) == created  # same id, version, content, key

    # One calendar serves every example (function-scoped fixture), and every test class
    # that inherits this method runs it (differing executors): both harmless here, as each
    # example writes its own new item and replays only the drawn event.
    @settings(
        max_examples=20,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.differing_executors,
        ],
    )
    @given(data=st.data())
    def test_every_event_survives_a_round_trip(
        self, calendar: Calendar, data: st.DataObject
    ) -> None:
        caps = self.capabilities
        event = data.draw(contract_events(all_day=caps.all_day, private=caps.private))
        created = calendar.create(event, partner_key="P-round-trip")
        assert created.event == event
        read = _read(calendar, created.id)
        assert read.event == event
        assert read.event.all_day == event.all_day
        assert read.version == created.version

    def test_an_all_day_event_keeps_its_dates(self, calendar: Calendar) -> None:
        if not self.capabilities.all_day:
            pytest.skip("the backend declares no all-day events")
        day = dt.date(2026, 3, 29)  # the day Stockholm moves its clocks forward
        event = Event(subject="Konferens", start=day, end=day + dt.timedelta(days=2),
                      all_day=True)  # fmt: skip
        read = _read(calendar, calendar.create(event, partner_key="P-1").id)
        assert (read.event.start, read.event.end, read.event.all_day) == (
            day, day + dt.timedelta(days=2), True)  # fmt: skip

    def test_a_series_is_kept_as_one_item_or_refused_whole(self, calendar: Calendar) -> None:
        series = weekly_series()
        if not self.capabilities.series:
            with pytest.raises(ItemRejectedError):
                calendar.create(series, partner_key="P-1")
            assert calendar.list_all().items == ()
            return
        created = calendar.create(series, partner_key="P-1")
        assert created.event == series
        assert _read(calendar, created.id).event == series
        assert [item.id for item in calendar.list_all().items] == [created.id]

    @pytest.mark.parametrize("feature", ["all_day", "private"])
    def test_a_feature_the_backend_lacks_is_refused_not_altered(
        self, calendar: Calendar, feature: str
    ) -> None:
        if getattr(self.capabilities, feature):
            pytest.skip(f"the backend keeps {feature}")
        day = dt.date(2026, 12, 1)
        event = (
            Event(subject="Heldag", start=day, end=day + dt.timedelta(days=1), all_day=True)
            if feature == "all_day"
            else meeting(private=True)
        )
        with pytest.raises(ItemRejectedError):
            calendar.create(event, partner_key="P-1")
        assert calendar.list_all().items == ()

    # -- get and find -------------------------------------------------------------------

    def test_an_id_the_backend_never_issued_is_not_there(
        self, backend: Backend, calendar: Calendar
    ) -> None:
        assert calendar.get(backend.unknown_id) is None
        with pytest.raises(ItemNotFoundError):
            calendar.update(backend.unknown_id, meeting(), expected_version="1")
        with pytest.raises(ItemNotFoundError):
            calendar.delete(backend.unknown_id, expected_version="1")

    def test_find_by_partner_key_finds_exactly_the_items_carrying_it(
        self, calendar: Calendar
    ) -> None:
        quoted = calendar.create(meeting("Ett"), partner_key="O'Brien-1")
        calendar.create(meeting("Två", hour=11), partner_key="P-2")
        assert [item.id for item in calendar.find_by_partner_key("O'Brien-1")] == [quoted.id]
        assert list(calendar.find_by_partner_key("P-absent")) == []
        assert list(calendar.find_by_partner_key("O'Brien")) == []  # no prefix match
        (found,) = calendar.find_by_partner_key("O'Brien-1")
        assert found == quoted

    # -- update -------------------------------------------------------------------------

    def test_an_update_replaces_the_content_and_changes_the_version(
        self, calendar: Calendar
    ) -> None:
        created = calendar.create(meeting(), partner_key="P-1")
        moved = meeting("Flyttat", hour=13, location="Göteborg")
        updated = calendar.update(created.id, moved, expected_version=created.version)
        assert updated.id == created.id
        assert updated.event == moved
        assert updated.version != created.version
        assert updated.partner_key == "P-1"  # no partner_key given: kept
        assert _read(calendar, created.id) == updated

    def test_an_update_with_a_partner_key_replaces_it(self, calendar: Calendar) -> None:
        created = calendar.create(meeting(), partner_key="P-old")
        updated = calendar.update(created.id, meeting("Ny"), expected_version=created.version,
                                  partner_key="P-new")  # fmt: skip
        assert updated.partner_key == "P-new"
        assert _read(calendar, created.id).partner_key == "P-new"
        assert [item.id for item in calendar.find_by_partner_key("P-new")] == [created.id]
        assert list(calendar.find_by_partner_key("P-old")) == []

    def test_stamping_a_partner_key_keeps_the_content(self, calendar: Calendar) -> None:
        created = calendar.create(meeting(), partner_key="P-1")
        stamped = calendar.update(created.id, created.event, expected_version=created.version,
                                  partner_key="P-2")  # fmt: skip
        assert stamped.event == created.event
        assert _read(calendar, created.id).partner_key == "P-2"

    def test_an_update_at_a_stale_version_is_a_conflict_and_writes_nothing(
        self, calendar: Calendar
    ) -> None:
        created = calendar.create(meeting(), partner_key="P-1")
        theirs = calendar.update(created.id, meeting("Deras"), expected_version=created.version)
        with pytest.raises(VersionConflictError) as caught:
            calendar.update(created.id, meeting("Våra"), expected_version=created.version,
                            partner_key="P-2")  # fmt: skip
        assert caught.value.item_id == created.id
        assert _read(calendar, created.id) == theirs

    # -- delete -------------------------------------------------------------------------

    def test_a_delete_at_a_stale_version_is_a_conflict_and_keeps_the_item(
        self, calendar: Calendar
    ) -> None:
        created = calendar.create(meeting(), partner_key="P-1")
        theirs = calendar.update(created.id, meeting("Deras"), expected_version=created.version)
        with pytest.raises(VersionConflictError) as caught:
            calendar.delete(created.id, expected_version=created.version)
        assert caught.value.item_id == created.id
        assert _read(calendar, created.id) == theirs

    def test_a_deleted_item_is_gone_for_every_method(self, calendar: Calendar) -> None:
        created = calendar.create(meeting(), partner_key="P-1")
        kept = calendar.create(meeting("Kvar", hour=11), partner_key="P-2")
        calendar.delete(created.id, expected_version=created.version)
        assert calendar.get(created.id) is None
        assert list(calendar.find_by_partner_key("P-1")) == []
        assert [item.id for item in calendar.list_all().items] == [kept.id]
        with pytest.raises(ItemNotFoundError):
            calendar.delete(created.id, expected_version=created.version)
        with pytest.raises(ItemNotFoundError):
            calendar.update(created.id, meeting(), expected_version=created.version)

    def test_a_write_returns_what_a_later_read_sees(self, calendar: Calendar) -> None:
        created = calendar.create(meeting(reminder_minutes=None), partner_key="P-1")
        later = attrs.evolve(created.event, reminder_minutes=30, subject="Påminn mig")
        updated = calendar.update(created.id, later, expected_version=created.version)
        again = calendar.update(created.id, attrs.evolve(later, body="ny text"),
                                expected_version=updated.version)  # fmt: skip
        assert _read(calendar, created.id) == again
