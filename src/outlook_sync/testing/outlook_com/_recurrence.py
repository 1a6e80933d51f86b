"""The fake ``RecurrencePattern``, ``Exceptions`` and ``Exception`` objects, and occurrences.

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
- ``GetOccurrence(StartDate)``: "StartDate: a Date value that represents local time";
  "generates an error if no appointment of that series exists on the specified date". The
  fake wants the occurrence's (original) local start, date *and* time, as the
  documentation's example passes it; a cancelled occurrence raises, a changed one returns
  the exception.
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

Where the reference is silent, the fake follows Outlook's observable behaviour and says so:
pattern dates and times are wall-clock values in the master's ``StartTimeZone``; the week
starts on Monday; saving a master moves its Start to the first occurrence; a bounded series
reports both ``Occurrences`` and ``PatternEndDate`` (the last occurrence's date for a series
ended by a count; an end date set by hand is kept, even when no occurrence falls on it); and
changing the pattern (or the series' time) discards its exceptions, as Outlook's own dialog
warns ("Any exceptions associated with this recurring appointment will be lost").
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal

from dateutil import rrule as du

from outlook_sync.testing.outlook_com._errors import E_FAIL, ComError, invalid_argument
from outlook_sync.testing.outlook_com._store import ExceptionData, PatternData, Record
from outlook_sync.timezones import zone

if TYPE_CHECKING:
    from outlook_sync.testing.outlook_com._appointment import AppointmentItem

__all__ = [
    "Exception_",
    "Exceptions",
    "RecurrencePattern",
    "first_occurrence",
    "normalise",
    "occurrence_record",
    "occurrences",
]

UTC = dt.UTC
_TYPES = (0, 1, 2, 3, 5, 6)
#: olSunday 1, olMonday 2, ... olSaturday 64, as dateutil weekdays.
_DAYS = ((1, du.SU), (2, du.MO), (4, du.TU), (8, du.WE), (16, du.TH), (32, du.FR), (64, du.SA))
_FIELDS = {
    "RecurrenceType": "recurrence_type",
    "Interval": "interval",
    "DayOfWeekMask": "day_of_week_mask",
    "DayOfMonth": "day_of_month",
    "MonthOfYear": "month_of_year",
    "Instance": "instance",
    "PatternStartDate": "pattern_start_date",
    "PatternEndDate": "pattern_end_date",
    "Occurrences": "occurrences",
    "NoEndDate": "no_end_date",
    "Duration": "duration",
}
#: Outlook's "no date" (a series without end reports it as PatternEndDate).
NONE_DATE = dt.datetime(4501, 1, 1)  # noqa: DTZ001 - a COM sentinel


def _rule(pattern: PatternData) -> du.rrule:
    assert pattern.pattern_start_date is not None
    start = dt.datetime.combine(pattern.pattern_start_date, pattern.start_time)
    days = [day for bit, day in _DAYS if pattern.day_of_week_mask & bit]
    kind = pattern.recurrence_type
    freq: Literal[0, 1, 2, 3, 4, 5, 6]
    options: dict[str, Any] = {"dtstart": start, "interval": pattern.interval, "wkst": du.MO}
    if kind == 0:
        freq = du.WEEKLY if days else du.DAILY  # "every weekday" is a daily type with a mask
        if days:
            options["byweekday"] = days
    elif kind == 1:
        freq, options["byweekday"] = du.WEEKLY, days
    elif kind in (2, 5):
        freq = du.MONTHLY if kind == 2 else du.YEARLY
        day = pattern.day_of_month
        if day > 28:  # a missing day falls on the month's last day
            options["bymonthday"], options["bysetpos"] = tuple(range(28, day + 1)), -1
        else:
            options["bymonthday"] = day
    else:
        freq = du.MONTHLY if kind == 3 else du.YEARLY
        options["byweekday"] = days
        options["bysetpos"] = -1 if pattern.instance == 5 else pattern.instance
    if kind in (5, 6):
        options["bymonth"] = pattern.month_of_year
    if not pattern.no_end_date:
        if pattern.pattern_end_date is not None:
            options["until"] = dt.datetime.combine(pattern.pattern_end_date, dt.time(23, 59, 59))
        else:
            options["count"] = pattern.occurrences
    return du.rrule(freq, **options)


def _check(pattern: PatternData) -> None:
    """Refuse what Outlook refuses on Save (a null or invalid property)."""
    kind = pattern.recurrence_type
    if kind not in _TYPES:
        raise invalid_argument(f"RecurrenceType {kind} is not an OlRecurrenceType value")
    if not 1 <= pattern.interval <= 999:
        raise invalid_argument("Interval is not valid for this recurrence")
    if kind in (1, 3, 6) and not 0 < pattern.day_of_week_mask < 128:
        raise invalid_argument("DayOfWeekMask is not valid for this recurrence")
    if kind in (2, 5) and not 1 <= pattern.day_of_month <= 31:
        raise invalid_argument("DayOfMonth is not valid for this recurrence")
    if kind in (3, 6) and not 1 <= pattern.instance <= 5:
        raise invalid_argument("Instance is not valid for this recurrence")
    if kind in (5, 6) and not 1 <= pattern.month_of_year <= 12:
        raise invalid_argument("MonthOfYear is not valid for this recurrence")
    if pattern.pattern_start_date is None:
        raise invalid_argument("PatternStartDate is not set")
    bounded = not pattern.no_end_date and pattern.pattern_end_date is None
    if bounded and (not pattern.occurrences or pattern.occurrences < 1):
        raise invalid_argument("A bounded recurrence needs PatternEndDate or Occurrences")


def normalise(record: Record, stored: PatternData | None) -> None:
    """What ``Save`` does to a master with a pattern: check it, take the series' time from
    the item, move the item to the first occurrence, fill both ends of a bounded series,
    and discard the exceptions if the pattern changed (``stored`` is the saved pattern, or
    ``None`` for a new or just cleared one).

    Raises:
        ComError: the pattern is invalid or has no occurrence.
    """
    pattern = record.pattern
    assert pattern is not None
    tz = zone(record.start_tz)
    wall = record.start_utc.astimezone(tz).replace(tzinfo=None)
    pattern.start_time = wall.time()
    pattern.duration = int((record.end_utc - record.start_utc).total_seconds() // 60)
    if pattern.pattern_start_date is None:
        pattern.pattern_start_date = wall.date()
    _check(pattern)
    first = first_occurrence(pattern)
    if first is None:
        raise invalid_argument("The recurrence pattern has no occurrence")
    record.start_utc = first.replace(tzinfo=tz).astimezone(UTC)
    record.end_utc = record.start_utc + dt.timedelta(minutes=pattern.duration)
    pattern.pattern_start_date = first.date()
    if not pattern.no_end_date:  # report both ends; a chosen end date is kept as it is
        walls = list(_rule(pattern))
        pattern.occurrences = len(walls)
        if pattern.pattern_end_date is None:
            pattern.pattern_end_date = walls[-1].date()
    else:
        pattern.occurrences, pattern.pattern_end_date = None, None
    if stored is None or stored.rule_fields() != pattern.rule_fields():
        pattern.exceptions = {}
    else:  # exceptions are written through occurrence objects: the stored ones hold
        pattern.exceptions = {k: copy.deepcopy(v) for k, v in stored.exceptions.items()}


def first_occurrence(pattern: PatternData) -> dt.datetime | None:
    """The first occurrence's wall-clock start (series zone), or ``None``."""
    return next(iter(_rule(pattern)), None)


