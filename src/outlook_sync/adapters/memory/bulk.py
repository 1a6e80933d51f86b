"""The in-memory calendar that writes many items per call, as the production backends
do (Graph ``$batch``, the SQL adapter): :class:`InMemoryBulkCalendar`."""

from __future__ import annotations

import datetime as dt
import itertools
import operator
from collections import deque
from collections.abc import Sequence
from typing import cast

from outlook_sync.adapters.memory.calendar import InMemoryCalendar
from outlook_sync.errors import BackendError, ItemRejectedError
from outlook_sync.model import Event, Item, trusted_item

__all__ = ["InMemoryBulkCalendar"]

_EVENT_TYPE: frozenset[type] = frozenset({Event})
_KEY_TYPES: frozenset[type] = frozenset({str, type(None)})
_version_of = operator.attrgetter("version")
_recurrence_of = operator.attrgetter("recurrence")


class InMemoryBulkCalendar(InMemoryCalendar):
    """An :class:`InMemoryCalendar` that writes many items per call, as the production
    backends do (Graph ``$batch``, the SQL adapter): the
    :class:`~outlook_sync.protocols.BulkWriter` and
    :class:`~outlook_sync.protocols.BulkDeleter` capabilities.

    Each bulk call reads the clock once (its items share one change time) and answers
    one result per request, in order: the written :class:`Item` (``None`` for a
    delete), or the :class:`~outlook_sync.errors.BackendError` for that item alone.
    :meth:`~InMemoryCalendar.fail_next` arms a fault for the next *item*: a
    ``BackendError`` becomes that item's result (before the write: refused; ``after_*``:
    written, reply lost), anything else is raised from the call (a kill), the items
    before it written. ``InMemoryCalendar`` writes one item per call, as desktop
    Outlook and most custom backends do; the engine takes the same decisions for
    both.
    """

    def create_many(self, requests: Sequence[tuple[Event, str]]) -> list[Item | BackendError]:
        """Create ``(event, partner_key)`` items."""
        events, keys = zip(*requests, strict=True) if requests else ((), ())
        if not self._armed("create", "after_create") and self._plain(events, keys):
            # nothing to refuse and no fault to strike: the whole run in one step
            with self._lock:
                now = self._now()
                first = self._counter + 1
                self._counter += len(requests)
                ids = list(map(self._prefix.__add__, map(str, range(first, self._counter + 1))))
                created = self._put_all(ids, events, keys, now, new=True)
                self.write_log.extend("create", ids)
            self._notify_many(ids)
            return cast("list[Item | BackendError]", created)  # a new list, all written
        results: list[Item | BackendError] = []
        written: list[str] = []
        try:
            with self._lock:
                now = self._now()
                for event, partner_key in requests:
                    refusal = self._refused("create", "", event)
                    if refusal is not None:
                        results.append(refusal)
                        continue
                    self._counter += 1
                    item_id = f"{self._prefix}{self._counter}"
                    item = self._put(item_id, event, partner_key, now)
                    written.append(item_id)
                    self.write_log.append("create", item_id)
                    results.append(self._answer("after_create", item))
        finally:
            self._notify_many(written)
        return results

    def update_many(
        self, requests: Sequence[tuple[str, Event, str, str | None]]
    ) -> list[Item | BackendError]:
        """Update ``(item_id, event, expected_version, partner_key)`` items;
        ``partner_key=None`` keeps the item's key."""
        if not self._armed("update", "after_update"):
            done = self._update_all(requests)
            if done is not None:
                return done
        results: list[Item | BackendError] = []
        written: list[str] = []
        try:
            with self._lock:
                now = self._now()
                items = self._items
                for item_id, event, expected_version, partner_key in requests:
                    stored = items.get(item_id)
                    refusal = (self._refused("update", item_id, event)
                               or self._stale(item_id, stored, expected_version))
                    if refusal is not None:
                        results.append(refusal)
                        continue
                    assert stored is not None  # _stale refuses a missing item
                    item = self._put(item_id, event, partner_key or stored.partner_key, now)
                    written.append(item_id)
                    self.write_log.append("update", item_id)
                    results.append(self._answer("after_update", item))
        finally:
            self._notify_many(written)
        return results

    def delete_many(self, requests: Sequence[tuple[str, str]]) -> list[BackendError | None]:
        """Delete ``(item_id, expected_version)`` items."""
        results: list[BackendError | None] = []
        written: list[str] = []
        try:
            with self._lock:
                now = self._now()
                for item_id, expected_version in requests:
                    refusal = (self._refused("delete", item_id, None)
                               or self._stale(item_id, self._items.get(item_id),
                                              expected_version))
                    if refusal is not None:
                        results.append(refusal)
                        continue
                    self._forget(item_id)
                    self._tombstones[item_id] = now
                    written.append(item_id)
                    self.write_log.append("delete", item_id)
                    answer = self._struck("after_delete")
                    results.append(None if answer is None else self._lost(answer))
        finally:
            self._notify_many(written)
        return results

    def _update_all(
        self, requests: Sequence[tuple[str, Event, str, str | None]]
    ) -> list[Item | BackendError] | None:
        """:meth:`update_many` in one step when no fault is armed and the run is plain:
        every item there at its expected version, each id once, plain content. ``None``
        (nothing written, the clock not read) when the run must go item by item."""
        if not requests:
            return []
        item_ids, events, expected, keys = zip(*requests, strict=True)
        with self._lock:
            stored = list(map(self._items.get, item_ids))
            if (None in stored or len(set(item_ids)) < len(item_ids)
                    or list(map(_version_of, cast("list[Item]", stored))) != list(expected)):
                return None
            if None in keys:  # None keeps the item's key
                keys = tuple([key if key is not None else item.partner_key
                              for key, item in zip(keys, cast("list[Item]", stored),
                                                   strict=True)])
            if not self._plain(events, keys):
                return None
            written = self._put_all(item_ids, events, keys, self._now(), new=False)
            self.write_log.extend("update", item_ids)
        self._notify_many(list(item_ids))
        return cast("list[Item | BackendError]", written)  # a new list, all written

    def _put_all(self, item_ids: Sequence[str], events: Sequence[Event],
                 partner_keys: Sequence[str | None], now: dt.datetime, *,
                 new: bool) -> list[Item]:
        """:meth:`_put` for many writes at once: distinct ids (``new``: none stored
        yet), plain events and keys (:meth:`_plain`). Each step runs over all of them in
        C (``map``, ``dict.update``), not once per item in Python."""
        first = self._version + 1
        self._version += len(item_ids)
        stored = list(map(trusted_item, item_ids, map(str, range(first, self._version + 1)),
                          events, partner_keys, itertools.repeat(now)))
        self._items.update(zip(item_ids, stored, strict=True))
        for index in (self._broken, self._tombstones):
            if index:
                deque(map(index.pop, item_ids, itertools.repeat(None)), maxlen=0)
        self._changes.extend(item_ids)  # the newest changes last
        unkeyed = self._unkeyed
        if unkeyed and not new:
            unkeyed.difference_update(item_ids)
        if None in partner_keys:
            unkeyed.update([item_id for item_id, key in zip(item_ids, partner_keys, strict=True)
                            if key is None])
        self._changed_at_time(now)
        return stored

    def _armed(self, *operations: str) -> bool:
        """Whether a fault waits for any of ``operations``."""
        return bool(self._faults) and any(self._faults.get(op) for op in operations)

    def _plain(self, events: Sequence[Event], partner_keys: Sequence[str | None]) -> bool:
        """Every event and partner key is one this calendar stores as it is: an
        :class:`Event` (no series where series are not kept) and a key as
        :func:`_plain_key` checks it; checked in C, over the whole run."""
        return ({*map(type, events)} <= _EVENT_TYPE
                and (self.supports_series or not any(map(_recurrence_of, events)))
                and {*map(type, partner_keys)} <= _KEY_TYPES and "" not in partner_keys
                and max(map(len, filter(None, partner_keys)), default=0) <= 1024)

    def _refused(self, operation: str, item_id: str,
                 event: Event | None) -> BackendError | None:
        """The answer for an item refused before its write: an armed fault, or content
        this calendar cannot keep; ``None`` when the write goes ahead."""
        fault = self._struck(operation)
        if fault is not None:
            return self._lost(fault)
        if event is None:
            return None
        refusal = self._refusal(item_id, event)
        if isinstance(refusal, BackendError):
            return refusal
        if refusal is not None:  # not an Event: refused, as a backend refuses a bad item
            return ItemRejectedError(str(refusal), item_id=item_id or None)
        return None

    def _answer(self, operation: str, item: Item) -> Item | BackendError:
        fault = self._struck(operation)
        return item if fault is None else self._lost(fault)

    @staticmethod
    def _lost(fault: BaseException) -> BackendError:
        """A fault as one item's answer; anything but a BackendError is a kill."""
        if isinstance(fault, BackendError):
            return fault
        raise fault

    def _notify_many(self, item_ids: list[str]) -> None:
        if item_ids and self._listeners:
            for callback in list(self._listeners):
                callback(list(item_ids))


