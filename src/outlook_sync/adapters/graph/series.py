"""Recurring series for :class:`GraphCalendar`: a master read whole, and written whole.

Theory of operation
-------------------
Graph v1.0 spreads a series over several resources
(https://learn.microsoft.com/en-us/graph/api/resources/event: ``type`` is
``seriesMaster``, ``occurrence`` or ``exception``; occurrences and exceptions name their
master in ``seriesMasterId`` and their slot in ``originalStart``):

- the **master** carries the pattern (``recurrence``, a ``patternedRecurrence``,
  converted by :func:`outlook_sync.recurrence.from_graph` / :func:`~outlook_sync.
  recurrence.to_graph`) and the content every plain occurrence shares;
- **exceptions** (changed occurrences) and the remaining occurrences are listed by
  ``GET /events/{id}/instances?startDateTime&endDateTime`` ("the occurrences and
  exceptions of the event in the specified time range",
  https://learn.microsoft.com/en-us/graph/api/event-list-instances);
- a **cancelled** occurrence is simply absent from that list: v1.0 has no
  ``cancelledOccurrences`` (a beta property), so a cancellation is an original start the
  pattern produces that ``/instances`` does not return.

Reading a master therefore costs one ``/instances`` round. It covers a window around
"now" (:class:`SeriesWindow`, one year back to two years ahead by default — wider than
the engine's series horizon); exceptions and cancellations outside it are not part of
the :class:`~outlook_sync.recurrence.Recurrence` read. ``/instances`` is asked for a
month more on each side, so an exception moved a few weeks away from its slot is still
found. An exception whose content equals the plain occurrence is not a change.

The series zone is ``range.recurrenceTimeZone`` (else ``originalStartTimeZone``), a
Windows name mapped to IANA through :mod:`outlook_sync.timezones` (CLDR): a series
written in ``Europe/Stockholm`` is read back in ``Europe/Berlin``, the CLDR zone of
"W. Europe Standard Time" — the same rules, the same occurrences.

Exchange keeps exceptions inside the master item, so editing or deleting an occurrence
gives the master a new ``changeKey``: a master read once is reused while its
``changeKey`` (and the day) is unchanged, which keeps incremental syncs cheap.

Writing a series: the master is created or PATCHed (``If-Match``) with its pattern —
start and end in the series zone — and then every occurrence whose content differs from
the wanted one is PATCHed (it becomes an exception) and every wanted cancellation is
DELETEd, each with the occurrence's own ``changeKey``. The pattern is sent only when it
changed, because Outlook drops a series' exceptions when its pattern or time changes.
What Graph cannot do is refused before anything is written, with the reason
(:class:`~outlook_sync.errors.ItemRejectedError`): a rule outside Outlook's patterns, and
restoring a cancelled occurrence (v1.0 has no way to bring one back).
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
import uuid
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from outlook_sync.adapters.graph.mapping import (
    MappingError,
    event_from_graph,
    event_to_graph,
    item_from_graph,
    parse_instant,
    partner_key_of,
)
from outlook_sync.adapters.graph.transport import AnswerLostError, error_for
from outlook_sync.errors import (
    InvalidEventError,
    ItemNotFoundError,
    ItemRejectedError,
    ListingError,
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

if TYPE_CHECKING:
    from outlook_sync.adapters.graph.calendar import GraphCalendar

__all__ = ["SeriesWindow", "create", "masters", "series_item", "update"]

_PAGE = "500"


@attrs.frozen(kw_only=True)
class SeriesWindow:
    """Where a series' exceptions and cancellations are read, around "now".

    Attributes:
        back: how far before now.
        ahead: how far after now.
        margin: read ``/instances`` this much wider, to find moved exceptions.
    """

    back: dt.timedelta = dt.timedelta(days=366)
    ahead: dt.timedelta = dt.timedelta(days=2 * 366)
    margin: dt.timedelta = dt.timedelta(days=31)

    def around(self, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        """The window at ``now`` (UTC)."""
        now = now.astimezone(dt.UTC)
        return now - self.back, now + self.ahead


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
    cal: GraphCalendar, recurrence: Recurrence, keys: Iterable[OriginalStart] = ()
) -> tuple[dt.datetime, dt.datetime]:
    low, high = cal.series_window.around(cal.clock())
    moments = [_moment(k, recurrence) for k in keys]
    if moments:
        low = min(low, min(moments))
        high = max(high, max(moments) + dt.timedelta(seconds=1))
    return low, high


def _instances(
    cal: GraphCalendar, master_id: str, recurrence: Recurrence, low: dt.datetime, high: dt.datetime
) -> _Instances | None:
    """GET /instances over the window (plus the margin); None when the master is gone.

    Raises:
        ListingError, BackendUnavailableError: the request failed.
    """
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    margin = cal.series_window.margin
    query = {
        "startDateTime": (low - margin).strftime(fmt),
        "endDateTime": (high + margin).strftime(fmt),
        "$top": _PAGE,
    }
    url = f"{cal._item_path(master_id)}/instances?{urllib.parse.urlencode(query)}"
    present: dict[OriginalStart, dict[str, Any]] = {}
    while True:
        resp = cal.client.request("GET", url, headers=cal._read_headers)
        if resp.status == 404:
            return None
        if not resp.ok:
            raise error_for(resp, what="GET event instances", item_id=master_id, listing=True)
        page = cal._json(resp, "GET event instances")
        value = page.get("value")
        if not isinstance(value, list):
            raise ListingError("GET event instances: a page without a value list")
        for entry in value:
            if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
                raise ListingError("GET event instances: an entry without an id")
            key = _key(entry, recurrence)
            if key is not None:
                present[key] = entry
        next_link = page.get("@odata.nextLink")
        if not isinstance(next_link, str):
            return _Instances(low=low, high=high, present=present)
        url = next_link


def _with_instances(recurrence: Recurrence, template: Event, found: _Instances) -> Recurrence:
    """The recurrence with the exceptions and cancellations ``found`` shows.

    Raises:
        InvalidEventError: an exception that cannot be mapped, or one for a time the
            pattern does not produce.
    """
    changed = []
    for key, entry in found.present.items():
        if str(entry.get("type")).casefold() != "exception" or not recurrence.occurs_at(key):
            continue
        try:
            event = attrs.evolve(event_from_graph(entry), last_modified=None)
        except MappingError as exc:
            raise InvalidEventError(f"an exception of the series: {exc}") from exc
        if not _same(event, _plain(recurrence, template, key)):
            changed.append((key, event))
    return attrs.evolve(
        recurrence, cancelled=frozenset(found.cancelled(recurrence)), changed=changed
    )


def series_item(
    cal: GraphCalendar, data: Mapping[str, Any], partner_key: str | None
) -> Item | BrokenItem | None:
    """The series master ``data`` as an :class:`Item` whose event carries the recurrence.

    Returns a :class:`BrokenItem` when the series cannot be mapped (with the reason) and
    ``None`` when the master disappeared while it was read.

    Raises:
        ListingError, BackendUnavailableError: ``/instances`` failed.
    """
    base = item_from_graph(data, partner_key=partner_key, prop_id=cal.partner_property)
    if not isinstance(base, Item):
        return base
    day = cal.clock().date()
    cached = cal._series_cache.get(base.id)
    if cached is not None and cached[:2] == (base.version, day):
        return attrs.evolve(cached[2], partner_key=base.partner_key or cached[2].partner_key)
    try:
        recurrence = recurrence_of(data, base.event)
        template = _master_event(base.event, recurrence)
        found = _instances(cal, base.id, recurrence, *_window(cal, recurrence))
        if found is None:
            return None
        event = attrs.evolve(template, recurrence=_with_instances(recurrence, template, found))
    except InvalidEventError as exc:
        return BrokenItem(
            id=base.id, reason=f"series cannot be mapped: {exc}", partner_key=base.partner_key
        )
    item = attrs.evolve(base, event=event)
    cal._series_cache[base.id] = (base.version, day, item)
    return item


def _master_event(event: Event, recurrence: Recurrence) -> Event:
    """The master's content starting with the series' first occurrence (no recurrence)."""
    start = recurrence.start
    if start == event.start:
        return attrs.evolve(event, recurrence=None)
    shift = event.end - event.start
    return attrs.evolve(event, start=start, end=start + shift, recurrence=None)


def masters(cal: GraphCalendar) -> list[Item | BrokenItem]:
    """Every series master of the calendar (``$filter=type eq 'seriesMaster'``).

    Raises:
        ListingError, BackendUnavailableError: a request failed.
    """
    from outlook_sync.adapters.graph.calendar import _QueryRefusedError

    query = {"$filter": "type eq 'seriesMaster'", "$expand": cal._expand, "$top": "1000"}
    try:
        found = list(cal._collection(query, "GET series masters"))
    except _QueryRefusedError:
        query = {"$expand": cal._expand, "$top": "1000"}
        found = list(cal._collection(query, "GET events"))
    result: list[Item | BrokenItem] = []
    for data in found:
        if str(data.get("type")).casefold() == "seriesmaster":
            mapped = cal._map(data, None)
            if mapped is not None:
                result.append(mapped)
    return result


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


def _read(cal: GraphCalendar, item_id: str) -> dict[str, Any] | None:
    resp = cal.client.request(
        "GET", cal._item_path(item_id, **{"$expand": cal._expand}), headers=cal._headers
    )
    if resp.status == 404:
        return None
    if not resp.ok:
        raise error_for(resp, what="GET event", item_id=item_id)
    return cal._json(resp, "GET event")


def _final(cal: GraphCalendar, item_id: str, partner_key: str | None) -> Item:
    data = _read(cal, item_id)
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


def _apply(cal: GraphCalendar, master_id: str, steps: list[_Step]) -> None:
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
    cal: GraphCalendar, master_id: str, recurrence: Recurrence, template: Event
) -> list[_Step]:
    keys = [*recurrence.cancelled, *(k for k, _ in recurrence.changed)]
    found = _instances(cal, master_id, recurrence, *_window(cal, recurrence, keys))
    if found is None:
        raise ItemNotFoundError("the series disappeared while it was written", item_id=master_id)
    return _steps(recurrence, template, found, master_id)


def create(cal: GraphCalendar, event: Event, partner_key: str) -> Item:
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
    cal: GraphCalendar,
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


def _patch(cal: GraphCalendar, item_id: str, body: dict[str, Any], expected_version: str) -> Any:
    return cal.client.request(
        "PATCH",
        cal._item_path(item_id),
        body=body,
        headers={**cal._headers, "If-Match": f'W/"{expected_version}"'},
    )
