"""The fake object model follows Microsoft's documentation, and the adapter copes with it.

Places where an earlier fake was kinder than Outlook (issue 16, and an audit after it):

- ``Items.Restrict`` refuses the properties its page lists (Body, Categories, Class,
  EntryID ...) — https://learn.microsoft.com/en-us/office/vba/api/outlook.items.restrict
- ``Items.Find`` refuses the same ones — its page carries the same table,
  https://learn.microsoft.com/en-us/office/vba/api/outlook.items.find
- ``RecurrencePattern.GetOccurrence`` finds an appointment of the series where it starts now:
  an occurrence moved to another time is no longer at its original start —
  https://learn.microsoft.com/en-us/office/vba/api/outlook.recurrencepattern.getoccurrence
- an unanswered meeting request is ``ResponseStatus`` 5 (olResponseNotResponded); 0 is a plain
  appointment — https://learn.microsoft.com/en-us/office/vba/api/outlook.olresponsestatus
- a copied meeting is unanswered again ([MS-OXOCAL] 3.1.4.3)
- changing ``StartTimeZone`` on a meeting someone else organised keeps the instant —
  https://learn.microsoft.com/en-us/office/vba/api/outlook.appointmentitem.starttimezone
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest

from outlook_sync import Event
from outlook_sync.adapters.outlook_com import SWEDISH, OutlookComCalendar
from outlook_sync.model import Item
from outlook_sync.testing.outlook_com import ComError, FakeOutlook, ManualClock, with_events
from outlook_sync.testing.outlook_com._filter import NOT_FILTERABLE

UTC = dt.UTC
STOCKHOLM = ZoneInfo("Europe/Stockholm")
NEW_YORK = ZoneInfo("America/New_York")
START = dt.datetime(2026, 3, 9, 9, tzinfo=STOCKHOLM)


@pytest.fixture
def fake() -> FakeOutlook:
    return FakeOutlook(clock=ManualClock(dt.datetime(2026, 3, 2, 9, 0, tzinfo=UTC)))


def adapter(fake: FakeOutlook) -> OutlookComCalendar:
    return OutlookComCalendar(
        fake.dispatch, locale=SWEDISH, sleep=lambda _s: None, with_events=with_events
    )


def items(fake: FakeOutlook) -> Any:
    return fake.dispatch().GetNamespace("MAPI").GetDefaultFolder(9).Items


# -- Items.Restrict ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "criteria",
    [
        "[Body] = 'Agenda'",
        "[Categories] = 'Kund'",
        "[EntryID] = '00000000'",
        "[Class] = 26",
        "[RecurrenceState] = 1",
        "[Subject] = 'Kundmöte' AND [Saved] = True",
    ],
)
def test_restrict_refuses_the_properties_its_page_lists(fake: FakeOutlook, criteria: str) -> None:
    fake.add_appointment("Kundmöte", START, START + dt.timedelta(hours=1), Body="Agenda")
    with pytest.raises(ComError) as caught:
        items(fake).Restrict(criteria)
    assert "cannot be used" in str(caught.value.excepinfo)


def test_restrict_still_filters_what_it_may(fake: FakeOutlook) -> None:
    fake.add_appointment("Kundmöte", START, START + dt.timedelta(hours=1))
    restricted = items(fake).Restrict("[Subject] = 'Kundmöte' AND [IsRecurring] = False")
    assert restricted.Count == 1


# -- Items.Find ---------------------------------------------------------------------------------

REFUSED = [
    "[Body] = 'Agenda'",
    "[Categories] = 'Kund'",
    "[EntryID] = '00000000'",
    "[Class] = 26",
    "[RecurrenceState] = 1",
    "[Subject] = 'Kundmöte' AND [Saved] = True",
    "NOT ([ResponseState] = 0)",
]


@pytest.mark.parametrize("criteria", REFUSED)
def test_find_refuses_the_properties_its_page_lists(fake: FakeOutlook, criteria: str) -> None:
    fake.add_appointment("Kundmöte", START, START + dt.timedelta(hours=1), Body="Agenda")
    with pytest.raises(ComError) as caught:
        items(fake).Find(criteria)
    assert "cannot be used" in str(caught.value.excepinfo)


@pytest.mark.parametrize("name", sorted(NOT_FILTERABLE))
def test_find_and_restrict_refuse_the_same_whole_table(fake: FakeOutlook, name: str) -> None:
    """The two pages list the same properties; each is refused by both methods."""
    fake.add_appointment("Kundmöte", START, START + dt.timedelta(hours=1))
    for method in (items(fake).Find, items(fake).Restrict):
        with pytest.raises(ComError) as caught:
            method(f"[{name}] = 'x'")
        assert "cannot be used" in str(caught.value.excepinfo), method


def test_a_refused_find_keeps_the_previous_search(fake: FakeOutlook) -> None:
    for subject in ("Kundmöte", "Lunch", "Kundmöte"):
        fake.add_appointment(subject, START, START + dt.timedelta(hours=1))
    collection = items(fake)
    first = collection.Find("[Subject] = 'Kundmöte'")
    assert first is not None
    with pytest.raises(ComError):
        collection.Find("[Categories] = 'Kund'")
    found = collection.FindNext()
    assert found is not None
    assert found.Subject == "Kundmöte"


def test_find_still_finds_by_what_it_may(fake: FakeOutlook) -> None:
    fake.add_appointment("Lunch", START, START + dt.timedelta(hours=1))
    wanted = fake.add_appointment("Kundmöte", START, START + dt.timedelta(hours=1))
    collection = items(fake)
    found = collection.Find("[Subject] = 'Kundmöte' AND [IsRecurring] = False")
    assert found is not None
    assert found.EntryID == wanted
    assert collection.FindNext() is None


def test_the_adapters_change_listing_uses_only_filterable_properties(fake: FakeOutlook) -> None:
    outlook = adapter(fake)
    fake.add_appointment("Kundmöte", START, START + dt.timedelta(hours=1))
    first = outlook.list_all()
    entry_id = fake.add_appointment("Nytt", START, START + dt.timedelta(hours=1))
    changes = outlook.list_changes(first.cursor)
    assert [item.id for item in changes.items] == [entry_id]
    assert outlook.list_series() == []
    assert fake.calls["Items.Restrict"] >= 1


# -- ResponseStatus ----------------------------------------------------------------------------


def test_response_status_follows_ol_response_status(fake: FakeOutlook) -> None:
    plain = fake.add_appointment("Eget", START, START + dt.timedelta(hours=1))
    request = fake.receive_meeting("Styrelsemöte", START, START + dt.timedelta(hours=1))
    assert fake.record(plain).fields["ResponseStatus"] == 0  # olResponseNone
    assert fake.record(request).fields["ResponseStatus"] == 5  # olResponseNotResponded
    accepted = fake.accept_meeting(request)
    assert fake.record(accepted).fields["ResponseStatus"] == 3  # olResponseAccepted


def test_a_copied_meeting_is_unanswered_again_and_a_new_item(fake: FakeOutlook) -> None:
    outlook = adapter(fake)
    accepted = fake.accept_meeting(
        fake.receive_meeting("Styrelsemöte", START, START + dt.timedelta(hours=1))
    )
    item = outlook.get(accepted)
    assert isinstance(item, Item)
    keyed = outlook.update(
        accepted, item.event, expected_version=item.version, partner_key="S-1"
    )
    copy = fake.copy(accepted)
    record = fake.record(copy)
    assert record.fields["ResponseStatus"] == 5
    assert record.fields["Subject"] == "Copy: Styrelsemöte"
    assert fake.record(accepted).fields["ResponseStatus"] == 3  # the original keeps its answer
    # the adapter: the copy claims no activity; the original keeps its claim
    found = outlook.get(copy)
    assert isinstance(found, Item)
    assert found.partner_key is None
    assert [i.id for i in outlook.find_by_partner_key("S-1")] == [keyed.id]


# -- StartTimeZone -------------------------------------------------------------------------------


def test_changing_the_zone_of_someone_elses_meeting_keeps_its_time(fake: FakeOutlook) -> None:
    app = fake.dispatch()
    request = fake.receive_meeting("Styrelsemöte", START, START + dt.timedelta(hours=1))
    item = app.GetNamespace("MAPI").GetItemFromID(request)
    item.StartTimeZone = app.TimeZones.Item("Eastern Standard Time")
    assert item.StartUTC == dt.datetime(2026, 3, 9, 8, 0)  # the instant stays
    assert item.StartInStartTimeZone == dt.datetime(2026, 3, 9, 4, 0)  # recalculated


def test_a_zone_change_that_would_end_before_the_start_keeps_the_instant(
    fake: FakeOutlook,
) -> None:
    app = fake.dispatch()
    own = fake.add_appointment("Eget", START, START + dt.timedelta(hours=1))
    item = app.GetNamespace("MAPI").GetItemFromID(own)
    item.StartTimeZone = app.TimeZones.Item("Pacific Standard Time")  # 09:00 PST > the end
    assert item.StartUTC == dt.datetime(2026, 3, 9, 8, 0)


def test_the_adapter_moves_someone_elses_meeting_to_the_time_and_zone_asked(
    fake: FakeOutlook,
) -> None:
    outlook = adapter(fake)
    request = fake.receive_meeting("Styrelsemöte", START, START + dt.timedelta(hours=1))
    item = outlook.get(request)
    assert isinstance(item, Item)
    start = dt.datetime(2026, 3, 10, 11, 30, tzinfo=NEW_YORK)
    wanted: Event = attrs.evolve(item.event, start=start, end=start + dt.timedelta(hours=2))
    written = outlook.update(request, wanted, expected_version=item.version, partner_key="S-1")
    assert written.event == wanted
    assert isinstance(written.event.start, dt.datetime)
    assert written.event.start.tzinfo == NEW_YORK
    record = fake.record(request)
    assert (record.start_utc, record.start_tz) == (start.astimezone(UTC), "Eastern Standard Time")
    assert fake.sent == []


# -- RecurrencePattern.GetOccurrence -------------------------------------------------------------


def daily(fake: FakeOutlook) -> str:
    """A daily 09:00 Stockholm series of five (9-13 March 2026), made in Outlook."""
    entry_id = fake.add_appointment("Stand-up", START, START + dt.timedelta(minutes=30))
    fake.make_recurring(entry_id, recurrence_type=0, day_of_week_mask=0, occurrences=5)
    return entry_id


def pattern_of(fake: FakeOutlook, entry_id: str) -> Any:
    """The pattern of a fresh object of the saved series (as the reference asks)."""
    item = fake.dispatch().GetNamespace("MAPI").GetItemFromID(entry_id)
    return item.GetRecurrencePattern()


def wall(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """A local (Windows zone, Stockholm) wall-clock time in March 2026, as COM passes it."""
    return dt.datetime(2026, 3, day, hour, minute)


def test_get_occurrence_does_not_find_a_moved_occurrence_at_its_original_start(
    fake: FakeOutlook,
) -> None:
    entry_id = daily(fake)
    moved = dt.datetime(2026, 3, 10, 14, tzinfo=STOCKHOLM)
    fake.change_occurrence(
        entry_id,
        dt.datetime(2026, 3, 10, 9, tzinfo=STOCKHOLM),
        Subject="Flyttat",
        Start=moved,
        End=moved + dt.timedelta(minutes=30),
    )
    pattern = pattern_of(fake, entry_id)
    with pytest.raises(ComError):
        pattern.GetOccurrence(wall(10, 9))  # nothing of the series starts there any more
    found = pattern.GetOccurrence(wall(10, 14))  # the appointment of that day, where it is
    assert (found.Subject, found.RecurrenceState, found.Start) == ("Flyttat", 3, wall(10, 14))
    # the untouched occurrences around it are where the pattern puts them
    assert pattern.GetOccurrence(wall(9, 9)).RecurrenceState == 2
    assert pattern.GetOccurrence(wall(11, 9)).RecurrenceState == 2


def test_get_occurrence_finds_an_exception_that_kept_its_time(fake: FakeOutlook) -> None:
    entry_id = daily(fake)
    fake.change_occurrence(entry_id, dt.datetime(2026, 3, 11, 9, tzinfo=STOCKHOLM), Location="B")
    pattern = pattern_of(fake, entry_id)
    found = pattern.GetOccurrence(wall(11, 9))
    assert (found.Location, found.RecurrenceState) == ("B", 3)


def test_get_occurrence_refuses_a_cancelled_occurrence_and_a_time_off_the_pattern(
    fake: FakeOutlook,
) -> None:
    entry_id = daily(fake)
    fake.cancel_occurrence(entry_id, dt.datetime(2026, 3, 12, 9, tzinfo=STOCKHOLM))
    pattern = pattern_of(fake, entry_id)
    for start in (wall(12, 9), wall(13, 10), wall(14, 9)):
        with pytest.raises(ComError):
            pattern.GetOccurrence(start)


def test_an_occurrence_moved_through_the_object_model_leaves_its_original_start(
    fake: FakeOutlook,
) -> None:
    """As in the page's example: an occurrence got with GetOccurrence, changed and saved, is an
    exception; moved to another time, it is no longer found at its original start."""
    entry_id = daily(fake)
    pattern = pattern_of(fake, entry_id)
    occurrence = pattern.GetOccurrence(wall(10, 9))
    occurrence.Start = wall(10, 9, 30)
    occurrence.Save()
    pattern = pattern_of(fake, entry_id)
    with pytest.raises(ComError):
        pattern.GetOccurrence(wall(10, 9))
    assert pattern.GetOccurrence(wall(10, 9, 30)).RecurrenceState == 3
    (exception,) = list(pattern.Exceptions)
    assert (exception.OriginalDate, exception.Deleted) == (wall(10, 9), False)
