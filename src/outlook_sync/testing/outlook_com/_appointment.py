"""The fake ``AppointmentItem`` (its ``UserProperties`` and ``Recipients``: ``_properties``).

Member names and semantics follow the Outlook object model reference; the quirks that
matter for a sync tool, each from Microsoft's documentation:

- ``Start`` / ``End`` / ``LastModificationTime`` are read and written as *local* wall-clock
  times of ``Application.TimeZones.CurrentTimeZone`` (naive values, as pywin32 hands out COM
  DATEs); ``StartUTC`` / ``EndUTC`` are the UTC equivalents; ``StartInStartTimeZone`` is the
  wall clock in ``StartTimeZone``. Changing ``StartTimeZone`` "may or may not cause
  Outlook to recalculate and update" ``StartInStartTimeZone``: on an appointment you
  organise it keeps ``StartInStartTimeZone`` and so moves the instant; on a meeting you did
  *not* organise (``MeetingStatus`` olMeetingReceived) Outlook recalculates
  ``StartInStartTimeZone`` and the instant stays; and when keeping the wall clock would put
  the start after the end, the instant stays too. ``EndTimeZone`` follows the same rules
  (the end may not come before the start).
  https://learn.microsoft.com/en-us/office/vba/api/outlook.appointmentitem.starttimezone
  https://learn.microsoft.com/en-us/office/vba/api/outlook.appointmentitem.endtimezone
  https://learn.microsoft.com/en-us/office/vba/api/outlook.appointmentitem.startutc
- ``ResponseStatus`` (read-only) is an OlResponseStatus: 0 olResponseNone for a plain
  appointment, 1 olResponseOrganized for a meeting you organise, 5 olResponseNotResponded
  for a meeting request not answered yet, 2/3/4 tentative/accepted/declined.
  https://learn.microsoft.com/en-us/office/vba/api/outlook.olresponsestatus
- Writing (``Save``, ``Delete``, ``Move``, ``Copy``) an item of a folder the user may only
  read raises MAPI_E_NO_ACCESS, "You don't have appropriate permission to perform this
  operation" (see ``_process``); reading it works.
- ``EntryID`` is empty until the item is saved and changes when the item moves to another
  folder or store ("Solutions should not depend on the EntryID property to be unique unless
  items will not be moved"); ``GlobalAppointmentID`` does not change then.
  https://learn.microsoft.com/en-us/office/vba/api/outlook.meetingitem.entryid
  https://learn.microsoft.com/en-us/previous-versions/office/developer/office-2007/bb207711(v=office.12)
- ``Copy`` makes a static copy that carries every property (custom ones too) *except* the
  Global Object ID, which is new; a copied *meeting* is unanswered again (``ResponseStatus``
  5, olResponseNotResponded) and its subject starts with "Copy:" ([MS-OXOCAL] 3.1.4.3
  "Copying a Calendar Object",
  https://learn.microsoft.com/en-us/openspecs/exchange_server_protocols/ms-oxocal/ ,
  https://msdn.microsoft.com/library/ee201844%28v=exchg.80%29.aspx).
- ``Categories`` is one string delimited by the Windows list separator (``sList``).
  https://learn.microsoft.com/en-us/office/vba/api/outlook.appointmentitem.categories
- ``BusyStatus`` takes OlBusyStatus values 0..4
  (https://learn.microsoft.com/en-us/office/vba/api/outlook.olbusystatus); ``MeetingStatus``
  OlMeetingStatus (https://learn.microsoft.com/en-us/office/vba/api/outlook.olmeetingstatus).
- ``UserProperties`` and ``Recipients``: see ``_properties``.
- ``Send`` would mail a meeting request or update; the fake records every call in
  ``FakeOutlook.sent`` so a test can prove nothing was sent. ``Save`` never sends.
- Series: ``GetRecurrencePattern`` / ``ClearRecurrencePattern`` set ``IsRecurring``;
  ``RecurrenceState`` tells masters, occurrences and exceptions apart; an occurrence object
  (``GetOccurrence``) saved becomes an exception of its series, deleted a cancelled
  occurrence. See ``_recurrence`` for the sources. A fresh pattern is weekly on the day of
  the item's Start, with no end (what Outlook's "Recurrence" dialog offers first).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from outlook_sync.testing.outlook_com._errors import (
    ComError,
    Fault,
    invalid_argument,
    moved_or_deleted,
)
from outlook_sync.testing.outlook_com._pattern import RecurrencePattern
from outlook_sync.testing.outlook_com._properties import Recipients, UserProperties
from outlook_sync.testing.outlook_com._recurrence import normalise
from outlook_sync.testing.outlook_com._session import Session, TimeZone
from outlook_sync.testing.outlook_com._store import (
    ExceptionData,
    FolderData,
    PatternData,
    Record,
)
from outlook_sync.timezones import zone

__all__ = ["AppointmentItem"]

UTC = dt.UTC
OL_APPOINTMENT = 26

_PLAIN_FIELDS = {
    "Subject": str,
    "Location": str,
    "Body": str,
    "Categories": str,
    "BusyStatus": int,
    "Sensitivity": int,
    "AllDayEvent": bool,
    "ReminderSet": bool,
    "ReminderMinutesBeforeStart": int,
    "MeetingStatus": int,
}
#: OlMeetingStatus of a meeting someone else organised: olMeetingReceived,
#: olMeetingReceivedAndCanceled (https://learn.microsoft.com/en-us/office/vba/api/outlook.olmeetingstatus).
_RECEIVED = (3, 7)
_READ_ONLY = {
    "EntryID",
    "GlobalAppointmentID",
    "LastModificationTime",
    "CreationTime",
    "IsRecurring",
    "RecurrenceState",
    "Class",
    "MessageClass",
    "UserProperties",
    "Recipients",
    "Parent",
    "Saved",
    "Duration",
    "ResponseStatus",
    "Organizer",
}
_WRITABLE = set(_PLAIN_FIELDS) | {
    "Start",
    "End",
    "StartUTC",
    "EndUTC",
    "StartInStartTimeZone",
    "EndInEndTimeZone",
    "StartTimeZone",
    "EndTimeZone",
}


def _naive(value: object, member: str) -> dt.datetime:
    if not isinstance(value, dt.datetime):
        raise invalid_argument(f"{member}: a date is required")
    if value.tzinfo is not None:
        raise invalid_argument(f"{member}: the fake takes naive COM dates, not aware ones")
    return value


def _wall(instant: dt.datetime, windows_zone: str) -> dt.datetime:
    return instant.astimezone(zone(windows_zone)).replace(tzinfo=None)


def _instant(wall: dt.datetime, windows_zone: str) -> dt.datetime:
    # fold=0: a repeated wall time is its first occurrence, a missing one moves forward.
    return wall.replace(tzinfo=zone(windows_zone)).astimezone(UTC)


class AppointmentItem:
    """A calendar item. Properties are Outlook's (PascalCase); unknown names raise."""

    _session: Session
    _folder: FolderData
    _state: Record

    def __init__(self, session: Session, folder: FolderData, record: Record, *, saved: bool):
        object.__setattr__(self, "_session", session)
        object.__setattr__(self, "_folder", folder)
        object.__setattr__(self, "_state", record.copy())
        object.__setattr__(self, "_is_saved", saved)
        object.__setattr__(self, "_dirty", False)
        object.__setattr__(self, "_columns", None)
        object.__setattr__(self, "_cleared", False)

    @classmethod
    def view(cls, session: Session, folder: FolderData, record: Record) -> AppointmentItem:
        """A read-only view sharing ``record`` (no copy): for filters and tables."""
        item = cls.__new__(cls)
        for name, value in (
            ("_session", session),
            ("_folder", folder),
            ("_state", record),
            ("_is_saved", True),
            ("_dirty", False),
            ("_columns", None),
            ("_cleared", False),
        ):
            object.__setattr__(item, name, value)
        return item

    # -- plumbing -------------------------------------------------------------------------
    def _sibling(self, record: Record) -> AppointmentItem:
        """A saved item object of ``record`` in this item's folder (an occurrence)."""
        return AppointmentItem(self._session, self._folder, record, saved=True)

    def _touch(self) -> None:
        object.__setattr__(self, "_dirty", True)

    def _live(self) -> Record | None:
        if not self._is_saved:
            return None
        record: Record | None = self._folder.records.get(self._state.entry_id)
        return record

    def _enter(self, member: str) -> None:
        self._session.tick(member, self._state.entry_id or None)
        if self._is_saved and self._live() is None:
            raise moved_or_deleted()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in _READ_ONLY and name not in _WRITABLE:
            raise AttributeError(f"<unknown>.{name}")
        self._enter(name)
        if self._columns is not None and name not in self._columns:
            return None  # SetColumns: "properties which are not cached are returned empty"
        outlook = self._session.outlook
        if name in outlook.unreadable.get(self._state.entry_id, ()):
            raise Fault.UNREADABLE.error()
        outlook.property_reads[name] += 1
        return self._read(name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
            return
        if name in _READ_ONLY:
            raise ComError.from_outlook(-2147352567, f"Property is read-only: {name}")
        if name not in _WRITABLE:
            raise AttributeError(f"Property '<unknown>.{name}' can not be set.")
        if self._columns is not None:
            raise ComError.from_outlook(-2147352567, "Items read through SetColumns are read-only")
        self._enter(name)
        self._write(name, value)
        object.__setattr__(self, "_dirty", True)

    def _read(self, name: str) -> Any:
        state = self._state
        local = self._session.outlook.time_zone
        if name in _PLAIN_FIELDS or name in ("ResponseStatus", "Organizer"):
            return state.fields[name]
        if name == "IsRecurring":
            return state.pattern is not None or state.original_start is not None
        if name == "RecurrenceState":
            if state.original_start is not None:
                return 3 if state.is_exception else 2  # olApptException / olApptOccurrence
            return 0 if state.pattern is None else 1  # olApptNotRecurring / olApptMaster
        values: dict[str, Any] = {
            "EntryID": state.entry_id if self._is_saved else "",
            "GlobalAppointmentID": state.global_id,
            "Class": OL_APPOINTMENT,
            "MessageClass": "IPM.Appointment",
            "Saved": self._is_saved and not self._dirty,
        }
        if name in values:
            return values[name]
        if name in ("Start", "End", "LastModificationTime", "CreationTime"):
            instant = {
                "Start": state.start_utc,
                "End": state.end_utc,
                "LastModificationTime": state.modified,
                "CreationTime": state.created,
            }[name]
            return _wall(instant, local)
        if name == "StartUTC":
            return state.start_utc.replace(tzinfo=None)
        if name == "EndUTC":
            return state.end_utc.replace(tzinfo=None)
        if name == "StartInStartTimeZone":
            return _wall(state.start_utc, state.start_tz)
        if name == "EndInEndTimeZone":
            return _wall(state.end_utc, state.end_tz)
        if name in ("StartTimeZone", "EndTimeZone"):
            return TimeZone(
                self._session, state.start_tz if name == "StartTimeZone" else state.end_tz
            )
        if name == "Duration":
            return int((state.end_utc - state.start_utc).total_seconds() // 60)
        if name == "UserProperties":
            return UserProperties(self)
        if name == "Recipients":
            return Recipients(self)
        return self._session.outlook.folder_object(self._session, self._folder)  # Parent

    def _write(self, name: str, value: Any) -> None:
        state = self._state
        local = self._session.outlook.time_zone
        if name in _PLAIN_FIELDS:
            kind = _PLAIN_FIELDS[name]
            if kind is bool:
                value = bool(value)
            elif kind is int:
                if isinstance(value, bool) or not isinstance(value, int):
                    raise invalid_argument(f"{name}: a number is required")
                if name == "BusyStatus" and not 0 <= value <= 4:
                    raise invalid_argument("BusyStatus: not an OlBusyStatus value")
                if name == "Sensitivity" and not 0 <= value <= 3:
                    raise invalid_argument("Sensitivity: not an OlSensitivity value")
            elif not isinstance(value, str):
                raise invalid_argument(f"{name}: a string is required")
            if name == "Body":
                value = value.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")
            state.fields[name] = value
        elif name in ("Start", "End"):
            instant = _instant(_naive(value, name), local)
            if name == "Start":
                state.start_utc = instant
            else:
                state.end_utc = instant
        elif name in ("StartUTC", "EndUTC"):
            instant = _naive(value, name).replace(tzinfo=UTC)
            if name == "StartUTC":
                state.start_utc = instant
            else:
                state.end_utc = instant
        elif name == "StartInStartTimeZone":
            state.start_utc = _instant(_naive(value, name), state.start_tz)
        elif name == "EndInEndTimeZone":
            state.end_utc = _instant(_naive(value, name), state.end_tz)
        else:
            self._write_zone(name, value)

    def _write_zone(self, name: str, value: Any) -> None:
        """``StartTimeZone`` / ``EndTimeZone``: see the module docstring for when the wall
        clock stays (and the meeting moves) and when the instant stays."""
        state = self._state
        zone_id = getattr(value, "ID", None)
        if not isinstance(zone_id, str):
            raise invalid_argument(f"{name}: a TimeZone object is required")
        start = name == "StartTimeZone"
        old_zone = state.start_tz if start else state.end_tz
        instant = state.start_utc if start else state.end_utc
        moved = _instant(_wall(instant, old_zone), zone_id)
        keeps_instant = state.fields.get("MeetingStatus") in _RECEIVED or (
            moved > state.end_utc if start else moved < state.start_utc
        )
        if start:
            state.start_tz = zone_id
            state.start_utc = instant if keeps_instant else moved
        else:
            state.end_tz = zone_id
            state.end_utc = instant if keeps_instant else moved

    # -- methods --------------------------------------------------------------------------
    def GetRecurrencePattern(self) -> RecurrencePattern:
        """The series' pattern; a single item gets a fresh one and becomes recurring."""
        self._enter("GetRecurrencePattern")
        state = self._state
        if state.original_start is not None:  # an occurrence: its master's pattern
            master = self._live()
            assert master is not None
            return RecurrencePattern(
                AppointmentItem(self._session, self._folder, master, saved=True)
            )
        if state.pattern is None:
            wall = _wall(state.start_utc, state.start_tz)
            state.pattern = PatternData(
                recurrence_type=1,
                day_of_week_mask=(2, 4, 8, 16, 32, 64, 1)[wall.weekday()],
                pattern_start_date=wall.date(),
            )
            object.__setattr__(self, "_dirty", True)
        return RecurrencePattern(self)

    def ClearRecurrencePattern(self) -> None:
        """Make the item a single appointment again (its exceptions go with the pattern)."""
        self._enter("ClearRecurrencePattern")
        if self._state.original_start is not None:
            raise ComError.from_outlook(-2147467259, "An occurrence has no pattern to clear.")
        self._state.pattern = None
        object.__setattr__(self, "_cleared", True)
        object.__setattr__(self, "_dirty", True)

    def _save_occurrence(self) -> None:
        outlook = self._session.outlook
        state = self._state
        master = self._live()
        original = state.original_start
        if master is None or master.pattern is None or original is None:
            raise moved_or_deleted()
        record = state.copy()
        record.pattern = None
        record.is_exception = True
        master.pattern.exceptions[original] = ExceptionData(deleted=False, record=record)
        master.modified = outlook.clock()
        state.is_exception = True
        object.__setattr__(self, "_dirty", False)
        outlook.fire(self._folder, "ItemChange", master.entry_id)

    def Save(self) -> None:
        """Store the item; fires ``ItemAdd`` (new) or ``ItemChange`` on the folder.

        An occurrence object becomes an exception of its series; a master's pattern is
        checked and normalised (see ``_recurrence``).
        """
        self._enter("Save")
        outlook = self._session.outlook
        outlook.check_writable(self._folder)
        state = self._state
        if state.original_start is not None:
            self._save_occurrence()
            return
        if state.pattern is not None:
            stored = self._live()
            previous = None if stored is None or self._cleared else stored.pattern
            normalise(state, previous)
        object.__setattr__(self, "_cleared", False)
        state.modified = outlook.clock()
        for name, prop in state.user_props.items():
            if prop.add_to_folder:
                self._folder.folder_fields.add(name)
        if not self._is_saved:
            state.entry_id = outlook.new_entry_id(self._folder.store)
            state.created = state.modified
            self._folder.records[state.entry_id] = state.copy()
            object.__setattr__(self, "_is_saved", True)
            object.__setattr__(self, "_dirty", False)
            outlook.fire(self._folder, "ItemAdd", state.entry_id)
        else:
            self._folder.records[state.entry_id] = state.copy()
            object.__setattr__(self, "_dirty", False)
            outlook.fire(self._folder, "ItemChange", state.entry_id)

    def Delete(self) -> None:
        """Move the item to Deleted Items (a new EntryID there); fires ``ItemRemove``.

        An occurrence object is cancelled instead: its series keeps a deleted exception.
        """
        self._enter("Delete")
        self._session.outlook.check_writable(self._folder)
        original = self._state.original_start
        if original is not None:
            master = self._live()
            if master is None or master.pattern is None:
                raise moved_or_deleted()
            master.pattern.exceptions[original] = ExceptionData(deleted=True)
            master.modified = self._session.outlook.clock()
            self._session.outlook.fire(self._folder, "ItemChange", master.entry_id)
            return
        self._session.outlook.move_record(
            self._folder, self._state.entry_id, self._folder.store.deleted_items
        )

    def Move(self, destination: Any) -> AppointmentItem:
        """Move to another folder; the moved item has a new EntryID, the same global id."""
        self._enter("Move")
        target: FolderData = destination._data
        self._session.outlook.check_writable(self._folder)
        self._session.outlook.check_writable(target)
        record = self._session.outlook.move_record(self._folder, self._state.entry_id, target)
        return AppointmentItem(self._session, target, record, saved=True)

    def Copy(self) -> AppointmentItem:
        """A saved copy in the same folder: new EntryID, new global id, same custom fields."""
        self._enter("Copy")
        self._session.outlook.check_writable(self._folder)
        record = self._session.outlook.copy_record(self._folder, self._state.entry_id)
        return AppointmentItem(self._session, self._folder, record, saved=True)

    def Display(self, Modal: bool = False) -> None:
        """Open the item in an inspector window (recorded in ``FakeOutlook.displayed``)."""
        self._enter("Display")
        self._session.outlook.displayed.append(self._state.entry_id)

    def Send(self) -> None:
        """Send the meeting request/update (recorded in ``FakeOutlook.sent``)."""
        self._enter("Send")
        self._session.outlook.sent.append(self._state.entry_id or self._state.fields["Subject"])

    def Close(self, SaveMode: int = 1) -> None:
        """Close the inspector (0 = olSave, 1 = olDiscard, 2 = olPromptForSave)."""
        self._enter("Close")
        if SaveMode == 0:
            self.Save()
