"""Recurring series: rule, zone and exceptions; expansion; Outlook's two pattern forms.

Theory of operation
-------------------
A :class:`Recurrence` is a value: an RFC 5545 ``RRULE`` (evaluated by python-dateutil), the
series' IANA time zone, the series start as a local wall time in that zone, the cancelled
occurrences and the changed ones (exceptions, each an :class:`~outlook_sync.model.Event`
with its own subject, times and location). It is validated and *canonicalised* at
construction, so two recurrences that describe the same series in the same way compare
equal, and an invalid or runaway one never exists:

- the rule is re-written in one spelling: parts in a fixed order, lists sorted, defaults
  dropped (``INTERVAL=1``, ``WKST=MO``, a ``WKST`` that cannot change the result), parts
  that dateutil would take from the start written out (``FREQ=WEEKLY`` started on a
  Tuesday is ``FREQ=WEEKLY;BYDAY=TU``), ``BYDAY=FR;BYSETPOS=-1`` written ``BYDAY=-1FR``,
  ``FREQ=DAILY;BYDAY=MO,TU`` written ``FREQ=WEEKLY;BYDAY=MO,TU``, and ``UNTIL`` moved
  to the end of the local day of the last occurrence it allows (in UTC, as RFC 5545
  requires when the start has a zone). None of this changes a single occurrence.
- the start must itself be an occurrence (RFC 5545 says DTSTART always is one; dateutil
  only yields it when it matches, so we require it to match);
- ``FREQ=SECONDLY`` and ``FREQ=MINUTELY`` are refused, and so is any rule with more
  than :data:`MAX_OCCURRENCES_PER_YEAR` occurrences in the first year of the series
  (rules repeat, so every year is alike) or an ``INTERVAL`` above :data:`MAX_INTERVAL`.
  Rules that never end are fine.
- every cancelled or changed occurrence must be an occurrence of the rule, and none is
  both. Their keys, the *original starts*, are UTC datetimes (timed series) or dates
  (all-day series): PEP 495 makes a datetime in a repeated (fall-back) hour unequal to
  every datetime of another zone, so keys are kept in UTC to compare and hash reliably.

Occurrences are computed on local wall times and turned into instants with
:func:`outlook_sync.timezones.localize`, so a 09:00 series stays at 09:00 local across
daylight-saving changes, and the one documented DST rule (gap: forward; fold: first)
applies to every occurrence.

Outlook's forms
---------------
Microsoft Graph's ``patternedRecurrence`` (https://learn.microsoft.com/en-us/graph/api/
resources/patternedrecurrence, .../recurrencepattern, .../recurrencerange) and the
Outlook object model's ``RecurrencePattern`` (https://learn.microsoft.com/en-us/office/
vba/api/outlook.recurrencepattern) express the same six patterns: daily, weekly,
absolute monthly ("the 15th"), relative monthly ("the last Friday"), absolute yearly and
relative yearly, every *n* units, ending never, after *n* occurrences or on a date.
Outlook's "day 31 of every month" means the *last* day of every month, and "February
29 every year" falls on February 28 in other years (CDO ``DayOfMonth`` documentation;
MS-OXCICAL 2.1.3.2.2.3 maps ``BYMONTHDAY=-1`` to day 31), so those days map to
``BYMONTHDAY=-1`` / ``BYMONTHDAY=28,29,30;BYSETPOS=-1`` and back, never to a plain
``BYMONTHDAY=31``, which RFC 5545 skips in short months. A rule outside these patterns
(several times a day, ``BYWEEKNO``, ``BYMONTH`` limits on a monthly rule, "the fifth
Monday", ...) raises :class:`UnsupportedRecurrenceError`; nothing is approximated. The
object model does not expose a week start: the COM functions take it as an argument.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
import zoneinfo
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final

import attrs
from dateutil import rrule as du

from outlook_sync.errors import InvalidEventError
from outlook_sync.model import Event
from outlook_sync.timezones import UnknownTimeZoneError, iana_to_windows, localize, zone

__all__ = [
    "MAX_INTERVAL",
    "MAX_OCCURRENCES_PER_YEAR",
    "ComRecurrencePattern",
    "InvalidRecurrenceError",
    "OriginalStart",
    "Recurrence",
    "UnsupportedRecurrenceError",
    "expand",
    "from_com",
    "from_graph",
    "to_com",
    "to_graph",
]

#: Most occurrences a series may have in one year: three a day, every day. More is not an
#: appointment series but a runaway rule (FREQ=HOURLY for years, BYMINUTE lists, ...).
MAX_OCCURRENCES_PER_YEAR: Final = 1100
#: Largest INTERVAL accepted (Outlook's own dialogs stop at 999).
MAX_INTERVAL: Final = 999

#: What identifies one occurrence of a series: its original start, a UTC datetime for a
#: timed series, a date for an all-day series.
OriginalStart = dt.datetime | dt.date

_UTC = dt.UTC
_DAY_NAMES: Final = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")  # index = date.weekday()
_GRAPH_DAYS: Final = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_GRAPH_INDEX: Final = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}
_COM_DAY_BITS: Final = (2, 4, 8, 16, 32, 64, 1)  # olMonday .. olSunday (olSunday = 1)
_COM_TYPES: Final = {
    0: "daily",
    1: "weekly",
    2: "absoluteMonthly",
    3: "relativeMonthly",
    5: "absoluteYearly",
    6: "relativeYearly",
}
_FREQS: Final = {
    "YEARLY": du.YEARLY,
    "MONTHLY": du.MONTHLY,
    "WEEKLY": du.WEEKLY,
    "DAILY": du.DAILY,
    "HOURLY": du.HOURLY,
    "MINUTELY": du.MINUTELY,
    "SECONDLY": du.SECONDLY,
}
#: integer list parts: (smallest, largest absolute value, negative values allowed)
_LISTS: Final = {
    "BYMONTH": (1, 12, False),
    "BYWEEKNO": (1, 53, True),
    "BYYEARDAY": (1, 366, True),
    "BYMONTHDAY": (1, 31, True),
    "BYHOUR": (0, 23, False),
    "BYMINUTE": (0, 59, False),
    "BYSECOND": (0, 60, False),
    "BYSETPOS": (1, 366, True),
}
_ORDER: Final = (
    "FREQ",
    "INTERVAL",
    "COUNT",
    "UNTIL",
    "BYMONTH",
    "BYWEEKNO",
    "BYYEARDAY",
    "BYMONTHDAY",
    "BYDAY",
    "BYHOUR",
    "BYMINUTE",
    "BYSECOND",
    "BYSETPOS",
    "WKST",
)
_BYDAY_RE: Final = re.compile(r"^([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$")
_UNTIL_RE: Final = re.compile(r"^(\d{8})(?:T(\d{6})(Z?))?$")
_END_OF_DAY: Final = dt.time(23, 59, 59)


class InvalidRecurrenceError(InvalidEventError):
    """A recurrence is malformed, inconsistent or runaway (``field="recurrence"``)."""

    def __init__(self, message: str, *, item_id: str | None = None) -> None:
        super().__init__(message, field="recurrence", item_id=item_id)


class UnsupportedRecurrenceError(InvalidEventError):
    """A valid recurrence that one side cannot express; it is reported, never altered.

    Attributes:
        target: ``"graph"`` or ``"com"``: the form that cannot hold the rule.
    """

    def __init__(self, message: str, *, target: str, item_id: str | None = None) -> None:
        super().__init__(message, field="recurrence", item_id=item_id)
        self.target = target


# --- the rule -------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class _Rule:
    """A parsed RRULE. ``until`` is the raw text; ``by_day`` is (ordinal or 0, weekday)."""

    freq: str
    interval: int = 1
    count: int | None = None
    until: str | None = None
    wkst: int | None = None
    by_day: tuple[tuple[int, int], ...] = ()
    lists: tuple[tuple[str, tuple[int, ...]], ...] = ()

    def get(self, name: str) -> tuple[int, ...]:
        return dict(self.lists).get(name, ())

    def with_lists(self, **changes: tuple[int, ...]) -> _Rule:
        merged = dict(self.lists)
        merged.update(changes)
        return attrs.evolve(self, lists=tuple(sorted((k, v) for k, v in merged.items() if v)))

    def text(self) -> str:
        values = {"FREQ": self.freq, "WKST": None if self.wkst is None else _DAY_NAMES[self.wkst]}
        values["INTERVAL"] = None if self.interval == 1 else str(self.interval)
        values["COUNT"] = None if self.count is None else str(self.count)
        values["UNTIL"] = self.until
        values["BYDAY"] = ",".join(f"{n or ''}{_DAY_NAMES[d]}" for n, d in self.by_day) or None
        for name, numbers in self.lists:
            values[name] = ",".join(str(n) for n in numbers)
        return ";".join(f"{key}={values[key]}" for key in _ORDER if values.get(key))


def _bad(message: str) -> InvalidRecurrenceError:
    return InvalidRecurrenceError(message)


def _int(name: str, text: str, low: int, high: int, *, signed: bool = False) -> int:
    if not re.fullmatch(r"[+-]?\d{1,6}", text):
        raise _bad(f"{name}={text} is not a whole number")
    value = int(text)
    if not low <= abs(value) <= high or (value < 0 and not signed):
        raise _bad(f"{name}={text} is outside {low}..{high}")
    return value


def _parse(text: object) -> _Rule:
    if not isinstance(text, str):
        raise _bad(f"the rule must be a str, not {type(text).__name__}")
    body = text.strip()
    if body.upper().startswith("RRULE:"):
        body = body[6:]
    if not body or len(body) > 1000:
        raise _bad("the rule is empty or longer than 1000 characters")
    parts: dict[str, str] = {}
    for chunk in body.split(";"):
        key, sep, value = chunk.partition("=")
        key, value = key.strip().upper(), value.strip().upper()
        if not sep or not value:
            raise _bad(f"rule part {chunk!r} is not NAME=VALUE")
        if key in parts:
            raise _bad(f"rule part {key} appears twice")
        if key not in _ORDER:
            raise _bad(f"{key} is not an RFC 5545 RRULE part")
        parts[key] = value
    freq = parts.pop("FREQ", None)
    if freq not in _FREQS:
        raise _bad(f"FREQ must be one of {sorted(_FREQS)}, not {freq!r}")
    if freq in ("SECONDLY", "MINUTELY"):
        raise _bad(f"FREQ={freq} is refused: no calendar series repeats every {freq[:-2]}")
    if "COUNT" in parts and "UNTIL" in parts:
        raise _bad("COUNT and UNTIL must not both be given (RFC 5545)")
    rule = _Rule(
        freq=freq,
        interval=_int("INTERVAL", parts.pop("INTERVAL", "1"), 1, MAX_INTERVAL),
        count=_int("COUNT", parts.pop("COUNT"), 1, 999_999) if "COUNT" in parts else None,
        until=parts.pop("UNTIL", None),
        wkst=_weekday(parts.pop("WKST")) if "WKST" in parts else None,
        by_day=tuple(
            sorted(
                {_by_day(item) for item in parts.pop("BYDAY", "").split(",") if item},
                key=lambda p: (p[1], p[0]),
            )
        ),
    )
    if rule.until is not None and not _UNTIL_RE.match(rule.until):
        raise _bad(f"UNTIL={rule.until} is not a DATE or DATE-TIME value")
    lists = {}
    for name, (low, high, signed) in _LISTS.items():
        if name in parts:
            items = parts.pop(name).split(",")
            lists[name] = tuple(sorted({_int(name, i, low, high, signed=signed) for i in items}))
    return rule.with_lists(**lists)


def _weekday(text: str) -> int:
    if text not in _DAY_NAMES:
        raise _bad(f"{text!r} is not a weekday (MO..SU)")
    return _DAY_NAMES.index(text)


def _by_day(item: str) -> tuple[int, int]:
    match = _BYDAY_RE.match(item.strip())
    if not match:
        raise _bad(f"BYDAY value {item!r} is not [+/-n]MO..SU")
    ordinal = int(match.group(1)) if match.group(1) else 0
    if match.group(1) and not 1 <= abs(ordinal) <= 53:
        raise _bad(f"BYDAY ordinal in {item!r} is outside 1..53")
    return ordinal, _DAY_NAMES.index(match.group(2))


def _canonical(rule: _Rule, start: dt.datetime, tz: zoneinfo.ZoneInfo, all_day: bool) -> _Rule:
    """One spelling per series (see the module doc); ``start`` is the naive wall time."""
    if all_day and not _day_granular(rule):
        raise _bad("an all-day series cannot repeat within a day")
    if not (rule.by_day or rule.get("BYMONTHDAY") or rule.get("BYYEARDAY") or rule.get("BYWEEKNO")):
        if rule.freq == "YEARLY":
            rule = rule.with_lists(
                BYMONTH=rule.get("BYMONTH") or (start.month,), BYMONTHDAY=(start.day,)
            )
        elif rule.freq == "MONTHLY":
            rule = rule.with_lists(BYMONTHDAY=(start.day,))
        elif rule.freq == "WEEKLY":
            rule = attrs.evolve(rule, by_day=((0, start.weekday()),))
    others = [n for n, _ in rule.lists]
    if (
        rule.freq == "DAILY"
        and rule.interval == 1
        and rule.by_day
        and not others
        and all(n == 0 for n, _ in rule.by_day)
    ):
        rule = attrs.evolve(rule, freq="WEEKLY")
    months = rule.get("BYMONTH")
    set_pos = rule.get("BYSETPOS")
    per_month = rule.freq == "MONTHLY" or (rule.freq == "YEARLY" and len(months) == 1)
    if (
        len(set_pos) == 1
        and len(rule.by_day) == 1
        and rule.by_day[0][0] == 0
        and set(others) <= {"BYMONTH", "BYSETPOS"}
        and (per_month or rule.freq == "YEARLY")
        and abs(set_pos[0]) <= (5 if per_month else 53)
    ):
        rule = attrs.evolve(rule, by_day=((set_pos[0], rule.by_day[0][1]),)).with_lists(BYSETPOS=())
    if rule.freq == "YEARLY" and len(months) == 1 and months[0] != 2:
        length = calendar.monthrange(2001, months[0])[1]
        days = rule.get("BYMONTHDAY")
        if days and all(d < 0 and length + 1 + d >= 1 for d in days):
            rule = rule.with_lists(BYMONTHDAY=tuple(sorted(length + 1 + d for d in days)))
    weekly_choice = rule.freq == "WEEKLY" and rule.interval > 1 and len(rule.by_day) > 1
    if rule.wkst == 0 or not (weekly_choice or rule.get("BYWEEKNO")):
        rule = attrs.evolve(rule, wkst=None)
    if rule.until is not None:
        rule = attrs.evolve(rule, until=_canonical_until(rule, rule.until, start, tz, all_day))
    return rule


def _day_granular(rule: _Rule) -> bool:
    return rule.freq != "HOURLY" and not any(
        rule.get(n) for n in ("BYHOUR", "BYMINUTE", "BYSECOND")
    )


def _canonical_until(
    rule: _Rule, text: str, start: dt.datetime, tz: zoneinfo.ZoneInfo, all_day: bool
) -> str:
    match = _UNTIL_RE.match(text)
    assert match is not None  # checked by _parse
    try:
        day = _date(match.group(1))
        clock = _clock(match.group(2)) if match.group(2) else None
    except ValueError:
        raise _bad(f"UNTIL={text} is not a valid date or time") from None
    if clock is not None and match.group(3):  # UTC: the local wall time it is
        local = dt.datetime.combine(day, clock, _UTC).astimezone(tz).replace(tzinfo=None)
        day, clock = local.date(), local.time()
    if all_day:
        return day.strftime("%Y%m%d")
    if clock is None:
        raise _bad(f"UNTIL={text} is a DATE; a timed series needs a DATE-TIME (RFC 5545)")
    if _day_granular(rule):
        if clock < start.time():
            day -= dt.timedelta(days=1)
        clock = _END_OF_DAY
    instant = localize(dt.datetime.combine(day, clock), tz).astimezone(_UTC)
    return instant.strftime("%Y%m%dT%H%M%SZ")


def _date(text: str) -> dt.date:
    return dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))


def _clock(text: str) -> dt.time:
    return dt.time(int(text[:2]), int(text[2:4]), min(int(text[4:6]), 59))


def _until_wall(rule: _Rule, tz: zoneinfo.ZoneInfo) -> dt.datetime | None:
    """The canonical UNTIL as a naive local wall time (what dateutil compares)."""
    if rule.until is None:
        return None
    if len(rule.until) == 8:
        return dt.datetime.combine(_date(rule.until), _END_OF_DAY)
    instant = dt.datetime.combine(_date(rule.until[:8]), _clock(rule.until[9:15]), _UTC)
    return instant.astimezone(tz).replace(tzinfo=None)


def _dateutil(rule: _Rule, start: dt.datetime, until: dt.datetime | None) -> du.rrule:
    lists = dict(rule.lists)
    return du.rrule(
        _FREQS[rule.freq],  # type: ignore[arg-type]
        dtstart=start,
        interval=rule.interval,
        wkst=rule.wkst if rule.wkst is not None else 0,
        count=rule.count,
        until=until,
        bysetpos=lists.get("BYSETPOS"),
        bymonth=lists.get("BYMONTH"),
        bymonthday=lists.get("BYMONTHDAY"),
        byyearday=lists.get("BYYEARDAY"),
        byweekno=lists.get("BYWEEKNO"),
        byweekday=tuple(du.weekday(d, n or None) for n, d in rule.by_day) or None,
        byhour=lists.get("BYHOUR"),
        byminute=lists.get("BYMINUTE"),
        bysecond=lists.get("BYSECOND"),
        cache=False,
    )


def _shift_years(value: dt.datetime, years: int) -> dt.datetime:
    return value.replace(year=value.year + years)  # 400-year steps keep Feb 29 valid


def _check_density(rule: _Rule, start: dt.datetime, until: dt.datetime | None) -> None:
    """Start is an occurrence; at most MAX_OCCURRENCES_PER_YEAR in the first year.

    Runs on a copy moved by whole 400-year Gregorian cycles (which keep every weekday and
    date) to just before year 9999, so dateutil's search for an occurrence of a rule that
    never matches ("30 February") ends after a few centuries instead of eight millennia.
    """
    years = 400 * ((9600 - start.year + 399) // 400)
    probe_start = _shift_years(start, years)
    probe_until = None
    if until is not None and until.year + years <= 9999:
        probe_until = _shift_years(until, years)
    occurrences = iter(_dateutil(rule, probe_start, probe_until))
    if next(occurrences, None) != probe_start:
        raise _bad(
            f"the series start {start.isoformat()} is not an occurrence of the rule "
            "(or the rule has no occurrence at all)"
        )
    year_later = probe_start + dt.timedelta(days=365)
    count = 1
    for occurrence in occurrences:
        if occurrence >= year_later:
            return
        count += 1
        if count > MAX_OCCURRENCES_PER_YEAR:
            raise _bad(
                f"the rule has more than {MAX_OCCURRENCES_PER_YEAR} occurrences a "
                "year; a series that dense is refused"
            )


# --- the value object -------------------------------------------------------------------


def _instant_key(value: object) -> object:
    """Aware datetimes as UTC (PEP 495-safe equality); anything else unchanged."""
    if isinstance(value, dt.datetime) and value.utcoffset() is not None:
        return value.astimezone(_UTC)
    return value


def _sort_key(pair: tuple[object, object]) -> tuple[str, str]:
    return type(pair[0]).__name__, str(pair[0])  # UTC ISO strings sort chronologically


def _zone_key(value: object) -> str:
    try:
        return zone(value).key  # type: ignore[arg-type]
    except UnknownTimeZoneError as exc:
        raise InvalidRecurrenceError(f"the series time zone is unknown: {exc}") from exc


def _changed(value: object) -> object:
    if isinstance(value, Mapping):
        value = value.items()
    if isinstance(value, Iterable) and not isinstance(value, str | bytes):
        return tuple(sorted(((_instant_key(k), e) for k, e in value), key=_sort_key))
    return value


def _cancelled(value: object) -> object:
    if isinstance(value, Iterable) and not isinstance(value, str | bytes):
        return frozenset(_instant_key(v) for v in value)
    return value


@attrs.frozen(kw_only=True)
class Recurrence:
    """A recurring series: rule, zone, start, cancelled and changed occurrences.

    Attributes:
        rule: an RFC 5545 RRULE (with or without the ``RRULE:`` prefix); kept in the
            canonical spelling described in the module doc.
        start: the first occurrence's start. A timezone-aware datetime (any zone; kept
            in ``time_zone``) for a timed series, a ``date`` for an all-day series.
        time_zone: the series' zone, an IANA name (a Windows name is accepted and kept as
            its CLDR IANA zone). Occurrences keep their local wall time in this zone.
        cancelled: original starts of deleted occurrences (kept as UTC datetimes/dates).
        changed: original start -> the occurrence's own content (a mapping or pairs;
            kept as pairs sorted by original start).

    Raises:
        InvalidRecurrenceError: malformed or runaway rule, start not an occurrence, an
            exception for a time the rule does not produce, an unknown zone.
    """

    rule: str
    start: dt.datetime | dt.date = attrs.field(eq=_instant_key)
    time_zone: str = attrs.field(converter=_zone_key)
    cancelled: frozenset[OriginalStart] = attrs.field(default=frozenset(), converter=_cancelled)
    changed: tuple[tuple[OriginalStart, Event], ...] = attrs.field(default=(), converter=_changed)

    def __attrs_post_init__(self) -> None:
        tz = zone(self.time_zone)
        if isinstance(self.start, dt.datetime):
            if self.start.tzinfo is None or self.start.utcoffset() is None:
                raise _bad("the series start must be timezone-aware (or a date, all day)")
            local = self.start.astimezone(tz)
            if localize(local.replace(tzinfo=None), tz).astimezone(_UTC) != _instant_key(
                self.start
            ):
                raise _bad(
                    f"the series start {self.start.isoformat()} is the second "
                    "occurrence of a repeated local time; series follow the "
                    "first-occurrence rule"
                )
            object.__setattr__(self, "start", local)
        elif not isinstance(self.start, dt.date):
            raise _bad(f"the series start must be a datetime or date, not {self.start!r}")
        wall = self._wall(self.start)
        rule = _canonical(_parse(self.rule), wall, tz, self.all_day)
        until = _until_wall(rule, tz)
        if until is not None and until < wall:
            raise _bad("UNTIL is before the series start")
        _check_density(rule, wall, until)
        object.__setattr__(self, "rule", rule.text())
        self._check_exceptions()

    @property
    def all_day(self) -> bool:
        """True for a series of all-day events (``start`` is a date)."""
        return not isinstance(self.start, dt.datetime)

    @property
    def zone_info(self) -> zoneinfo.ZoneInfo:
        """The series' zone as a ZoneInfo."""
        return zone(self.time_zone)

    @property
    def exceptions(self) -> dict[OriginalStart, Event]:
        """The changed occurrences as a dict (original start -> content)."""
        return dict(self.changed)

    def _wall(self, value: dt.datetime | dt.date) -> dt.datetime:
        if isinstance(value, dt.datetime):
            return value.astimezone(self.zone_info).replace(tzinfo=None)
        return dt.datetime.combine(value, dt.time())

    def _rrule(self) -> du.rrule:
        rule = _parse(self.rule)
        return _dateutil(rule, self._wall(self.start), _until_wall(rule, self.zone_info))

    def _key(self, wall: dt.datetime) -> OriginalStart:
        if self.all_day:
            return wall.date()
        return localize(wall, self.zone_info).astimezone(_UTC)

    def occurrences_between(self, low: dt.datetime, high: dt.datetime) -> Iterator[OriginalStart]:
        """Original starts of the rule (ignoring exceptions) with key in ``[low, high)``.

        ``low`` and ``high`` are aware; for an all-day series a date counts from its
        local midnight in the series zone.
        """
        tz = self.zone_info
        margin = dt.timedelta(hours=3)  # DST shifts and the gap rule move by at most 3 h
        lo_wall = low.astimezone(tz).replace(tzinfo=None) - margin - dt.timedelta(days=1)
        hi_wall = high.astimezone(tz).replace(tzinfo=None) + margin
        low, high = low.astimezone(_UTC), high.astimezone(_UTC)
        for wall in self._rrule().between(lo_wall, hi_wall, inc=True):
            moment = localize(wall, tz).astimezone(_UTC)
            if low <= moment < high:
                yield self._key(wall)

    def occurs_at(self, original_start: OriginalStart) -> bool:
        """True if the rule (ignoring exceptions) has an occurrence starting then."""
        return not self._not_occurrences([_instant_key(original_start)])

    def _not_occurrences(self, keys: list[object]) -> list[object]:
        """The keys that are not original starts of this series (one pass over the rule)."""
        wrong = [k for k in keys if not self._well_typed(k)]
        moments = {k: self._moment_of(k) for k in keys if self._well_typed(k)}
        if moments:
            low, high = min(moments.values()), max(moments.values())
            found = set(self.occurrences_between(low, high + dt.timedelta(seconds=1)))
            wrong += [k for k in moments if k not in found]
        return wrong

    def _well_typed(self, key: object) -> bool:
        if self.all_day:
            return isinstance(key, dt.date) and not isinstance(key, dt.datetime)
        return isinstance(key, dt.datetime) and key.utcoffset() is not None

    def _moment_of(self, key: object) -> dt.datetime:
        if isinstance(key, dt.datetime):
            return key.astimezone(_UTC)
        assert isinstance(key, dt.date)
        return localize(self._wall(key), self.zone_info).astimezone(_UTC)

    def _check_exceptions(self) -> None:
        changed_keys = [k for k, _ in self.changed]
        if len(set(changed_keys)) != len(changed_keys):
            raise _bad("two changed occurrences share one original start")
        if self.cancelled & set(changed_keys):
            raise _bad("an occurrence cannot be both cancelled and changed")
        for _key, event in self.changed:
            if not isinstance(event, Event):
                raise _bad(f"a changed occurrence must be an Event, not {type(event).__name__}")
        wrong = self._not_occurrences([*self.cancelled, *changed_keys])
        if wrong:
            kind = "dates" if self.all_day else "aware datetimes"
            raise _bad(
                f"{wrong[0]!r} is not an occurrence of the series (original starts "
                f"are {kind} the rule produces)"
            )

    def cancel(self, original_start: OriginalStart) -> Recurrence:
        """A copy with that occurrence cancelled (any exception for it is dropped)."""
        key = _instant_key(original_start)
        changed = tuple(p for p in self.changed if p[0] != key)
        return attrs.evolve(self, cancelled=self.cancelled | {key}, changed=changed)

    def change(self, original_start: OriginalStart, event: Event) -> Recurrence:
        """A copy where that occurrence has ``event`` as its own content."""
        key = _instant_key(original_start)
        changed = [*(p for p in self.changed if p[0] != key), (key, event)]
        return attrs.evolve(self, cancelled=self.cancelled - {key}, changed=changed)

    def restore(self, original_start: OriginalStart) -> Recurrence:
        """A copy where that occurrence follows the series again."""
        key = _instant_key(original_start)
        changed = tuple(p for p in self.changed if p[0] != key)
        return attrs.evolve(self, cancelled=self.cancelled - {key}, changed=changed)


