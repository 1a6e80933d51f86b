"""Graph event JSON <-> :class:`~outlook_sync.model.Event`: the only place the two meet.

Reads assume the adapter asked for ``Prefer: outlook.timezone="UTC"`` and
``outlook.body-content-type="text"``; anything else that arrives is still handled.

Field by field (Graph names from https://learn.microsoft.com/en-us/graph/api/resources/event):

=========================  ==============================================================
``subject``                subject (``null`` reads as "")
``start`` / ``end``        ``dateTimeTimeZone``; timed events are written in UTC and read in
                           whatever zone is named (UTC, Windows or IANA names through
                           :mod:`outlook_sync.timezones`)
``isAllDay``               all-day events are dates (midnight wall times, end exclusive)
``location.displayName``   location
``body``                   written as ``text``; an HTML body that still arrives is turned
                           into plain text (tags dropped, ``<br>``/``<p>`` become line
                           breaks, entities decoded) — lossy, documented in docs/graph.md
``categories``             categories
``showAs``                 show_as (``oof`` = out of office, ``unknown`` reads as busy)
``sensitivity``            ``private`` and ``confidential`` read as private; written as
                           ``private`` / ``normal``
``isReminderOn`` +         reminder_minutes (``None`` when the reminder is off)
``reminderMinutesBeforeStart``
``lastModifiedDateTime``   ``Item.changed`` (metadata)
``changeKey``              Item.version
single-value extended      Item.partner_key (the Säljstöd id)
property
=========================  ==============================================================

``attendees`` is never written, so creating or updating an event never sends a meeting
request (see docs/graph.md, "Invitations").
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Mapping
from typing import Any

from outlook_sync.errors import InvalidEventError
from outlook_sync.model import BrokenItem, Event, Item, ShowAs
from outlook_sync.timezones import iana_to_windows, localize
from outlook_sync.timezones import zone as find_zone

__all__ = [
    "COM_PARTNER_PROPERTY",
    "PARTNER_PROPERTY",
    "MappingError",
    "event_from_graph",
    "event_to_graph",
    "html_to_text",
    "item_from_graph",
    "parse_instant",
    "partner_key_of",
    "written_zone",
    "zone_property",
]

#: The single-value extended property that stores the Säljstöd id on an Outlook item
#: (a named MAPI string property in outlook_sync's own property set).
PARTNER_PROPERTY = "String {4d2a6c1e-7b0f-4f4e-9a55-3c1b8e0f6a21} Name SaljstodId"
#: Where the desktop Outlook adapter keeps the partner key: a user property, which MAPI
#: stores as a named property in PS_PUBLIC_STRINGS. Read as a fallback, so a user moved
#: from COM to Graph re-links by partner key even if an item was edited in between.
COM_PARTNER_PROPERTY = "String {00020329-0000-0000-C000-000000000046} Name SaljstodId"
#: The IANA zone an event was written in. Graph names zones the Windows way
#: (``originalStartTimeZone``, ``recurrenceTimeZone``), and one Windows zone covers
#: several IANA zones ("W. Europe Standard Time": Berlin, Stockholm, Rome, ...), so a
#: Stockholm event would read back as Berlin. The property is believed only while the
#: Windows name Graph gives still stands for it: a zone changed in Outlook wins.
ZONE_PROPERTY = "String {4d2a6c1e-7b0f-4f4e-9a55-3c1b8e0f6a21} Name SaljstodTimeZone"

_SHOW_AS_IN = {
    "free": ShowAs.FREE,
    "tentative": ShowAs.TENTATIVE,
    "busy": ShowAs.BUSY,
    "oof": ShowAs.OUT_OF_OFFICE,
    "workingelsewhere": ShowAs.WORKING_ELSEWHERE,
    "unknown": ShowAs.BUSY,
}
_SHOW_AS_OUT = {
    ShowAs.FREE: "free",
    ShowAs.TENTATIVE: "tentative",
    ShowAs.BUSY: "busy",
    ShowAs.OUT_OF_OFFICE: "oof",
    ShowAs.WORKING_ELSEWHERE: "workingElsewhere",
}


class MappingError(ValueError):
    """A Graph event that cannot be turned into an :class:`Event`; ``reason`` says why."""


def html_to_text(content: str) -> str:
    """Plain text of an HTML body: tags dropped, block ends become line breaks."""
    text = re.sub(r"(?is)<(script|style|head)\b.*?</\1\s*>", "", content)
    text = re.sub(r"(?i)<br\s*/?>", "\n", text)
    text = re.sub(r"(?i)</(p|div|li|tr|h[1-6])\s*>", "\n", text)
    text = re.sub(r"<[^>]*>", "", text)
    text = html.unescape(text).replace("\r\n", "\n").replace("\xa0", " ")
    return text.strip("\n")


def _wall(value: object, field: str) -> tuple[dt.datetime, str]:
    if not isinstance(value, Mapping):
        raise MappingError(f"{field} is missing or not a dateTimeTimeZone")
    raw, zone = value.get("dateTime"), value.get("timeZone") or "UTC"
    if not isinstance(raw, str) or not isinstance(zone, str):
        raise MappingError(f"{field} has no dateTime")
    text = raw.strip()
    if text.endswith("Z"):
        text = text[:-1]
    if "." in text:
        main, frac = text.split(".", 1)
        text = f"{main}.{frac[:6]}"
    try:
        wall = dt.datetime.fromisoformat(text)
    except ValueError:
        raise MappingError(f"{field} {raw!r} is not a date-time") from None
    if wall.tzinfo is not None:
        try:
            return wall.astimezone(dt.UTC).replace(tzinfo=None), "UTC"
        except OverflowError:
            raise MappingError(_out_of_range(field, raw, None)) from None
    return wall, zone


def _out_of_range(field: str, raw: str, zone: str | None) -> str:
    where = f" in {zone!r}" if zone else ""
    return (f"{field} {raw!r}{where} falls outside the years 1..9999 in UTC "
            "(a sentinel or corrupt date)")


def _time(value: object, field: str, *, all_day: bool) -> dt.datetime | dt.date:
    wall, zone = _wall(value, field)
    if all_day:
        return wall.date()
    if zone.upper() in ("UTC", "ETC/UTC"):
        return wall.replace(tzinfo=dt.UTC)
    try:
        return localize(wall, zone).astimezone(dt.UTC)
    except InvalidEventError as exc:
        raise MappingError(f"{field} has an unknown time zone {zone!r}") from exc
    except OverflowError:  # e.g. 9999-12-31T23:00 at UTC-12, or year 1 east of UTC
        raise MappingError(_out_of_range(field, wall.isoformat(), zone)) from None


def _str(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MappingError(f"{key} is not a string")
    return value


def _modified(value: object) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:  # what Graph sends: Python reads 'Z' and seven fraction digits (truncated) itself
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        text = value.strip().replace("Z", "+00:00")
        if "." in text:
            main, rest = text.split(".", 1)
            digits = re.match(r"\d*", rest)
            frac = digits.group(0) if digits else ""
            text = f"{main}.{frac[:6].ljust(6, '0')}{rest[len(frac) :]}"
        try:
            when = dt.datetime.fromisoformat(text)
        except ValueError:
            return None
    if when.tzinfo is None:
        return when.replace(tzinfo=dt.UTC)
    try:
        return when.astimezone(dt.UTC)
    except OverflowError:  # year 1 east of UTC, year 9999 west of it: not an instant
        return None


def parse_instant(value: object) -> dt.datetime | None:
    """A Graph ``DateTimeOffset`` (``2026-03-16T08:00:00.0000000Z``) as an aware datetime
    in UTC, or None when it is missing, malformed or outside the datetimes UTC has."""
    return _modified(value)


def event_from_graph(data: Mapping[str, Any]) -> Event:
    """The :class:`Event` a Graph event JSON describes.

    Raises:
        MappingError: a field is missing, malformed or refused by the model.
    """
    try:
        all_day = bool(data.get("isAllDay"))
        body = data.get("body") or {}
        if not isinstance(body, Mapping):
            raise MappingError("body is not an itemBody")
        content = body.get("content") or ""
        if not isinstance(content, str):
            raise MappingError("body content is not a string")
        if str(body.get("contentType", "text")).lower() == "html":
            content = html_to_text(content)
        location = data.get("location") or {}
        if not isinstance(location, Mapping):
            raise MappingError("location is not an object")
        categories = data.get("categories") or []
        if not isinstance(categories, list):
            raise MappingError("categories is not a list")
        show_as = _SHOW_AS_IN.get(str(data.get("showAs") or "busy").casefold())
        if show_as is None:
            raise MappingError(f"showAs {data.get('showAs')!r} is unknown")
        reminder: int | None = None
        if data.get("isReminderOn"):
            minutes = data.get("reminderMinutesBeforeStart")
            if isinstance(minutes, bool) or not isinstance(minutes, int):
                raise MappingError("reminderMinutesBeforeStart is not an integer")
            reminder = minutes
        return Event(
            subject=_str(data, "subject"),
            start=_in_original_zone(_time(data.get("start"), "start", all_day=all_day), data,
                                    "originalStartTimeZone"),
            end=_in_original_zone(_time(data.get("end"), "end", all_day=all_day), data,
                                  "originalEndTimeZone"),
            all_day=all_day,
            location=str(location.get("displayName") or ""),
            body=content,
            categories=tuple(categories),
            show_as=show_as,
            private=str(data.get("sensitivity") or "normal").casefold()
            in ("private", "confidential"),
            reminder_minutes=reminder,
        )
    except InvalidEventError as exc:
        raise MappingError(str(exc)) from exc
    except OverflowError as exc:  # a date at the edge of Python's range, read in a zone
        raise MappingError(f"a date is out of range ({exc}): a sentinel or corrupt date") \
            from None


def _extended(data: Mapping[str, Any], *wanted: str) -> str | None:
    """The value of the first of the ``wanted`` extended properties the item carries."""
    props = data.get("singleValueExtendedProperties")
    if not isinstance(props, list):
        return None
    found: dict[str, str] = {}
    for prop in props:
        pid = prop.get("id") if isinstance(prop, Mapping) else None
        value = prop.get("value") if isinstance(prop, Mapping) else None
        if isinstance(pid, str) and isinstance(value, str) and value.strip():
            found[" ".join(pid.split()).casefold()] = value
    for prop_id in wanted:
        key = " ".join(prop_id.split()).casefold()
        if key in found:
            return found[key]
    return None


def partner_key_of(data: Mapping[str, Any], prop_id: str = PARTNER_PROPERTY) -> str | None:
    """The partner key stored in the extended property, if the item carries one; else
    the one desktop Outlook's adapter stored (:data:`COM_PARTNER_PROPERTY`)."""
    return _extended(data, prop_id, COM_PARTNER_PROPERTY)


