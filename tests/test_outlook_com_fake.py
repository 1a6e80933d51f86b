"""The fake Outlook object model behaves as Microsoft documents the real one.

These tests pin the quirks the COM adapter relies on (or defends against), so that a change to
the fake that makes it kinder than Outlook fails here first.
"""

from __future__ import annotations

import datetime as dt
import gc
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from outlook_sync.testing.outlook_com import (
    BULK_THRESHOLD,
    ComError,
    FakeOutlook,
    Fault,
    ManualClock,
    with_events,
)
from outlook_sync.testing.outlook_com._errors import (
    CO_E_CLASSSTRING,
    DISP_E_EXCEPTION,
    E_ACCESSDENIED,
    MAPI_E_NOT_FOUND,
    MAPI_E_OBJECT_DELETED,
    MK_E_UNAVAILABLE,
    RPC_E_CALL_REJECTED,
    RPC_E_DISCONNECTED,
    RPC_S_SERVER_UNAVAILABLE,
)

STOCKHOLM = ZoneInfo("Europe/Stockholm")
UTC = dt.UTC


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(dt.datetime(2026, 3, 2, 9, 0, tzinfo=UTC))


@pytest.fixture
def outlook(clock: ManualClock) -> FakeOutlook:
    return FakeOutlook(clock=clock)


def calendar(outlook: FakeOutlook) -> Any:
    return outlook.dispatch().GetNamespace("MAPI").GetDefaultFolder(9)


def scode(error: ComError) -> int:
    assert error.hresult == DISP_E_EXCEPTION
    assert error.excepinfo is not None
    return error.excepinfo[5]


def test_a_saved_appointment_gets_an_entry_id_and_is_found_again(outlook: FakeOutlook) -> None:
    folder = calendar(outlook)
    item = folder.Items.Add(1)
    assert item.EntryID == ""
    item.Subject = "Lunch"
    item.Start = dt.datetime(2026, 3, 3, 12, 0)
    item.End = dt.datetime(2026, 3, 3, 13, 0)
    item.Save()
    assert item.EntryID
    again = outlook.dispatch().GetNamespace("MAPI").GetItemFromID(item.EntryID)
    assert again.Subject == "Lunch"
    assert folder.Items.Count == 1


def test_unsaved_edits_are_invisible_through_another_object(outlook: FakeOutlook) -> None:
    entry_id = outlook.add_appointment(
        "Plan",
        dt.datetime(2026, 3, 3, 9, tzinfo=STOCKHOLM),
        dt.datetime(2026, 3, 3, 10, tzinfo=STOCKHOLM),
    )
    ns = outlook.dispatch().GetNamespace("MAPI")
    first = ns.GetItemFromID(entry_id)
    first.Subject = "Changed"
    assert ns.GetItemFromID(entry_id).Subject == "Plan"
    first.Save()
    assert ns.GetItemFromID(entry_id).Subject == "Changed"


def test_start_is_local_wall_clock_and_start_utc_the_instant(outlook: FakeOutlook) -> None:
    # Summer time in Stockholm: 09:00 local is 07:00 UTC.
    entry_id = outlook.add_appointment(
        "Standup",
        dt.datetime(2026, 6, 1, 9, 0, tzinfo=STOCKHOLM),
        dt.datetime(2026, 6, 1, 9, 15, tzinfo=STOCKHOLM),
    )
    item = outlook.dispatch().GetNamespace("MAPI").GetItemFromID(entry_id)
    assert item.Start == dt.datetime(2026, 6, 1, 9, 0)
    assert item.StartUTC == dt.datetime(2026, 6, 1, 7, 0)
    assert item.Start.tzinfo is None
    assert item.StartTimeZone.ID == "W. Europe Standard Time"


