"""The emulator's mailboxes: calendars, events, change keys, delta state and sent mail.

Theory of operation
-------------------
Every mailbox keeps a monotonically increasing change sequence. Each stored event records
the sequence number of its last change, and each deletion leaves a tombstone with its
sequence number. A delta token is a server-side *sync state* naming the calendar, the
calendarView window and the sequence number at which its round began; a later round
returns every event changed, and every tombstone written, after that number. Changes made
while a round is being paged are therefore replayed in the next round, as Microsoft says
can happen ("Replays", https://learn.microsoft.com/en-us/graph/delta-query-overview).

Ids: each event has an *immutable* id that never changes and a *regular* id that changes
when the event moves to another calendar, as documented for Outlook items
(https://learn.microsoft.com/en-us/graph/outlook-immutable-id). Both are accepted in
URLs; responses use the immutable form when the request says
``Prefer: IdType="ImmutableId"``.

Times are stored as UTC instants (timed events) or dates (all-day events, which Outlook
keeps as floating midnights).

Recurring series (see :mod:`outlook_sync.testing.graph.series` for the pattern rules): a
stored event with a ``recurrence`` is a ``seriesMaster``. Its occurrences are not stored:
they are computed from the pattern when asked for, each with a stable id (the master's
id, ``~`` and the original start) — Graph's occurrence ids are opaque but stable too.
Changing an occurrence (PATCH) stores an ``exception`` on the master; deleting one
(DELETE) records the original start as cancelled, and in v1.0 it then simply disappears
from ``/instances`` and calendar views (https://learn.microsoft.com/en-us/graph/api/
event-list-instances: "the occurrences and exceptions of the event"; cancelled ones are
not listed). Exchange keeps exceptions inside the master item (MS-OXOCAL, "Exception
Attachment Object"), so every such change also gives the master a new ``changeKey``.
Changing a master's pattern or its start/end drops its exceptions and cancellations, as
Outlook warns it will ("all exceptions associated with this recurring appointment will be
lost"). ``/events`` lists masters and single events, never occurrences or exceptions.

Only the standard library is used, so the emulator ships without extra dependencies.
This module is not thread-safe by itself: the server holds :attr:`GraphStore.lock`
around every request.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import functools
import itertools
import json
import secrets
import threading
import uuid
import zoneinfo
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from outlook_sync.testing.graph.series import (
    EXPANSION_YEARS,
    OCCURRENCE_SEPARATOR,
    RecurrenceRefused,
    occurrence_dates,
    parse_recurrence,
    parse_stamp,
    stamp,
)

__all__ = [
    "DEFAULT_USER",
    "GraphError",
    "GraphStore",
    "Mailbox",
    "SentMail",
    "StoredEvent",
]

#: The mailbox that ``/me`` names.
DEFAULT_USER = "me@emulator.test"

#: Windows zone names the emulator understands without outlook_sync.timezones (the
#: emulator must run with the standard library alone).
_WINDOWS_ZONES = {
    "utc": "UTC",
    "w. europe standard time": "Europe/Berlin",
    "central europe standard time": "Europe/Budapest",
    "romance standard time": "Europe/Paris",
    "gmt standard time": "Europe/London",
    "fle standard time": "Europe/Helsinki",
    "eastern standard time": "America/New_York",
    "pacific standard time": "America/Los_Angeles",
}


class GraphError(Exception):
    """An error the emulator answers with Graph's error JSON.

    Shape documented at https://learn.microsoft.com/en-us/graph/errors.
    """

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The JSON body Graph sends with this error."""
        return {"error": {"code": self.code, "message": self.message, "innerError": {}}}


def _new_id(prefix: str) -> str:
    raw = base64.urlsafe_b64encode(secrets.token_bytes(24)).decode().rstrip("=")
    return f"{prefix}{raw}"