def occurrences(record: Record) -> Iterator[dt.datetime]:
    """The series' original starts (UTC), in order, lazily (a series may never end)."""
    assert record.pattern is not None
    tz = zone(record.start_tz)
    for wall in _rule(record.pattern):
        yield wall.replace(tzinfo=tz).astimezone(UTC)


def _is_occurrence(record: Record, instant: dt.datetime) -> bool:
    assert record.pattern is not None
    tz = zone(record.start_tz)
    wall = instant.astimezone(tz).replace(tzinfo=None)
    rule = _rule(record.pattern)
    near = rule.between(wall - dt.timedelta(days=1), wall + dt.timedelta(days=1), inc=True)
    return any(w.replace(tzinfo=tz).astimezone(UTC) == instant for w in near)


def occurrence_record(master: Record, original: dt.datetime) -> Record:
    """The record an occurrence object shows: its exception's, or the master's at that time."""
    assert master.pattern is not None
    exception = master.pattern.exceptions.get(original)
    if exception is not None and exception.record is not None:
        record = exception.record.copy()
    else:
        record = master.copy()
        record.pattern = None
        record.start_utc = original
        record.end_utc = original + dt.timedelta(minutes=master.pattern.duration)
    record.entry_id = master.entry_id
    record.original_start = original
    record.is_exception = exception is not None
    return record


class RecurrencePattern:
    """The pattern of one master item object (edits are the item's until it is saved)."""

    def __init__(self, item: AppointmentItem) -> None:
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
        if name in _FIELDS:
            value = getattr(pattern, _FIELDS[name])
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
            if value not in _TYPES:
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
        elif name in _FIELDS:
            if isinstance(value, bool) or not isinstance(value, int):
                raise invalid_argument(f"{name}: a number is required")
            setattr(pattern, _FIELDS[name], value)
        else:
            raise AttributeError(f"Property 'RecurrencePattern.{name}' can not be set.")
        object.__setattr__(self._item, "_dirty", True)

    def GetOccurrence(self, StartDate: dt.datetime) -> AppointmentItem:
        """The occurrence starting at ``StartDate`` (local wall-clock time); see the module."""
        from outlook_sync.testing.outlook_com._appointment import AppointmentItem

        item = self._item
        item._enter("RecurrencePattern.GetOccurrence")
        master = item._live()
        if master is None or master.pattern is None:
            raise ComError.from_outlook(E_FAIL, "Save the series before GetOccurrence.")
        if not isinstance(StartDate, dt.datetime) or StartDate.tzinfo is not None:
            raise invalid_argument("GetOccurrence: a local date is required")
        local = zone(item._session.outlook.time_zone)
        instant = StartDate.replace(tzinfo=local).astimezone(UTC)
        exception = master.pattern.exceptions.get(instant)
        if (exception is not None and exception.deleted) or not _is_occurrence(master, instant):
            raise ComError.from_outlook(
                E_FAIL,
                "You changed one of the recurrences of this item, and this instance "
                "no longer exists. Close any open items and try again.",
            )
        return AppointmentItem(
            item._session, item._folder, occurrence_record(master, instant), saved=True
        )


class Exceptions:
    """The exceptions of a saved series (``Count``, ``Item(index)``, iteration)."""

    def __init__(self, item: AppointmentItem) -> None:
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

    def __init__(self, item: AppointmentItem, original: dt.datetime, data: ExceptionData):
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
    def AppointmentItem(self) -> AppointmentItem:
        from outlook_sync.testing.outlook_com._appointment import AppointmentItem

        self._item._enter("Exception.AppointmentItem")
        master = self._item._live()
        if self._data.deleted or master is None or master.pattern is None:
            raise ComError.from_outlook(E_FAIL, "The occurrence was deleted.")
        record = occurrence_record(master, self._original)
        return AppointmentItem(self._item._session, self._item._folder, record, saved=True)