# --- expansion --------------------------------------------------------------------------


def _occurrence(template: Event, recurrence: Recurrence, key: OriginalStart) -> Event:
    changes: dict[str, Any] = {}
    if "recurrence" in attrs.fields_dict(Event):  # the master's rule is not the occurrence's
        changes["recurrence"] = None
    if recurrence.all_day:
        assert isinstance(key, dt.date)
        days = _days(template)
        return attrs.evolve(template, start=key, end=key + days, all_day=True, **changes)
    assert isinstance(key, dt.datetime)
    begin = key.astimezone(recurrence.zone_info)
    duration = _duration(template)
    end = (key + duration).astimezone(recurrence.zone_info)
    return attrs.evolve(template, start=begin, end=end, all_day=False, **changes)


def _days(template: Event) -> dt.timedelta:
    if not template.all_day:
        raise _bad("an all-day series needs an all-day template event")
    return template.end - template.start


def _duration(template: Event) -> dt.timedelta:
    if template.all_day:
        raise _bad("a timed series needs a timed template event")
    start, end = template.start, template.end
    assert isinstance(start, dt.datetime)
    assert isinstance(end, dt.datetime)
    return end.astimezone(_UTC) - start.astimezone(_UTC)  # elapsed, not wall-clock


def _moment(recurrence: Recurrence, value: dt.datetime | dt.date) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value.astimezone(_UTC)
    return localize(dt.datetime.combine(value, dt.time()), recurrence.zone_info).astimezone(_UTC)