def test_changing_start_time_zone_keeps_the_wall_clock_in_that_zone(outlook: FakeOutlook) -> None:
    """Your own appointment: the wall clock stays, the appointment moves (StartTimeZone)."""
    app = outlook.dispatch()
    item = calendar(outlook).Items.Add(1)
    item.EndInEndTimeZone = dt.datetime(2026, 6, 1, 23, 0)
    item.StartInStartTimeZone = dt.datetime(2026, 6, 1, 13, 0)
    item.StartTimeZone = app.TimeZones.Item("Eastern Standard Time")
    assert item.StartInStartTimeZone == dt.datetime(2026, 6, 1, 13, 0)
    assert item.StartUTC == dt.datetime(2026, 6, 1, 17, 0)
    with pytest.raises(ComError):
        app.TimeZones.Item("Mars Standard Time")


def test_aware_datetimes_are_refused_like_a_type_mismatch(outlook: FakeOutlook) -> None:
    item = calendar(outlook).Items.Add(1)
    with pytest.raises(ComError):
        item.Start = dt.datetime(2026, 6, 1, 13, 0, tzinfo=UTC)


# -- Restrict: locale date format and minute precision ----------------------------------------


def _modified_at(outlook: FakeOutlook, clock: ManualClock, when: dt.datetime) -> str:
    clock.now = when
    return outlook.add_appointment(
        "x", dt.datetime(2026, 3, 9, 9, tzinfo=UTC), dt.datetime(2026, 3, 9, 10, tzinfo=UTC)
    )


def restricted_ids(outlook: FakeOutlook, text: str) -> set[str]:
    items = calendar(outlook).Items.Restrict(text)
    return {item.EntryID for item in items}


def test_restrict_compares_last_modification_time_to_the_minute(
    outlook: FakeOutlook, clock: ManualClock
) -> None:
    # 10:15:40 local (09:15:40 UTC in winter).
    entry_id = _modified_at(outlook, clock, dt.datetime(2026, 3, 2, 9, 15, 40, tzinfo=UTC))
    assert restricted_ids(outlook, "[LastModificationTime] >= '2026-03-02 10:15'") == {entry_id}
    assert restricted_ids(outlook, "[LastModificationTime] <= '2026-03-02 10:15'") == {entry_id}
    assert restricted_ids(outlook, "[LastModificationTime] > '2026-03-02 10:15'") == set()
    assert restricted_ids(outlook, "[LastModificationTime] > '2026-03-02 10:14'") == {entry_id}


def test_a_filter_date_in_another_format_than_the_locale_silently_matches_nothing(
    outlook: FakeOutlook, clock: ManualClock
) -> None:
    _modified_at(outlook, clock, dt.datetime(2026, 3, 2, 9, 15, tzinfo=UTC))
    assert restricted_ids(outlook, "[LastModificationTime] >= '3/1/2026 10:00 AM'") == set()
    assert restricted_ids(outlook, "[LastModificationTime] >= '01.03.2026 10:00'") == set()


def test_a_filter_date_with_seconds_does_not_work(outlook: FakeOutlook, clock: ManualClock) -> None:
    _modified_at(outlook, clock, dt.datetime(2026, 3, 2, 9, 15, tzinfo=UTC))
    assert restricted_ids(outlook, "[LastModificationTime] >= '2026-03-01 10:00:00'") == set()


def test_an_american_locale_reads_day_and_month_its_own_way(clock: ManualClock) -> None:
    outlook = FakeOutlook(clock=clock, short_date="M/d/yyyy", short_time="h:mm tt")
    entry_id = _modified_at(outlook, clock, dt.datetime(2026, 3, 4, 12, 0, tzinfo=UTC))
    # 3/4/2026 is 4 March to this locale; 4/3/2026 (meant as 4 March) is 3 April.
    assert restricted_ids(outlook, "[LastModificationTime] >= '3/4/2026 1:00 PM'") == {entry_id}
    assert restricted_ids(outlook, "[LastModificationTime] >= '4/3/2026 1:00 PM'") == set()
    assert restricted_ids(outlook, "[LastModificationTime] >= '2026-03-04 13:00'") == set()


