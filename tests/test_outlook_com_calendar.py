"""OutlookComCalendar against the fake Outlook object model: the Calendar contract, the
documented Outlook traps, and the promise that an unreadable item is never a deleted one."""

from __future__ import annotations

import datetime as dt
import gc
import sys
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import HealthCheck, given, settings

from outlook_sync import Event, ShowAs
from outlook_sync.adapters.outlook_com import (
    GERMAN,
    SWEDISH,
    US_ENGLISH,
    OutlookComCalendar,
    RetryPolicy,
    WindowsLocale,
    listing,
    mapping,
)
from outlook_sync.errors import (
    BackendUnavailableError,
    ConfigurationError,
    ItemNotFoundError,
    ItemRejectedError,
    ListingError,
    VersionConflictError,
)
from outlook_sync.model import BrokenItem, Cursor, Item
from outlook_sync.testing.outlook_com import BULK_THRESHOLD, FakeOutlook, Fault, ManualClock
from outlook_sync.testing.outlook_com import with_events as fake_with_events
from tests.strategies import events

STOCKHOLM = ZoneInfo("Europe/Stockholm")
NEW_YORK = ZoneInfo("America/New_York")
UTC = dt.UTC


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@attrs.define
class Rig:
    outlook: FakeOutlook
    calendar: OutlookComCalendar
    clock: ManualClock
    sleeps: Sleeps

    def add(self, subject: str = "Kundmöte", day: int = 3, **fields: Any) -> str:
        start = dt.datetime(2026, 3, day, 9, tzinfo=STOCKHOLM)
        return self.outlook.add_appointment(subject, start, start + dt.timedelta(hours=1), **fields)


def make_rig(*, locale: WindowsLocale = SWEDISH, **fake: Any) -> Rig:
    clock = ManualClock(dt.datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    outlook = FakeOutlook(clock=clock, **fake)
    sleeps = Sleeps()
    calendar = OutlookComCalendar(
        outlook.dispatch,
        locale=locale,
        clock=clock,
        sleep=sleeps,
        with_events=fake_with_events,
    )
    return Rig(outlook=outlook, calendar=calendar, clock=clock, sleeps=sleeps)


@pytest.fixture
def rig() -> Rig:
    return make_rig()


def meeting(
    subject: str = "Kundmöte", *, day: int = 4, zone: ZoneInfo = STOCKHOLM, **fields: Any
) -> Event:
    start = dt.datetime(2026, 3, day, 9, tzinfo=zone)
    return Event(subject=subject, start=start, end=start + dt.timedelta(hours=1), **fields)


# -- the Calendar contract ----------------------------------------------------------------


def test_created_items_read_back_with_their_partner_key(rig: Rig) -> None:
    event = meeting(
        location="Kontoret",
        body="Agenda\nrad två",
        categories=("Kund", "Viktigt"),
        show_as=ShowAs.OUT_OF_OFFICE,
        private=True,
        reminder_minutes=10,
    )
    created = rig.calendar.create(event, partner_key="S-1")
    assert created.event == event
    assert created.partner_key == "S-1"
    assert rig.calendar.get(created.id) == created
    listed = rig.calendar.list_all()
    assert listed.complete
    assert [item.id for item in listed.items] == [created.id]
    record = rig.outlook.record(created.id)
    assert record.fields["Sensitivity"] == 2
    assert record.fields["Categories"] == "Kund; Viktigt"
    assert record.fields["BusyStatus"] == 3


def test_updates_and_deletes_need_the_current_version(rig: Rig) -> None:
    created = rig.calendar.create(meeting(), partner_key="S-1")
    rig.outlook.edit(created.id, Subject="Ändrad i Outlook")
    with pytest.raises(VersionConflictError):
        rig.calendar.update(created.id, meeting("Från Säljstöd"), expected_version=created.version)
    with pytest.raises(VersionConflictError):
        rig.calendar.delete(created.id, expected_version=created.version)
    assert rig.outlook.record(created.id).fields["Subject"] == "Ändrad i Outlook"
    current = rig.calendar.get(created.id)
    assert isinstance(current, Item)
    updated = rig.calendar.update(
        created.id, meeting("Från Säljstöd"), expected_version=current.version
    )
    assert updated.event.subject == "Från Säljstöd"
    assert updated.version != current.version
    rig.calendar.delete(created.id, expected_version=updated.version)
    assert rig.calendar.get(created.id) is None
    with pytest.raises(ItemNotFoundError):
        rig.calendar.delete(created.id, expected_version=updated.version)
    with pytest.raises(ItemNotFoundError):
        rig.calendar.update(created.id, meeting(), expected_version=updated.version)


def test_an_update_that_changes_nothing_writes_nothing(rig: Rig) -> None:
    created = rig.calendar.create(meeting(), partner_key="S-1")
    saves = rig.outlook.calls["Save"]
    again = rig.calendar.update(
        created.id, meeting(), expected_version=created.version, partner_key="S-1"
    )
    assert again == created
    assert rig.outlook.calls["Save"] == saves


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event=events())
def test_every_event_round_trips_through_outlook(event: Event) -> None:
    rig = make_rig()
    created = rig.calendar.create(event, partner_key="S-1")
    assert created.event == event
    assert created.event.all_day == event.all_day


