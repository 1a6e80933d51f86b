"""How the emulator writes an event as JSON, and reads the OData bits it understands.

Representation: https://learn.microsoft.com/en-us/graph/api/resources/event (the ``event``
resource: ``changeKey``, ``@odata.etag``, ``iCalUId``, ``webLink``, ``showAs``,
``sensitivity``, ``dateTimeTimeZone`` start/end, ``itemBody``).

Headers honoured:

- ``Prefer: outlook.timezone="…"`` — start/end are returned in that zone (UTC when
  absent), https://learn.microsoft.com/en-us/graph/api/user-list-events ("Support
  various time zones").
- ``Prefer: outlook.body-content-type="text"`` — HTML bodies are returned as text,
  https://learn.microsoft.com/en-us/graph/api/event-get ("Request headers").
- ``Prefer: IdType="ImmutableId"`` — ids are returned in their immutable form,
  https://learn.microsoft.com/en-us/graph/outlook-immutable-id.
- ``Prefer: odata.maxpagesize=N`` — page size of delta rounds,
  https://learn.microsoft.com/en-us/graph/api/event-delta.

``$filter`` on single-value extended properties follows
https://learn.microsoft.com/en-us/graph/api/singlevaluelegacyextendedproperty-get
(``singleValueExtendedProperties/Any(ep: ep/id eq '…' and ep/value eq '…')``), plus the
common ``ep/value ne null`` form; ``$expand=singleValueExtendedProperties($filter=id eq
'…')`` returns the property with the item.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import urllib.parse
from collections.abc import Mapping
from typing import Any

from outlook_sync.testing.graph.store import (
    GraphError,
    StoredEvent,
    format_graph_datetime,
    norm_prop,
    zone,
)

__all__ = [
    "ReadOptions",
    "event_json",
    "parse_expand",
    "parse_filter",
    "parse_prefer",
    "parse_type_filter",
]


def parse_prefer(headers: Mapping[str, str]) -> dict[str, str]:
    """The ``Prefer`` preferences as a dict (keys case-folded, quotes removed)."""
    prefs: dict[str, str] = {}
    for name, value in headers.items():
        if name.lower() != "prefer":
            continue
        for part in value.split(","):
            key, _, val = part.strip().partition("=")
            if key:
                prefs[key.strip().casefold()] = val.strip().strip('"')
    return prefs


class ReadOptions:
    """What a request asked about the shape of events in its answer."""

    def __init__(self, headers: Mapping[str, str], expand: tuple[str, ...] | None) -> None:
        prefer = parse_prefer(headers)
        self.immutable = prefer.get("idtype", "").casefold() == "immutableid"
        self.tz_name = prefer.get("outlook.timezone", "UTC") or "UTC"
        self.tz = zone(self.tz_name)
        self.body_text = prefer.get("outlook.body-content-type", "").casefold() == "text"
        self.page_size = _int(prefer.get("odata.maxpagesize"), default=0)
        self.expand = expand


def _int(value: str | None, *, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


_EXPAND = re.compile(r"^singleValueExtendedProperties\(\s*\$filter\s*=\s*(.+)\)$", re.IGNORECASE)
_EXPAND_ID = re.compile(r"^id\s+eq\s+'((?:[^']|'')*)'$", re.IGNORECASE)


def parse_expand(value: str | None) -> tuple[str, ...] | None:
    """The extended property ids an ``$expand`` asks for: ``id eq '…'``, or several
    joined by ``or`` (OData ``$filter`` inside ``$expand``; "Get
    singleValueExtendedProperty", learn.microsoft.com/graph/api/
    singlevaluelegacyextendedproperty-get).

    Raises:
        GraphError: 400 for any other ``$expand``.
    """
    if value is None:
        return None
    match = _EXPAND.match(value.strip())
    if match is None:
        raise GraphError(400, "BadRequest", f"Unsupported $expand: {value}")
    ids = []
    for part in re.split(r"\s+or\s+", match.group(1).strip(), flags=re.IGNORECASE):
        found = _EXPAND_ID.match(part.strip())
        if found is None:
            raise GraphError(400, "BadRequest", f"Unsupported $expand: {value}")
        ids.append(found.group(1).replace("''", "'"))
    return tuple(ids)


_FILTER = re.compile(
    r"^singleValueExtendedProperties/any\(\s*(\w+)\s*:\s*\1/id\s+eq\s+'((?:[^']|'')*)'"
    r"(?:\s+and\s+\1/value\s+(eq\s+'((?:[^']|'')*)'|ne\s+null))?\s*\)$",
    re.IGNORECASE,
)


def parse_filter(value: str | None) -> tuple[str, str | None, bool] | None:
    """Parse an extended-property ``$filter``: ``(property id, value or None, any value)``.

    Raises:
        GraphError: 400 ``ErrorInvalidUrlQueryFilter`` for filters the emulator lacks.
    """
    if value is None:
        return None
    match = _FILTER.match(value.strip())
    if match is None:
        raise GraphError(400, "ErrorInvalidUrlQueryFilter", f"Unsupported $filter: {value}")
    prop = match.group(2).replace("''", "'")
    wanted = match.group(4)
    if wanted is not None:
        return prop, wanted.replace("''", "'"), False
    return prop, None, True


_TYPE_FILTER = re.compile(r"^type\s+eq\s+'(\w+)'$", re.IGNORECASE)


def parse_type_filter(value: str | None) -> str | None:
    """The event type a ``$filter=type eq '…'`` asks for (e.g. ``seriesMaster``), or None."""
    if value is None:
        return None
    match = _TYPE_FILTER.match(value.strip())
    return match.group(1) if match else None


def matches_filter(event: StoredEvent, flt: tuple[str, str | None, bool]) -> bool:
    """Whether ``event`` passes an extended-property ``$filter``.

    "Filtering the string name (``Name``) in the id of an extended property is
    case-sensitive. Filtering the **value** property of an extended property is
    case-insensitive." (https://learn.microsoft.com/en-us/graph/api/
    singlevaluelegacyextendedproperty-get). The id's case rule lives in
    :func:`~outlook_sync.testing.graph.store.norm_prop`.
    """
    prop, wanted, any_value = flt
    value = event.extended.get(norm_prop(prop))
    if value is None:
        return False
    return any_value or (wanted is not None and value.casefold() == wanted.casefold())


def html_to_text(content: str) -> str:
    """A plain rendering of an HTML body (what ``outlook.body-content-type`` does)."""
    text = re.sub(r"(?is)<(script|style|head).*?</\1>", "", content)
    text = re.sub(r"(?i)<br\s*/?>", "\n", text)
    text = re.sub(r"(?i)</(p|div|li|tr|h[1-6])\s*>", "\n", text)
    text = re.sub(r"<[^>]+>", "", text)
    return html.unescape(text).replace("\xa0", " ").strip("\n")


def text_to_html(content: str) -> str:
    """How Outlook stores a text body when it answers with HTML."""
    escaped = html.escape(content).replace("\n", "<br>\r\n")
    head = '<meta http-equiv="Content-Type" content="text/html; charset=utf-8">'
    return f"<html><head>{head}</head><body>{escaped}</body></html>"


def _iso_z(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _time_json(value: dt.datetime | dt.date, opts: ReadOptions) -> dict[str, str]:
    if isinstance(value, dt.datetime):
        return {
            "dateTime": format_graph_datetime(value.astimezone(opts.tz)),
            "timeZone": opts.tz_name,
        }
    midnight = dt.datetime(value.year, value.month, value.day)  # noqa: DTZ001 - floating
    return {"dateTime": format_graph_datetime(midnight), "timeZone": opts.tz_name}


def web_link(event_id: str) -> str:
    quoted = urllib.parse.quote(event_id, safe="")
    return f"https://outlook.office365.com/owa/?itemid={quoted}&exvsurl=1&path=/calendar/item"


#: ``responseStatus.time`` when nobody responded: Graph's "no date" (0001-01-01).
NO_RESPONSE_TIME = "0001-01-01T00:00:00Z"


def _locations(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``locations`` as the service derives it from ``location``.

    "The **location** and **locations** properties always correspond with each other"
    (https://learn.microsoft.com/en-us/graph/api/resources/event, ``locations``): an event
    without a place has an empty collection, one with a place lists it.
    """
    listed = data.get("locations")
    if isinstance(listed, list):
        return [dict(loc) for loc in listed if isinstance(loc, dict)]
    location = data.get("location") or {}
    name = str(location.get("displayName", "")) if isinstance(location, dict) else ""
    if not name:
        return []
    return [{"displayName": name, "locationType": "default", "uniqueIdType": "private"}]


