"""Outlook's six recurrence patterns, the common ground of Graph and the object model.

Microsoft Graph's ``patternedRecurrence`` (https://learn.microsoft.com/en-us/graph/api/
resources/patternedrecurrence, .../recurrencepattern, .../recurrencerange) and the
Outlook object model's ``RecurrencePattern`` (https://learn.microsoft.com/en-us/office/
vba/api/outlook.recurrencepattern) express the same six patterns: daily, weekly,
absolute monthly ("the 15th"), relative monthly ("the last Friday"), absolute yearly and
relative yearly, every *n* units, ending never, after *n* occurrences or on a date.
:class:`Pattern` holds one in Graph's terms (COM is a renaming); :mod:`.graph` and
:mod:`.com` only translate field names.

Outlook's "day 31 of every month" means the *last* day of every month, and "February
29 every year" falls on February 28 in other years (CDO ``DayOfMonth`` documentation;
MS-OXCICAL 2.1.3.2.2.3 maps ``BYMONTHDAY=-1`` to day 31), so those days map to
``BYMONTHDAY=-1`` / ``BYMONTHDAY=28,29,30;BYSETPOS=-1`` and back, never to a plain
``BYMONTHDAY=31``, which RFC 5545 skips in short months. A rule outside these patterns
(several times a day, ``BYWEEKNO``, ``BYMONTH`` limits on a monthly rule, "the fifth
Monday", ...) raises :class:`UnsupportedRecurrenceError`; nothing is approximated.
"""

from __future__ import annotations

import calendar
import datetime as dt
import zoneinfo

import attrs

from outlook_sync.errors import InvalidEventError
from outlook_sync.recurrence.rule import (
    MAX_INTERVAL,
    InvalidRecurrenceError,
    Rule,
    aware_utc,
    canonical_rule,
    day_granular,
    invalid,
    to_dateutil,
    until_wall,
)
from outlook_sync.recurrence.series import Recurrence
from outlook_sync.timezones import UnknownTimeZoneError, iana_to_windows, localize, zone

__all__ = [
    "Pattern",
    "UnsupportedRecurrenceError",
    "check_pattern",
    "end_date",
    "from_pattern",
    "local_date",
    "recurrence_from",
    "to_pattern",
    "unsupported",
    "until_text",
    "windows_zone",
    "zone_for_import",
]


class UnsupportedRecurrenceError(InvalidEventError):
    """A valid recurrence that one side cannot express; it is reported, never altered.

    Attributes:
        target: ``"graph"`` or ``"com"``: the form that cannot hold the rule.
    """

    def __init__(self, message: str, *, target: str, item_id: str | None = None) -> None:
        super().__init__(message, field="recurrence", item_id=item_id)
        self.target = target


@attrs.frozen(kw_only=True)
class Pattern:
    """The six Outlook patterns, in Graph's terms (COM is a renaming)."""

    kind: str
    interval: int
    days: tuple[int, ...] = ()  # weekdays, 0 = Monday
    index: int = 0  # 1..4 or -1 (last)
    day_of_month: int = 0
    month: int = 0
    week_start: int = 0


def unsupported(target: str, why: str) -> UnsupportedRecurrenceError:
    side = "Microsoft Graph" if target == "graph" else "the Outlook object model"
    return UnsupportedRecurrenceError(f"{side} cannot express this series: {why}", target=target)


def _relative(rule: Rule, target: str) -> tuple[tuple[int, ...], int]:
    set_pos = rule.get("BYSETPOS")
    days: tuple[int, ...]
    if len(rule.by_day) == 1 and rule.by_day[0][0] and not set_pos:
        index, days = rule.by_day[0][0], (rule.by_day[0][1],)
    elif len(set_pos) == 1 and rule.by_day and all(n == 0 for n, _ in rule.by_day):
        index, days = set_pos[0], tuple(d for _, d in rule.by_day)
    else:
        raise unsupported(target, "only one 'first/second/third/fourth/last' weekday choice")
    if index not in (1, 2, 3, 4, -1):
        raise unsupported(target, f"position {index} (only 1st..4th and last exist)")
    return days, index