def test_times_keep_their_zone_and_all_day_events_their_dates(rig: Rig) -> None:
    new_york = rig.calendar.create(meeting(zone=NEW_YORK), partner_key="S-1")
    record = rig.outlook.record(new_york.id)
    assert record.start_tz == "Eastern Standard Time"
    assert isinstance(new_york.event.start, dt.datetime)
    assert new_york.event.start.utcoffset() == dt.timedelta(hours=-5)
    day = dt.date(2026, 3, 29)  # the day Stockholm moves its clocks forward
    all_day = rig.calendar.create(
        Event(subject="Konferens", start=day, end=day + dt.timedelta(days=2), all_day=True),
        partner_key="S-2",
    )
    assert (all_day.event.start, all_day.event.end) == (day, day + dt.timedelta(days=2))
    com = rig.outlook.dispatch().GetNamespace("MAPI").GetItemFromID(all_day.id)
    assert com.Start == dt.datetime(2026, 3, 29, 0, 0)


def test_items_made_in_outlook_read_with_local_wall_clock_and_locale_lists(rig: Rig) -> None:
    entry_id = rig.add(Categories="Kund, Viktigt;Rött", Body="a\r\nb", ReminderSet=False)
    item = rig.calendar.get(entry_id)
    assert isinstance(item, Item)
    assert item.event.start == dt.datetime(2026, 3, 3, 9, tzinfo=STOCKHOLM)
    assert item.event.categories == ("Kund", "Rött", "Viktigt")
    assert item.event.body == "a\nb"
    assert item.event.reminder_minutes is None
    assert item.partner_key is None
    assert item.changed == dt.datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_pywin32_dates_labelled_utc_are_read_as_wall_clock() -> None:
    # pywin32 may attach a UTC tzinfo to a COM DATE whose wall clock is local time.
    labelled = dt.datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    assert mapping.com_datetime(labelled, "start") == dt.datetime(2026, 6, 1, 9, 0)


def test_the_us_locale_writes_categories_with_commas() -> None:
    rig = make_rig(
        locale=US_ENGLISH, short_date="M/d/yyyy", short_time="h:mm tt", list_separator=","
    )
    created = rig.calendar.create(meeting(categories=("A", "B")), partner_key="S-1")
    assert rig.outlook.record(created.id).fields["Categories"] == "A, B"


# -- change listings ----------------------------------------------------------------------


def test_a_second_edit_in_the_same_second_as_the_listing_is_still_seen(rig: Rig) -> None:
    # The clock stands still: the item, the listing and the edit share one time stamp, so
    # only the inclusive watermark query can see the edit.
    entry_id = rig.add("Före")
    first = rig.calendar.list_all()
    rig.outlook.edit(entry_id, Subject="Efter")
    assert rig.outlook.record(entry_id).modified == first.cursor.watermark
    changes = rig.calendar.list_changes(first.cursor)
    assert [item.event.subject for item in changes.items] == ["Efter"]


def test_the_watermark_filter_is_local_minute_precise_and_reaches_back() -> None:
    criteria = listing.watermark_filter(
        dt.datetime(2026, 3, 2, 9, 17, 42, tzinfo=UTC),
        margin=dt.timedelta(minutes=5),
        now=dt.datetime(2026, 3, 2, 10, 0, tzinfo=UTC),
        local_zone=STOCKHOLM,
        locale=SWEDISH,
    )
    assert criteria == "[LastModificationTime] >= '2026-03-02 10:12'"
    assert US_ENGLISH.filter_datetime(dt.datetime(2026, 3, 2, 13, 5)) == "3/2/2026 1:05 PM"
    assert GERMAN.filter_datetime(dt.datetime(2026, 3, 2, 0, 5)) == "02.03.2026 00:05"


