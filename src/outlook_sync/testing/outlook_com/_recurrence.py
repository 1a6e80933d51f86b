"""The series rules of the fake: a stored ``PatternData`` -> its occurrences, and what
``Save`` does to a master. No COM objects here (those are in ``_pattern``, which cites the
documentation pages for the object model's behaviour).

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
from typing import Any, Literal

from dateutil import rrule as du

from outlook_sync.testing.outlook_com._errors import invalid_argument
from outlook_sync.testing.outlook_com._store import PatternData, Record
from outlook_sync.timezones import zone

__all__ = [
    "FIELDS",
    "NONE_DATE",
    "TYPES",
    "first_occurrence",
    "is_occurrence",
    "normalise",
    "occurrence_record",
    "occurrences",
]

UTC = dt.UTC
TYPES = (0, 1, 2, 3, 5, 6)
#: olSunday 1, olMonday 2, ... olSaturday 64, as dateutil weekdays.
_DAYS = ((1, du.SU), (2, du.MO), (4, du.TU), (8, du.WE), (16, du.TH), (32, du.FR), (64, du.SA))
FIELDS = {
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
    if kind not in TYPES:
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


def is_occurrence(record: Record, instant: dt.datetime) -> bool:
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
