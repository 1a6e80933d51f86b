"""Recurring series: a master's ``RecurrencePattern`` and ``Exceptions`` <-> :class:`Recurrence`.

The rule itself is converted by :func:`outlook_sync.recurrence.from_com` /
:func:`~outlook_sync.recurrence.to_com`; this module copies the plain
:class:`~outlook_sync.recurrence.ComRecurrencePattern` to and from the live COM objects and
handles what the object model adds: the exceptions and the local times it speaks in. COM
errors propagate to the caller, which translates them (``errors.py``).

Reading a master (``IsRecurring`` and ``RecurrenceState`` olApptMaster, 1)
    ``GetRecurrencePattern()`` gives the pattern; the series' zone is the master's
    ``StartTimeZone`` (a Windows name, mapped by :mod:`outlook_sync.timezones`); every
    ``Exception`` of ``RecurrencePattern.Exceptions`` is a cancelled occurrence
    (``Deleted``) or a changed one (its ``AppointmentItem`` holds the occurrence's own
    content). ``Exception.OriginalDate`` is a *local* wall-clock time, and for a deleted
    occurrence only its date is reliable ("it will not return the original time if deletion
    has occurred"): the series' occurrence on that local date is the one meant, and where
    one local date holds two (a series in a zone whose daylight-saving dates differ from
    Windows' zone), ``GetOccurrence`` tells which one is gone (``_cancelled_on``).
    https://learn.microsoft.com/en-us/office/vba/api/outlook.recurrencepattern
    https://learn.microsoft.com/en-us/office/vba/api/outlook.exceptions
    https://learn.microsoft.com/en-us/office/vba/api/outlook.exception.originaldate
    https://learn.microsoft.com/en-us/office/vba/api/outlook.olrecurrencestate
What the object model loses, kept in a hidden field
    Two choices do not survive the object model, so a series written from here keeps them
    in a hidden text ``UserProperties`` field (:data:`SERIES_FIELD`, not a folder field):
    its IANA zone (Windows names are coarser: Europe/Stockholm and Europe/Berlin are both
    "W. Europe Standard Time", which CLDR maps back to Europe/Berlin), used while it still
    names the master's ``StartTimeZone`` (an all-day series has no zone in Outlook: it
    keeps the hint's, else the local zone); and whether the series ends after a number of
    occurrences (``COUNT``) or on a date (``UNTIL``): Outlook reports both ``Occurrences``
    and ``PatternEndDate`` for a bounded series. The two forms describe the same
    occurrences, so the hint only picks the spelling; without it (a series made in
    Outlook) the end date is used, as :func:`~outlook_sync.recurrence.from_com` does.
Writing
    ``RecurrenceType`` first ("the first property you should set"), ``Interval`` before the
    end ("must be set before setting PatternEndDate"), then the master is saved; only then
    are occurrences changed, each through a *fresh* master object as the reference asks
    ("obtain new references to the recurring appointment item before you access or modify
    the item"): ``GetOccurrence(original local start)`` edited and saved becomes an
    exception, deleted a cancellation; an existing exception is reached through
    ``Exceptions``. Outlook has no "restore this occurrence": a series that must lose an
    exception, or whose rule, zone, start or length changes, is written anew
    (``ClearRecurrencePattern`` then a new pattern; Outlook drops the old exceptions) and
    all of its exceptions are applied again. Nothing here calls ``Send``.
    https://learn.microsoft.com/en-us/office/vba/api/outlook.recurrencepattern.getoccurrence
    https://learn.microsoft.com/en-us/office/vba/api/outlook.recurrencepattern.interval

Occurrences are never listed as items (``Items.IncludeRecurrences`` is not used: it works
only on a collection sorted by ``[Start]``, makes ``Count`` undefined and a series without
end endless, https://learn.microsoft.com/en-us/office/vba/api/outlook.items.includerecurrences).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable
from typing import Any

import attrs

from outlook_sync.adapters.outlook_com.errors import ComFailure, classify, is_com_error
from outlook_sync.model import Event
from outlook_sync.recurrence import (
    ComRecurrencePattern,
    InvalidRecurrenceError,
    OriginalStart,
    Recurrence,
    from_com,
    to_com,
)
from outlook_sync.timezones import UnknownTimeZoneError, iana_to_windows, localize, zone

__all__ = [
    "OL_APPT_MASTER",
    "SERIES_FIELD",
    "apply_exceptions",
    "needs_rewrite",
    "read_recurrence",
    "write_hint",
    "write_pattern",
]

UTC = dt.UTC
OL_APPT_MASTER = 1
OL_TEXT = 1
#: The hidden text field holding "<IANA zone> <count|until|none>" (see the module docstring).
SERIES_FIELD = "SaljstodSeries"
#: Outlook's "no date": a pattern without end reports it as PatternEndDate.
_NONE_YEAR = 4501

#: COM failures that say nothing about the series (Outlook busy, gone or offline).
_TRANSIENT = frozenset(
    {ComFailure.BUSY, ComFailure.GONE, ComFailure.NETWORK, ComFailure.NO_OBJECT_MODEL}
)

ReadEvent = Callable[[Any], Event]
WriteEvent = Callable[[Any, Event], None]


def _wall(value: object, field: str) -> dt.datetime:
    if not isinstance(value, dt.datetime):
        raise InvalidRecurrenceError(f"{field} is not a date ({type(value).__name__})")
    return dt.datetime(  # noqa: DTZ001 - a COM wall clock; the caller names its zone
        value.year, value.month, value.day, value.hour, value.minute, value.second
    )


def read_pattern(pattern: Any, *, by_count: bool = False) -> ComRecurrencePattern:
    """The live ``RecurrencePattern``'s fields as plain values (``by_count``: a bounded
    series is read as "after n occurrences", not "until its end date").

    Raises:
        InvalidRecurrenceError: a field holds a value no pattern has.
    """
    no_end = bool(pattern.NoEndDate)
    end = None if no_end else _wall(pattern.PatternEndDate, "PatternEndDate").date()
    if end is not None and end.year >= _NONE_YEAR:
        end = None
    try:
        count = int(pattern.Occurrences or 0)
        return ComRecurrencePattern(
            recurrence_type=int(pattern.RecurrenceType),
            interval=int(pattern.Interval),
            day_of_week_mask=int(pattern.DayOfWeekMask),
            day_of_month=int(pattern.DayOfMonth),
            month_of_year=int(pattern.MonthOfYear),
            instance=int(pattern.Instance),
            pattern_start_date=_wall(pattern.PatternStartDate, "PatternStartDate").date(),
            pattern_end_date=None if by_count and count >= 1 else end,
            occurrences=None if no_end or count < 1 else count,
            no_end_date=no_end,
        )
    except (TypeError, ValueError) as exc:  # not a number, or outside the documented range
        raise InvalidRecurrenceError(f"Outlook reported an impossible pattern: {exc}") from exc


def read_recurrence(
    item: Any,
    *,
    start: dt.datetime | dt.date,
    local_zone: zoneinfo.ZoneInfo,
    week_start: str,
    read_event: ReadEvent,
) -> Recurrence:
    """The series of a master item (its start is the master's ``start``).

    Raises:
        InvalidEventError: the pattern, its zone or an exception cannot be represented
            (``InvalidRecurrenceError``, ``UnknownTimeZoneError``, ...).
    """
    field = item.UserProperties.Find(SERIES_FIELD)
    hint = str(field.Value or "") if field is not None else ""
    hint_zone, _, hint_end = hint.partition(" ")
    if isinstance(start, dt.datetime):
        time_zone = str(getattr(item.StartTimeZone, "ID", "") or local_zone.key)
        if _same_zone(hint_zone, time_zone):
            time_zone = hint_zone
    else:  # an all-day series lives on dates; its zone is only a name kept with it
        time_zone = hint_zone if _known(hint_zone) else local_zone.key
    pattern = item.GetRecurrencePattern()
    recurrence = from_com(
        read_pattern(pattern, by_count=hint_end == "count"),
        start=start,
        time_zone=time_zone,
        week_start=week_start,
    )
    cancelled: list[OriginalStart] = []
    changed: list[tuple[OriginalStart, Event]] = []
    deleted_on: dict[dt.date, int] = {}
    for exception in pattern.Exceptions:
        original = _wall(exception.OriginalDate, "OriginalDate")
        if bool(exception.Deleted):
            deleted_on[original.date()] = deleted_on.get(original.date(), 0) + 1
            continue
        key: OriginalStart
        if recurrence.all_day:
            key = original.date()
        else:
            key = localize(original, local_zone).astimezone(UTC)
        event = read_event(exception.AppointmentItem)
        changed.append((key, event))
    kept = {key for key, _event in changed}  # a changed occurrence is not a cancelled one
    for day, count in sorted(deleted_on.items()):
        cancelled.extend(_cancelled_on(recurrence, pattern, day, count, local_zone, kept))
    if not cancelled and not changed:
        return recurrence
    return attrs.evolve(recurrence, cancelled=cancelled, changed=changed)


def _same_zone(iana: str, windows: str) -> bool:
    try:
        return bool(iana) and iana_to_windows(iana) == windows
    except UnknownTimeZoneError:
        return False


def _known(iana: str) -> bool:
    try:
        zone(iana)
    except UnknownTimeZoneError:
        return False
    return bool(iana)


def write_hint(item: Any, recurrence: Recurrence, pattern: ComRecurrencePattern) -> None:
    """Keep the series' IANA zone and end form on the (unsaved) master (see the module)."""
    end = "none" if pattern.no_end_date else "until"
    if pattern.pattern_end_date is None and pattern.occurrences is not None:
        end = "count"
    props = item.UserProperties
    field = props.Find(SERIES_FIELD)
    if field is None:
        field = props.Add(SERIES_FIELD, OL_TEXT, False)
    field.Value = f"{recurrence.time_zone} {end}"


def _cancelled_on(
    recurrence: Recurrence,
    pattern: Any,
    day: dt.date,
    count: int,
    local_zone: zoneinfo.ZoneInfo,
    kept: set[OriginalStart],
) -> list[OriginalStart]:
    """The original starts of the ``count`` cancelled occurrences on local date ``day``.

    A deleted exception names only its local date. Outlook's patterns repeat at most once a
    day *in the series' zone*, but seen from another zone one local date can hold two
    occurrences while the two zones' daylight-saving dates differ (a daily 18:00
    America/New_York series seen from Stockholm: 7 March at 00:00 and 8 March at 23:00 both
    fall on 8 March). Then each candidate is probed with ``GetOccurrence(its local
    start)``, which "generates an error if no appointment of that series exists" at that
    time: the cancelled ones are those it refuses. A changed occurrence (``kept``: its
    original start is known from its exception) is never a candidate: moved to another
    time, it is no longer found at its original start either.
    https://learn.microsoft.com/en-us/office/vba/api/outlook.recurrencepattern.getoccurrence

    Raises:
        InvalidRecurrenceError: the probes do not account for exactly ``count`` occurrences.
    """
    if recurrence.all_day:
        return [day]
    low = localize(dt.datetime.combine(day, dt.time()), local_zone)
    high = localize(dt.datetime.combine(day + dt.timedelta(days=1), dt.time()), local_zone)
    found: list[OriginalStart] = [start for start in recurrence.occurrences_between(low, high)
                                  if start not in kept]
    if len(found) > count:
        found = [start for start in found if not _exists(pattern, start, local_zone)]
    if len(found) != count:
        raise InvalidRecurrenceError(
            f"{count} cancelled occurrence(s) on {day.isoformat()} match {len(found)} "
            "occurrences of the series"
        )
    return found


def _exists(pattern: Any, start: OriginalStart, local_zone: zoneinfo.ZoneInfo) -> bool:
    """Whether ``GetOccurrence`` still finds an occurrence at its original ``start``: a
    plain one, or a changed one that kept its time (one moved elsewhere is found where it
    starts now, so the caller leaves changed occurrences out).

    Only Outlook's "no such occurrence" answer means absent; Outlook being busy, closed or
    offline propagates (the caller's retry and translation apply).
    """
    assert isinstance(start, dt.datetime)
    try:
        pattern.GetOccurrence(start.astimezone(local_zone).replace(tzinfo=None))
    except Exception as exc:
        if not is_com_error(exc) or classify(exc) in _TRANSIENT:
            raise
        return False
    return True


def needs_rewrite(current: Event, wanted: Event) -> bool:
    """Whether the pattern must be written anew (see the module docstring)."""
    old, new = current.recurrence, wanted.recurrence
    if old is None or new is None:
        return True
    if (old.rule, old.time_zone, old.all_day) != (new.rule, new.time_zone, new.all_day):
        return True
    if old.start != new.start or current.end - current.start != wanted.end - wanted.start:
        return True  # Outlook drops the exceptions when the series' time or length changes
    kept = new.cancelled | {key for key, _ in new.changed}
    return bool(old.cancelled - new.cancelled) or any(k not in kept for k, _ in old.changed)


def write_pattern(item: Any, pattern: ComRecurrencePattern, *, clear: bool) -> None:
    """Give the (unsaved) master ``pattern``; ``clear`` drops the old pattern first."""
    if clear:
        item.ClearRecurrencePattern()
    live = item.GetRecurrencePattern()
    kind = pattern.recurrence_type
    live.RecurrenceType = kind
    live.Interval = pattern.interval
    if kind in (1, 3, 6) or (kind == 0 and pattern.day_of_week_mask):
        live.DayOfWeekMask = pattern.day_of_week_mask
    if kind in (2, 5):
        live.DayOfMonth = pattern.day_of_month
    if kind in (5, 6):
        live.MonthOfYear = pattern.month_of_year
    if kind in (3, 6):
        live.Instance = pattern.instance
    live.PatternStartDate = dt.datetime.combine(pattern.pattern_start_date, dt.time())
    if pattern.no_end_date:
        live.NoEndDate = True
    elif pattern.pattern_end_date is not None:
        live.PatternEndDate = dt.datetime.combine(pattern.pattern_end_date, dt.time())
    else:
        assert pattern.occurrences is not None
        live.Occurrences = pattern.occurrences


def com_pattern(recurrence: Recurrence, *, week_start: str) -> ComRecurrencePattern:
    """:func:`to_com` (raises UnsupportedRecurrenceError for what COM cannot express)."""
    return to_com(recurrence, week_start=week_start)


def apply_exceptions(
    item: Any,
    wanted: Recurrence,
    current: Recurrence | None,
    *,
    local_zone: zoneinfo.ZoneInfo,
    write_event: WriteEvent,
) -> None:
    """Cancel and change the occurrences ``wanted`` has and ``current`` lacks.

    ``item`` is a fresh object of the saved master; ``current`` is the series as Outlook
    holds it now (``None`` right after the pattern was written: no exceptions yet).
    """
    held = current.exceptions if current is not None else {}
    held_cancelled = current.cancelled if current is not None else frozenset()
    pattern = item.GetRecurrencePattern()
    existing: dict[object, Any] = {}
    if held:
        for exception in pattern.Exceptions:
            if not bool(exception.Deleted):
                original = _wall(exception.OriginalDate, "OriginalDate")
                existing[_key(wanted, original, local_zone)] = exception
    for key in sorted(wanted.cancelled - held_cancelled, key=str):
        _occurrence(pattern, existing, key, local_zone).Delete()
    for key, event in wanted.changed:
        if held.get(key) == event:
            continue
        occurrence = _occurrence(pattern, existing, key, local_zone)
        write_event(occurrence, event)
        occurrence.Save()


def _key(recurrence: Recurrence, original: dt.datetime, local_zone: zoneinfo.ZoneInfo) -> object:
    if recurrence.all_day:
        return original.date()
    return localize(original, local_zone).astimezone(UTC)


def _occurrence(
    pattern: Any, existing: dict[object, Any], key: OriginalStart, local_zone: zoneinfo.ZoneInfo
) -> Any:
    found = existing.get(key)
    if found is not None:
        return found.AppointmentItem
    if isinstance(key, dt.datetime):
        local = key.astimezone(local_zone).replace(tzinfo=None)
    else:
        local = dt.datetime.combine(key, dt.time())
    return pattern.GetOccurrence(local)
