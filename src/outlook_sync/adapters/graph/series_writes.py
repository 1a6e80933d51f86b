"""Writing recurring series for :class:`GraphCore`: the master, then its occurrences.

The master is created or PATCHed (``If-Match``) with its pattern — start and end in the
series zone — and then every occurrence whose content differs from the wanted one is
PATCHed (it becomes an exception) and every wanted cancellation is DELETEd, each with the
occurrence's own ``changeKey``. The occurrences' ids come from
``GET /events/{id}/instances`` ("the occurrences and exceptions of the event in the
specified time range", https://learn.microsoft.com/en-us/graph/api/event-list-instances)
over a window around now (:class:`SeriesWindow`) widened to the slots being written, in
requests of at most 1 825 days each (the calendar view limit, microsoftgraph/microsoft-
graph-docs-contrib#6321). The pattern is sent only when it changed, because Outlook
drops a series' exceptions when its pattern or time changes. What Graph cannot do is
refused before anything is written, with the reason
(:class:`~outlook_sync.errors.ItemRejectedError`): a rule outside Outlook's patterns or
limits, and restoring a cancelled occurrence (v1.0 has no way to bring one back).

Reading a series is :mod:`.series`.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from outlook_sync.adapters.graph.core import MAX_WINDOW, GraphCore
from outlook_sync.adapters.graph.mapping import (
    MappingError,
    event_from_graph,
    event_to_graph,
    partner_key_of,
)
from outlook_sync.adapters.graph.pages import CollectionGoneError, PageReader
from outlook_sync.adapters.graph.series import (
    _key,
    _master_event,
    _moment,
    _plain,
    _read,
    _same,
    recurrence_of,
)
from outlook_sync.adapters.graph.transport import AnswerLostError, error_for
from outlook_sync.errors import (
    InvalidEventError,
    ItemNotFoundError,
    ItemRejectedError,
    VersionConflictError,
)
from outlook_sync.model import Event, Item
from outlook_sync.recurrence import (
    OriginalStart,
    Recurrence,
    UnsupportedRecurrenceError,
    to_graph,
)

__all__ = ["create", "update"]


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
    plain_same = current_event.content() == template.content()
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