def expand(
    recurrence: Recurrence, template: Event, window_start: dt.datetime, window_end: dt.datetime
) -> list[tuple[OriginalStart, Event]]:
    """The occurrences whose (actual) start lies in ``[window_start, window_end)``.

    Regular occurrences are the template moved to each start of the rule, keeping its
    elapsed duration (all-day: its number of days); cancelled ones are left out; a
    changed one is its own event, included when *its* start is in the window, wherever
    the original start was. An all-day start counts from its local midnight in the
    series zone.

    Args:
        recurrence: the series.
        template: the series master's content (subject, duration, location, ...).
        window_start, window_end: aware datetimes.

    Returns:
        ``(original_start, event)`` pairs sorted by actual start, then original start.

    Raises:
        InvalidEventError: naive window bounds, or a template of the wrong kind
            (all-day vs timed).
    """
    low = _aware("window_start", window_start)
    high = _aware("window_end", window_end)
    result: list[tuple[OriginalStart, Event]] = []
    skip = recurrence.cancelled | {k for k, _ in recurrence.changed}
    for key in recurrence.occurrences_between(low, high):
        if key not in skip:
            result.append((key, _occurrence(template, recurrence, key)))
    for key, event in recurrence.changed:
        if low <= _moment(recurrence, event.start) < high:
            result.append((key, event))
    result.sort(key=lambda p: (_moment(recurrence, p[1].start), _moment(recurrence, p[0])))
    return result


