"""Bulk writes for :class:`GraphCore`: ``$batch`` requests of at most 20.

https://learn.microsoft.com/en-us/graph/json-batching: each item gets its own status, so
one refused item never fails the others; items answered 429/503/504 are re-sent by
:meth:`GraphClient.batch`. Recurring series take several requests each (the master,
then its occurrences), so they are written one by one, outside the batches. A ``$batch``
whose answer was lost is settled item by item (creates are looked up by partner key and
transaction id first), so nothing is created twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from functools import partial

from outlook_sync.adapters.graph.core import GraphCore
from outlook_sync.adapters.graph.core import chunks as _chunks
from outlook_sync.adapters.graph.mapping import MappingError
from outlook_sync.adapters.graph.transport import (
    AnswerLostError,
    BatchItem,
    MalformedResponseError,
    error_for,
)
from outlook_sync.errors import BackendError
from outlook_sync.model import Event, Item

__all__ = ["create_many", "delete_many", "update_many"]


def create_many(
    cal: GraphCore, requests: Sequence[tuple[Event, str]]
) -> list[Item | BackendError]:
    """Create many events (``(event, partner_key)`` pairs), 20 per ``$batch`` request.

    Returns one result per request, in order: the new :class:`Item`, or the error
    for that item alone (partial failures do not affect the others).
    """
    series = {
        n: cal._settle(partial(cal.create, event, partner_key=key))
        for n, (event, key) in enumerate(requests)
        if event.recurrence is not None
    }
    singles = [r for n, r in enumerate(requests) if n not in series]
    created = iter(_create_singles(cal, singles))
    return [series[n] if n in series else next(created) for n in range(len(requests))]


def _create_singles(
    cal: GraphCore, requests: Sequence[tuple[Event, str]]
) -> list[Item | BackendError]:
    results: list[Item | BackendError] = []
    path = f"/{cal._calendar}/events"
    for chunk in _chunks(requests):
        txns = [str(uuid.uuid4()) for _ in chunk]
        batch = [
            BatchItem(
                id=str(n), method="POST", url=path, body=cal._create_body(event, key, txns[n])
            )
            for n, (event, key) in enumerate(chunk)
        ]
        try:
            answers = cal.client.batch(batch, headers=cal._headers, safe_to_retry=False)
        except AnswerLostError:
            for n, (event, key) in enumerate(chunk):
                results.append(cal._settle(partial(cal._recreate, event, key, txns[n])))
            continue
        for n, (event, key) in enumerate(chunk):
            resp = answers[str(n)]
            results.append(cal._settle(partial(cal._created, resp, key, event)))
    return results


def update_many(
    cal: GraphCore, requests: Sequence[tuple[str, Event, str, str | None]]
) -> list[Item | BackendError]:
    """Update many items, 20 per ``$batch``.

    Each request is ``(item_id, event, expected_version, partner_key)``; a ``None``
    partner key leaves the stored one as it is.
    """
    _read_unknown(cal, [item_id for item_id, _e, _v, _k in requests])
    results: list[Item | BackendError] = []
    for chunk in _chunks(requests):
        guarded: dict[int, Item | BackendError] = {}
        for n, (item_id, event, version, key) in enumerate(chunk):
            if (
                cal._meeting(item_id) is not None
                or event.recurrence is not None
                or cal._is_series(item_id)
            ):
                guarded[n] = cal._settle(
                    partial(cal.update, item_id, event, expected_version=version, partner_key=key)
                )
        batch = [
            BatchItem(
                id=str(n),
                method="PATCH",
                url="/" + cal._item_path(item_id),
                body=cal._patch_body(event, key),
                headers={"If-Match": f'W/"{version}"'},
            )
            for n, (item_id, event, version, key) in enumerate(chunk)
            if n not in guarded
        ]
        answers = cal.client.batch(batch, headers=cal._headers) if batch else {}
        for n, (item_id, event, _version, key) in enumerate(chunk):
            if n in guarded:
                results.append(guarded[n])
                continue
            resp = answers[str(n)]
            results.append(cal._settle(partial(cal._updated, resp, item_id, event, key)))
    return results


def delete_many(
    cal: GraphCore, requests: Sequence[tuple[str, str]]
) -> list[BackendError | None]:
    """Delete many items (``(item_id, expected_version)``), 20 per ``$batch``."""
    _read_unknown(cal, [item_id for item_id, _version in requests])
    results: list[BackendError | None] = []
    for chunk in _chunks(requests):
        guarded: dict[int, BackendError] = {}
        for n, (item_id, _version) in enumerate(chunk):
            try:
                cal._guard_meeting(item_id, "delete")
            except BackendError as exc:
                guarded[n] = exc
        batch = [
            BatchItem(
                id=str(n),
                method="DELETE",
                url="/" + cal._item_path(item_id),
                headers={"If-Match": f'W/"{version}"'},
            )
            for n, (item_id, version) in enumerate(chunk)
            if n not in guarded
        ]
        answers = cal.client.batch(batch, headers=cal._headers) if batch else {}
        for n, (item_id, _version) in enumerate(chunk):
            if n in guarded:
                results.append(guarded[n])
                continue
            resp = answers[str(n)]
            if resp.ok:
                cal._forget(item_id)
                results.append(None)
            else:
                results.append(error_for(resp, what="DELETE event", item_id=item_id))
    return results


def _read_unknown(cal: GraphCore, item_ids: Sequence[str]) -> None:
    """Read the items the meeting guard knows nothing of, 20 per ``$batch``.

    Changing or deleting a meeting would e-mail its attendees, so an item not seen in
    this object's listings is read before it is written (``GraphCore._meeting``). Read
    here in batches instead of one GET each; an item whose answer is missing or
    unreadable is left unknown, and the guard reads it on its own as before.
    """
    if cal.allow_meeting_changes:
        return
    unknown = sorted({item_id for item_id in item_ids if item_id not in cal._meta})
    for chunk in _chunks(unknown):
        batch = [BatchItem(id=str(n), method="GET", url="/" + cal._item_read_path(item_id))
                 for n, item_id in enumerate(chunk)]
        try:
            answers = cal.client.batch(batch, headers=cal._headers)
        except BackendError:
            return  # each item is read on its own by the guard
        for n in range(len(chunk)):
            resp = answers.get(str(n))
            if resp is None or not resp.ok:
                continue
            try:
                data = resp.json_object()
                if isinstance(data.get("id"), str):
                    cal._map(data, None)
            except (MalformedResponseError, MappingError):
                continue