def test_restrict_on_a_custom_field_needs_the_field_defined_in_the_folder(
    outlook: FakeOutlook,
) -> None:
    folder = calendar(outlook)
    item = folder.Items.Add(1)
    item.UserProperties.Add("SaljstodId", 1, False).Value = "A-1"
    item.Save()
    with pytest.raises(ComError):
        folder.Items.Restrict("[SaljstodId] = 'A-1'")
    shown = folder.Items.Add(1)
    shown.UserProperties.Add("Shown", 1, True).Value = "yes"
    shown.Save()
    assert [i.EntryID for i in folder.Items.Restrict("[Shown] = 'YES'")] == [shown.EntryID]


def test_restrict_combines_conditions_and_rejects_nonsense(outlook: FakeOutlook) -> None:
    a = outlook.add_appointment(
        "Alpha",
        dt.datetime(2026, 3, 9, 9, tzinfo=UTC),
        dt.datetime(2026, 3, 9, 10, tzinfo=UTC),
        BusyStatus=0,
    )
    outlook.add_appointment(
        "Beta", dt.datetime(2026, 3, 9, 9, tzinfo=UTC), dt.datetime(2026, 3, 9, 10, tzinfo=UTC)
    )
    assert restricted_ids(outlook, "[Subject] = 'alpha' AND NOT ([BusyStatus] <> 0)") == {a}
    assert len(restricted_ids(outlook, "[Subject] = 'Alpha' OR [Subject] = \"Beta\"")) == 2
    for bad in ("[Subject] = ", "[Nope] = 'x'", "Subject = 'x'", '@SQL="urn:x" = 1'):
        with pytest.raises(ComError):
            calendar(outlook).Items.Restrict(bad)


def test_sort_find_and_walking_the_collection(outlook: FakeOutlook) -> None:
    for hour, name in ((11, "late"), (9, "early"), (10, "middle")):
        outlook.add_appointment(
            name,
            dt.datetime(2026, 3, 9, hour, tzinfo=UTC),
            dt.datetime(2026, 3, 9, hour + 1, tzinfo=UTC),
        )
    items = calendar(outlook).Items
    items.Sort("[Start]")
    names = []
    item = items.GetFirst()
    while item is not None:
        names.append(item.Subject)
        item = items.GetNext()
    assert names == ["early", "middle", "late"]
    assert items.Item(3).Subject == "late"
    assert items.Find("[Subject] = 'middle'").Subject == "middle"
    assert items.FindNext() is None


def test_count_is_undefined_when_recurrences_are_included(outlook: FakeOutlook) -> None:
    items = calendar(outlook).Items
    items.Sort("[Start]")
    items.IncludeRecurrences = True
    assert items.Count != 0  # documented: undefined; never trust it in this mode


def test_the_table_lists_ids_and_times_without_opening_items(outlook: FakeOutlook) -> None:
    entry_id = outlook.add_appointment(
        "T", dt.datetime(2026, 3, 9, 9, tzinfo=UTC), dt.datetime(2026, 3, 9, 10, tzinfo=UTC)
    )
    table = calendar(outlook).GetTable()
    rows = []
    while not table.EndOfTable:
        row = table.GetNextRow()
        rows.append((row.Item("EntryID"), row("LastModificationTime"), row.Item(8)))
    assert rows == [(entry_id, dt.datetime(2026, 3, 2, 10, 0), False)]
    assert table.GetNextRow() is None
    assert outlook.property_reads["Body"] == 0
    assert calendar(outlook).GetTable("[Subject] = 'nope'").GetRowCount() == 0


def test_set_columns_refuses_entry_id_and_empties_what_is_not_cached(
    outlook: FakeOutlook,
) -> None:
    outlook.add_appointment(
        "C", dt.datetime(2026, 3, 9, 9, tzinfo=UTC), dt.datetime(2026, 3, 9, 10, tzinfo=UTC)
    )
    items = calendar(outlook).Items
    with pytest.raises(ComError):
        items.SetColumns("EntryID, Subject")
    items.SetColumns("Subject, Start")
    item = items.GetFirst()
    assert item.Subject == "C"
    assert item.Location is None
    with pytest.raises(ComError):
        item.Subject = "x"