def test_the_watermark_filter_reaches_back_over_the_hour_the_clocks_went_back() -> None:
    # 02:30 summer time on 25 October; the same wall times come again an hour later.
    watermark = dt.datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    criteria = listing.watermark_filter(
        watermark,
        margin=dt.timedelta(0),
        now=dt.datetime(2026, 10, 25, 3, 0, tzinfo=UTC),
        local_zone=STOCKHOLM,
        locale=SWEDISH,
    )
    assert criteria == "[LastModificationTime] >= '2026-10-25 01:30'"


def test_seconds_in_the_short_time_picture_are_left_out() -> None:
    locale = WindowsLocale(short_date="yyyy-MM-dd", short_time="HH:mm:ss")
    assert locale.filter_datetime(dt.datetime(2026, 3, 2, 10, 5, 59)) == "2026-03-02 10:05"
    with pytest.raises(ConfigurationError):
        WindowsLocale(short_date="d MMMM yyyy")


def test_a_filter_date_format_outlook_does_not_read_fails_the_listing_loudly() -> None:
    rig = make_rig(locale=US_ENGLISH)  # Outlook is Swedish; the adapter was told otherwise
    rig.add()
    first = rig.calendar.list_all()
    with pytest.raises(ListingError, match="regional settings"):
        rig.calendar.list_changes(first.cursor)


def test_deletions_are_found_by_comparing_ids_even_for_mass_deletions(rig: Rig) -> None:
    start = dt.datetime(2026, 3, 9, 9, tzinfo=UTC)
    ids = rig.outlook.bulk_add(
        [(f"m{i}", start, start + dt.timedelta(hours=1)) for i in range(BULK_THRESHOLD + 2)]
    )
    rig.clock.advance(minutes=30)  # older than the safety margin: unchanged items stay out
    first = rig.calendar.list_all()
    rig.clock.advance(minutes=30)
    rig.outlook.bulk_delete(ids[:BULK_THRESHOLD])
    changes = rig.calendar.list_changes(first.cursor)
    assert changes.deleted == frozenset(ids[:BULK_THRESHOLD])
    assert not changes.complete
    assert changes.items == ()


def test_a_change_listing_opens_only_the_changed_items(rig: Rig) -> None:
    ids = [rig.add(f"m{i}", day=3 + i % 5) for i in range(12)]
    rig.clock.advance(minutes=30)
    first = rig.calendar.list_all()
    rig.clock.advance(minutes=30)
    rig.outlook.edit(ids[4], Subject="ändrad")
    bodies = rig.outlook.property_reads["Body"]
    changes = rig.calendar.list_changes(first.cursor)
    assert [item.id for item in changes.items] == [ids[4]]
    assert rig.outlook.property_reads["Body"] - bodies == 1


def test_changes_that_arrive_late_from_exchange_are_still_seen(rig: Rig) -> None:
    entry_id = rig.add("Original")
    first = rig.calendar.list_all()
    rig.clock.advance(hours=3)
    # Made on the phone two hours ago, long before the safety margin; synchronised now.
    rig.outlook.edit_on_server(
        entry_id, modified_at=rig.clock() - dt.timedelta(hours=2), Subject="Från mobilen"
    )
    changes = rig.calendar.list_changes(first.cursor)
    assert [item.event.subject for item in changes.items] == ["Från mobilen"]


def test_new_items_with_old_time_stamps_are_listed(rig: Rig) -> None:
    first = rig.calendar.list_all()
    rig.clock.advance(hours=1)
    team = rig.outlook.add_calendar("Team")
    old = rig.outlook.add_appointment(
        "Gammal",
        dt.datetime(2026, 3, 9, 9, tzinfo=UTC),
        dt.datetime(2026, 3, 9, 10, tzinfo=UTC),
        folder=team,
    )
    rig.outlook.edit_on_server(old, modified_at=rig.clock() - dt.timedelta(days=30))
    moved = rig.outlook.move(old, rig.outlook.folder())
    rig.outlook.edit_on_server(moved, modified_at=rig.clock() - dt.timedelta(days=30))
    changes = rig.calendar.list_changes(first.cursor)
    assert [item.id for item in changes.items] == [moved]


def test_a_cursor_without_this_folders_token_gets_a_complete_listing(rig: Rig) -> None:
    rig.add()
    for cursor in (
        Cursor(watermark=rig.clock()),  # "process from this date" / set_last_sync
        Cursor(watermark=rig.clock(), token="graph-delta-link"),
    ):
        assert rig.calendar.list_changes(cursor).complete
    other = OutlookComCalendar(
        rig.outlook.dispatch,
        locale=SWEDISH,
        clock=rig.clock,
        folder="\\\\anna@example.com\\Calendar\\Team",
    )
    rig.outlook.add_calendar("Team")
    token = rig.calendar.list_all().cursor
    assert other.list_changes(token).complete