@functools.cache
def _cldr_zones() -> dict[str, str]:
    """Every Windows zone name of the CLDR table shipped with outlook_sync (read with the
    standard library; empty when the data file is not there)."""
    try:
        text = resources.files("outlook_sync").joinpath("data", "windows_zones.json")
        table = json.loads(text.read_text("utf-8")).get("windows_to_iana", {})
    except (OSError, ValueError, ModuleNotFoundError):
        return {}
    return {str(k).casefold(): str(v) for k, v in table.items()}


def _zone(name: str) -> dt.tzinfo:
    if name.upper() == "UTC":
        return dt.UTC
    iana = _WINDOWS_ZONES.get(name.casefold()) or _cldr_zones().get(name.casefold(), name)
    try:
        return zoneinfo.ZoneInfo(iana)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise GraphError(
            400,
            "TimeZoneNotSupportedException",
            f"A valid TimeZone value must be specified: {name}",
        ) from None


def parse_graph_datetime(value: str) -> dt.datetime:
    """Parse Graph's ``2024-03-03T09:00:00.0000000`` (up to 7 fractional digits)."""
    text = value.strip().removesuffix("Z")
    if "." in text:
        main, frac = text.split(".", 1)
        text = f"{main}.{frac[:6]}"
    return dt.datetime.fromisoformat(text)


def format_graph_datetime(value: dt.datetime) -> str:
    """Format a naive/wall datetime the way Graph does (7 fractional digits)."""
    return value.replace(tzinfo=None).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0"


@dataclass
class SentMail:
    """A message the emulated server would have e-mailed (meeting request/update/cancel)."""

    kind: str  # "meetingRequest" | "meetingUpdate" | "meetingCancellation"
    event_id: str
    recipients: tuple[str, ...]
    subject: str


@dataclass
class StoredEvent:
    """One event as the emulated mailbox keeps it."""

    immutable_id: str
    regular_id: str
    calendar_id: str
    data: dict[str, Any]
    start: dt.datetime | dt.date
    end: dt.datetime | dt.date
    start_zone: str
    end_zone: str
    change_key: str
    seq: int
    created: dt.datetime
    modified: dt.datetime
    ical_uid: str
    extended: dict[str, str] = field(default_factory=dict)
    transaction_id: str | None = None
    #: series master: changes with the master's own content, not with its exceptions
    series_key: str = ""
    #: series master: original starts (UTC) of deleted occurrences
    cancelled: set[dt.datetime] = field(default_factory=set)
    #: series master: changed occurrences by original start (UTC)
    exceptions: dict[dt.datetime, StoredEvent] = field(default_factory=dict)
    #: occurrence or exception: its series master and original start (UTC)
    master: StoredEvent | None = None
    original_start: dt.datetime | None = None

    @property
    def all_day(self) -> bool:
        return bool(self.data.get("isAllDay"))

    @property
    def is_master(self) -> bool:
        """A series master (it has a recurrence)."""
        return self.master is None and bool(self.data.get("recurrence"))

    def overlaps(self, start: dt.datetime, end: dt.datetime) -> bool:
        """True when the event overlaps the calendarView window ``[start, end)``."""
        s, e = _as_instant(self.start), _as_instant(self.end)
        return s < end and (e > start or (s == e and s >= start))

    @property
    def is_meeting(self) -> bool:
        """An organizer's meeting with attendees: changing it e-mails them."""
        return bool(self.data.get("attendees")) and bool(self.data.get("isOrganizer", True))


def _as_instant(value: dt.datetime | dt.date) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)


_FOREVER = (dt.datetime(1, 1, 2, tzinfo=dt.UTC), dt.datetime(9999, 12, 30, tzinfo=dt.UTC))


@dataclass
class Tombstone:
    ids: tuple[str, str]
    calendar_id: str
    seq: int
    start: dt.datetime | dt.date
    end: dt.datetime | dt.date


