"""Event <-> JSON-able dict: how state stores keep an :class:`~outlook_sync.model.Event`.

State stores persist the merge base of every link, the content of items the sync
deleted (undo) and the versions recorded in the conflict log. They all use this one
codec, so a stored event reads back *equal* and *in the same zone*.

The encoding (format version 1) is a flat dict with stable keys::

    {
      "v": 1,                                   # format version of this dict
      "subject": "Kundmöte",
      "start": "2024-03-05T09:00:00+01:00",     # ISO 8601 with offset; a date for all-day
      "start_zone": "Europe/Stockholm",         # IANA name, or null for a fixed offset
      "end": "2024-03-05T10:00:00+01:00",
      "end_zone": "Europe/Stockholm",
      "all_day": false,
      "location": "", "body": "", "categories": ["A", "B"],
      "show_as": "busy",                        # ShowAs value
      "private": false,
      "reminder_minutes": 15,                   # or null
      "recurrence": null                        # or, for a series master:
    }

    "recurrence": {
      "rule": "FREQ=WEEKLY;BYDAY=MO",           # the canonical RRULE
      "time_zone": "Europe/Stockholm",          # IANA name
      "start": "2024-03-04T09:00:00+01:00",     # the master's start (a date all day)
      "cancelled": ["2024-03-11T08:00:00+00:00"],   # original starts, UTC (dates all day)
      "changed": [["2024-03-18T08:00:00+00:00", {...an encoded event...}]]
    }

The ``recurrence`` key is new in format version 1; a reader that predates it ignores it
(unknown keys are ignored), and an event stored without it reads back as a single
appointment. Version 0.1 also wrote ``last_modified`` and ``last_modified_zone`` (a
backend's change time, then part of the event, now :attr:`Item.changed
<outlook_sync.model.Item.changed>`): they are ignored when read, and 0.1 reads an event
without them as one whose change time is unknown.

Losslessness: an aware datetime is written as its wall time with its UTC offset, plus the
IANA zone name when its tzinfo is a :class:`zoneinfo.ZoneInfo`. Reading converts the
instant back into that zone, which gives the same wall time and ``fold`` (a repeated
local hour at a DST change keeps its offset). Any other tzinfo (``datetime.timezone``,
dateutil zones) reads back as a fixed offset: the same instant, which is what
:class:`Event` equality compares. All-day events carry ``datetime.date`` values written
as ``YYYY-MM-DD``.

Conflict-log entries (:class:`~outlook_sync.records.Conflict`) use the same scheme:
:func:`encode_conflict` nests the three versions with :func:`encode_event`.

Unknown keys are ignored (a newer writer may add some); a newer ``v`` than this module
knows raises :class:`~outlook_sync.errors.StateError`, as does a dict that does not decode
into a valid event.
"""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from collections.abc import Callable, Mapping
from typing import Any

from outlook_sync.errors import InvalidEventError, StateError
from outlook_sync.model import Event, ShowAs, Side
from outlook_sync.records import Conflict
from outlook_sync.recurrence import OriginalStart, Recurrence

__all__ = [
    "FORMAT_VERSION",
    "decode_conflict",
    "decode_datetime",
    "decode_event",
    "encode_conflict",
    "encode_datetime",
    "encode_event",
    "event_from_json",
    "event_to_json",
    "from_json",
    "to_json",
]

#: The ``"v"`` written by :func:`encode_event`.
FORMAT_VERSION = 1


def encode_datetime(value: dt.datetime) -> tuple[str, str | None]:
    """Return ``(iso text with offset, IANA zone name or None)`` for an aware datetime."""
    zone = value.tzinfo.key if isinstance(value.tzinfo, zoneinfo.ZoneInfo) else None
    return value.isoformat(), zone


def decode_datetime(text: str, zone: str | None) -> dt.datetime:
    """Invert :func:`encode_datetime`.

    Raises:
        StateError: the text is not an aware ISO datetime or the zone is unknown.
    """
    try:
        value = dt.datetime.fromisoformat(text)
    except (TypeError, ValueError) as exc:
        raise StateError(f"stored datetime {text!r} is not ISO 8601") from exc
    if value.tzinfo is None:
        raise StateError(f"stored datetime {text!r} has no UTC offset")
    if zone is None:
        return value
    try:
        return value.astimezone(zoneinfo.ZoneInfo(zone))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise StateError(f"stored time zone {zone!r} is unknown") from exc


def _encode_point(out: dict[str, Any], key: str, value: dt.datetime | dt.date | None) -> None:
    if isinstance(value, dt.datetime):
        out[key], out[f"{key}_zone"] = encode_datetime(value)
    elif isinstance(value, dt.date):
        out[key], out[f"{key}_zone"] = value.isoformat(), None
    else:
        out[key], out[f"{key}_zone"] = None, None