def to_pattern(rule: Rule, target: str) -> Pattern:
    names = {n for n, _ in rule.lists}
    for part in ("BYHOUR", "BYMINUTE", "BYSECOND", "BYWEEKNO", "BYYEARDAY"):
        if part in names:
            raise unsupported(target, f"{part} is not one of its patterns")
    if rule.freq == "HOURLY":
        raise unsupported(target, "FREQ=HOURLY (a series repeats at most daily)")
    if rule.freq == "DAILY":
        if names or rule.by_day:
            raise unsupported(target, "a daily rule with BY... limits")
        return Pattern(kind="daily", interval=rule.interval)
    if rule.freq == "WEEKLY":
        if names or any(n for n, _ in rule.by_day):
            raise unsupported(target, "a weekly rule with limits other than plain weekdays")
        days = tuple(d for _, d in rule.by_day)
        return Pattern(kind="weekly", interval=rule.interval, days=days, week_start=rule.wkst or 0)
    month = 0
    if rule.freq == "YEARLY":
        months = rule.get("BYMONTH")
        if len(months) != 1:
            raise unsupported(target, "a yearly rule must name exactly one month")
        month = months[0]
    elif "BYMONTH" in names:
        raise unsupported(target, "a monthly rule limited to some months")
    month_days = rule.get("BYMONTHDAY")
    prefix = "absolute" if month_days else "relative"
    kind = prefix + ("Yearly" if month else "Monthly")
    if month_days:
        if rule.by_day:
            raise unsupported(target, "BYMONTHDAY combined with BYDAY")
        day = _outlook_day(month_days, rule.get("BYSETPOS"), month)
        if day is None:
            raise unsupported(
                target,
                f"BYMONTHDAY={month_days} (Outlook moves a missing "
                "day to the month's last day instead of skipping it)",
            )
        return Pattern(kind=kind, interval=rule.interval, day_of_month=day, month=month)
    days, index = _relative(rule, target)
    return Pattern(kind=kind, interval=rule.interval, days=days, index=index, month=month)


def _outlook_day(days: tuple[int, ...], set_pos: tuple[int, ...], month: int) -> int | None:
    """Outlook's day-of-month for an RRULE day choice, or None if it has no equivalent."""
    if month:  # yearly: days are exact except Feb 29, which Outlook moves to Feb 28
        if set_pos:
            return None
        if month == 2:
            return (
                29 if days == (-1,) else days[0] if len(days) == 1 and 1 <= days[0] <= 28 else None
            )
        return (
            days[0]
            if len(days) == 1 and 1 <= days[0] <= calendar.monthrange(2001, month)[1]
            else None
        )
    if not set_pos:
        return 31 if days == (-1,) else days[0] if len(days) == 1 and 1 <= days[0] <= 28 else None
    if set_pos == (-1,) and days in ((28, 29), (28, 29, 30)):
        return days[-1]
    return None


def from_pattern(pattern: Pattern) -> Rule:
    freq = {"daily": "DAILY", "weekly": "WEEKLY"}.get(pattern.kind)
    if freq is None:
        freq = "YEARLY" if pattern.kind.endswith("Yearly") else "MONTHLY"
    rule = Rule(freq=freq, interval=pattern.interval)
    if pattern.kind == "weekly":
        return attrs.evolve(
            rule, by_day=tuple((0, d) for d in pattern.days), wkst=pattern.week_start
        )
    lists: dict[str, tuple[int, ...]] = {}
    if freq == "YEARLY":
        lists["BYMONTH"] = (pattern.month,)
    if pattern.kind.startswith("absolute"):
        day = pattern.day_of_month
        if pattern.month == 2 and day == 29:
            lists["BYMONTHDAY"] = (-1,)
        elif pattern.month or day <= 28:
            lists["BYMONTHDAY"] = (day,)
        elif day == 31:
            lists["BYMONTHDAY"] = (-1,)
        else:
            lists["BYMONTHDAY"], lists["BYSETPOS"] = tuple(range(28, day + 1)), (-1,)
    elif pattern.kind.startswith("relative"):
        if len(pattern.days) == 1:
            rule = attrs.evolve(rule, by_day=((pattern.index, pattern.days[0]),))
        else:
            rule = attrs.evolve(rule, by_day=tuple((0, d) for d in pattern.days))
            lists["BYSETPOS"] = (pattern.index,)
    return rule.with_lists(**lists)


