"""The Outlook object model's ``RecurrencePattern`` <-> :class:`Recurrence`.

:class:`ComRecurrencePattern` holds the pattern's fields as plain values; the COM adapter
copies them to and from the live object
(https://learn.microsoft.com/en-us/office/vba/api/outlook.recurrencepattern). The object
model does not expose a week start: both functions take it as an argument.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, Final

import attrs

from outlook_sync.recurrence.pattern import (
    Pattern,
    check_pattern,
    end_date,
    from_pattern,
    local_date,
    recurrence_from,
    to_pattern,
    unsupported,
    until_text,
    zone_for_import,
)
from outlook_sync.recurrence.rule import (
    DAY_NAMES,
    Rule,
    aware_utc,
    invalid,
    parse_rule,
    weekday_index,
)
from outlook_sync.recurrence.series import Recurrence

__all__ = ["ComRecurrencePattern", "from_com", "to_com"]

_COM_DAY_BITS: Final = (2, 4, 8, 16, 32, 64, 1)  # olMonday .. olSunday (olSunday = 1)
_COM_TYPES: Final = {
    0: "daily",
    1: "weekly",
    2: "absoluteMonthly",
    3: "relativeMonthly",
    5: "absoluteYearly",
    6: "relativeYearly",
}


def _optional_date(_inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (isinstance(value, dt.datetime) or not isinstance(value, dt.date)):
        raise invalid(f"{attr.name} must be a date or None")


@attrs.frozen(kw_only=True)
class ComRecurrencePattern:
    """The fields of an Outlook ``RecurrencePattern`` (COM), as plain values.

    Names follow https://learn.microsoft.com/en-us/office/vba/api/outlook.recurrencepattern
    (``RecurrenceType`` olRecursDaily 0, olRecursWeekly 1, olRecursMonthly 2,
    olRecursMonthNth 3, olRecursYearly 5, olRecursYearNth 6; ``DayOfWeekMask`` bits
    olSunday 1, olMonday 2, ... olSaturday 64; ``Instance`` 1..4, 5 = last). The COM
    helper copies these to and from the object. Outlook's "no date" (4501-01-01) is
    ``None``.

    Outlook reports both ``Occurrences`` and ``PatternEndDate`` for a bounded series
    and does not say which one the user chose; :func:`from_com` uses the end date when
    both are given. Pass only ``occurrences`` to keep an "end after n" series.
    """

    recurrence_type: int = attrs.field(validator=attrs.validators.in_(tuple(_COM_TYPES)))
    interval: int = 1
    day_of_week_mask: int = attrs.field(default=0, validator=attrs.validators.in_(range(128)))
    day_of_month: int = attrs.field(default=0, validator=attrs.validators.in_(range(32)))
    month_of_year: int = attrs.field(default=0, validator=attrs.validators.in_(range(13)))
    instance: int = attrs.field(default=0, validator=attrs.validators.in_(range(6)))
    pattern_start_date: dt.date = attrs.field(validator=_optional_date)
    pattern_end_date: dt.date | None = attrs.field(default=None, validator=_optional_date)
    occurrences: int | None = None
    no_end_date: bool = False


def _mask(days: Iterable[int]) -> int:
    return sum(_COM_DAY_BITS[d] for d in set(days))


def _days_of(mask: int) -> tuple[int, ...]:
    return tuple(d for d in range(7) if mask & _COM_DAY_BITS[d])


def to_com(recurrence: Recurrence, *, week_start: str = "MO") -> ComRecurrencePattern:
    """The object-model pattern of a series (without its exceptions).

    Args:
        recurrence: the series.
        week_start: the first day of the week Outlook applies to this series (its
            calendar option); it matters only for weekly series every 2+ weeks on
            several days, whose WKST must then equal it.

    Raises:
        UnsupportedRecurrenceError: not an Outlook pattern, or a WKST Outlook would not
            keep.
    """
    rule = parse_rule(recurrence.rule)
    pattern = to_pattern(rule, "com")
    wanted = weekday_index(week_start.upper())
    if (rule.wkst is not None and rule.wkst != wanted) or (
        rule.wkst is None
        and wanted != 0
        and pattern.kind == "weekly"
        and pattern.interval > 1
        and len(pattern.days) > 1
    ):
        raise unsupported(
            "com",
            f"WKST={DAY_NAMES[rule.wkst or 0]} differs from Outlook's week start {week_start}",
        )
    kind = {v: k for k, v in _COM_TYPES.items()}[pattern.kind]
    end = end_date(recurrence, rule, "com")
    return ComRecurrencePattern(
        recurrence_type=kind,
        interval=pattern.interval,
        day_of_week_mask=_mask(pattern.days),
        day_of_month=pattern.day_of_month,
        month_of_year=pattern.month,
        instance=5 if pattern.index == -1 else pattern.index,
        pattern_start_date=local_date(recurrence),
        pattern_end_date=end,
        occurrences=rule.count,
        no_end_date=end is None and rule.count is None,
    )


def from_com(
    pattern: ComRecurrencePattern,
    *,
    start: dt.datetime | dt.date,
    time_zone: str,
    week_start: str = "MO",
) -> Recurrence:
    """The series an object-model pattern describes (exceptions to be added).

    Args:
        pattern: the pattern's fields.
        start: the appointment's start (aware datetime; a date for all-day series).
        time_zone: the appointment's start zone (``StartTimeZone.ID``, a Windows name).
        week_start: Outlook's first day of the week for the series (see :func:`to_com`).

    Raises:
        InvalidRecurrenceError: inconsistent fields, or no occurrence.
    """
    kind = _COM_TYPES[pattern.recurrence_type]
    days = _days_of(pattern.day_of_week_mask)
    if kind == "daily" and days:  # "every weekday" written as a daily pattern
        check_pattern(Pattern(kind="daily", interval=pattern.interval))
        rule = Rule(freq="DAILY", interval=pattern.interval, by_day=tuple((0, d) for d in days))
    else:
        rule = from_pattern(
            check_pattern(
                Pattern(
                    kind=kind,
                    interval=pattern.interval,
                    days=days if kind == "weekly" or kind.startswith("relative") else (),
                    index=-1 if pattern.instance == 5 else pattern.instance,
                    day_of_month=pattern.day_of_month if kind.startswith("absolute") else 0,
                    month=pattern.month_of_year if kind.endswith("Yearly") else 0,
                    week_start=weekday_index(week_start.upper()),
                )
            )
        )
    if pattern.no_end_date:
        pass
    elif pattern.pattern_end_date is not None:
        rule = attrs.evolve(rule, until=until_text(pattern.pattern_end_date, start))
    elif pattern.occurrences is not None and pattern.occurrences >= 1:
        rule = attrs.evolve(rule, count=pattern.occurrences)
    else:
        raise invalid("a bounded pattern needs pattern_end_date or occurrences >= 1")
    if isinstance(start, dt.datetime):
        day = aware_utc("start", start).astimezone(zone_for_import(time_zone)).date()
    else:
        day = start
    if day != pattern.pattern_start_date:
        raise invalid(
            f"PatternStartDate {pattern.pattern_start_date} is not the start's date {day}"
        )
    return recurrence_from(rule, start, time_zone)
