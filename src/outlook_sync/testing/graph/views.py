"""Query options and series views of the emulator: windows, ``$select``, ``$filter`` on
``lastModifiedDateTime``, and a series master's ``cancelledOccurrences`` /
``exceptionOccurrences``.

Sources, each behaviour with its page:

- **The 1 825-day limit.** A calendar view whose ``endDateTime`` is more than 1 825 days
  after its ``startDateTime`` is refused with 400 ``ErrorInvalidRequest`` ("Your request
  can't be completed. The range between the start and end dates is greater than the
  allowed range. Maximum number of days: 1825", microsoftgraph/microsoft-graph-docs-contrib
  #6321, against https://learn.microsoft.com/en-us/graph/api/calendar-list-calendarview).
  A calendarView *delta* names the same window in its first request
  (https://learn.microsoft.com/en-us/graph/api/event-delta); until Microsoft documents
  otherwise, the emulator applies the same limit there, so a client that would be refused
  on one is refused on both.
- **Series in a view.** "List calendarView: get the occurrences, exceptions, and single
  instances of events in a calendar view defined by a time range" (calendar-list-
  calendarview): a series is expanded over exactly the requested window, however far it
  is from today.
- **``$select``.** "Use $select to choose only the properties your app needs"; the answer
  holds those properties plus ``id`` and ``@odata.etag``
  (https://learn.microsoft.com/en-us/graph/query-parameters#select-parameter,
  https://learn.microsoft.com/en-us/graph/api/user-list-events, example 1).
- **``$filter`` on ``lastModifiedDateTime``.** ``/events`` supports ``$filter``
  (user-list-events, "Optional query parameters"); a DateTimeOffset literal is written
  without quotes (https://learn.microsoft.com/en-us/graph/filter-query-parameter, "Operator
  support": ``eq``, ``ne``, ``gt``, ``ge``, ``lt``, ``le``).
- **Series data in v1.0.** ``cancelledOccurrences`` "contains occurrenceId property values
  of canceled instances in a recurring series, if the event is the series master ...
  Requires $select to retrieve. Only returned in a Get operation that specifies the ID
  (seriesMasterId property value) of a series master event"; ``exceptionOccurrences``
  (a relationship) "requires $select and $expand to retrieve", with the same GET-by-id
  rule (https://learn.microsoft.com/en-us/graph/api/resources/event, v1.0, updated
  2025-05; msgraph-sdk-python 1.65 ``models/event.py`` declares both). An occurrence id
  there has the form ``OID.{seriesMasterId}.{yyyy-mm-dd}``, the occurrence's date (the
  ``get_event_seriesMaster_expansion`` example of event-get; the emulator takes the date in
  the series' time zone).

Only the standard library is used.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from typing import Any

from outlook_sync.testing.graph.store import GraphError, StoredEvent

__all__ = [
    "MAX_VIEW_DAYS",
    "apply_select",
    "check_window",
    "modified_filter",
    "occurrence_id",
    "parse_select",
    "series_fields",
    "split_expand",
]

#: The longest calendar view Graph serves (see the module docstring).
MAX_VIEW_DAYS = 1825

#: Properties a ``$select`` can never remove.
_ALWAYS = ("id", "@odata.etag")


def check_window(start: dt.datetime, end: dt.datetime) -> None:
    """Refuse a calendar view window Graph refuses.

    Raises:
        GraphError: 400 ``ErrorInvalidParameter`` for an empty window, 400
            ``ErrorInvalidRequest`` for one longer than 1 825 days.
    """
    if end <= start:
        raise GraphError(400, "ErrorInvalidParameter", "endDateTime must follow startDateTime.")
    if end - start > dt.timedelta(days=MAX_VIEW_DAYS):
        raise GraphError(
            400,
            "ErrorInvalidRequest",
            "Your request can't be completed. The range between the start and end dates is "
            f"greater than the allowed range. Maximum number of days: {MAX_VIEW_DAYS}",
        )


def parse_select(value: str | None) -> frozenset[str] | None:
    """The property names a ``$select`` asks for (case-folded), or None for all."""
    if value is None:
        return None
    names = frozenset(p.strip().casefold() for p in value.split(",") if p.strip())
    if not names:
        raise GraphError(400, "BadRequest", "An empty $select.")
    return names


def apply_select(data: dict[str, Any], select: frozenset[str] | None) -> dict[str, Any]:
    """``data`` with only the selected properties (and ``id``, ``@odata.etag``)."""
    if select is None:
        return data
    return {
        key: value
        for key, value in data.items()
        if key in _ALWAYS or key.casefold() in select or key == "singleValueExtendedProperties"
    }


def split_expand(value: str | None) -> tuple[bool, str | None]:
    """Split an ``$expand`` into "exceptionOccurrences asked" and the rest.

    Items are separated by commas outside parentheses
    (https://learn.microsoft.com/en-us/graph/query-parameters#expand-parameter).
    """
    if value is None:
        return False, None
    parts: list[str] = []
    depth, current = 0, ""
    for char in value:
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
            continue
        depth += {"(": 1, ")": -1}.get(char, 0)
        current += char
    parts.append(current.strip())
    wanted = any(p.casefold() == "exceptionoccurrences" for p in parts)
    rest = [p for p in parts if p and p.casefold() != "exceptionoccurrences"]
    return wanted, ",".join(rest) or None


_MODIFIED = re.compile(
    r"^lastModifiedDateTime\s+(eq|ne|gt|ge|lt|le)\s+"
    r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,7})?)?(?:Z|[+-]\d{2}:\d{2}))$",
    re.IGNORECASE,
)

_OPS: dict[str, Callable[[dt.datetime, dt.datetime], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
}


def modified_filter(value: str | None) -> Callable[[StoredEvent], bool] | None:
    """The test a ``$filter=lastModifiedDateTime {op} {DateTimeOffset}`` stands for.

    None when the filter is about something else (or absent).

    Raises:
        GraphError: 400 for a malformed DateTimeOffset.
    """
    if value is None:
        return None
    match = _MODIFIED.match(value.strip())
    if match is None:
        return None
    text = match.group(2).replace("Z", "+00:00").replace("z", "+00:00")
    if "." in text:
        main, rest = text.split(".", 1)
        digits = re.match(r"\d+", rest)
        assert digits is not None
        text = f"{main}.{digits.group(0)[:6].ljust(6, '0')}{rest[digits.end():]}"
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise GraphError(
            400, "BadRequest", f"Invalid DateTimeOffset in $filter: {match.group(2)}"
        ) from None
    test = _OPS[match.group(1).lower()]
    # The service compares at its own precision; the emulator keeps microseconds.
    return lambda event: test(event.modified, when)


def occurrence_id(master_id: str, original_start: dt.datetime, zone: dt.tzinfo) -> str:
    """``OID.{seriesMasterId}.{date}`` of an occurrence (the date in the series' zone)."""
    return f"OID.{master_id}.{original_start.astimezone(zone).date().isoformat()}"


def series_fields(
    master: StoredEvent,
    master_id: str,
    zone: dt.tzinfo,
    select: frozenset[str] | None,
    expand_exceptions: bool,
    render: Callable[[StoredEvent], Mapping[str, Any]],
) -> dict[str, Any]:
    """``cancelledOccurrences`` / ``exceptionOccurrences`` of a master, when selected."""
    if select is None or not master.is_master:
        return {}
    extra: dict[str, Any] = {}
    if "cancelledoccurrences" in select:
        extra["cancelledOccurrences"] = [
            occurrence_id(master_id, key, zone) for key in sorted(master.cancelled)
        ]
    if "exceptionoccurrences" in select and expand_exceptions:
        extra["exceptionOccurrences"] = [
            apply_select(dict(render(master.exceptions[key])), select)
            for key in sorted(master.exceptions)
        ]
    return extra