def test_an_item_created_here_and_deleted_before_the_next_table_is_reported(rig: Rig) -> None:
    first = rig.calendar.list_all()
    created = rig.calendar.create(meeting(), partner_key="S-1")
    rig.outlook.delete(created.id)
    assert created.id in rig.calendar.list_changes(first.cursor).deleted


# -- keys ---------------------------------------------------------------------------------


def test_the_partner_key_is_a_hidden_text_field_with_the_global_id(rig: Rig) -> None:
    created = rig.calendar.create(meeting(), partner_key="S-1")
    record = rig.outlook.record(created.id)
    key = record.user_props[mapping.PARTNER_FIELD]
    assert (key.type, key.value, key.add_to_folder) == (1, "S-1", False)
    assert record.user_props[mapping.PARTNER_GLOBAL_ID_FIELD].value == record.global_id
    assert rig.outlook.folder().folder_fields == set()


def test_a_copy_is_a_new_item_and_a_moved_item_keeps_its_claim(rig: Rig) -> None:
    created = rig.calendar.create(meeting(), partner_key="S-1")
    copy = rig.outlook.copy(created.id)
    copied = rig.calendar.get(copy)
    assert isinstance(copied, Item)
    assert copied.partner_key is None
    team = rig.outlook.add_calendar("Team")
    away = rig.outlook.move(created.id, team)
    assert rig.calendar.get(created.id) is None
    back = rig.outlook.move(away, rig.outlook.folder())
    returned = rig.calendar.get(back)
    assert isinstance(returned, Item)
    assert returned.partner_key == "S-1"
    assert [item.id for item in rig.calendar.find_by_partner_key("S-1")] == [back]


def test_an_accepted_meeting_keeps_its_partner_key_under_its_new_entry_id(rig: Rig) -> None:
    entry_id = rig.outlook.receive_meeting(
        "Styrelsemöte",
        dt.datetime(2026, 3, 9, 9, tzinfo=UTC),
        dt.datetime(2026, 3, 9, 10, tzinfo=UTC),
    )
    item = rig.calendar.get(entry_id)
    assert isinstance(item, Item)
    stamped = rig.calendar.update(
        entry_id, item.event, expected_version=item.version, partner_key="S-9"
    )
    new_id = rig.outlook.accept_meeting(stamped.id)
    accepted = rig.calendar.get(new_id)
    assert isinstance(accepted, Item)
    assert accepted.partner_key == "S-9"
    assert accepted.event.show_as is ShowAs.BUSY
    assert rig.outlook.sent == []


# -- unreadable, recurring, busy, closed ----------------------------------------------------


def test_an_unreadable_item_is_broken_not_gone(rig: Rig) -> None:
    good = rig.add("Läsbar")
    bad = rig.add("Trasig", user_properties={mapping.PARTNER_FIELD: "S-7"})
    rig.outlook.make_unreadable(bad, "Body")
    listed = rig.calendar.list_all()
    assert [item.id for item in listed.items] == [good]
    assert [(b.id, b.partner_key) for b in listed.broken] == [(bad, "S-7")]
    assert isinstance(rig.calendar.get(bad), BrokenItem)


def test_moved_or_deleted_while_reading_is_looked_up_again(rig: Rig) -> None:
    entry_id = rig.add()
    rig.outlook.fail_next(Fault.MOVED_OR_DELETED, member="Subject", entry_id=entry_id)
    assert [item.id for item in rig.calendar.list_all().items] == [entry_id]
    rig.outlook.fail_next(Fault.MOVED_OR_DELETED, times=2, member="Subject", entry_id=entry_id)
    with pytest.raises(ListingError):
        rig.calendar.list_all()


def test_get_answers_gone_only_when_the_folder_agrees(rig: Rig) -> None:
    entry_id = rig.add()
    rig.outlook.fail_next(Fault.MOVED_OR_DELETED, member="NameSpace.GetItemFromID")
    assert isinstance(rig.calendar.get(entry_id), BrokenItem)
    assert rig.calendar.get("00000000DEADBEEF") is None


def test_a_series_that_cannot_be_read_is_reported_and_never_written(rig: Rig) -> None:
    entry_id = rig.add("Veckomöte", user_properties={mapping.PARTNER_FIELD: "S-3"})
    rig.outlook.make_recurring(entry_id)
    # one occurrence edited to end before it starts: the series cannot be represented
    first = dt.datetime(2026, 3, 3, 9, tzinfo=STOCKHOLM)
    rig.outlook.change_occurrence(entry_id, first, End=first - dt.timedelta(hours=1))
    listed = rig.calendar.list_all()
    ((broken,),) = [listed.broken]
    assert (broken.id, broken.partner_key) == (entry_id, "S-3")
    assert broken.reason.startswith("series cannot be read")
    before = rig.outlook.record(entry_id).copy()
    with pytest.raises(ItemRejectedError):
        rig.calendar.update(entry_id, meeting(), expected_version="any")
    with pytest.raises(ItemRejectedError):
        rig.calendar.delete(entry_id, expected_version="any")
    assert rig.outlook.record(entry_id) == before