# -- identity: EntryID and GlobalAppointmentID -------------------------------------------------


def test_move_changes_the_entry_id_and_keeps_the_global_id(outlook: FakeOutlook) -> None:
    entry_id = outlook.add_appointment(
        "M", dt.datetime(2026, 3, 9, 9, tzinfo=UTC), dt.datetime(2026, 3, 9, 10, tzinfo=UTC)
    )
    ns = outlook.dispatch().GetNamespace("MAPI")
    item = ns.GetItemFromID(entry_id)
    global_id = item.GlobalAppointmentID
    other = ns.GetFolderFromID(outlook.add_calendar("Team").entry_id)
    moved = item.Move(other)
    assert moved.EntryID != entry_id
    assert moved.GlobalAppointmentID == global_id
    with pytest.raises(ComError) as error:
        ns.GetItemFromID(entry_id)
    assert scode(error.value) == MAPI_E_NOT_FOUND
    with pytest.raises(ComError) as stale:
        _ = item.Subject
    assert scode(stale.value) == MAPI_E_OBJECT_DELETED


def test_copy_carries_custom_fields_but_gets_new_ids(outlook: FakeOutlook) -> None:
    entry_id = outlook.add_appointment(
        "C",
        dt.datetime(2026, 3, 9, 9, tzinfo=UTC),
        dt.datetime(2026, 3, 9, 10, tzinfo=UTC),
        user_properties={"SaljstodId": "A-7"},
    )
    ns = outlook.dispatch().GetNamespace("MAPI")
    original = ns.GetItemFromID(entry_id)
    copy = original.Copy()
    assert copy.EntryID != entry_id
    assert copy.GlobalAppointmentID != original.GlobalAppointmentID
    assert copy.UserProperties.Find("SaljstodId").Value == "A-7"
    assert calendar(outlook).Items.Count == 2


def test_accepting_a_meeting_changes_its_entry_id(outlook: FakeOutlook) -> None:
    entry_id = outlook.receive_meeting(
        "Board", dt.datetime(2026, 3, 9, 9, tzinfo=UTC), dt.datetime(2026, 3, 9, 10, tzinfo=UTC)
    )
    global_id = outlook.record(entry_id).global_id
    new_id = outlook.accept_meeting(entry_id, tentative=True)
    assert new_id != entry_id
    assert outlook.record(new_id).global_id == global_id
    assert outlook.record(new_id).fields["BusyStatus"] == 1


def test_delete_moves_to_deleted_items_and_old_objects_go_stale(outlook: FakeOutlook) -> None:
    entry_id = outlook.add_appointment(
        "D", dt.datetime(2026, 3, 9, 9, tzinfo=UTC), dt.datetime(2026, 3, 9, 10, tzinfo=UTC)
    )
    ns = outlook.dispatch().GetNamespace("MAPI")
    item = ns.GetItemFromID(entry_id)
    item.Delete()
    assert calendar(outlook).Items.Count == 0
    assert ns.GetDefaultFolder(3).Items.Count == 1
    with pytest.raises(ComError):
        item.Save()


# -- fields -------------------------------------------------------------------------------------


def test_user_properties_validate_names_and_cut_dates_to_the_minute(outlook: FakeOutlook) -> None:
    item = calendar(outlook).Items.Add(1)
    props = item.UserProperties
    with pytest.raises(ComError):
        props.Add("Saljstod_Id", 1)
    stamp = props.Add("SyncedAt", 5, False)
    stamp.Value = dt.datetime(2026, 3, 2, 10, 15, 42)
    assert stamp.Value == dt.datetime(2026, 3, 2, 10, 15)
    props.Add("Key", 1, False).Value = "K"
    with pytest.raises(ComError):
        props.Add("Key", 1, False)
    assert props.Find("Missing") is None
    assert props.Count == 2
    assert props.Item("Key").Value == "K"
    props.Remove(1)
    assert props.Count == 1


