"""Microsoft Graph's ``patternedRecurrence`` <-> :class:`Recurrence`.

Graph names the zone the Windows way (``range.recurrenceTimeZone``), starts a range on a
local date and ends it on an inclusive local date
(https://learn.microsoft.com/en-us/graph/api/resources/patternedrecurrence,
https://learn.microsoft.com/en-us/graph/api/resources/recurrencepattern,
https://learn.microsoft.com/en-us/graph/api/resources/recurrencerange). Exceptions
(``occurrence`` / ``exception`` events of a ``seriesMaster``) are not part of this JSON:
the adapter adds them with :meth:`Recurrence.change` and :meth:`Recurrence.cancel`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
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
    windows_zone,
)
from outlook_sync.recurrence.rule import invalid, parse_rule
from outlook_sync.recurrence.series import Recurrence

__all__ = ["from_graph", "to_graph"]

_GRAPH_DAYS: Final = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_GRAPH_INDEX: Final = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}
#: Exchange's limits on a pattern's interval (MS-OXOCAL 2.2.1.44.1, RecurrencePattern
#: ``Period``: 1..999 days for a daily pattern, 1..99 weeks or months otherwise). A
#: larger interval is refused before anything is written, never sent.
_MAX_INTERVAL: Final = {"daily": 999, "other": 99}


def to_graph(recurrence: Recurrence) -> dict[str, Any]:
    """The Graph ``patternedRecurrence`` JSON of a series (without its exceptions).

    ``range.recurrenceTimeZone`` is the Windows name of the series zone, as Graph wants;
    ``firstDayOfWeek`` is the rule's WKST (Monday when the rule does not say). Only the
    properties each pattern type needs are sent, as the recurrencePattern page asks.

    Raises:
        UnsupportedRecurrenceError: the rule is not one of Graph's patterns.
    """
    rule = parse_rule(recurrence.rule)
    pattern = to_pattern(rule, "graph")
    limit = _MAX_INTERVAL["daily" if pattern.kind == "daily" else "other"]
    if pattern.interval > limit:
        raise unsupported(
            "graph", f"an interval of {pattern.interval} (Outlook allows 1..{limit} here)"
        )
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
        "startDate": local_date(recurrence).isoformat(),
        "recurrenceTimeZone": windows_zone(recurrence, "graph"),
    }
    end = end_date(recurrence, rule, "graph")
    if end is not None:
        span.update(type="endDate", endDate=end.isoformat())
    elif rule.count is not None:
        span.update(type="numbered", numberOfOccurrences=rule.count)
    return {"pattern": body, "range": span}


def _sunday_first(days: tuple[int, ...]) -> list[int]:
    return sorted(days, key=lambda d: (d + 1) % 7)


def _graph_day(name: object) -> int:
    if not isinstance(name, str) or name.lower() not in _GRAPH_DAYS:
        raise invalid(f"{name!r} is not a Graph dayOfWeek")
    return _GRAPH_DAYS.index(name.lower())


def _graph_int(data: Mapping[str, Any], key: str, default: int = 0) -> int:
    value = data.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(f"Graph {key} must be an integer, not {value!r}")
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
        raise invalid("a patternedRecurrence needs 'pattern' and 'range' objects")
    kind = pattern_data.get("type")
    if kind not in (
        "daily",
        "weekly",
        "absoluteMonthly",
        "relativeMonthly",
        "absoluteYearly",
        "relativeYearly",
    ):
        raise invalid(f"unknown Graph pattern type {kind!r}")
    raw_days = pattern_data.get("daysOfWeek") or []
    if not isinstance(raw_days, list):
        raise invalid("Graph daysOfWeek must be a list")
    uses_days = kind == "weekly" or kind.startswith("relative")
    index_name = pattern_data.get("index") or "first"
    if uses_days and kind != "weekly" and index_name not in _GRAPH_INDEX:
        raise invalid(f"unknown Graph week index {index_name!r}")
    pattern = check_pattern(
        Pattern(
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
    rule = from_pattern(pattern)
    span_type = span.get("type")
    if span_type == "endDate":
        try:
            end = dt.date.fromisoformat(str(span.get("endDate")))
        except ValueError:
            raise invalid(f"Graph endDate {span.get('endDate')!r} is not a date") from None
        rule = attrs.evolve(rule, until=until_text(end, start))
    elif span_type == "numbered":
        count = _graph_int(span, "numberOfOccurrences")
        if count < 1:
            raise invalid("a numbered Graph range needs numberOfOccurrences >= 1")
        rule = attrs.evolve(rule, count=count)
    elif span_type != "noEnd":
        raise invalid(f"unknown Graph range type {span_type!r}")
    zone_name = time_zone or span.get("recurrenceTimeZone")
    if not isinstance(zone_name, str) or not zone_name:
        raise invalid("the series time zone is missing (range.recurrenceTimeZone)")
    return recurrence_from(rule, start, zone_name)