def encode_event(event: Event) -> dict[str, Any]:
    """The JSON-able dict for ``event`` (see the module docstring for the keys)."""
    out: dict[str, Any] = {"v": FORMAT_VERSION, "subject": event.subject}
    _encode_point(out, "start", event.start)
    _encode_point(out, "end", event.end)
    out.update(
        all_day=event.all_day,
        location=event.location,
        body=event.body,
        categories=list(event.categories),
        show_as=_SHOW_AS_VALUE[event.show_as],
        private=event.private,
        reminder_minutes=event.reminder_minutes,
    )
    if event.recurrence is not None:
        out["recurrence"] = _encode_recurrence(event.recurrence)
    return out


def _encode_key(key: OriginalStart) -> str:
    return key.isoformat()  # UTC datetimes (timed series) or dates (all-day series)


def _encode_recurrence(recurrence: Recurrence) -> dict[str, Any]:
    start = recurrence.start
    return {
        "rule": recurrence.rule,
        "time_zone": recurrence.time_zone,
        "start": start.isoformat(),
        "cancelled": sorted(_encode_key(key) for key in recurrence.cancelled),
        "changed": [[_encode_key(key), encode_event(event)] for key, event in recurrence.changed],
    }


def _decode_key(text: object, *, all_day: bool) -> OriginalStart:
    if not isinstance(text, str):
        raise StateError("a stored original start is not a string")
    try:
        if all_day:
            return dt.date.fromisoformat(text)
        value = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise StateError(f"stored original start {text!r} is not ISO 8601") from exc
    if value.utcoffset() is None:
        raise StateError(f"stored original start {text!r} has no UTC offset")
    return value


def _decode_recurrence(data: object, *, all_day: bool) -> Recurrence | None:
    if data is None:
        return None
    if not isinstance(data, Mapping):
        raise StateError("stored recurrence is not an object")
    rule, start_text, zone_name = data.get("rule"), data.get("start"), data.get("time_zone")
    if not (isinstance(rule, str) and isinstance(start_text, str) and isinstance(zone_name, str)):
        raise StateError("stored recurrence lacks its rule, start or time zone")
    start: dt.datetime | dt.date
    if all_day:
        start = _decode_key(start_text, all_day=True)
    else:
        start = decode_datetime(start_text, zone_name)
    changed = []
    for pair in data.get("changed", ()):
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise StateError("a stored changed occurrence is not [original start, event]")
        changed.append((_decode_key(pair[0], all_day=all_day), decode_event(pair[1])))
    return Recurrence(
        rule=rule,
        start=start,
        time_zone=zone_name,
        cancelled=[_decode_key(key, all_day=all_day) for key in data.get("cancelled", ())],
        changed=changed,
    )


def _decode_point(data: Mapping[str, Any], key: str, *, all_day: bool) -> Any:
    text = data.get(key)
    if text is None:
        return None
    if not isinstance(text, str):
        raise StateError(f"stored {key} is not a string")
    if all_day:
        try:
            return dt.date.fromisoformat(text)
        except ValueError as exc:
            raise StateError(f"stored {key} {text!r} is not an ISO date") from exc
    return decode_datetime(text, data.get(f"{key}_zone"))


def decode_event(data: Mapping[str, Any]) -> Event:
    """Invert :func:`encode_event`.

    Raises:
        StateError: an unknown format version, or a dict that is not a valid event.
    """
    version = data.get("v")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise StateError(
            f"stored event has format version {version!r}; this library "
            f"reads up to {FORMAT_VERSION}"
        )
    all_day = data.get("all_day", False)
    try:
        return Event(
            subject=data["subject"],
            start=_decode_point(data, "start", all_day=bool(all_day)),
            end=_decode_point(data, "end", all_day=bool(all_day)),
            all_day=all_day,
            location=data.get("location", ""),
            body=data.get("body", ""),
            categories=tuple(data.get("categories", ())),
            show_as=data.get("show_as", "busy"),
            private=data.get("private", False),
            reminder_minutes=data.get("reminder_minutes"),
            recurrence=_decode_recurrence(data.get("recurrence"), all_day=bool(all_day)),
        )
    except (KeyError, TypeError, InvalidEventError) as exc:
        raise StateError(f"stored event does not decode: {exc}") from exc


def event_to_json(event: Event) -> str:
    """``encode_event`` as compact JSON text (keys sorted, so equal events give equal text).

    A single appointment (the common case: every link's base) is written directly,
    without the intermediate dict: the same text, character for character, as
    ``to_json(encode_event(event))`` (``tests/test_state_codec_text.py`` compares them).
    """
    if event.recurrence is not None:
        return to_json(encode_event(event))
    reminder = event.reminder_minutes
    return "".join((
        '{"all_day":', "true" if event.all_day else "false",
        ',"body":', _json_text(event.body),
        ',"categories":[', ",".join([_json_text(name) for name in event.categories]),
        '],"end":', _json_point(event.end, ',"end_zone":'),
        ',"location":', _json_text(event.location),
        ',"private":', "true" if event.private else "false",
        ',"reminder_minutes":', "null" if reminder is None else int.__repr__(reminder),
        ',"show_as":', _json_text(_SHOW_AS_VALUE[event.show_as]),
        ',"start":', _json_point(event.start, ',"start_zone":'),
        ',"subject":', _json_text(event.subject),
        ',"v":', _FORMAT_VERSION_TEXT, "}",
    ))


