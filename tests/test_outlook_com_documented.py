"""The fake object model follows Microsoft's documentation, and the adapter copes with it.

Four places where an earlier fake was kinder than Outlook (issue 16):

- ``Items.Restrict`` refuses the properties its page lists (Body, Categories, Class,
  EntryID ...) — https://learn.microsoft.com/en-us/office/vba/api/outlook.items.restrict
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
