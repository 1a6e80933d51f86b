"""What the fake Outlook stores: items, folders and message stores, without any COM surface.

The COM objects in ``_objects`` are thin, short-lived views over these records, the way real
Outlook hands out a new wrapper for every ``GetItemFromID`` or ``Folder.Items`` call. An item
object keeps its own copy of the fields until ``Save`` (pending edits are not visible through
another object), and an object whose item was moved or deleted is *stale*.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import weakref
from typing import Any

__all__ = [
    "ExceptionData",
    "FolderData",
    "ManualClock",
    "PatternData",
    "Record",
    "StoreData",
    "UserProp",
]

UTC = dt.UTC


class ManualClock:
    """A clock that moves only when told to: the fake's (and the tests') notion of now.

    Calling it returns an aware UTC datetime, the shape every injectable clock in
    outlook_sync has.
    """

    def __init__(self, start: dt.datetime | None = None) -> None:
        self.now = start or dt.datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
        if self.now.tzinfo is None:
            raise ValueError("ManualClock needs an aware start time")

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, delta: dt.timedelta | None = None, **kwargs: float) -> dt.datetime:
        """Move the clock forward by ``delta`` or by ``timedelta(**kwargs)``; return now."""
        self.now += delta if delta is not None else dt.timedelta(**kwargs)
        return self.now


@dataclasses.dataclass
class UserProp:
    """One custom property on an item: its OlUserPropertyType, value and visibility."""

    type: int
    value: Any
    add_to_folder: bool


@dataclasses.dataclass
class ExceptionData:
    """One exception of a series: a deleted occurrence, or a changed one with its content."""

    deleted: bool
    record: Record | None = None


@dataclasses.dataclass
class PatternData:
    """A series' ``RecurrencePattern`` as stored (see ``_recurrence`` for the semantics).

    Dates and times are wall-clock values in the master's ``StartTimeZone``; ``exceptions``
    maps each exception's original start (UTC) to what became of that occurrence.
    """

    recurrence_type: int = 1
    interval: int = 1
    day_of_week_mask: int = 0
    day_of_month: int = 0
    month_of_year: int = 0
    instance: int = 0
    pattern_start_date: dt.date | None = None
    pattern_end_date: dt.date | None = None
    occurrences: int | None = None
    no_end_date: bool = True
    start_time: dt.time = dt.time()
    duration: int = 30
    exceptions: dict[dt.datetime, ExceptionData] = dataclasses.field(default_factory=dict)

    def rule_fields(self) -> tuple[object, ...]:
        """Everything but the exceptions: a change here discards them (see ``_recurrence``)."""
        return (
            self.recurrence_type,
            self.interval,
            self.day_of_week_mask,
            self.day_of_month,
            self.month_of_year,
            self.instance,
            self.pattern_start_date,
            self.pattern_end_date,
            self.occurrences,
            self.no_end_date,
            self.start_time,
            self.duration,
        )


@dataclasses.dataclass
class Record:
    """One stored appointment (all instants in UTC).

    A series master has a ``pattern``; an occurrence or exception object (handed out by
    ``GetOccurrence`` / ``Exception.AppointmentItem`` / ``IncludeRecurrences``) is a record
    with its master's EntryID and the ``original_start`` of the occurrence.
    """

    entry_id: str
    global_id: str
    start_utc: dt.datetime
    end_utc: dt.datetime
    start_tz: str
    end_tz: str
    created: dt.datetime
    modified: dt.datetime
    fields: dict[str, Any] = dataclasses.field(default_factory=dict)
    user_props: dict[str, UserProp] = dataclasses.field(default_factory=dict)
    recipients: list[str] = dataclasses.field(default_factory=list)
    pattern: PatternData | None = None
    original_start: dt.datetime | None = None
    is_exception: bool = False

    def copy(self) -> Record:
        """A deep copy (what an item object holds while it is being edited)."""
        return copy.deepcopy(self)


def default_fields() -> dict[str, Any]:
    """The fields of a fresh appointment, as Outlook initialises them."""
    return {
        "Subject": "",
        "Location": "",
        "Body": "",
        "Categories": "",
        "BusyStatus": 2,  # olBusy
        "Sensitivity": 0,  # olNormal
        "AllDayEvent": False,
        "ReminderSet": True,
        "ReminderMinutesBeforeStart": 15,
        "MeetingStatus": 0,  # olNonMeeting
        "ResponseStatus": 0,  # olResponseNone: a plain appointment
        "Organizer": "",
    }


@dataclasses.dataclass(eq=False)
class FolderData:
    """A folder: its items (in insertion order), subfolders and event subscribers."""

    name: str
    entry_id: str
    store: StoreData
    parent: FolderData | None
    default_item_type: int = 0  # olMailItem; calendars are 1 (olAppointmentItem)
    #: shared with read rights only: writes raise MAPI_E_NO_ACCESS (see ``_process``).
    read_only: bool = False
    records: dict[str, Record] = dataclasses.field(default_factory=dict)
    children: list[FolderData] = dataclasses.field(default_factory=list)
    #: custom fields defined on the folder (UserProperties.Add(..., AddToFolderFields=True)).
    folder_fields: set[str] = dataclasses.field(default_factory=set)
    #: (Items object, event sink) pairs; a dropped Items object no longer receives events.
    subscribers: list[tuple[weakref.ref[Any], Any]] = dataclasses.field(default_factory=list)

    @property
    def path(self) -> str:
        """``\\\\Store\\Folder\\Sub`` as ``Folder.FolderPath`` spells it."""
        if self.parent is None:
            return "\\\\" + self.name
        return self.parent.path + "\\" + self.name


@dataclasses.dataclass(eq=False)
class StoreData:
    """A message store (an Exchange mailbox or a .pst file)."""

    display_name: str
    store_id: str
    root: FolderData = dataclasses.field(init=False)
    calendar: FolderData = dataclasses.field(init=False)
    deleted_items: FolderData = dataclasses.field(init=False)
