"""Reading recurring series for :class:`GraphCore`: a master read whole, all time.

Theory of operation
-------------------
Graph v1.0 spreads a series over several resources
(https://learn.microsoft.com/en-us/graph/api/resources/event: ``type`` is
``seriesMaster``, ``occurrence`` or ``exception``; occurrences and exceptions name their
master in ``seriesMasterId`` and their slot in ``originalStart``):

- the **master** carries the pattern (``recurrence``, a ``patternedRecurrence``,
  converted by :func:`outlook_sync.recurrence.from_graph` / :func:`~outlook_sync.
  recurrence.to_graph`) and the content every plain occurrence shares;
- its **cancellations** and **exceptions**, over all time, are two properties of the
  master in v1.0 (the event resource page, updated 2025-05; msgraph-sdk-python declares
  both): ``cancelledOccurrences``, the ``OID.{masterId}.{date}`` ids of cancelled
  occurrences ("Requires $select to retrieve. Only returned in a Get operation that
  specifies the ID ... of a series master event"), and ``exceptionOccurrences``, the
  changed occurrences as events ("Requires $select and $expand to retrieve", same rule).

Reading a master is therefore one GET by id (:func:`details_path`), batched 20 to a
``$batch`` when a listing names several (:func:`read_masters`), and never depends on a
window: a series without an end is read whole, with nothing expanded. A cancelled
occurrence id names a date (in the series' zone, as Graph's example shows); the
occurrence of the pattern on that date is the one cancelled. An exception whose content
equals the plain occurrence is not a change. Exchange keeps exceptions inside the master
item, so any change to an occurrence gives the master a new ``changeKey``: a master read
once is reused while its ``changeKey`` is unchanged.

The series zone is ``range.recurrenceTimeZone`` (else ``originalStartTimeZone``), a
Windows name mapped to IANA through :mod:`outlook_sync.timezones` (CLDR): a series
written in ``Europe/Stockholm`` is read back in ``Europe/Berlin``, the CLDR zone of
"W. Europe Standard Time" — the same rules, the same occurrences.

Writing a series is :mod:`.series_writes`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import attrs

from outlook_sync._core.expansion import expand
from outlook_sync.adapters.graph.core import SELECT, GraphCore, SeriesWindow
from outlook_sync.adapters.graph.mapping import (
    MappingError,
    event_from_graph,
    item_from_graph,
    parse_instant,
    written_zone,
)
from outlook_sync.adapters.graph.pages import QueryRefusedError
from outlook_sync.adapters.graph.transport import error_for
from outlook_sync.errors import InvalidEventError
from outlook_sync.model import BrokenItem, Event, Item
from outlook_sync.recurrence import OriginalStart, Recurrence, from_graph
from outlook_sync.timezones import localize

__all__ = [
    "SeriesWindow",
    "details_path",
    "masters",
    "read_masters",
    "recurrence_of",
    "series_item",
]

# -- reading ------------------------------------------------------------------------------


def recurrence_of(data: Mapping[str, Any], event: Event) -> Recurrence:
    """The master's pattern as a :class:`Recurrence` (no exceptions yet).

    Raises:
        InvalidEventError: a malformed pattern, an unknown zone, no occurrence.
    """
    pattern = data.get("recurrence")
    if not isinstance(pattern, Mapping):
        raise InvalidEventError("a series master without a recurrence", field="recurrence")
    span = pattern.get("range")
    zone = span.get("recurrenceTimeZone") if isinstance(span, Mapping) else None
    zone = zone or data.get("originalStartTimeZone")
    zone = written_zone(data, zone) or zone  # Stockholm stays Stockholm, not Berlin
    return from_graph(pattern, start=event.start, time_zone=zone if isinstance(zone, str) else None)


def _key(instance: Mapping[str, Any], recurrence: Recurrence) -> OriginalStart | None:
    """The original start an instance fills (a date for an all-day series)."""
    when = parse_instant(instance.get("originalStart"))
    if when is None:
        return None
    if recurrence.all_day:
        return when.astimezone(recurrence.zone_info).date()
    return when.astimezone(dt.UTC)


def _moment(key: OriginalStart, recurrence: Recurrence) -> dt.datetime:
    if isinstance(key, dt.datetime):
        return key.astimezone(dt.UTC)
    return localize(dt.datetime.combine(key, dt.time()), recurrence.zone_info).astimezone(dt.UTC)


def _plain(recurrence: Recurrence, template: Event, key: OriginalStart) -> Event | None:
    """The occurrence at ``key`` as the series alone makes it."""
    bare = attrs.evolve(recurrence, cancelled=frozenset(), changed=())
    low = _moment(key, recurrence)
    found = expand(bare, template, low, low + dt.timedelta(seconds=1))
    return next((event for k, event in found if k == key), None)


def _same(a: Event | None, b: Event | None) -> bool:
    return a is not None and b is not None and a.content() == b.content()


def _cancelled_keys(data: Mapping[str, Any], recurrence: Recurrence) -> set[OriginalStart]:
    """The original starts ``cancelledOccurrences`` names (``OID.{master}.{date}``).

    Raises:
        InvalidEventError: a malformed list or id.
    """
    raw = data.get("cancelledOccurrences")
    if raw is None:
        return set()
    if not isinstance(raw, list):
        raise InvalidEventError("cancelledOccurrences is not a list", field="recurrence")
    keys: set[OriginalStart] = set()
    for value in raw:
        text = value.rsplit(".", 1)[-1] if isinstance(value, str) else ""
        try:
            day = dt.date.fromisoformat(text)
        except ValueError:
            raise InvalidEventError(
                f"a cancelled occurrence id without a date: {value!r}", field="recurrence"
            ) from None
        if recurrence.all_day:
            if recurrence.occurs_at(day):
                keys.add(day)
            continue
        zone = recurrence.zone_info
        low = localize(dt.datetime.combine(day, dt.time()), zone).astimezone(dt.UTC)
        high = localize(
            dt.datetime.combine(day + dt.timedelta(days=1), dt.time()), zone
        ).astimezone(dt.UTC)
        keys.update(recurrence.occurrences_between(low, high))
    return keys


def _with_details(recurrence: Recurrence, template: Event, data: Mapping[str, Any]) -> Recurrence:
    """The recurrence with the master's ``cancelledOccurrences`` and
    ``exceptionOccurrences`` (all time).

    Raises:
        InvalidEventError: an exception that cannot be mapped.
    """
    cancelled = _cancelled_keys(data, recurrence)
    raw = data.get("exceptionOccurrences") or []
    if not isinstance(raw, list):
        raise InvalidEventError("exceptionOccurrences is not a list", field="recurrence")
    changed = []
    for entry in raw:
        if not isinstance(entry, Mapping):
            raise InvalidEventError("an exception that is not an event", field="recurrence")
        key = _key(entry, recurrence)
        if key is None or key in cancelled or not recurrence.occurs_at(key):
            continue
        try:
            event = event_from_graph(entry)
        except MappingError as exc:
            raise InvalidEventError(f"an exception of the series: {exc}") from exc
        if not _same(event, _plain(recurrence, template, key)):
            changed.append((key, event))
    return attrs.evolve(recurrence, cancelled=frozenset(cancelled), changed=changed)


def details_path(cal: GraphCore, master_id: str) -> str:
    """GET of a master with its cancellations and exceptions (and its partner key)."""
    query = {
        "$select": f"{SELECT},cancelledOccurrences,exceptionOccurrences",
        "$expand": f"exceptionOccurrences,{cal._expand}",
    }
    return cal._item_path(master_id, **query)


def _has_details(data: Mapping[str, Any]) -> bool:
    return "cancelledOccurrences" in data and "exceptionOccurrences" in data


def _read(cal: GraphCore, item_id: str, *, details: bool = False) -> dict[str, Any] | None:
    path = details_path(cal, item_id) if details else cal._item_read_path(item_id)
    resp = cal.client.request("GET", path, headers=cal._headers)
    if resp.status == 404:
        return None
    if not resp.ok:
        raise error_for(resp, what="GET event", item_id=item_id)
    return cal._json(resp, "GET event")


def series_item(
    cal: GraphCore, data: Mapping[str, Any], partner_key: str | None
) -> Item | BrokenItem | None:
    """The series master ``data`` as an :class:`Item` whose event carries the recurrence.

    ``data`` without the series details (a listing's entry) is read again by id, unless
    the master is cached at the same ``changeKey``. Returns a :class:`BrokenItem` when
    the series cannot be mapped (with the reason) and ``None`` when the master
    disappeared while it was read.

    Raises:
        ListingError, BackendUnavailableError: the read failed.
    """
    base = item_from_graph(data, partner_key=partner_key, prop_id=cal.partner_property)
    if not isinstance(base, Item):
        return base
    cached = cal._series_cache.get(base.id)
    if cached is not None and cached[0] == base.version:
        return attrs.evolve(cached[1], partner_key=base.partner_key or cached[1].partner_key)
    if not _has_details(data):
        fresh = _read(cal, base.id, details=True)
        if fresh is None:
            return None
        data = fresh
        base = item_from_graph(data, partner_key=partner_key, prop_id=cal.partner_property)
        if not isinstance(base, Item):
            return base
    try:
        recurrence = recurrence_of(data, base.event)
        template = _master_event(base.event, recurrence)
        event = attrs.evolve(template, recurrence=_with_details(recurrence, template, data))
    except InvalidEventError as exc:
        return BrokenItem(
            id=base.id, reason=f"series cannot be mapped: {exc}", partner_key=base.partner_key
        )
    except OverflowError:  # a date at the ends of the calendar, e.g. a range to 9999-12-31
        return BrokenItem(
            id=base.id, partner_key=base.partner_key,
            reason="series cannot be mapped: a date in its pattern, exceptions or "
            "cancellations falls outside the years 1..9999 once converted (a sentinel or "
            "corrupt date)")
    item = attrs.evolve(base, event=event)
    cal._series_cache[base.id] = (base.version, item)
    return item


def read_masters(
    cal: GraphCore, listed: list[dict[str, Any]]
) -> dict[str, Item | BrokenItem | None]:
    """Map many masters a listing named: cached ones at once, the others read by id in
    ``$batch`` GETs (20 a request). ``None``: the master is gone.

    Raises:
        ListingError, BackendUnavailableError: a read failed.
    """
    result: dict[str, Item | BrokenItem | None] = {}
    stale = []
    for data in listed:
        item_id = str(data["id"])
        cached = cal._series_cache.get(item_id)
        if _has_details(data) or (cached is not None and cached[0] == data.get("changeKey")):
            result[item_id] = cal._map(data, None)
        else:
            stale.append(item_id)
    for item_id, fresh in cal._read_many(stale, lambda i: details_path(cal, i)).items():
        if fresh is None or isinstance(fresh, BrokenItem):
            result[item_id] = fresh
        else:
            result[item_id] = cal._map(fresh, None)
    return result


def _master_event(event: Event, recurrence: Recurrence) -> Event:
    """The master's content starting with the series' first occurrence (no recurrence)."""
    start = recurrence.start
    if start == event.start:
        return attrs.evolve(event, recurrence=None)
    shift = event.end - event.start
    return attrs.evolve(event, start=start, end=start + shift, recurrence=None)


def masters(cal: GraphCore) -> list[Item | BrokenItem]:
    """Every series master of the calendar (``$filter=type eq 'seriesMaster'``).

    Raises:
        ListingError, BackendUnavailableError: a request failed.
    """
    query = {
        "$filter": "type eq 'seriesMaster'",
        "$select": SELECT,
        "$expand": cal._expand,
        "$top": "1000",
    }
    try:
        found = list(cal._collection(query, "GET series masters"))
    except QueryRefusedError:
        query = {"$select": SELECT, "$expand": cal._expand, "$top": "1000"}
        found = list(cal._collection(query, "GET events"))
    listed = [d for d in found if str(d.get("type")).casefold() == "seriesmaster"]
    return [m for m in read_masters(cal, listed).values() if m is not None]