def _response_status(data: Mapping[str, Any]) -> dict[str, str]:
    """The user's own response: ``organizer`` on events they organise, ``none`` otherwise.

    ``responseStatus`` is "the type of response sent in response to an event message"
    (responseStatus resource: ``none``, ``organizer``, ``tentativelyAccepted``,
    ``accepted``, ``declined``, ``notResponded``;
    https://learn.microsoft.com/en-us/graph/api/resources/responsestatus).
    """
    given = data.get("responseStatus")
    if isinstance(given, dict) and isinstance(given.get("response"), str):
        return {"response": given["response"], "time": str(given.get("time", NO_RESPONSE_TIME))}
    response = "organizer" if data.get("isOrganizer", True) else "none"
    return {"response": response, "time": NO_RESPONSE_TIME}


def event_json(event: StoredEvent, opts: ReadOptions, *, user: str) -> dict[str, Any]:
    """The Graph JSON of ``event`` as ``opts`` asks for it."""
    data = event.data
    event_id = event.immutable_id if opts.immutable else event.regular_id
    master_id = data.get("seriesMasterId")
    if event.master is not None:
        master_id = event.master.immutable_id if opts.immutable else event.master.regular_id
    body = dict(data.get("body") or {"contentType": "text", "content": ""})
    if opts.body_text and body.get("contentType") == "html":
        body = {"contentType": "text", "content": html_to_text(str(body.get("content", "")))}
    result: dict[str, Any] = {
        "@odata.etag": f'W/"{event.change_key}"',
        "id": event_id,
        "createdDateTime": _iso_z(event.created),
        "lastModifiedDateTime": _iso_z(event.modified),
        "changeKey": event.change_key,
        "categories": list(data.get("categories") or []),
        "transactionId": event.transaction_id,
        "originalStartTimeZone": event.start_zone,
        "originalEndTimeZone": event.end_zone,
        "iCalUId": event.ical_uid,
        "reminderMinutesBeforeStart": data.get("reminderMinutesBeforeStart", 15),
        "isReminderOn": data.get("isReminderOn", True),
        "subject": data.get("subject", ""),
        "bodyPreview": str(body.get("content", ""))[:255],
        "importance": data.get("importance", "normal"),
        "sensitivity": data.get("sensitivity", "normal"),
        "isAllDay": bool(data.get("isAllDay")),
        "isCancelled": bool(data.get("isCancelled")),
        "isOrganizer": bool(data.get("isOrganizer", True)),
        "showAs": data.get("showAs", "busy"),
        "type": data.get("type", "singleInstance"),
        "seriesMasterId": master_id,
        "webLink": web_link(event_id),
        "body": body,
        "start": _time_json(event.start, opts),
        "end": _time_json(event.end, opts),
        "location": dict(data.get("location") or {"displayName": ""}),
        "locations": _locations(data),
        "hasAttachments": bool(data.get("hasAttachments", False)),
        "responseRequested": bool(data.get("responseRequested", True)),
        "responseStatus": _response_status(data),
        "isOnlineMeeting": bool(data.get("isOnlineMeeting", False)),
        "onlineMeetingProvider": data.get("onlineMeetingProvider", "unknown"),
        "onlineMeetingUrl": data.get("onlineMeetingUrl"),
        "onlineMeeting": data.get("onlineMeeting"),
        "attendees": list(data.get("attendees") or []),
        "organizer": data.get("organizer") or {"emailAddress": {"name": user, "address": user}},
        "recurrence": data.get("recurrence") if event.master is None else None,
    }
    if event.original_start is not None:
        result["originalStart"] = _iso_z(event.original_start)
    if opts.expand is not None:
        props: list[dict[str, Any]] = []
        for wanted in opts.expand:
            key = norm_prop(wanted)
            props.extend({"id": wanted, "value": value}
                         for prop, value in event.extended.items() if prop == key)
        result["singleValueExtendedProperties"] = props
    return result