def zone_property(event: Event) -> dict[str, str] | None:
    """The :data:`ZONE_PROPERTY` to write with ``event``: its start's IANA zone, when
    that zone has a Windows name (otherwise the times go as UTC and there is nothing to
    tell apart)."""
    key = getattr(event.start.tzinfo, "key", None) if isinstance(event.start, dt.datetime) \
        else None
    if not isinstance(key, str):
        return None
    try:
        iana_to_windows(key)
    except InvalidEventError:
        return None
    return {"id": ZONE_PROPERTY, "value": key}


def written_zone(data: Mapping[str, Any], graph_name: object) -> str | None:
    """The IANA zone the event was written in (:data:`ZONE_PROPERTY`), if Graph's zone
    ``graph_name`` (a Windows or IANA name) still stands for it; else ``None``."""
    written = _extended(data, ZONE_PROPERTY)
    if written is None or not isinstance(graph_name, str) or not graph_name:
        return None
    try:
        same = iana_to_windows(written) == iana_to_windows(find_zone(graph_name).key)
    except InvalidEventError:
        return None
    return written if same else None


def item_from_graph(
    data: Mapping[str, Any],
    *,
    partner_key: str | None = None,
    prop_id: str = PARTNER_PROPERTY,
) -> Item | BrokenItem:
    """An :class:`Item`, or a :class:`BrokenItem` when the content cannot be mapped.

    ``partner_key`` overrides the key found in ``data`` (delta pages carry none).

    Raises:
        MappingError: the JSON has no usable ``id`` (nothing can be said about it).
    """
    item_id = data.get("id")
    if not isinstance(item_id, str) or not item_id:
        raise MappingError("an event without an id")
    key = partner_key if partner_key is not None else partner_key_of(data, prop_id)
    if key is not None and len(key) > 1024:
        key = None
    version = data.get("changeKey")
    if not isinstance(version, str) or not version:
        return BrokenItem(id=item_id, reason="no changeKey", partner_key=key)
    try:
        event = event_from_graph(data)
    except MappingError as exc:
        return BrokenItem(id=item_id, reason=str(exc), partner_key=key)
    return Item(id=item_id, version=version, event=event, partner_key=key,
                changed=_modified(data.get("lastModifiedDateTime")))


