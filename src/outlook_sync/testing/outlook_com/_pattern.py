"""The fake ``RecurrencePattern``, ``Exceptions`` and ``Exception`` objects.

Behaviour reproduced, each from Microsoft's Outlook VBA reference:

- ``AppointmentItem.GetRecurrencePattern`` "returns a RecurrencePattern object that
  represents the recurrence attributes of an appointment. If there is no existing recurrence
  pattern, a new, empty RecurrencePattern object is returned"; calling it or
  ``ClearRecurrencePattern`` "has the side effect of setting the IsRecurring property of the
  item accordingly". ``RecurrenceType`` "is the first property you should set" (setting it
  resets the type-specific fields here), and "an error occurs if the item is saved and the
  property is null or contains an invalid value". Monthly "day 31" falls on a short month's
  last day.
  https://learn.microsoft.com/en-us/office/vba/api/outlook.recurrencepattern
  https://learn.microsoft.com/en-us/office/vba/api/outlook.appointmentitem.getrecurrencepattern
- ``Interval`` counts years for the two yearly types ("Interval equals 2 indicates the
  recurrence is every 2 years") and "must be set before setting PatternEndDate".
  https://learn.microsoft.com/en-us/office/vba/api/outlook.recurrencepattern.interval
- ``GetOccurrence(StartDate)`` "returns a specific instance of the AppointmentItem object on
  the specified date" ("StartDate: a Date value that represents local time") and "generates
  an error if no appointment of that series exists on the specified date". The fake wants
  the appointment's local start, date *and* time, as the documentation's example passes it,
  and looks for the appointment that starts there *now*: a plain occurrence at its original
  start, a changed occurrence (an exception) at its current start. The page does not name
  moved occurrences; the fake reads "no appointment of that series exists" literally: once
  an occurrence was moved to another time, no appointment of the series starts at its
  original start, so that raises, as for a cancelled one. (The page's example changes an
  occurrence got this way into an exception and shows its ``OriginalDate`` beside its current
  date and time: the two differ.)
  https://learn.microsoft.com/en-us/office/vba/api/outlook.recurrencepattern.getoccurrence
- ``Exceptions`` / ``Exception``: ``OriginalDate`` "returns the original date and time ...
  This property will return the original date even if the AppointmentItem has been deleted.
  However, it will not return the original time if deletion has occurred" (the fake returns
  local midnight then); ``AppointmentItem`` is "not valid for deleted appointments";
  ``Deleted`` is True for a cancelled occurrence.
  https://learn.microsoft.com/en-us/office/vba/api/outlook.exceptions
  https://learn.microsoft.com/en-us/office/vba/api/outlook.exception.originaldate
- ``RecurrenceState`` (OlRecurrenceState): olApptNotRecurring 0, olApptMaster 1,
  olApptOccurrence 2, olApptException 3.
  https://learn.microsoft.com/en-us/office/vba/api/outlook.olrecurrencestate
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any, Protocol

from outlook_sync.testing.outlook_com._errors import E_FAIL, ComError, invalid_argument
from outlook_sync.testing.outlook_com._recurrence import (
    FIELDS,
    NONE_DATE,
    TYPES,
    is_occurrence,
    occurrence_record,
)
from outlook_sync.testing.outlook_com._session import Session
from outlook_sync.testing.outlook_com._store import ExceptionData, FolderData, PatternData, Record
from outlook_sync.timezones import zone

__all__ = ["Exception_", "Exceptions", "PatternOwner", "RecurrencePattern"]

UTC = dt.UTC


class PatternOwner(Protocol):
    """What a pattern needs of its item (``AppointmentItem`` is one; it lives above)."""

    _session: Session
    _folder: FolderData
    _state: Record

    def _enter(self, member: str) -> None: ...

    def _live(self) -> Record | None: ...

    def _touch(self) -> None: ...

    def _sibling(self, record: Record) -> Any:
        """A saved item object of ``record`` in the same folder (an occurrence)."""
        ...


class RecurrencePattern:
    """The pattern of one master item object (edits are the item's until it is saved)."""

    def __init__(self, item: PatternOwner) -> None:
        self._item = item

    def _pattern(self) -> PatternData:
        pattern: PatternData | None = self._item._state.pattern
        if pattern is None:  # cleared meanwhile: Outlook hands out a fresh one
            pattern = PatternData()
            self._item._state.pattern = pattern
        return pattern

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        self._item._enter(f"RecurrencePattern.{name}")
        pattern = self._pattern()
        if name in FIELDS:
            value = getattr(pattern, FIELDS[name])
            if name == "PatternStartDate" and value is not None:
                return dt.datetime.combine(value, dt.time())
            if name == "PatternEndDate":
                return NONE_DATE if value is None else dt.datetime.combine(value, dt.time())
            if name == "Occurrences":
                return 0 if value is None else value
            return value
        if name == "StartTime":
            return dt.datetime.combine(dt.date(1899, 12, 30), pattern.start_time)
        if name == "EndTime":
            start = dt.datetime.combine(dt.date(1899, 12, 30), pattern.start_time)
            return start + dt.timedelta(minutes=pattern.duration)
        if name == "Exceptions":
            return Exceptions(self._item)
        raise AttributeError(f"RecurrencePattern.{name}")

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
            return
        self._item._enter(f"RecurrencePattern.{name}")
        if self._item._state.original_start is not None:
            raise ComError.from_outlook(E_FAIL, "The pattern of an occurrence cannot be changed.")
        pattern = self._pattern()
        if name == "RecurrenceType":
            if value not in TYPES:
                raise invalid_argument("RecurrenceType: not an OlRecurrenceType value")
            fresh = PatternData(
                recurrence_type=value, pattern_start_date=pattern.pattern_start_date
            )
            fresh.exceptions = pattern.exceptions
            self._item._state.pattern = fresh
        elif name in ("PatternStartDate", "PatternEndDate"):
            if not isinstance(value, dt.datetime | dt.date):
                raise invalid_argument(f"{name}: a date is required")
            day = value.date() if isinstance(value, dt.datetime) else value
            if name == "PatternStartDate":
                pattern.pattern_start_date = day
            else:
                pattern.pattern_end_date, pattern.occurrences = day, None
                pattern.no_end_date = False
        elif name == "Occurrences":
            pattern.occurrences, pattern.pattern_end_date = int(value), None
            pattern.no_end_date = False
        elif name == "NoEndDate":
            pattern.no_end_date = bool(value)
            if pattern.no_end_date:
                pattern.occurrences, pattern.pattern_end_date = None, None
        elif name in FIELDS:
            if isinstance(value, bool) or not isinstance(value, int):
                raise invalid_argument(f"{name}: a number is required")
            setattr(pattern, FIELDS[name], value)
        else:
            raise AttributeError(f"Property 'RecurrencePattern.{name}' can not be set.")
        self._item._touch()

    def GetOccurrence(self, StartDate: dt.datetime) -> Any:
        """The occurrence starting at ``StartDate`` (local wall-clock time); see the module."""
        item = self._item
        item._enter("RecurrencePattern.GetOccurrence")
        master = item._live()
        if master is None or master.pattern is None:
            raise ComError.from_outlook(E_FAIL, "Save the series before GetOccurrence.")
        if not isinstance(StartDate, dt.datetime) or StartDate.tzinfo is not None:
            raise invalid_argument("GetOccurrence: a local date is required")
        local = zone(item._session.outlook.time_zone)
        instant = StartDate.replace(tzinfo=local).astimezone(UTC)
        original = _starting_at(master, instant)
        if original is None:
            raise ComError.from_outlook(
                E_FAIL,
                "You changed one of the recurrences of this item, and this instance "
                "no longer exists. Close any open items and try again.",
            )
        return item._sibling(occurrence_record(master, original))


def _starting_at(master: Record, instant: dt.datetime) -> dt.datetime | None:
    """The original start of the series' appointment that starts at ``instant`` now.

    A plain occurrence starts at its original start; a changed one (an exception) where it
    was moved to; a cancelled one nowhere. ``None``: no appointment of the series starts
    there.
    """
    assert master.pattern is not None
    exceptions = master.pattern.exceptions
    if instant not in exceptions and is_occurrence(master, instant):
        return instant
    for original, data in exceptions.items():
        if data.deleted:
            continue
        start = data.record.start_utc if data.record is not None else original
        if start == instant:
            return original
    return None


class Exceptions:
    """The exceptions of a saved series (``Count``, ``Item(index)``, iteration)."""

    def __init__(self, item: PatternOwner) -> None:
        self._item = item

    def _list(self) -> list[tuple[dt.datetime, ExceptionData]]:
        master = self._item._live()
        if master is None or master.pattern is None:
            return []
        return sorted(master.pattern.exceptions.items())

    @property
    def Count(self) -> int:
        self._item._enter("Exceptions.Count")
        return len(self._list())

    def Item(self, Index: int) -> Exception_:
        self._item._enter("Exceptions.Item")
        found = self._list()
        if not 1 <= Index <= len(found):
            raise invalid_argument("Array index out of bounds.")
        original, data = found[Index - 1]
        return Exception_(self._item, original, data)

    def __iter__(self) -> Iterator[Exception_]:
        self._item._enter("Exceptions.__iter__")
        for original, data in self._list():
            yield Exception_(self._item, original, data)


class Exception_:  # Outlook's name is Exception
    """One exception: ``OriginalDate``, ``Deleted``, ``AppointmentItem``."""

    def __init__(self, item: PatternOwner, original: dt.datetime, data: ExceptionData):
        self._item = item
        self._original = original
        self._data = data

    @property
    def Deleted(self) -> bool:
        self._item._enter("Exception.Deleted")
        return self._data.deleted

    @property
    def OriginalDate(self) -> dt.datetime:
        self._item._enter("Exception.OriginalDate")
        local = zone(self._item._session.outlook.time_zone)
        wall = self._original.astimezone(local).replace(tzinfo=None)
        if self._data.deleted:  # "it will not return the original time"
            return dt.datetime.combine(wall.date(), dt.time())
        return wall

    @property
    def AppointmentItem(self) -> Any:
        self._item._enter("Exception.AppointmentItem")
        master = self._item._live()
        if self._data.deleted or master is None or master.pattern is None:
            raise ComError.from_outlook(E_FAIL, "The occurrence was deleted.")
        record = occurrence_record(master, self._original)
        return self._item._sibling(record)