def test_busy_outlook_is_retried_with_growing_pauses(rig: Rig) -> None:
    rig.outlook.fail_next(Fault.CALL_REJECTED, times=3, member="Save")
    created = rig.calendar.create(meeting(), partner_key="S-1")
    assert rig.sleeps == [0.1, 0.2, 0.4]
    assert len(rig.calendar.list_all().items) == 1
    assert created.id
    rig.outlook.fail_next(Fault.RETRY_LATER, times=RetryPolicy().attempts, member="Save")
    with pytest.raises(BackendUnavailableError, match="busy"):
        rig.calendar.create(meeting("Till"), partner_key="S-2")


def test_a_closed_outlook_is_attached_again_and_a_missing_one_is_reported(rig: Rig) -> None:
    rig.add()
    rig.calendar.list_all()
    rig.outlook.quit()
    assert len(rig.calendar.list_all().items) == 1  # Dispatch started it again
    rig.outlook.quit()
    rig.outlook.can_start = False
    with pytest.raises(BackendUnavailableError, match="not running"):
        rig.calendar.list_all()
    rig.outlook.can_start = True
    rig.outlook.fail_next(Fault.NETWORK, member="Folder.GetTable")
    with pytest.raises(BackendUnavailableError, match="Exchange"):
        rig.calendar.list_all()


def test_outlook_closing_in_the_middle_of_a_write_fails_that_write_only(rig: Rig) -> None:
    rig.outlook.quit_after(4)
    with pytest.raises(BackendUnavailableError):
        rig.calendar.create(meeting(), partner_key="S-1")
    created = rig.calendar.create(meeting("Nästa"), partner_key="S-2")
    assert rig.calendar.get(created.id) == created


def test_writing_a_meeting_never_sends_anything(rig: Rig) -> None:
    entry_id = rig.outlook.receive_meeting(
        "Styrelsemöte",
        dt.datetime(2026, 3, 9, 9, tzinfo=UTC),
        dt.datetime(2026, 3, 9, 10, tzinfo=UTC),
    )
    item = rig.calendar.get(entry_id)
    assert isinstance(item, Item)
    rig.calendar.update(
        entry_id,
        attrs.evolve(item.event, location="Rum 4"),
        expected_version=item.version,
        partner_key="S-1",
    )
    assert rig.outlook.sent == []
    assert "Send" not in rig.outlook.calls


# -- optional capabilities -----------------------------------------------------------------


def test_open_in_outlook_displays_the_item(rig: Rig) -> None:
    entry_id = rig.add()
    assert rig.calendar.open_item(entry_id) is None
    assert rig.outlook.displayed == [entry_id]
    with pytest.raises(ItemNotFoundError):
        rig.calendar.open_item("00000000DEADBEEF")


def test_events_and_the_periodic_check_hint_at_changes(rig: Rig) -> None:
    hints: list[Sequence[str]] = []
    subscription = rig.calendar.subscribe(hints.append)
    gc.collect()  # the subscription keeps its Items object alive
    entry_id = rig.add("Nytt")
    rig.outlook.delete(entry_id)
    assert hints == [[entry_id], []]
    assert subscription.check() is False
    start = dt.datetime(2026, 3, 9, 9, tzinfo=UTC)
    ids = rig.outlook.bulk_add(
        [(f"b{i}", start, start + dt.timedelta(hours=1)) for i in range(BULK_THRESHOLD)]
    )
    assert len(hints) == 2  # no ItemAdd for a bulk import
    assert subscription.check() is True
    assert sorted(hints[-1]) == sorted(ids)
    subscription.close()
    subscription.close()
    rig.add("Efter stängning")
    assert len(hints) == 3


def test_importing_outlook_sync_never_needs_pywin32() -> None:
    assert "win32com" not in sys.modules
    assert "pythoncom" not in sys.modules
    from outlook_sync.adapters.outlook_com import dispatch

    if sys.platform != "win32":
        with pytest.raises(BackendUnavailableError, match="Windows"):
            dispatch.outlook_application()
        with pytest.raises(BackendUnavailableError):
            OutlookComCalendar.connect(calendar=None)