def _aware(name: str, value: object) -> dt.datetime:
    if not isinstance(value, dt.datetime) or value.utcoffset() is None:
        raise InvalidEventError(f"{name} must be a timezone-aware datetime", field=name)
    return value.astimezone(_UTC)


# --- Outlook's patterns ------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class _Pattern:
    """The six Outlook patterns, in Graph's terms (COM is a renaming)."""

    kind: str
    interval: int
    days: tuple[int, ...] = ()  # weekdays, 0 = Monday
    index: int = 0  # 1..4 or -1 (last)
    day_of_month: int = 0
    month: int = 0
    week_start: int = 0


def _unsupported(target: str, why: str) -> UnsupportedRecurrenceError:
    side = "Microsoft Graph" if target == "graph" else "the Outlook object model"
    return UnsupportedRecurrenceError(f"{side} cannot express this series: {why}", target=target)


def _relative(rule: _Rule, target: str) -> tuple[tuple[int, ...], int]:
    set_pos = rule.get("BYSETPOS")
    days: tuple[int, ...]
    if len(rule.by_day) == 1 and rule.by_day[0][0] and not set_pos:
        index, days = rule.by_day[0][0], (rule.by_day[0][1],)
    elif len(set_pos) == 1 and rule.by_day and all(n == 0 for n, _ in rule.by_day):
        index, days = set_pos[0], tuple(d for _, d in rule.by_day)
    else:
        raise _unsupported(target, "only one 'first/second/third/fourth/last' weekday choice")
    if index not in (1, 2, 3, 4, -1):
        raise _unsupported(target, f"position {index} (only 1st..4th and last exist)")
    return days, index