def _time_out(value: dt.datetime | dt.date) -> dict[str, str]:
    if isinstance(value, dt.datetime):
        named = _windows_wall(value)
        if named is not None:
            return named
        utc = value.astimezone(dt.UTC).replace(tzinfo=None)
        return {"dateTime": utc.isoformat(timespec="seconds"), "timeZone": "UTC"}
    return {"dateTime": f"{value.isoformat()}T00:00:00", "timeZone": "UTC"}


def _windows_wall(value: dt.datetime) -> dict[str, str] | None:
    """The wall time in the event's own zone, with that zone's Windows name, so that
    Outlook shows (and hands back, as ``originalStartTimeZone``) the zone the event was
    written in. ``None`` for zones Windows has no name for, and for wall times that do
    not name one instant (the repeated or skipped hour at a DST change): UTC then."""
    key = getattr(value.tzinfo, "key", None)
    if not isinstance(key, str):
        return None
    try:
        windows = iana_to_windows(key)
        if value.utcoffset() == value.replace(fold=1 - value.fold).utcoffset():
            # the usual case: the wall time is neither repeated nor skipped, so it
            # names exactly this instant (what the checks below establish otherwise);
            # the first 19 characters are the wall time without the offset
            return {"dateTime": value.isoformat(timespec="seconds")[:19], "timeZone": windows}
        wall = value.astimezone(value.tzinfo).replace(tzinfo=None)
        if localize(wall, key) != value or wall.replace(fold=1).replace(
            tzinfo=value.tzinfo
        ).utcoffset() != wall.replace(fold=0).replace(tzinfo=value.tzinfo).utcoffset():
            return None
    except InvalidEventError:
        return None
    return {"dateTime": wall.isoformat(timespec="seconds"), "timeZone": windows}


def _in_original_zone(
    value: dt.datetime | dt.date, data: Mapping[str, Any], key: str
) -> dt.datetime | dt.date:
    """Show an instant read in UTC in the zone the event was written in, if known."""
    name = data.get(key)
    if not isinstance(value, dt.datetime) or not isinstance(name, str) or not name:
        return value
    try:
        return value.astimezone(find_zone(written_zone(data, name) or name))
    except InvalidEventError:
        return value  # a custom or unknown zone: the instant stays right, in UTC
    except OverflowError:
        return value  # year 1 or 9999 has no wall time there; the model refuses the year


def event_to_graph(event: Event) -> dict[str, Any]:
    """The Graph JSON for writing ``event`` (POST or PATCH body), never with attendees."""
    return {
        "subject": event.subject,
        "start": _time_out(event.start),
        "end": _time_out(event.end),
        "isAllDay": event.all_day,
        "location": {"displayName": event.location},
        "body": {"contentType": "text", "content": event.body},
        "categories": list(event.categories),
        "showAs": _SHOW_AS_OUT[event.show_as],
        "sensitivity": "private" if event.private else "normal",
        "isReminderOn": event.reminder_minutes is not None,
        "reminderMinutesBeforeStart": event.reminder_minutes or 0,
    }