#: JSON text for a str as :func:`to_json` writes it (``ensure_ascii=False``)
_json_text: Callable[[str], str] = json.encoder.encode_basestring
_FORMAT_VERSION_TEXT = str(FORMAT_VERSION)
#: ``ShowAs.value`` is a property written in Python; a lookup is cheaper
_SHOW_AS_VALUE = {value: value.value for value in ShowAs}


def _json_point(value: dt.datetime | dt.date | None, zone_key: str) -> str:
    """What :func:`_encode_point` stores for ``value`` as JSON text: the value, then
    ``zone_key`` (``,"start_zone":``) and the zone."""
    if value is None:
        return "null" + zone_key + "null"
    zone = getattr(value, "tzinfo", None)  # a date has none
    key = zone.key if isinstance(zone, zoneinfo.ZoneInfo) else None
    return '"' + value.isoformat() + '"' + zone_key + ("null" if key is None else _json_text(key))


def event_from_json(text: str | bytes) -> Event:
    """Invert :func:`event_to_json`.

    Raises:
        StateError: the text is not JSON or not a stored event.
    """
    return decode_event(from_json(text))


def link_base_to_json(base: Event, attempt: tuple[Side, Event, Event] | None) -> str:
    """A link's stored base: :func:`event_to_json`, plus, while an update is being
    written, its ``(side, content, other)`` under ``"attempt_side"``, ``"attempt"`` and
    ``"attempt_other"`` (left out when it is ``content``): keys a reader that predates
    them ignores."""
    if attempt is None:
        return event_to_json(base)
    side, content, other = attempt
    data = encode_event(base)
    data["attempt"] = encode_event(content)
    data["attempt_side"] = side.value
    if other != content:
        data["attempt_other"] = encode_event(other)
    return to_json(data)


def link_base_from_json(
    text: str | bytes,
) -> tuple[Event, tuple[Side, Event, Event] | None]:
    """Invert :func:`link_base_to_json`.

    Raises:
        StateError: the text is not JSON or not a stored base.
    """
    data = from_json(text)
    base = decode_event(data)
    raw = data.get("attempt")
    if raw is None:
        return base, None
    try:
        side = Side(data.get("attempt_side"))
    except ValueError as exc:
        raise StateError(f"stored attempt_side is not a side: {exc}") from None
    content = decode_event(raw)
    other = data.get("attempt_other")
    return base, (side, content, content if other is None else decode_event(other))


def _optional_event(data: Any) -> Event | None:
    return None if data is None else decode_event(data)


def encode_conflict(conflict: Conflict) -> dict[str, Any]:
    """The JSON-able dict for a conflict-log entry (events nested with :func:`encode_event`)."""
    return {
        "v": FORMAT_VERSION,
        "saljstod_id": conflict.saljstod_id,
        "outlook_id": conflict.outlook_id,
        "kind": conflict.kind,
        "resolution": conflict.resolution,
        "fields": list(conflict.fields),
        "overridden": None if conflict.overridden is None else conflict.overridden.value,
        "saljstod": None if conflict.saljstod is None else encode_event(conflict.saljstod),
        "outlook": None if conflict.outlook is None else encode_event(conflict.outlook),
        "base": None if conflict.base is None else encode_event(conflict.base),
        "detail": conflict.detail,
        "result": None if conflict.result is None else encode_event(conflict.result),
    }


def decode_conflict(data: Mapping[str, Any]) -> Conflict:
    """Invert :func:`encode_conflict`.

    Raises:
        StateError: the dict is not a stored conflict.
    """
    try:
        overridden = data.get("overridden")
        return Conflict(
            saljstod_id=data.get("saljstod_id"),
            outlook_id=data.get("outlook_id"),
            kind=data["kind"],
            resolution=data["resolution"],
            fields=tuple(data.get("fields", ())),
            overridden=None if overridden is None else Side(overridden),
            saljstod=_optional_event(data.get("saljstod")),
            outlook=_optional_event(data.get("outlook")),
            base=_optional_event(data.get("base")),
            detail=data.get("detail", ""),
            result=_optional_event(data.get("result")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise StateError(f"stored conflict does not decode: {exc}") from exc


def to_json(data: Mapping[str, Any]) -> str:
    """Compact, key-sorted JSON text for an encoded dict."""
    return _ENCODER.encode(data)


#: what ``json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))``
#: uses, built once (``dumps`` builds one per call when given options)
_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def from_json(text: str | bytes) -> dict[str, Any]:
    """Parse JSON text written by :func:`to_json`.

    Raises:
        StateError: the text is not a JSON object.
    """
    try:
        data = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise StateError("stored state is not valid JSON") from exc
    if not isinstance(data, dict):
        raise StateError("stored state is not a JSON object")
    return data