def _to_pattern(rule: _Rule, target: str) -> _Pattern:
    names = {n for n, _ in rule.lists}
    for part in ("BYHOUR", "BYMINUTE", "BYSECOND", "BYWEEKNO", "BYYEARDAY"):
        if part in names:
            raise _unsupported(target, f"{part} is not one of its patterns")
    if rule.freq == "HOURLY":
        raise _unsupported(target, "FREQ=HOURLY (a series repeats at most daily)")
    if rule.freq == "DAILY":
        if names or rule.by_day:
            raise _unsupported(target, "a daily rule with BY... limits")
        return _Pattern(kind="daily", interval=rule.interval)
    if rule.freq == "WEEKLY":
        if names or any(n for n, _ in rule.by_day):
            raise _unsupported(target, "a weekly rule with limits other than plain weekdays")
        days = tuple(d for _, d in rule.by_day)
        return _Pattern(kind="weekly", interval=rule.interval, days=days, week_start=rule.wkst or 0)
    month = 0
    if rule.freq == "YEARLY":
        months = rule.get("BYMONTH")
        if len(months) != 1:
            raise _unsupported(target, "a yearly rule must name exactly one month")
        month = months[0]
    elif "BYMONTH" in names:
        raise _unsupported(target, "a monthly rule limited to some months")
    month_days = rule.get("BYMONTHDAY")
    prefix = "absolute" if month_days else "relative"
    kind = prefix + ("Yearly" if month else "Monthly")
    if month_days:
        if rule.by_day:
            raise _unsupported(target, "BYMONTHDAY combined with BYDAY")
        day = _outlook_day(month_days, rule.get("BYSETPOS"), month)
        if day is None:
            raise _unsupported(
                target,
                f"BYMONTHDAY={month_days} (Outlook moves a missing "
                "day to the month's last day instead of skipping it)",
            )
        return _Pattern(kind=kind, interval=rule.interval, day_of_month=day, month=month)
    days, index = _relative(rule, target)
    return _Pattern(kind=kind, interval=rule.interval, days=days, index=index, month=month)


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


