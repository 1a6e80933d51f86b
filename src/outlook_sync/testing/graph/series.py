"""Recurring series in the emulator: ``patternedRecurrence`` and its occurrence dates.

Shapes and rules from the Graph v1.0 reference:

- https://learn.microsoft.com/en-us/graph/api/resources/patternedrecurrence — an event's
  ``recurrence`` is ``{"pattern": recurrencePattern, "range": recurrenceRange}``;
- https://learn.microsoft.com/en-us/graph/api/resources/recurrencepattern — the six
  pattern types (``daily``, ``weekly``, ``absoluteMonthly``, ``relativeMonthly``,
  ``absoluteYearly``, ``relativeYearly``), ``interval``, ``daysOfWeek``, ``dayOfMonth``,
  ``month``, ``index`` (``first`` … ``fourth``, ``last``) and ``firstDayOfWeek`` (weekly
  only: where a week starts, for intervals of more than one week);
- https://learn.microsoft.com/en-us/graph/api/resources/recurrencerange — ``startDate``
  (must be the start date of the series; "the first occurrence of the meeting may be this
  date or later"), ``endDate`` (inclusive), ``numberOfOccurrences``, the types ``endDate``,
  ``noEnd``, ``numbered``, and ``recurrenceTimeZone`` (defaults to the start's zone).

Outlook's "day 31 of every month" falls on the last day of shorter months (the CDO
``DayOfMonth`` rule that :mod:`outlook_sync.recurrence.pattern` documents); the emulator
does the same for ``absoluteMonthly`` and ``absoluteYearly``.

Graph answers every property of a pattern, the unused ones with defaults
(``"dayOfMonth": 0``, ``"index": "first"``, ``"firstDayOfWeek": "sunday"``,
``"endDate": "0001-01-01"``); :func:`parse_recurrence` returns that full form.

Emulator limit (not Graph's): a series is expanded at most :data:`EXPANSION_YEARS` years
past the later of its start and the emulator's "today", so a series without end stays
finite in calendar views and delta rounds.

Only the standard library is used.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = [
    "EXPANSION_YEARS",
    "OCCURRENCE_SEPARATOR",
    "RecurrenceRefused",
    "occurrence_dates",
    "parse_recurrence",
    "parse_stamp",
    "stamp",
]

EXPANSION_YEARS = 5
#: Joins a master id and an original start into an occurrence id (never in base64url ids).
OCCURRENCE_SEPARATOR = "~"

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_INDEX = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}
_TYPES = (
    "daily",
    "weekly",
    "absoluteMonthly",
    "relativeMonthly",
    "absoluteYearly",
    "relativeYearly",
)


class RecurrenceRefused(ValueError):
    """A ``recurrence`` Graph would refuse (the service answers 400)."""


def _int(data: Mapping[str, Any], key: str, default: int) -> int:
    value = data.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecurrenceRefused(f"{key} must be an integer.")
    return value


def _date(value: object, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        raise RecurrenceRefused(f"{name} must be a date (yyyy-mm-dd).") from None


def parse_recurrence(value: object, start_zone: str) -> dict[str, Any]:
    """Validate a ``patternedRecurrence`` and return it in the full form Graph answers.

    Raises:
        RecurrenceRefused: a missing or malformed part.
    """
    if not isinstance(value, Mapping):
        raise RecurrenceRefused("recurrence must be a patternedRecurrence object.")
    pattern, span = value.get("pattern"), value.get("range")
    if not isinstance(pattern, Mapping) or not isinstance(span, Mapping):
        raise RecurrenceRefused("recurrence needs pattern and range.")
    kind = pattern.get("type")
    if kind not in _TYPES:
        raise RecurrenceRefused(f"Unknown recurrence pattern type {kind!r}.")
    days = pattern.get("daysOfWeek") or []
    if not isinstance(days, list) or any(
        not isinstance(d, str) or d.lower() not in _WEEKDAYS for d in days
    ):
        raise RecurrenceRefused("daysOfWeek must be a list of day names.")
    first_day = str(pattern.get("firstDayOfWeek") or "sunday").lower()
    index = str(pattern.get("index") or "first").lower()
    if first_day not in _WEEKDAYS or index not in _INDEX:
        raise RecurrenceRefused("firstDayOfWeek or index is invalid.")
    full_pattern = {
        "type": kind,
        "interval": _int(pattern, "interval", 1),
        "month": _int(pattern, "month", 0),
        "dayOfMonth": _int(pattern, "dayOfMonth", 0),
        "daysOfWeek": [d.lower() for d in days],
        "firstDayOfWeek": first_day,
        "index": index,
    }
    # Exchange stores the interval as the recurrence blob's Period (MS-OXOCAL 2.2.1.44.1):
    # 1..999 days for a daily pattern, 1..99 weeks or months for the others.
    limit = 999 if kind == "daily" else 99
    if not 1 <= full_pattern["interval"] <= limit:
        raise RecurrenceRefused(f"interval must be between 1 and {limit}.")
    if (kind == "weekly" or kind.startswith("relative")) and not days:
        raise RecurrenceRefused(f"A {kind} pattern needs daysOfWeek.")
    if kind.startswith("absolute") and not 1 <= full_pattern["dayOfMonth"] <= 31:
        raise RecurrenceRefused("dayOfMonth must be between 1 and 31.")
    if kind.endswith("Yearly") and not 1 <= full_pattern["month"] <= 12:
        raise RecurrenceRefused("month must be between 1 and 12.")
    span_type = span.get("type")
    if span_type not in ("endDate", "noEnd", "numbered"):
        raise RecurrenceRefused(f"Unknown recurrence range type {span_type!r}.")
    start = _date(span.get("startDate"), "startDate")
    end = _date(span.get("endDate"), "endDate") if span_type == "endDate" else None
    count = _int(span, "numberOfOccurrences", 0) if span_type == "numbered" else 0
    if end is not None and end < start:
        raise RecurrenceRefused("endDate must not be before startDate.")
    if span_type == "numbered" and count < 1:
        raise RecurrenceRefused("numberOfOccurrences must be at least 1.")
    zone_name = span.get("recurrenceTimeZone") or start_zone
    if not isinstance(zone_name, str):
        raise RecurrenceRefused("recurrenceTimeZone must be a string.")
    return {
        "pattern": full_pattern,
        "range": {
            "type": span_type,
            "startDate": start.isoformat(),
            "endDate": (end or dt.date(1, 1, 1)).isoformat(),
            "recurrenceTimeZone": zone_name,
            "numberOfOccurrences": count,
        },
    }


def _month_days(year: int, month: int, pattern: Mapping[str, Any]) -> list[dt.date]:
    """The pattern's day(s) in one month of a monthly or yearly pattern."""
    last = calendar.monthrange(year, month)[1]
    if pattern["type"].startswith("absolute"):
        return [dt.date(year, month, min(pattern["dayOfMonth"], last))]
    wanted = {_WEEKDAYS.index(d) for d in pattern["daysOfWeek"]}
    matching = [
        dt.date(year, month, day)
        for day in range(1, last + 1)
        if dt.date(year, month, day).weekday() in wanted
    ]
    position = _INDEX[pattern["index"]]
    if position == -1:
        return matching[-1:]
    return matching[position - 1 : position]