def check_pattern(pattern: Pattern) -> Pattern:
    if not 1 <= pattern.interval <= MAX_INTERVAL:
        raise invalid(f"interval {pattern.interval} is outside 1..{MAX_INTERVAL}")
    needs_days = pattern.kind == "weekly" or pattern.kind.startswith("relative")
    if needs_days and not pattern.days:
        raise invalid(f"a {pattern.kind} pattern needs at least one day of the week")
    if pattern.kind.endswith("Yearly") and not 1 <= pattern.month <= 12:
        raise invalid(f"month {pattern.month} is outside 1..12")
    if pattern.kind.startswith("absolute"):
        longest = calendar.monthrange(2000, pattern.month)[1] if pattern.month else 31
        if not 1 <= pattern.day_of_month <= longest:
            raise invalid(f"day of month {pattern.day_of_month} is outside 1..{longest}")
    if pattern.kind.startswith("relative") and pattern.index not in (1, 2, 3, 4, -1):
        raise invalid(f"week index {pattern.index} is not first..fourth or last")
    return pattern


def recurrence_from(rule: Rule, start: dt.datetime | dt.date, time_zone: str) -> Recurrence:
    """A Recurrence whose start is the first occurrence on or after ``start``.

    Graph and Outlook let a series start on a day the pattern skips ("the first
    occurrence may be this date or later"); RFC 5545 does not, so the start moves to
    the first real occurrence. No occurrence changes.
    """
    tz = zone_for_import(time_zone)
    all_day = not isinstance(start, dt.datetime)
    if isinstance(start, dt.datetime):
        wall = aware_utc("start", start).astimezone(tz).replace(tzinfo=None)
    else:
        wall = dt.datetime.combine(start, dt.time())
    canonical = canonical_rule(rule, wall, tz, all_day)
    # The week start decides which week the start date falls in, so it picks the first
    # occurrence of a weekly series with an interval of 2 or more (Microsoft's example:
    # every other Monday, week starting Sunday, from Sunday 2026-03-01 -> 2026-03-02).
    # The canonical rule drops WKST when it no longer matters *after* the first
    # occurrence; it is kept here, where it does.
    finder = attrs.evolve(canonical, wkst=rule.wkst) if rule.wkst is not None else canonical
    first = next(iter(to_dateutil(finder, wall, until_wall(canonical, tz))), None)
    if first is None:
        raise invalid("the pattern has no occurrence on or after its start date")
    begin: dt.datetime | dt.date = first.date() if all_day else localize(first, tz)
    # Filled-in parts came from the old start; recompute them from the real one.
    return Recurrence(
        rule=canonical_rule(rule, first, tz, all_day).text(), start=begin, time_zone=tz.key
    )


def until_text(end: dt.date, start: dt.datetime | dt.date) -> str:
    """Outlook's inclusive end date as an UNTIL: the date itself, or its last second."""
    return end.strftime("%Y%m%d" if not isinstance(start, dt.datetime) else "%Y%m%dT235959")


def zone_for_import(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zone(name)
    except UnknownTimeZoneError as exc:
        raise InvalidRecurrenceError(f"the series time zone is unknown: {exc}") from exc


def local_date(recurrence: Recurrence) -> dt.date:
    start = recurrence.start
    return start.date() if isinstance(start, dt.datetime) else start


def end_date(recurrence: Recurrence, rule: Rule, target: str) -> dt.date | None:
    if rule.until is None:
        return None
    if not recurrence.all_day and not day_granular(rule):
        raise unsupported(target, "an UNTIL inside a day")
    wall = until_wall(rule, recurrence.zone_info)
    assert wall is not None
    return wall.date()


def windows_zone(recurrence: Recurrence, target: str) -> str:
    try:
        return iana_to_windows(recurrence.time_zone)
    except UnknownTimeZoneError:
        raise unsupported(
            target, f"the zone {recurrence.time_zone} has no Windows equivalent"
        ) from None