def _from_pattern(pattern: _Pattern) -> _Rule:
    freq = {"daily": "DAILY", "weekly": "WEEKLY"}.get(pattern.kind)
    if freq is None:
        freq = "YEARLY" if pattern.kind.endswith("Yearly") else "MONTHLY"
    rule = _Rule(freq=freq, interval=pattern.interval)
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


def _check_pattern(pattern: _Pattern) -> _Pattern:
    if not 1 <= pattern.interval <= MAX_INTERVAL:
        raise _bad(f"interval {pattern.interval} is outside 1..{MAX_INTERVAL}")
    needs_days = pattern.kind == "weekly" or pattern.kind.startswith("relative")
    if needs_days and not pattern.days:
        raise _bad(f"a {pattern.kind} pattern needs at least one day of the week")
    if pattern.kind.endswith("Yearly") and not 1 <= pattern.month <= 12:
        raise _bad(f"month {pattern.month} is outside 1..12")
    if pattern.kind.startswith("absolute"):
        longest = calendar.monthrange(2000, pattern.month)[1] if pattern.month else 31
        if not 1 <= pattern.day_of_month <= longest:
            raise _bad(f"day of month {pattern.day_of_month} is outside 1..{longest}")
    if pattern.kind.startswith("relative") and pattern.index not in (1, 2, 3, 4, -1):
        raise _bad(f"week index {pattern.index} is not first..fourth or last")
    return pattern


