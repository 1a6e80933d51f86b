"""AppointmentItem <-> Event: the only place where COM objects meet the model.

Reading (``read_item``) and writing (``write_event``) touch the COM object's properties and
nothing else; COM errors raised here propagate to the caller, which translates them in
``errors.py``.

Dates and zones (why StartUTC, not Start):

- ``Start`` / ``End`` are wall-clock times in the *local* zone of Windows
  (``Application.TimeZones.CurrentTimeZone``), ambiguous in the hour the clocks go back;
  ``StartUTC`` / ``EndUTC`` are the instants
  (https://learn.microsoft.com/en-us/office/vba/api/outlook.appointmentitem.startutc).
  A timed event is read from ``StartUTC`` / ``EndUTC`` and shown in the zone of
  ``StartTimeZone`` / ``EndTimeZone`` (Windows names, mapped to IANA with CLDR); it is written
  by setting the zones *first* — changing ``StartTimeZone`` moves the instant, keeping the
  wall clock (https://learn.microsoft.com/en-us/previous-versions/office/developer/office-2010/ff863273(v=office.14))
  — and then ``StartUTC`` before ``EndUTC``.
- pywin32 hands COM dates out as ``pywintypes.datetime`` values that may carry a UTC tzinfo
  although the wall clock is the COM DATE's (local for ``Start``): the tzinfo is dropped and
  the zone the documentation names is attached explicitly.
- An all-day event is midnight to midnight in the local zone: its dates are the ``Start`` /
  ``End`` dates (the end date is exclusive, as in the model).

Keys: the Säljstöd id is stored in a text ``UserProperties`` field that is not added to the
folder's fields (not shown in its views), next to the ``GlobalAppointmentID`` the item had when
the key was written. A copy of the item carries both fields but gets a new
GlobalAppointmentID ([MS-OXOCAL] 3.1.4.3), so a key whose recorded global id differs from the
item's own is not reported: the copy is a new item, not a second claim on the link. An item
whose EntryID changed (moved, meeting accepted) keeps its global id, so it keeps its claim.
Custom *date* fields keep whole minutes only, so nothing time-like is stored in them.

Versions are a digest of the mapped content: a change to an unmapped property (attendees'
responses, colour) is not a change to sync, and a change made within the same second as the
previous one is still seen.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import zoneinfo
from typing import Any

import attrs

from outlook_sync.adapters.outlook_com import series
from outlook_sync.errors import InvalidEventError
from outlook_sync.model import BrokenItem, Event, Item, ShowAs
from outlook_sync.timezones import UnknownTimeZoneError, iana_to_windows, localize, zone

__all__ = [
    "PARTNER_FIELD",
    "PARTNER_GLOBAL_ID_FIELD",
    "anchored",
    "read_item",
    "read_partner_key",
    "version_of",
    "write_event",
    "write_partner_key",
]

UTC = dt.UTC
#: The custom field holding the Säljstöd id (olText, not a folder field).
PARTNER_FIELD = "SaljstodId"
#: The custom field holding the GlobalAppointmentID the item had when the key was written.
PARTNER_GLOBAL_ID_FIELD = "SaljstodGlobalAppointmentId"

OL_TEXT = 1
OL_APPOINTMENT_CLASS = 26
OL_PRIVATE = 2
OL_NORMAL = 0

_BUSY_STATUS = {
    0: ShowAs.FREE,
    1: ShowAs.TENTATIVE,
    2: ShowAs.BUSY,
    3: ShowAs.OUT_OF_OFFICE,
    4: ShowAs.WORKING_ELSEWHERE,
}
_SHOW_AS = {show_as: status for status, show_as in _BUSY_STATUS.items()}
_CATEGORY_SPLIT = re.compile(r"[,;]")


def com_datetime(value: object, field: str) -> dt.datetime:
    """A COM DATE as a naive wall-clock datetime (pywin32's tzinfo label dropped).

    Raises:
        InvalidEventError: the value is not a date.
    """
    if not isinstance(value, dt.datetime):
        raise InvalidEventError(f"{field} is not a date ({type(value).__name__})", field=field)
    return dt.datetime(  # noqa: DTZ001 - a wall clock; the caller names its zone
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
    )


def _zone_of(time_zone: Any, fallback: zoneinfo.ZoneInfo) -> zoneinfo.ZoneInfo:
    zone_id = getattr(time_zone, "ID", None) if time_zone is not None else None
    if not isinstance(zone_id, str) or not zone_id:
        return fallback
    try:
        return zone(zone_id)
    except UnknownTimeZoneError:
        return fallback  # the instant comes from StartUTC; the zone only names it


def _text(value: object) -> str:
    return "" if value is None else str(value)


def version_of(event: Event) -> str:
    """A short digest of the content: changes exactly when the mapped content changes."""
    return hashlib.sha256(repr(event.content()).encode("utf-8")).hexdigest()[:20]


def read_partner_key(item: Any) -> str | None:
    """The Säljstöd id stored on the item, unless the item is a copy of the keyed one."""
    props = item.UserProperties
    field = props.Find(PARTNER_FIELD)
    if field is None:
        return None
    key = _text(field.Value).strip()
    if not key or len(key) > 1024:
        return None
    recorded = props.Find(PARTNER_GLOBAL_ID_FIELD)
    recorded_id = _text(recorded.Value).strip() if recorded is not None else ""
    own_id = _text(item.GlobalAppointmentID).strip()
    if recorded_id and own_id and recorded_id != own_id:
        return None  # a copy: same fields, new global id
    return key


def anchored(item: Any) -> bool:
    """True if the item records its own current global id next to its partner key."""
    recorded = item.UserProperties.Find(PARTNER_GLOBAL_ID_FIELD)
    own_id = _text(item.GlobalAppointmentID).strip()
    return recorded is not None and bool(own_id) and _text(recorded.Value).strip() == own_id


def write_partner_key(item: Any, key: str) -> None:
    """Store ``key`` and the item's current global id (not saved: the caller saves)."""
    props = item.UserProperties
    for name, value in (
        (PARTNER_FIELD, key),
        (PARTNER_GLOBAL_ID_FIELD, _text(item.GlobalAppointmentID)),
    ):
        field = props.Find(name)
        if field is None:
            field = props.Add(name, OL_TEXT, False)
        field.Value = value


def read_item(
    item: Any, *, local_zone: zoneinfo.ZoneInfo, week_start: str = "MO"
) -> Item | BrokenItem:
    """Map an AppointmentItem to an :class:`Item`, or a :class:`BrokenItem` with the reason.

    A series master becomes one item whose event carries the series (``series.py``).
    Items that are not appointments, occurrence objects, series the model cannot hold and
    items whose values the model refuses (end before start, sentinel dates) are
    :class:`BrokenItem`: they exist, so their partners are never deleted because of them.
    COM errors propagate.
    """
    entry_id = _text(item.EntryID)
    item_class = item.Class
    if item_class != OL_APPOINTMENT_CLASS:
        return BrokenItem(id=entry_id, reason=f"not an appointment (Outlook class {item_class})")
    partner_key = read_partner_key(item)
    recurring = bool(item.IsRecurring)
    if recurring and item.RecurrenceState != series.OL_APPT_MASTER:
        return BrokenItem(
            id=entry_id,
            reason="an occurrence of a series, not the series itself",
            partner_key=partner_key,
        )
    try:
        event = _read_event(item, local_zone=local_zone)
    except InvalidEventError as exc:
        return BrokenItem(id=entry_id, reason=f"unreadable value: {exc}", partner_key=partner_key)
    if recurring:
        try:
            recurrence = series.read_recurrence(
                item,
                start=event.start,
                local_zone=local_zone,
                week_start=week_start,
                read_event=lambda exception: _read_event(exception, local_zone=local_zone),
            )
            event = attrs.evolve(event, recurrence=recurrence)
        except InvalidEventError as exc:
            return BrokenItem(
                id=entry_id, reason=f"series cannot be read: {exc}", partner_key=partner_key
            )
    try:
        changed = localize(com_datetime(item.LastModificationTime, "changed"), local_zone)
    except InvalidEventError as exc:
        return BrokenItem(id=entry_id, reason=f"unreadable value: {exc}", partner_key=partner_key)
    return Item(id=entry_id, version=version_of(event), event=event, partner_key=partner_key,
                changed=changed)


def _read_event(item: Any, *, local_zone: zoneinfo.ZoneInfo) -> Event:
    all_day = bool(item.AllDayEvent)
    start: dt.datetime | dt.date
    end: dt.datetime | dt.date
    if all_day:
        start = com_datetime(item.Start, "start").date()
        end = com_datetime(item.End, "end").date()
    else:
        start_zone = _zone_of(item.StartTimeZone, local_zone)
        end_zone = _zone_of(item.EndTimeZone, start_zone)
        start = com_datetime(item.StartUTC, "start").replace(tzinfo=UTC).astimezone(start_zone)
        end = com_datetime(item.EndUTC, "end").replace(tzinfo=UTC).astimezone(end_zone)
    status = item.BusyStatus
    if status not in _BUSY_STATUS:
        raise InvalidEventError(
            f"BusyStatus {status!r} is not an OlBusyStatus value", field="show_as"
        )
    reminder: int | None = None
    if bool(item.ReminderSet):
        reminder = int(item.ReminderMinutesBeforeStart)
    return Event(
        subject=_text(item.Subject),
        start=start,
        end=end,
        all_day=all_day,
        location=_text(item.Location),
        body=_text(item.Body),
        categories=tuple(name.strip() for name in _CATEGORY_SPLIT.split(_text(item.Categories))),
        show_as=_BUSY_STATUS[status],
        private=item.Sensitivity == OL_PRIVATE,
        reminder_minutes=reminder,
    )


def windows_zone_name(value: dt.datetime, *, local_name: str) -> str:
    """The Windows zone name for an aware datetime's tzinfo (the local zone if unknown)."""
    tzinfo = value.tzinfo
    key = getattr(tzinfo, "key", None)
    if isinstance(key, str):
        try:
            return iana_to_windows(key)
        except UnknownTimeZoneError:
            return local_name
    if value.utcoffset() == dt.timedelta(0) and tzinfo in (UTC, dt.UTC):
        return "UTC"
    return local_name


def write_event(
    item: Any,
    event: Event,
    *,
    time_zones: Any,
    local_name: str,
    list_separator: str,
    times: bool = True,
) -> None:
    """Set the item's mapped properties to ``event`` (not saved: the caller saves).

    ``times=False`` leaves start, end, zones and all-day alone (a series master whose time
    stays: its occurrences' times belong to the pattern). Never touches recipients and
    never sends: a meeting's attendees hear nothing.
    """
    item.Subject = event.subject
    if not times:
        pass
    elif event.all_day:
        assert not isinstance(event.start, dt.datetime)
        assert not isinstance(event.end, dt.datetime)
        item.AllDayEvent = True
        item.Start = dt.datetime.combine(event.start, dt.time())
        item.End = dt.datetime.combine(event.end, dt.time())
    else:
        assert isinstance(event.start, dt.datetime)
        assert isinstance(event.end, dt.datetime)
        item.AllDayEvent = False
        item.StartTimeZone = time_zones.Item(windows_zone_name(event.start, local_name=local_name))
        item.EndTimeZone = time_zones.Item(windows_zone_name(event.end, local_name=local_name))
        item.StartUTC = event.start.astimezone(UTC).replace(tzinfo=None)
        item.EndUTC = event.end.astimezone(UTC).replace(tzinfo=None)
    item.Location = event.location
    item.Body = event.body
    item.Categories = f"{list_separator} ".join(event.categories)
    item.BusyStatus = _SHOW_AS[event.show_as]
    currently_private = item.Sensitivity == OL_PRIVATE
    if event.private != currently_private:
        item.Sensitivity = OL_PRIVATE if event.private else OL_NORMAL
    if event.reminder_minutes is None:
        item.ReminderSet = False
    else:
        item.ReminderSet = True
        item.ReminderMinutesBeforeStart = event.reminder_minutes