@dataclass
class SyncState:
    """What a delta token stands for."""

    calendar_id: str
    window: tuple[dt.datetime, dt.datetime]
    seq: int


@dataclass
class PagingState:
    """What a skip token stands for: the rest of one delta round.

    ``entries`` are immutable ids of events to report (their state at page time) and
    tombstones to report as ``@removed``.
    """

    entries: list[str | Tombstone]
    sync: SyncState
    page_size: int
    initial: bool
    path: str
    #: occurrences computed while the round was built, by id (no re-expansion per page)
    occurrences: dict[str, StoredEvent] = field(default_factory=dict)


@dataclass
class Calendar:
    """A calendar; ``can_edit`` False is a calendar shared read-only with the user.

    "canEdit: true if the user can write to the calendar, false otherwise"
    (https://learn.microsoft.com/en-us/graph/api/resources/calendar).
    """

    id: str
    name: str
    can_edit: bool = True


class Mailbox:
    """One user's mailbox: calendars and events."""

    def __init__(self, user: str, clock: Callable[[], dt.datetime]) -> None:
        self.user = user
        #: The user's object id (what ``GET /me`` answers as ``id``).
        self.id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"graph-emulator:{user}"))
        self._clock = clock
        self._seq = itertools.count(1)
        self.seq = 0
        default = Calendar(id=_new_id("cal-"), name="Calendar")
        self.default_calendar_id = default.id
        self.calendars: dict[str, Calendar] = {default.id: default}
        self.events: dict[str, StoredEvent] = {}  # by immutable id
        self._regular: dict[str, str] = {}  # regular id -> immutable id
        self.tombstones: list[Tombstone] = []
        self._by_transaction: dict[str, str] = {}  # transactionId -> immutable id
        self.in_flight = 0

    def next_seq(self) -> int:
        self.seq = next(self._seq)
        return self.seq

    def add_calendar(self, name: str, *, can_edit: bool = True) -> Calendar:
        calendar = Calendar(id=_new_id("cal-"), name=name, can_edit=can_edit)
        self.calendars[calendar.id] = calendar
        return calendar

    def calendar(self, calendar_id: str | None) -> Calendar:
        if calendar_id is None:
            return self.calendars[self.default_calendar_id]
        try:
            return self.calendars[calendar_id]
        except KeyError:
            raise GraphError(
                404, "ErrorItemNotFound", "The specified object was not found in the store."
            ) from None

    def find(self, event_id: str) -> StoredEvent:
        """The event with either kind of id (an occurrence or exception id too).

        Raises:
            GraphError: 404 ``ErrorItemNotFound``.
        """
        event = self.lookup(event_id)
        if event is None:
            raise GraphError(
                404, "ErrorItemNotFound", "The specified object was not found in the store."
            )
        return event

    def lookup(self, event_id: str) -> StoredEvent | None:
        """The event with either kind of id, or None."""
        event = self.events.get(self._regular.get(event_id, event_id))
        if event is None and OCCURRENCE_SEPARATOR in event_id:
            return self._instance(event_id)
        return event

    # -- series ---------------------------------------------------------------------------

    def _instance(self, event_id: str) -> StoredEvent | None:
        base, _, suffix = event_id.rpartition(OCCURRENCE_SEPARATOR)
        master = self.events.get(self._regular.get(base, base))
        key = parse_stamp(suffix)
        if master is None or not master.is_master or key is None or key in master.cancelled:
            return None
        if key in master.exceptions:
            return master.exceptions[key]
        for found, start, end in self.expand(master, until=key.date() + dt.timedelta(days=1)):
            if found == key:
                return self._occurrence(master, found, start, end)
            if found > key:
                break
        return None

    def _limit(self, recurrence: dict[str, Any], until: dt.date | None = None) -> dt.date:
        if until is not None:
            return until
        first = dt.date.fromisoformat(recurrence["range"]["startDate"])
        return max(first, self._clock().date()) + dt.timedelta(days=365 * EXPANSION_YEARS)

    def _expand_times(
        self,
        recurrence: dict[str, Any],
        start: dt.datetime | dt.date,
        end: dt.datetime | dt.date,
        until: dt.date | None = None,
    ) -> Iterator[tuple[dt.datetime, dt.datetime | dt.date, dt.datetime | dt.date]]:
        """``(original start in UTC, start, end)`` of each occurrence of a series.

        Up to ``until`` (a local date), or :data:`EXPANSION_YEARS` past today.
        """
        tz = _zone(recurrence["range"]["recurrenceTimeZone"])
        limit = self._limit(recurrence, until)
        if isinstance(start, dt.datetime):
            wall = start.astimezone(tz).time().replace(tzinfo=None)
            duration = _as_instant(end) - start
            for day in occurrence_dates(recurrence, limit):
                begin = dt.datetime.combine(day, wall, tzinfo=tz).astimezone(dt.UTC)
                yield begin, begin, begin + duration
        else:
            days = dt.timedelta(days=(end - start).days)  # type: ignore[operator]
            for day in occurrence_dates(recurrence, limit):
                key = dt.datetime.combine(day, dt.time(), tzinfo=tz).astimezone(dt.UTC)
                yield key, day, day + days

    def expand(
        self, master: StoredEvent, until: dt.date | None = None
    ) -> Iterator[tuple[dt.datetime, dt.datetime | dt.date, dt.datetime | dt.date]]:
        """Every occurrence of the pattern (cancelled ones too), ascending, to ``until``."""
        return self._expand_times(master.data["recurrence"], master.start, master.end, until)

    def series_zone(self, master: StoredEvent) -> dt.tzinfo:
        """The zone a series' dates are in (``range.recurrenceTimeZone``)."""
        return _zone(master.data["recurrence"]["range"]["recurrenceTimeZone"])

    def _occurrence(
        self,
        master: StoredEvent,
        key: dt.datetime,
        start: dt.datetime | dt.date,
        end: dt.datetime | dt.date,
    ) -> StoredEvent:
        suffix = OCCURRENCE_SEPARATOR + stamp(key)
        data = copy.deepcopy(master.data)
        data.update(type="occurrence", recurrence=None)
        return StoredEvent(
            immutable_id=master.immutable_id + suffix,
            regular_id=master.regular_id + suffix,
            calendar_id=master.calendar_id,
            data=data,
            start=start,
            end=end,
            start_zone=master.start_zone,
            end_zone=master.end_zone,
            change_key=f"{master.series_key}{suffix}",
            seq=master.seq,
            created=master.created,
            modified=master.modified,
            ical_uid=master.ical_uid,
            master=master,
            original_start=key,
        )

    def instances(
        self, master: StoredEvent, low: dt.datetime, high: dt.datetime
    ) -> list[StoredEvent]:
        """The occurrences and exceptions of a master that overlap ``[low, high)``.

        The pattern is expanded over the window asked for, however far from today it is
        (a calendar view shows "the occurrences, exceptions, and single instances of
        events in a calendar view defined by a time range",
        https://learn.microsoft.com/en-us/graph/api/calendar-list-calendarview).
        """
        if not master.is_master:
            return []
        found = []
        until = min(high, _FOREVER[1]).date() + dt.timedelta(days=1)
        seen: set[dt.datetime] = set()
        for key, start, end in self.expand(master, until=until):
            seen.add(key)
            if key in master.cancelled:
                continue
            event = master.exceptions.get(key) or self._occurrence(master, key, start, end)
            if event.overlaps(low, high):
                found.append(event)
            elif _as_instant(start) >= high and not master.exceptions:
                break
        # An exception moved into the window from a slot after it.
        found += [
            e for k, e in master.exceptions.items() if k not in seen and e.overlaps(low, high)
        ]
        return sorted(found, key=lambda e: (_as_instant(e.start), e.immutable_id))

    def iter_calendar(self, calendar_id: str) -> Iterator[StoredEvent]:
        return (e for e in self.events.values() if e.calendar_id == calendar_id)

    # -- writes ---------------------------------------------------------------------------

    def create(self, calendar_id: str, body: dict[str, Any]) -> StoredEvent:
        """Store a new event from a POST body (validated like Graph does)."""
        now = self._clock()
        imm = _new_id("imm-")
        event = StoredEvent(
            immutable_id=imm,
            regular_id=_new_id("reg-"),
            calendar_id=calendar_id,
            data={},
            start=now,
            end=now,
            start_zone="UTC",
            end_zone="UTC",
            change_key="",
            seq=0,
            created=now,
            modified=now,
            ical_uid="040000008200E00074C5B7101A82E008" + secrets.token_hex(24).upper(),
            transaction_id=body.get("transactionId"),
        )
        if "start" not in body or "end" not in body:
            raise GraphError(400, "ErrorInvalidRequest", "start and end are required.")
        self._apply(event, body, creating=True)
        self.events[imm] = event
        self._regular[event.regular_id] = imm
        if event.transaction_id is not None:
            self._by_transaction[event.transaction_id] = imm
        return event

    def by_transaction(self, transaction_id: str) -> StoredEvent | None:
        """The live event created with ``transactionId`` (an index: no scan of events)."""
        imm = self._by_transaction.get(transaction_id)
        return self.events.get(imm) if imm is not None else None

    def update(self, event: StoredEvent, body: dict[str, Any]) -> StoredEvent:
        """Apply a PATCH; returns the event as stored (an occurrence becomes an exception)."""
        master, key = event.master, event.original_start
        if master is None or key is None:
            self._apply(event, body, creating=False)
            return event
        if "recurrence" in body:
            raise GraphError(400, "ErrorInvalidRequest", "An occurrence has no recurrence.")
        exception = master.exceptions.get(key)
        if exception is None:
            exception = copy.deepcopy(event)
            exception.master = master
            exception.data["type"] = "exception"
        self._apply(exception, body, creating=False)
        master.exceptions[key] = exception
        self._touch(master)
        return exception

    def delete(self, event: StoredEvent) -> None:
        """Delete an event; an occurrence or exception is cancelled in its series."""
        master, key = event.master, event.original_start
        if master is not None and key is not None:
            master.cancelled.add(key)
            master.exceptions.pop(key, None)
            self._tombstone(event)
            self._touch(master)
            return
        if event.is_master:
            now = self._clock()
            span = dt.timedelta(days=365 * EXPANSION_YEARS)
            for instance in self.instances(event, now - span, now + span):
                self._tombstone(instance)
        del self.events[event.immutable_id]
        self._regular.pop(event.regular_id, None)
        if event.transaction_id is not None:
            self._by_transaction.pop(event.transaction_id, None)
        self._tombstone(event)

    def _tombstone(self, event: StoredEvent) -> None:
        self.tombstones.append(
            Tombstone(
                ids=(event.immutable_id, event.regular_id),
                calendar_id=event.calendar_id,
                seq=self.next_seq(),
                start=event.start,
                end=event.end,
            )
        )

    def move(self, event: StoredEvent, calendar_id: str) -> None:
        """Move to another calendar: the regular id changes, the immutable id does not."""
        self.calendar(calendar_id)
        self.tombstones.append(
            Tombstone(
                ids=(event.immutable_id, event.regular_id),
                calendar_id=event.calendar_id,
                seq=self.next_seq(),
                start=event.start,
                end=event.end,
            )
        )
        self._regular.pop(event.regular_id, None)
        event.regular_id = _new_id("reg-")
        self._regular[event.regular_id] = event.immutable_id
        event.calendar_id = calendar_id
        self._touch(event)

    def _touch(self, event: StoredEvent) -> None:
        event.seq = self.next_seq()
        event.modified = self._clock()
        event.change_key = _new_id("ck-")

    _SIMPLE = (
        "subject",
        "categories",
        "showAs",
        "sensitivity",
        "isReminderOn",
        "reminderMinutesBeforeStart",
        "isAllDay",
        "attendees",
        "isOrganizer",
        "type",
        "seriesMasterId",
        "importance",
        "isCancelled",
        "organizer",
    )

    def _apply(self, event: StoredEvent, body: dict[str, Any], *, creating: bool) -> None:
        data = dict(event.data)
        if creating:
            data.update(
                {
                    "subject": "",
                    "categories": [],
                    "showAs": "busy",
                    "sensitivity": "normal",
                    "isReminderOn": True,
                    "reminderMinutesBeforeStart": 15,
                    "isAllDay": False,
                    "attendees": [],
                    "isOrganizer": True,
                    "type": "singleInstance",
                    "body": {"contentType": "text", "content": ""},
                    "location": {"displayName": ""},
                    "importance": "normal",
                    "isCancelled": False,
                    "recurrence": None,
                }
            )
        for key in self._SIMPLE:
            if key in body:
                data[key] = body[key]
        if "body" in body:
            if not isinstance(body["body"], dict):
                raise GraphError(400, "RequestBodyRead", "body must be an itemBody object.")
            data["body"] = {
                "contentType": str(body["body"].get("contentType", "text")).lower(),
                "content": str(body["body"].get("content", "")),
            }
        if "location" in body:
            loc = body["location"] or {}
            if not isinstance(loc, dict):
                raise GraphError(400, "RequestBodyRead", "location must be a location object.")
            data["location"] = {"displayName": str(loc.get("displayName", ""))}
        if not isinstance(data.get("subject"), str):
            raise GraphError(400, "RequestBodyRead", "subject must be a string.")
        if data.get("showAs") not in (
            "free",
            "tentative",
            "busy",
            "oof",
            "workingElsewhere",
            "unknown",
        ):
            raise GraphError(400, "RequestBodyRead", "Invalid showAs value.")
        start, start_zone = event.start, event.start_zone
        end, end_zone = event.end, event.end_zone
        if "start" in body:
            start, start_zone = self._parse_time(body["start"], all_day=bool(data["isAllDay"]))
        if "end" in body:
            end, end_zone = self._parse_time(body["end"], all_day=bool(data["isAllDay"]))
        if "isAllDay" in body and not ("start" in body and "end" in body) and not creating:
            raise GraphError(
                400, "ErrorInvalidRequest", "Changing isAllDay requires start and end."
            )
        if type(start) is not type(end) or _as_instant(end) < _as_instant(start):
            raise GraphError(
                400, "ErrorInvalidRequest", "The end time must be after the start time."
            )
        recurrence = self._recurrence(event, data, body, start_zone)
        if recurrence is not None:
            first = next(self._expand_times(recurrence, start, end), None)
            if first is None:
                raise GraphError(
                    400, "ErrorInvalidRequest", "The recurrence pattern has no occurrence."
                )
            if recurrence != event.data.get("recurrence") or (start, end) != (
                event.start,
                event.end,
            ):
                event.cancelled.clear()
                event.exceptions.clear()
            _, start, end = first  # the master starts with its first occurrence
        else:
            event.cancelled.clear()
            event.exceptions.clear()
        if "singleValueExtendedProperties" in body:
            for prop in body["singleValueExtendedProperties"] or []:
                pid, value = prop.get("id"), prop.get("value")
                if not isinstance(pid, str) or not isinstance(value, str):
                    raise GraphError(
                        400, "ErrorInvalidProperty", "Extended property id and value are strings."
                    )
                event.extended[_norm_prop(pid)] = value
        event.data = data
        event.start, event.start_zone, event.end, event.end_zone = start, start_zone, end, end_zone
        event.series_key = _new_id("sk-")
        self._touch(event)

    @staticmethod
    def _recurrence(
        event: StoredEvent, data: dict[str, Any], body: dict[str, Any], start_zone: str
    ) -> dict[str, Any] | None:
        """The series pattern after a write (None: a single event); sets ``type``."""
        if "recurrence" not in body:
            recurrence = data.get("recurrence")
            return recurrence if isinstance(recurrence, dict) else None
        if event.master is not None:
            raise GraphError(400, "ErrorInvalidRequest", "An occurrence has no recurrence.")
        if body["recurrence"] is None:
            data.update(recurrence=None, type="singleInstance")
            return None
        try:
            recurrence = parse_recurrence(body["recurrence"], start_zone)
        except RecurrenceRefused as exc:
            raise GraphError(400, "ErrorInvalidRequest", str(exc)) from None
        _zone(recurrence["range"]["recurrenceTimeZone"])
        data.update(recurrence=recurrence, type="seriesMaster")
        return recurrence

    @staticmethod
    def _parse_time(value: object, *, all_day: bool) -> tuple[dt.datetime | dt.date, str]:
        if not isinstance(value, dict) or "dateTime" not in value:
            raise GraphError(400, "RequestBodyRead", "dateTimeTimeZone expected.")
        zone_name = str(value.get("timeZone") or "UTC")
        tz = _zone(zone_name)
        try:
            wall = parse_graph_datetime(str(value["dateTime"]))
        except ValueError:
            raise GraphError(
                400, "RequestBodyRead", "Cannot convert the literal to a DateTime."
            ) from None
        if all_day:
            if wall.time() != dt.time(0):
                raise GraphError(
                    400,
                    "ErrorInvalidRequest",
                    "The start and end of an all-day event must be midnight.",
                )
            return wall.date(), zone_name
        return wall.replace(tzinfo=tz).astimezone(dt.UTC), zone_name