def _recurrence_from(rule: _Rule, start: dt.datetime | dt.date, time_zone: str) -> Recurrence:
    """A Recurrence whose start is the first occurrence on or after ``start``.

    Graph and Outlook let a series start on a day the pattern skips ("the first
    occurrence may be this date or later"); RFC 5545 does not, so the start moves to
    the first real occurrence. No occurrence changes.
    """
    tz = _zone_for_import(time_zone)
    all_day = not isinstance(start, dt.datetime)
    if isinstance(start, dt.datetime):
        wall = _aware("start", start).astimezone(tz).replace(tzinfo=None)
    else:
        wall = dt.datetime.combine(start, dt.time())
    canonical = _canonical(rule, wall, tz, all_day)
    first = next(iter(_dateutil(canonical, wall, _until_wall(canonical, tz))), None)
    if first is None:
        raise _bad("the pattern has no occurrence on or after its start date")
    begin: dt.datetime | dt.date = first.date() if all_day else localize(first, tz)
    # Filled-in parts came from the old start; recompute them from the real one.
    return Recurrence(
        rule=_canonical(rule, first, tz, all_day).text(), start=begin, time_zone=tz.key
    )


def _until_text(end: dt.date, start: dt.datetime | dt.date) -> str:
    """Outlook's inclusive end date as an UNTIL: the date itself, or its last second."""
    return end.strftime("%Y%m%d" if not isinstance(start, dt.datetime) else "%Y%m%dT235959")