def _candidates(pattern: Mapping[str, Any], start: dt.date) -> Iterator[dt.date]:
    """Every date the pattern produces on or after ``start``, ascending, without end."""
    kind, interval = pattern["type"], pattern["interval"]
    if kind == "daily":
        day = start
        while True:
            yield day
            day += dt.timedelta(days=interval)
    if kind == "weekly":
        wanted = {_WEEKDAYS.index(d) for d in pattern["daysOfWeek"]}
        first = _WEEKDAYS.index(pattern["firstDayOfWeek"])
        week = start - dt.timedelta(days=(start.weekday() - first) % 7)
        while True:
            for offset in range(7):
                day = week + dt.timedelta(days=offset)
                if day >= start and day.weekday() in wanted:
                    yield day
            week += dt.timedelta(weeks=interval)
    yearly = kind.endswith("Yearly")
    year, month = start.year, pattern["month"] if yearly else start.month
    step = 12 * interval if yearly else interval
    while True:
        for day in _month_days(year, month, pattern):
            if day >= start:
                yield day
        total = year * 12 + (month - 1) + step
        year, month = divmod(total, 12)
        month += 1


def occurrence_dates(recurrence: Mapping[str, Any], limit: dt.date) -> Iterator[dt.date]:
    """The local dates of a series' occurrences, ascending, up to ``limit`` (inclusive)."""
    span = recurrence["range"]
    start = dt.date.fromisoformat(span["startDate"])
    end = dt.date.fromisoformat(span["endDate"]) if span["type"] == "endDate" else limit
    count = span["numberOfOccurrences"] if span["type"] == "numbered" else None
    for produced, day in enumerate(_candidates(recurrence["pattern"], start)):
        if day > min(end, limit) or (count is not None and produced >= count):
            return
        yield day


def stamp(original_start: dt.datetime) -> str:
    """An original start as the suffix of an occurrence id."""
    return original_start.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def parse_stamp(text: str) -> dt.datetime | None:
    """The original start an occurrence-id suffix names, or None."""
    try:
        return dt.datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return None
