"""Recurring series for :class:`GraphCore`: a master read whole, and written whole.

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

Writing a series: the master is created or PATCHed (``If-Match``) with its pattern —
start and end in the series zone — and then every occurrence whose content differs from
the wanted one is PATCHed (it becomes an exception) and every wanted cancellation is
DELETEd, each with the occurrence's own ``changeKey``. The occurrences' ids come from
``GET /events/{id}/instances`` ("the occurrences and exceptions of the event in the
specified time range", https://learn.microsoft.com/en-us/graph/api/event-list-instances)
over a window around now (:class:`SeriesWindow`) widened to the slots being written, in
requests of at most 1 825 days each. The pattern is sent only when it changed, because
Outlook drops a series' exceptions when its pattern or time changes. What Graph cannot do
is refused before anything is written, with the reason
(:class:`~outlook_sync.errors.ItemRejectedError`): a rule outside Outlook's patterns, and
restoring a cancelled occurrence (v1.0 has no way to bring one back).
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from outlook_sync.adapters.graph.core import MAX_WINDOW, SELECT, GraphCore, SeriesWindow
from outlook_sync.adapters.graph.mapping import (
    MappingError,
    event_from_graph,
    event_to_graph,
    item_from_graph,
    parse_instant,
    partner_key_of,
)
from outlook_sync.adapters.graph.pages import CollectionGoneError, PageReader, QueryRefusedError
from outlook_sync.adapters.graph.transport import AnswerLostError, error_for
from outlook_sync.errors import (
    InvalidEventError,
    ItemNotFoundError,
    ItemRejectedError,
    VersionConflictError,
)
from outlook_sync.model import BrokenItem, Event, Item
from outlook_sync.recurrence import (
    OriginalStart,
    Recurrence,
    UnsupportedRecurrenceError,
    expand,
    from_graph,
    to_graph,
)
from outlook_sync.timezones import localize

__all__ = [
    "SeriesWindow",
    "create",
    "details_path",
    "masters",
    "read_masters",
    "series_item",
    "update",
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


@attrs.frozen(kw_only=True)
class _Instances:
    """What ``/instances`` says about a series inside a window."""

    low: dt.datetime
    high: dt.datetime
    present: dict[OriginalStart, dict[str, Any]]

    def cancelled(self, recurrence: Recurrence) -> set[OriginalStart]:
        """Original starts of the pattern inside the window that Graph no longer has."""
        return {
            k for k in recurrence.occurrences_between(self.low, self.high) if k not in self.present
        }


def _window(
    cal: GraphCore, recurrence: Recurrence, keys: Iterable[OriginalStart] = ()
) -> tuple[dt.datetime, dt.datetime]:
    low, high = cal.series_window.around(cal.clock())
    moments = [_moment(k, recurrence) for k in keys]
    if moments:
        low = min(low, min(moments))
        high = max(high, max(moments) + dt.timedelta(seconds=1))
    return low, high


def _instances(
    cal: GraphCore, master_id: str, recurrence: Recurrence, low: dt.datetime, high: dt.datetime
) -> _Instances | None:
    """GET /instances over the window (plus the margin), in requests of at most 1 825
    days (the calendar view limit); None when the master is gone.

    Raises:
        ListingError, BackendUnavailableError: a request failed.
    """
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    margin = cal.series_window.margin
    present: dict[OriginalStart, dict[str, Any]] = {}
    begin, stop = low - margin, high + margin
    while begin < stop:
        end = min(stop, begin + MAX_WINDOW)
        query = {"startDateTime": begin.strftime(fmt), "endDateTime": end.strftime(fmt)}
        url = f"{cal._item_path(master_id)}/instances?{urllib.parse.urlencode(query)}"
        reader = PageReader(
            cal.client,
            url,
            headers=cal._read_headers,
            what="GET event instances",
            max_pages=cal.max_pages,
        )
        try:
            for entry in reader.entries():
                key = _key(entry, recurrence)
                if key is not None:
                    present[key] = entry
        except CollectionGoneError:
            return None
        begin = end
    return _Instances(low=low, high=high, present=present)


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
            event = attrs.evolve(event_from_graph(entry), last_modified=None)
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


# -- writing ------------------------------------------------------------------------------


def _pattern(recurrence: Recurrence, item_id: str | None) -> dict[str, Any]:
    try:
        return to_graph(recurrence)
    except UnsupportedRecurrenceError as exc:
        raise ItemRejectedError(str(exc), item_id=item_id) from exc


def _times(event: Event, recurrence: Recurrence, pattern: Mapping[str, Any]) -> dict[str, Any]:
    """start/end in the series zone (Graph takes the series' zone from them)."""
    zone = pattern["range"]["recurrenceTimeZone"]

    def wall(value: dt.datetime | dt.date) -> str:
        if isinstance(value, dt.datetime):
            local = value.astimezone(recurrence.zone_info).replace(tzinfo=None)
            return local.isoformat(timespec="seconds")
        return f"{value.isoformat()}T00:00:00"

    return {
        "start": {"dateTime": wall(event.start), "timeZone": zone},
        "end": {"dateTime": wall(event.end), "timeZone": zone},
    }


def _read(cal: GraphCore, item_id: str, *, details: bool = False) -> dict[str, Any] | None:
    path = details_path(cal, item_id) if details else cal._item_read_path(item_id)
    resp = cal.client.request("GET", path, headers=cal._headers)
    if resp.status == 404:
        return None
    if not resp.ok:
        raise error_for(resp, what="GET event", item_id=item_id)
    return cal._json(resp, "GET event")


def _final(cal: GraphCore, item_id: str, partner_key: str | None) -> Item:
    data = _read(cal, item_id, details=True)
    if data is None:
        raise ItemNotFoundError("the series disappeared while it was written", item_id=item_id)
    cal._series_cache.pop(item_id, None)
    item = cal._map(data, partner_key)
    if not isinstance(item, Item):
        reason = item.reason if item is not None else "gone"
        raise ItemRejectedError(f"written, but it cannot be read back: {reason}", item_id=item_id)
    cal._written[item.id] = item.version
    return item


@attrs.frozen(kw_only=True)
class _Step:
    method: str
    instance_id: str
    change_key: str
    body: dict[str, Any] | None = None


def _steps(
    recurrence: Recurrence, template: Event, found: _Instances, item_id: str | None
) -> list[_Step]:
    """The occurrence writes that turn what ``found`` shows into ``recurrence``.

    Raises:
        ItemRejectedError: a cancelled occurrence would have to come back, or a wanted
            exception is not an occurrence Graph has.
    """
    restore = found.cancelled(recurrence) - recurrence.cancelled
    if restore:
        first = min(restore, key=lambda k: _moment(k, recurrence))
        raise ItemRejectedError(
            f"Microsoft Graph cannot restore the cancelled occurrence of {first} "
            "(restore it in Outlook, or recreate the series)",
            item_id=item_id,
        )
    steps = []
    wanted = recurrence.exceptions
    for key, entry in sorted(found.present.items(), key=lambda p: _moment(p[0], recurrence)):
        ident, change_key = str(entry["id"]), str(entry.get("changeKey") or "")
        if key in recurrence.cancelled:
            steps.append(_Step(method="DELETE", instance_id=ident, change_key=change_key))
            continue
        target = wanted.get(key) or _plain(recurrence, template, key)
        try:
            current = event_from_graph(entry)
        except MappingError:
            current = None
        if target is not None and not _same(current, target):
            body = event_to_graph(target)
            steps.append(_Step(method="PATCH", instance_id=ident, change_key=change_key, body=body))
    missing = [k for k in wanted if k not in found.present]
    if missing:
        raise ItemRejectedError(
            f"the changed occurrence of {missing[0]} is not an occurrence Graph has",
            item_id=item_id,
        )
    return steps


def _apply(cal: GraphCore, master_id: str, steps: list[_Step]) -> None:
    for step in steps:
        resp = cal.client.request(
            step.method,
            cal._item_path(step.instance_id),
            body=step.body,
            headers={**cal._headers, "If-Match": f'W/"{step.change_key}"'},
        )
        if step.method == "DELETE" and resp.status == 404:
            continue  # already cancelled: what was wanted
        if not resp.ok:
            raise error_for(resp, what=f"{step.method} occurrence", item_id=master_id)


def _occurrences(
    cal: GraphCore, master_id: str, recurrence: Recurrence, template: Event
) -> list[_Step]:
    keys = [*recurrence.cancelled, *(k for k, _ in recurrence.changed)]
    found = _instances(cal, master_id, recurrence, *_window(cal, recurrence, keys))
    if found is None:
        raise ItemNotFoundError("the series disappeared while it was written", item_id=master_id)
    return _steps(recurrence, template, found, master_id)


def create(cal: GraphCore, event: Event, partner_key: str) -> Item:
    """Create a series master, then its exceptions and cancellations.

    Raises:
        ItemRejectedError: Graph cannot express the series, or refused it.
        BackendUnavailableError: unreachable (a created master is found by its partner
            key on the next sync).
    """
    recurrence = event.recurrence
    assert recurrence is not None
    pattern = _pattern(recurrence, None)
    txn = str(uuid.uuid4())
    body = cal._create_body(attrs.evolve(event, recurrence=None), partner_key, txn)
    body.update(_times(event, recurrence, pattern), recurrence=pattern)
    path = f"{cal._calendar}/events"
    master_id: str | None = None
    try:
        resp = cal.client.request(
            "POST", path, body=body, headers=cal._headers, safe_to_retry=False
        )
    except AnswerLostError:
        found = cal._recover_create(partner_key, txn)
        master_id = found.id if found is not None else None
        if master_id is None:
            resp = cal.client.request(
                "POST", path, body=body, headers=cal._headers, safe_to_retry=False
            )
    if master_id is None:
        if not resp.ok:
            raise error_for(resp, what=f"POST {cal._calendar}/events")
        created = cal._json(resp, "POST event").get("id")
        if not isinstance(created, str):
            raise ItemRejectedError("POST event: an answer without id")
        master_id = created
    template = _master_event(event, recurrence)
    _apply(cal, master_id, _occurrences(cal, master_id, recurrence, template))
    return _final(cal, master_id, partner_key)


def update(
    cal: GraphCore,
    item_id: str,
    event: Event,
    *,
    expected_version: str,
    partner_key: str | None,
) -> Item:
    """Rewrite a series (or make a single event a series, or a series a single event).

    Raises:
        VersionConflictError: the master changed since ``expected_version``.
        ItemNotFoundError: the master is gone.
        ItemRejectedError: what Graph cannot do (see the module docstring).
    """
    data = _read(cal, item_id)
    if data is None:
        raise ItemNotFoundError("the series is gone", item_id=item_id)
    if data.get("changeKey") != expected_version:
        raise VersionConflictError(
            f"item {item_id} changed since version {expected_version}", item_id=item_id
        )
    try:
        current_event = event_from_graph(data)
    except MappingError as exc:
        raise ItemRejectedError(f"the item cannot be read: {exc}", item_id=item_id) from exc
    is_series = str(data.get("type")).casefold() == "seriesmaster"
    body = cal._patch_body(attrs.evolve(event, recurrence=None), partner_key)
    recurrence = event.recurrence
    if recurrence is None:  # the series becomes a single appointment
        body["recurrence"] = None
        return cal._updated(
            _patch(cal, item_id, body, expected_version), item_id, event, partner_key
        )
    pattern = _pattern(recurrence, item_id)
    body.update(_times(event, recurrence, pattern))
    template = _master_event(event, recurrence)
    same_pattern = False
    if is_series:
        try:
            current = recurrence_of(data, current_event)
            same_pattern = to_graph(current) == pattern
        except (InvalidEventError, UnsupportedRecurrenceError):
            same_pattern = False
    same_times = (current_event.start, current_event.end) == (template.start, template.end)
    steps: list[_Step] | None = None
    if same_pattern and same_times:
        # Exceptions stay: check before any write that Graph can reach the wanted state.
        steps = _occurrences(cal, item_id, recurrence, template)
    else:
        body["recurrence"] = pattern
    plain_same = attrs.evolve(current_event, last_modified=None).content() == (
        attrs.evolve(template, last_modified=None).content()
    )
    key_same = partner_key is None or partner_key == partner_key_of(data, cal.partner_property)
    if steps is None or not (plain_same and key_same):
        resp = _patch(cal, item_id, body, expected_version)
        if not resp.ok:
            raise error_for(resp, what="PATCH event", item_id=item_id)
        steps = None  # the occurrences changed with their master: plan them again
    if steps is None:
        steps = _occurrences(cal, item_id, recurrence, template)
    _apply(cal, item_id, steps)
    return _final(cal, item_id, partner_key)


def _patch(cal: GraphCore, item_id: str, body: dict[str, Any], expected_version: str) -> Any:
    return cal.client.request(
        "PATCH",
        cal._item_path(item_id),
        body=body,
        headers={**cal._headers, "If-Match": f'W/"{expected_version}"'},
    )