def _zone_for_import(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zone(name)
    except UnknownTimeZoneError as exc:
        raise InvalidRecurrenceError(f"the series time zone is unknown: {exc}") from exc


def _local_date(recurrence: Recurrence) -> dt.date:
    start = recurrence.start
    return start.date() if isinstance(start, dt.datetime) else start


def _end_date(recurrence: Recurrence, rule: _Rule, target: str) -> dt.date | None:
    if rule.until is None:
        return None
    if not recurrence.all_day and not _day_granular(rule):
        raise _unsupported(target, "an UNTIL inside a day")
    wall = _until_wall(rule, recurrence.zone_info)
    assert wall is not None
    return wall.date()


def _windows_zone(recurrence: Recurrence, target: str) -> str:
    try:
        return iana_to_windows(recurrence.time_zone)
    except UnknownTimeZoneError:
        raise _unsupported(
            target, f"the zone {recurrence.time_zone} has no Windows equivalent"
        ) from None


# --- Microsoft Graph ---------------------------------------------------------------------


def to_graph(recurrence: Recurrence) -> dict[str, Any]:
    """The Graph ``patternedRecurrence`` JSON of a series (without its exceptions).

    ``range.recurrenceTimeZone`` is the Windows name of the series zone, as Graph wants;
    ``firstDayOfWeek`` is the rule's WKST (Monday when the rule does not say). Only the
    properties each pattern type needs are sent, as the recurrencePattern page asks.

    Raises:
        UnsupportedRecurrenceError: the rule is not one of Graph's patterns.
    """
    rule = _parse(recurrence.rule)
    pattern = _to_pattern(rule, "graph")
    body: dict[str, Any] = {"type": pattern.kind, "interval": pattern.interval}
    if pattern.kind == "weekly" or pattern.kind.startswith("relative"):
        body["daysOfWeek"] = [_GRAPH_DAYS[d] for d in _sunday_first(pattern.days)]
    if pattern.kind == "weekly":
        body["firstDayOfWeek"] = _GRAPH_DAYS[pattern.week_start]
    if pattern.kind.startswith("relative"):
        body["index"] = {v: k for k, v in _GRAPH_INDEX.items()}[pattern.index]
    if pattern.day_of_month:
        body["dayOfMonth"] = pattern.day_of_month
    if pattern.month:
        body["month"] = pattern.month
    span: dict[str, Any] = {
        "type": "noEnd",
        "startDate": _local_date(recurrence).isoformat(),
        "recurrenceTimeZone": _windows_zone(recurrence, "graph"),
    }
    end = _end_date(recurrence, rule, "graph")
    if end is not None:
        span.update(type="endDate", endDate=end.isoformat())
    elif rule.count is not None:
        span.update(type="numbered", numberOfOccurrences=rule.count)
    return {"pattern": body, "range": span}


def _sunday_first(days: tuple[int, ...]) -> list[int]:
    return sorted(days, key=lambda d: (d + 1) % 7)


def _graph_day(name: object) -> int:
    if not isinstance(name, str) or name.lower() not in _GRAPH_DAYS:
        raise _bad(f"{name!r} is not a Graph dayOfWeek")
    return _GRAPH_DAYS.index(name.lower())


def _graph_int(data: Mapping[str, Any], key: str, default: int = 0) -> int:
    value = data.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(f"Graph {key} must be an integer, not {value!r}")
    return value


def from_graph(
    data: Mapping[str, Any], *, start: dt.datetime | dt.date, time_zone: str | None = None
) -> Recurrence:
    """The series a Graph ``patternedRecurrence`` describes (exceptions to be added).

    Properties a pattern type does not use are ignored (Graph returns them all, with
    defaults such as ``"dayOfMonth": 0``).

    Args:
        data: the event's ``recurrence`` JSON.
        start: the series master's start: aware datetime, or date for an all-day series.
        time_zone: the zone the pattern is in; defaults to ``range.recurrenceTimeZone``.
            Windows or IANA name.

    Raises:
        InvalidRecurrenceError: malformed JSON, or the pattern has no occurrence.
    """
    pattern_data, span = data.get("pattern"), data.get("range")
    if not isinstance(pattern_data, Mapping) or not isinstance(span, Mapping):
        raise _bad("a patternedRecurrence needs 'pattern' and 'range' objects")
    kind = pattern_data.get("type")
    if kind not in (
        "daily",
        "weekly",
        "absoluteMonthly",
        "relativeMonthly",
        "absoluteYearly",
        "relativeYearly",
    ):
        raise _bad(f"unknown Graph pattern type {kind!r}")
    raw_days = pattern_data.get("daysOfWeek") or []
    if not isinstance(raw_days, list):
        raise _bad("Graph daysOfWeek must be a list")
    uses_days = kind == "weekly" or kind.startswith("relative")
    index_name = pattern_data.get("index") or "first"
    if uses_days and kind != "weekly" and index_name not in _GRAPH_INDEX:
        raise _bad(f"unknown Graph week index {index_name!r}")
    pattern = _check_pattern(
        _Pattern(
            kind=kind,
            interval=_graph_int(pattern_data, "interval", 1),
            days=tuple(sorted({_graph_day(d) for d in raw_days})) if uses_days else (),
            index=_GRAPH_INDEX[index_name] if kind.startswith("relative") else 0,
            day_of_month=_graph_int(pattern_data, "dayOfMonth")
            if kind.startswith("absolute")
            else 0,
            month=_graph_int(pattern_data, "month") if kind.endswith("Yearly") else 0,
            week_start=_graph_day(pattern_data.get("firstDayOfWeek") or "sunday"),
        )
    )
    rule = _from_pattern(pattern)
    span_type = span.get("type")
    if span_type == "endDate":
        try:
            end = dt.date.fromisoformat(str(span.get("endDate")))
        except ValueError:
            raise _bad(f"Graph endDate {span.get('endDate')!r} is not a date") from None
        rule = attrs.evolve(rule, until=_until_text(end, start))
    elif span_type == "numbered":
        count = _graph_int(span, "numberOfOccurrences")
        if count < 1:
            raise _bad("a numbered Graph range needs numberOfOccurrences >= 1")
        rule = attrs.evolve(rule, count=count)
    elif span_type != "noEnd":
        raise _bad(f"unknown Graph range type {span_type!r}")
    zone_name = time_zone or span.get("recurrenceTimeZone")
    if not isinstance(zone_name, str) or not zone_name:
        raise _bad("the series time zone is missing (range.recurrenceTimeZone)")
    return _recurrence_from(rule, start, zone_name)


# --- the Outlook object model --------------------------------------------------------------


def _optional_date(_inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (isinstance(value, dt.datetime) or not isinstance(value, dt.date)):
        raise _bad(f"{attr.name} must be a date or None")


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
    rule = _parse(recurrence.rule)
    pattern = _to_pattern(rule, "com")
    wanted = _weekday(week_start.upper())
    if (rule.wkst is not None and rule.wkst != wanted) or (
        rule.wkst is None
        and wanted != 0
        and pattern.kind == "weekly"
        and pattern.interval > 1
        and len(pattern.days) > 1
    ):
        raise _unsupported(
            "com",
            f"WKST={_DAY_NAMES[rule.wkst or 0]} differs from Outlook's week start {week_start}",
        )
    kind = {v: k for k, v in _COM_TYPES.items()}[pattern.kind]
    end = _end_date(recurrence, rule, "com")
    return ComRecurrencePattern(
        recurrence_type=kind,
        interval=pattern.interval,
        day_of_week_mask=_mask(pattern.days),
        day_of_month=pattern.day_of_month,
        month_of_year=pattern.month,
        instance=5 if pattern.index == -1 else pattern.index,
        pattern_start_date=_local_date(recurrence),
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
        _check_pattern(_Pattern(kind="daily", interval=pattern.interval))
        rule = _Rule(freq="DAILY", interval=pattern.interval, by_day=tuple((0, d) for d in days))
    else:
        rule = _from_pattern(
            _check_pattern(
                _Pattern(
                    kind=kind,
                    interval=pattern.interval,
                    days=days if kind == "weekly" or kind.startswith("relative") else (),
                    index=-1 if pattern.instance == 5 else pattern.instance,
                    day_of_month=pattern.day_of_month if kind.startswith("absolute") else 0,
                    month=pattern.month_of_year if kind.endswith("Yearly") else 0,
                    week_start=_weekday(week_start.upper()),
                )
            )
        )
    if pattern.no_end_date:
        pass
    elif pattern.pattern_end_date is not None:
        rule = attrs.evolve(rule, until=_until_text(pattern.pattern_end_date, start))
    elif pattern.occurrences is not None and pattern.occurrences >= 1:
        rule = attrs.evolve(rule, count=pattern.occurrences)
    else:
        raise _bad("a bounded pattern needs pattern_end_date or occurrences >= 1")
    if isinstance(start, dt.datetime):
        day = _aware("start", start).astimezone(_zone_for_import(time_zone)).date()
    else:
        day = start
    if day != pattern.pattern_start_date:
        raise _bad(f"PatternStartDate {pattern.pattern_start_date} is not the start's date {day}")
    return _recurrence_from(rule, start, time_zone)