def test_body_comes_back_with_windows_line_endings_and_enums_are_checked(
    outlook: FakeOutlook,
) -> None:
    item = calendar(outlook).Items.Add(1)
    item.Body = "one\ntwo"
    assert item.Body == "one\r\ntwo"
    with pytest.raises(ComError):
        item.BusyStatus = 5
    with pytest.raises(ComError):
        item.EntryID = "x"
    with pytest.raises(AttributeError):
        _ = item.NoSuchProperty


def test_send_and_display_are_recorded(outlook: FakeOutlook) -> None:
    item = calendar(outlook).Items.Add(1)
    item.Subject = "Invite"
    item.Recipients.Add("bob@example.com")
    item.Save()
    item.Display()
    assert outlook.displayed == [item.EntryID]
    assert outlook.sent == []
    item.Send()
    assert outlook.sent == [item.EntryID]


# -- events ------------------------------------------------------------------------------------


class Sink:
    log: list[str]

    def OnItemAdd(self, item: Any) -> None:
        self.log.append("add " + item.Subject)

    def OnItemChange(self, item: Any) -> None:
        self.log.append("change " + item.Subject)

    def OnItemRemove(self) -> None:
        self.log.append("remove")


def subscribe(outlook: FakeOutlook) -> tuple[Any, Sink]:
    items = calendar(outlook).Items
    sink = with_events(items, Sink)
    sink.log = []
    return items, sink


def test_events_fire_for_add_change_and_remove_without_naming_the_removed(
    outlook: FakeOutlook,
) -> None:
    items, sink = subscribe(outlook)
    entry_id = outlook.add_appointment(
        "E", dt.datetime(2026, 3, 9, 9, tzinfo=UTC), dt.datetime(2026, 3, 9, 10, tzinfo=UTC)
    )
    outlook.edit(entry_id, Subject="E2")
    outlook.delete(entry_id)
    assert sink.log == ["add E", "change E2", "remove"]
    sink.close()  # type: ignore[attr-defined]
    outlook.add_appointment(
        "F", dt.datetime(2026, 3, 9, 9, tzinfo=UTC), dt.datetime(2026, 3, 9, 10, tzinfo=UTC)
    )
    assert sink.log == ["add E", "change E2", "remove"]
    del items


def test_bulk_changes_fire_no_events(outlook: FakeOutlook) -> None:
    items, sink = subscribe(outlook)
    start = dt.datetime(2026, 3, 9, 9, tzinfo=UTC)
    ids = outlook.bulk_add(
        [(f"b{i}", start, start + dt.timedelta(hours=1)) for i in range(BULK_THRESHOLD)]
    )
    outlook.bulk_delete(ids)
    assert sink.log == []
    assert items.Count == 0


def test_an_items_object_that_is_not_kept_alive_stops_receiving_events(
    outlook: FakeOutlook,
) -> None:
    items, sink = subscribe(outlook)
    del items
    gc.collect()
    outlook.add_appointment(
        "lost", dt.datetime(2026, 3, 9, 9, tzinfo=UTC), dt.datetime(2026, 3, 9, 10, tzinfo=UTC)
    )
    assert sink.log == []


# -- faults ------------------------------------------------------------------------------------


def test_injected_busy_faults_hit_the_next_matching_calls(outlook: FakeOutlook) -> None:
    folder = calendar(outlook)
    outlook.fail_next(Fault.CALL_REJECTED, times=2, member="Items.Count")
    for _ in range(2):
        with pytest.raises(ComError) as error:
            _ = folder.Items.Count
        assert error.value.hresult == RPC_E_CALL_REJECTED
    assert folder.Items.Count == 0


def test_unreadable_items_fail_on_the_damaged_property_only(outlook: FakeOutlook) -> None:
    entry_id = outlook.add_appointment(
        "U", dt.datetime(2026, 3, 9, 9, tzinfo=UTC), dt.datetime(2026, 3, 9, 10, tzinfo=UTC)
    )
    outlook.make_unreadable(entry_id, "Body")
    item = outlook.dispatch().GetNamespace("MAPI").GetItemFromID(entry_id)
    assert item.Subject == "U"
    with pytest.raises(ComError):
        _ = item.Body
    outlook.make_readable(entry_id)
    assert item.Body == ""