def _norm_prop(prop_id: str) -> str:
    """Runs of spaces collapse; the type, GUID and ``Name``/``Id`` keyword compare without
    regard to case, the string name does not ("Filtering the string name (``Name``) in the
    id of an extended property is case-sensitive",
    https://learn.microsoft.com/en-us/graph/api/singlevaluelegacyextendedproperty-get)."""
    parts = prop_id.split()
    if len(parts) >= 4 and parts[2].casefold() == "name":
        return " ".join([p.casefold() for p in parts[:3]] + parts[3:])
    return " ".join(parts).casefold()


class GraphStore:
    """Every mailbox of the emulated tenant, the delta sync states and the sent mail."""

    def __init__(self, clock: Callable[[], dt.datetime] | None = None) -> None:
        self.lock = threading.RLock()
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.mailboxes: dict[str, Mailbox] = {}
        self.sync_states: dict[str, SyncState] = {}
        self.paging: dict[str, PagingState] = {}
        self.sent_mail: list[SentMail] = []

    def now(self) -> dt.datetime:
        return self._clock()

    def mailbox(self, user: str = DEFAULT_USER) -> Mailbox:
        """The mailbox of ``user`` (``"me"`` is the default user); created on first use."""
        key = DEFAULT_USER if user == "me" else user.casefold()
        box = self.mailboxes.get(key)
        if box is None:
            box = self.mailboxes[key] = Mailbox(key, self._clock)
        return box

    def expire_sync_states(self) -> None:
        """Forget every delta and skip token (the service's token cache was trimmed)."""
        self.sync_states.clear()
        self.paging.clear()

    def new_token(self) -> str:
        return secrets.token_urlsafe(18)


def norm_prop(prop_id: str) -> str:
    """An extended property id as the emulator compares it (the name part keeps its case)."""
    return _norm_prop(prop_id)


def zone(name: str) -> dt.tzinfo:
    """A tzinfo for a Graph time zone name (UTC, a few Windows names, or IANA)."""
    return _zone(name)
