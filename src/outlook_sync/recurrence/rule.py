"""The RRULE: parsing, one canonical spelling, validation against runaway rules.

Theory of operation
-------------------
A rule is parsed into a :class:`Rule` and re-written in one spelling, so two
recurrences that describe the same series in the same way compare equal:

- parts in a fixed order, lists sorted, defaults dropped (``INTERVAL=1``, ``WKST=MO``, a
  ``WKST`` that cannot change the result);
- parts that dateutil would take from the start written out (``FREQ=WEEKLY`` started on
  a Tuesday is ``FREQ=WEEKLY;BYDAY=TU``);
- ``BYDAY=FR;BYSETPOS=-1`` written ``BYDAY=-1FR``, ``FREQ=DAILY;BYDAY=MO,TU`` written
  ``FREQ=WEEKLY;BYDAY=MO,TU``;
- ``UNTIL`` moved to the end of the local day of the last occurrence it allows (in UTC,
  as RFC 5545 requires when the start has a zone).

None of this changes a single occurrence. Validation (:func:`check_density`): the start
must itself be an occurrence (RFC 5545 says DTSTART always is one; dateutil only yields
it when it matches, so we require it to match); ``FREQ=SECONDLY`` and ``FREQ=MINUTELY``
are refused, and so is any rule with more than :data:`MAX_OCCURRENCES_PER_YEAR`
occurrences in the first year of the series (rules repeat, so every year is alike) or an
``INTERVAL`` above :data:`MAX_INTERVAL`. Rules that never end are fine.

Rules are evaluated by python-dateutil on *naive local wall times* in the series zone;
the callers turn them into instants with :func:`outlook_sync.timezones.localize`.
The names here are the package's internals; the public ones are re-exported by
:mod:`outlook_sync.recurrence`.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
import zoneinfo
from typing import Final

import attrs
from dateutil import rrule as du

from outlook_sync.errors import InvalidEventError
from outlook_sync.timezones import localize

__all__ = [
    "DAY_NAMES",
    "END_OF_DAY",
    "MAX_INTERVAL",
    "MAX_OCCURRENCES_PER_YEAR",
    "UTC",
    "InvalidRecurrenceError",
    "OriginalStart",
    "Rule",
    "aware_utc",
    "canonical_rule",
    "check_density",
    "day_granular",
    "invalid",
    "parse_date",
    "parse_rule",
    "to_dateutil",
    "until_wall",
    "weekday_index",
]

#: Most occurrences a series may have in one year: three a day, every day. More is not an
#: appointment series but a runaway rule (FREQ=HOURLY for years, BYMINUTE lists, ...).
MAX_OCCURRENCES_PER_YEAR: Final = 1100
#: Largest INTERVAL accepted (Outlook's own dialogs stop at 999).
MAX_INTERVAL: Final = 999

#: What identifies one occurrence of a series: its original start, a UTC datetime for a
#: timed series, a date for an all-day series.
OriginalStart = dt.datetime | dt.date

UTC: Final = dt.UTC
#: RFC 5545 weekday names; the index is ``date.weekday()``.
DAY_NAMES: Final = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
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
END_OF_DAY: Final = dt.time(23, 59, 59)


class InvalidRecurrenceError(InvalidEventError):
    """A recurrence is malformed, inconsistent or runaway (``field="recurrence"``)."""

    def __init__(self, message: str, *, item_id: str | None = None) -> None:
        super().__init__(message, field="recurrence", item_id=item_id)


@attrs.frozen(kw_only=True)
class Rule:
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

    def with_lists(self, **changes: tuple[int, ...]) -> Rule:
        merged = dict(self.lists)
        merged.update(changes)
        return attrs.evolve(self, lists=tuple(sorted((k, v) for k, v in merged.items() if v)))

    def text(self) -> str:
        values = {"FREQ": self.freq, "WKST": None if self.wkst is None else DAY_NAMES[self.wkst]}
        values["INTERVAL"] = None if self.interval == 1 else str(self.interval)
        values["COUNT"] = None if self.count is None else str(self.count)
        values["UNTIL"] = self.until
        values["BYDAY"] = ",".join(f"{n or ''}{DAY_NAMES[d]}" for n, d in self.by_day) or None
        for name, numbers in self.lists:
            values[name] = ",".join(str(n) for n in numbers)
        return ";".join(f"{key}={values[key]}" for key in _ORDER if values.get(key))


def invalid(message: str) -> InvalidRecurrenceError:
    return InvalidRecurrenceError(message)


def _int(name: str, text: str, low: int, high: int, *, signed: bool = False) -> int:
    if not re.fullmatch(r"[+-]?\d{1,6}", text):
        raise invalid(f"{name}={text} is not a whole number")
    value = int(text)
    if not low <= abs(value) <= high or (value < 0 and not signed):
        raise invalid(f"{name}={text} is outside {low}..{high}")
    return value


def parse_rule(text: object) -> Rule:
    if not isinstance(text, str):
        raise invalid(f"the rule must be a str, not {type(text).__name__}")
    body = text.strip()
    if body.upper().startswith("RRULE:"):
        body = body[6:]
    if not body or len(body) > 1000:
        raise invalid("the rule is empty or longer than 1000 characters")
    parts: dict[str, str] = {}
    for chunk in body.split(";"):
        key, sep, value = chunk.partition("=")
        key, value = key.strip().upper(), value.strip().upper()
        if not sep or not value:
            raise invalid(f"rule part {chunk!r} is not NAME=VALUE")
        if key in parts:
            raise invalid(f"rule part {key} appears twice")
        if key not in _ORDER:
            raise invalid(f"{key} is not an RFC 5545 RRULE part")
        parts[key] = value
    freq = parts.pop("FREQ", None)
    if freq not in _FREQS:
        raise invalid(f"FREQ must be one of {sorted(_FREQS)}, not {freq!r}")
    if freq in ("SECONDLY", "MINUTELY"):
        raise invalid(f"FREQ={freq} is refused: no calendar series repeats every {freq[:-2]}")
    if "COUNT" in parts and "UNTIL" in parts:
        raise invalid("COUNT and UNTIL must not both be given (RFC 5545)")
    rule = Rule(
        freq=freq,
        interval=_int("INTERVAL", parts.pop("INTERVAL", "1"), 1, MAX_INTERVAL),
        count=_int("COUNT", parts.pop("COUNT"), 1, 999_999) if "COUNT" in parts else None,
        until=parts.pop("UNTIL", None),
        wkst=weekday_index(parts.pop("WKST")) if "WKST" in parts else None,
        by_day=tuple(
            sorted(
                {_by_day(item) for item in parts.pop("BYDAY", "").split(",") if item},
                key=lambda p: (p[1], p[0]),
            )
        ),
    )
    if rule.until is not None and not _UNTIL_RE.match(rule.until):
        raise invalid(f"UNTIL={rule.until} is not a DATE or DATE-TIME value")
    lists = {}
    for name, (low, high, signed) in _LISTS.items():
        if name in parts:
            items = parts.pop(name).split(",")
            lists[name] = tuple(sorted({_int(name, i, low, high, signed=signed) for i in items}))
    return rule.with_lists(**lists)


def weekday_index(text: str) -> int:
    if text not in DAY_NAMES:
        raise invalid(f"{text!r} is not a weekday (MO..SU)")
    return DAY_NAMES.index(text)


def _by_day(item: str) -> tuple[int, int]:
    match = _BYDAY_RE.match(item.strip())
    if not match:
        raise invalid(f"BYDAY value {item!r} is not [+/-n]MO..SU")
    ordinal = int(match.group(1)) if match.group(1) else 0
    if match.group(1) and not 1 <= abs(ordinal) <= 53:
        raise invalid(f"BYDAY ordinal in {item!r} is outside 1..53")
    return ordinal, DAY_NAMES.index(match.group(2))


def canonical_rule(rule: Rule, start: dt.datetime, tz: zoneinfo.ZoneInfo, all_day: bool) -> Rule:
    """One spelling per series (see the module doc); ``start`` is the naive wall time."""
    if all_day and not day_granular(rule):
        raise invalid("an all-day series cannot repeat within a day")
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


def day_granular(rule: Rule) -> bool:
    return rule.freq != "HOURLY" and not any(
        rule.get(n) for n in ("BYHOUR", "BYMINUTE", "BYSECOND")
    )


def _canonical_until(
    rule: Rule, text: str, start: dt.datetime, tz: zoneinfo.ZoneInfo, all_day: bool
) -> str:
    match = _UNTIL_RE.match(text)
    assert match is not None  # checked by parse_rule
    try:
        day = parse_date(match.group(1))
        clock = _clock(match.group(2)) if match.group(2) else None
    except ValueError:
        raise invalid(f"UNTIL={text} is not a valid date or time") from None
    if clock is not None and match.group(3):  # UTC: the local wall time it is
        local = dt.datetime.combine(day, clock, UTC).astimezone(tz).replace(tzinfo=None)
        day, clock = local.date(), local.time()
    if all_day:
        return day.strftime("%Y%m%d")
    if clock is None:
        raise invalid(f"UNTIL={text} is a DATE; a timed series needs a DATE-TIME (RFC 5545)")
    if day_granular(rule):
        if clock < start.time():
            day -= dt.timedelta(days=1)
        clock = END_OF_DAY
    instant = localize(dt.datetime.combine(day, clock), tz).astimezone(UTC)
    return instant.strftime("%Y%m%dT%H%M%SZ")


def parse_date(text: str) -> dt.date:
    return dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))


def _clock(text: str) -> dt.time:
    return dt.time(int(text[:2]), int(text[2:4]), min(int(text[4:6]), 59))


def until_wall(rule: Rule, tz: zoneinfo.ZoneInfo) -> dt.datetime | None:
    """The canonical UNTIL as a naive local wall time (what dateutil compares)."""
    if rule.until is None:
        return None
    if len(rule.until) == 8:
        return dt.datetime.combine(parse_date(rule.until), END_OF_DAY)
    instant = dt.datetime.combine(parse_date(rule.until[:8]), _clock(rule.until[9:15]), UTC)
    return instant.astimezone(tz).replace(tzinfo=None)


def to_dateutil(rule: Rule, start: dt.datetime, until: dt.datetime | None) -> du.rrule:
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


def check_density(rule: Rule, start: dt.datetime, until: dt.datetime | None) -> None:
    """Start is an occurrence; at most MAX_OCCURRENCES_PER_YEAR in the first year.

    Runs on a copy moved by whole 400-year Gregorian cycles (which keep every weekday and
    date) to just before year 9999, so dateutil's search for an occurrence of a rule that
    never matches ("30 February") ends after a few centuries instead of eight millennia.
    """
    years = 400 * ((9600 - start.year) // 400)  # the probe starts in (9200, 9600]
    probe_start = _shift_years(start, years)
    probe_until = None
    if until is not None and until.year + years <= 9999:
        probe_until = _shift_years(until, years)
    occurrences = iter(to_dateutil(rule, probe_start, probe_until))
    if next(occurrences, None) != probe_start:
        raise invalid(
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
            raise invalid(
                f"the rule has more than {MAX_OCCURRENCES_PER_YEAR} occurrences a "
                "year; a series that dense is refused"
            )


def aware_utc(name: str, value: object) -> dt.datetime:
    """``value`` in UTC if it is an aware datetime.

    Raises:
        InvalidEventError: ``value`` is not an aware datetime (``field=name``).
    """
    if not isinstance(value, dt.datetime) or value.utcoffset() is None:
        raise InvalidEventError(f"{name} must be a timezone-aware datetime", field=name)
    return value.astimezone(UTC)