def test_outlook_closing_kills_every_object_even_after_a_restart(outlook: FakeOutlook) -> None:
    folder = calendar(outlook)
    outlook.quit_after(2)
    _ = folder.Items
    _ = folder.Items
    with pytest.raises(ComError) as closed:
        _ = folder.Items
    assert closed.value.hresult == RPC_S_SERVER_UNAVAILABLE
    with pytest.raises(ComError) as not_running:
        outlook.get_active_object()
    assert not_running.value.hresult == MK_E_UNAVAILABLE
    fresh = calendar(outlook)  # Dispatch starts Outlook again
    assert fresh.Items.Count == 0
    with pytest.raises(ComError) as dead:
        _ = folder.Items
    assert dead.value.hresult == RPC_E_DISCONNECTED
    outlook.quit_after(1)
    outlook.quit_after(None)  # cancelled
    assert fresh.Items.Count == 0
    outlook.quit()
    outlook.can_start = False
    with pytest.raises(ComError):
        outlook.dispatch()


def test_a_change_arriving_late_from_the_server_keeps_the_servers_time(
    outlook: FakeOutlook, clock: ManualClock
) -> None:
    entry_id = outlook.add_appointment(
        "S", dt.datetime(2026, 3, 9, 9, tzinfo=UTC), dt.datetime(2026, 3, 9, 10, tzinfo=UTC)
    )
    clock.advance(minutes=30)
    outlook.edit_on_server(entry_id, modified_at=clock() - dt.timedelta(minutes=20), Subject="T")
    item = outlook.dispatch().GetNamespace("MAPI").GetItemFromID(entry_id)
    assert item.Subject == "T"
    assert item.LastModificationTime == dt.datetime(2026, 3, 2, 10, 10)


# -- profiles, permissions, and machines without classic Outlook ---------------------------------


def test_a_read_only_folder_refuses_every_write_and_reads_on(outlook: FakeOutlook) -> None:
    start = dt.datetime(2026, 3, 9, 9, tzinfo=STOCKHOLM)
    entry_id = outlook.add_appointment("Delad", start, start + dt.timedelta(hours=1))
    outlook.make_read_only(outlook.folder())
    folder = calendar(outlook)
    item = folder.Items.Item(1)
    assert item.Subject == "Delad"
    item.Subject = "Ändrad"  # the object takes the edit; saving it is refused
    deleted_items = outlook.dispatch().GetNamespace("MAPI").GetDefaultFolder(3)
    new = folder.Items.Add(1)
    for write in (item.Save, item.Delete, item.Copy, lambda: item.Move(deleted_items), new.Save):
        with pytest.raises(ComError) as caught:
            write()
        assert scode(caught.value) == E_ACCESSDENIED
        assert "appropriate permission" in str(caught.value.excepinfo)
    assert outlook.record(entry_id).fields["Subject"] == "Delad"
    assert list(outlook.folder().records) == [entry_id]


def test_the_default_calendar_follows_the_default_store(outlook: FakeOutlook) -> None:
    first = calendar(outlook).EntryID
    other = outlook.add_store("bo@example.com")
    assert calendar(outlook).EntryID == first  # another open store is not the default
    outlook.use_default_store(other)
    assert calendar(outlook).EntryID == other.calendar.entry_id
    assert calendar(outlook).StoreID == other.store_id
    before = other.calendar.entry_id
    fresh = outlook.replace_default_calendar()
    assert calendar(outlook).EntryID == fresh.entry_id != before


def test_without_classic_outlook_there_is_no_outlook_application() -> None:
    outlook = FakeOutlook(classic=False)
    for attach in (outlook.dispatch, outlook.get_active_object):
        with pytest.raises(ComError) as caught:
            attach()
        assert caught.value.hresult == CO_E_CLASSSTRING
    assert outlook.running is False
