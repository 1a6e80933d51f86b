"""Many writes at once (the :class:`~outlook_sync.protocols.BulkWriter` capability).

A mixin of :class:`~outlook_sync.adapters.sql.SqlCalendar`: the common case of a large
sync -- stamping partner keys on activities just listed, content unchanged -- runs as
one batch of guarded statements (one round trip on PostgreSQL, through a pipeline);
everything else goes through the calendar's own ``create``/``update``, one at a time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import attrs

from outlook_sync.adapters.sql.mapping import SqlMapping
from outlook_sync.adapters.sql.queries import ActivityQueries
from outlook_sync.errors import BackendError
from outlook_sync.model import Event, Item
from outlook_sync.sql.dialect import Dialect

__all__ = ["BulkWrites"]

_T = TypeVar("_T")


class BulkWrites:
    """``create_many`` / ``update_many`` on top of a calendar's single writes."""

    _c: Any
    _d: Dialect
    _m: SqlMapping
    _q: ActivityQueries
    _user: str | int
    _seen: dict[str, Item]

    def create(self, event: Event, *, partner_key: str) -> Item:
        raise NotImplementedError

    def update(
        self,
        item_id: str,
        event: Event,
        *,
        expected_version: str,
        partner_key: str | None = None,
    ) -> Item:
        raise NotImplementedError

    def _write(self, what: str, item_id: str | None, body: Callable[[], _T]) -> _T:
        raise NotImplementedError

    def _remember(self, item: Item) -> Item:
        raise NotImplementedError

    def _version_param(self, version: str) -> Any:
        raise NotImplementedError


    def create_many(self, requests: Sequence[tuple[Event, str]]) -> list[Item | BackendError]:
        """Create ``(event, partner_key)`` activities; one result per request, in order.

        Each create is its own unit, so one refused activity never fails the others.
        """
        results: list[Item | BackendError] = []
        for event, partner_key in requests:
            try:
                results.append(self.create(event, partner_key=partner_key))
            except BackendError as exc:
                results.append(exc)
        return results

    def update_many(
        self, requests: Sequence[tuple[str, Event, str, str | None]]
    ) -> list[Item | BackendError]:
        """Update ``(item_id, event, expected_version, partner_key)``; one result each.

        The common case -- stamping partner keys on activities just listed, content
        unchanged -- runs as one batch of guarded statements (one round trip on
        PostgreSQL, through a pipeline). Anything else, and any request the batch could
        not settle, goes through :meth:`update` on its own.
        """
        stamps: dict[int, Item] = {}
        for index, (item_id, event, version, partner_key) in enumerate(requests):
            cached = self._seen.get(item_id)
            if (
                cached is not None
                and cached.version == version
                and cached.event == event
                and partner_key
                and self._m.db_id(item_id) is not None
                and not self._q.single  # a stamp on the activity row may bump its version
            ):
                stamps[index] = cached
        done: dict[int, Item] = {}
        if stamps:
            try:
                done = self._write(
                    "stamping partner keys",
                    None,
                    lambda: self._stamp_all(
                        {i: (requests[i][0], requests[i][2], requests[i][3]) for i in stamps}
                    ),
                )
            except BackendError:
                done = {}  # settle each one on its own below
        results: list[Item | BackendError] = []
        for index, (item_id, event, version, partner_key) in enumerate(requests):
            if index in done:
                results.append(done[index])
                continue
            try:
                results.append(
                    self.update(item_id, event, expected_version=version, partner_key=partner_key)
                )
            except BackendError as exc:
                results.append(exc)
        return results

    def _stamp_all(self, stamps: dict[int, tuple[str, str, str | None]]) -> dict[int, Item]:
        cursors: dict[int, Any] = {}
        pipeline = self._c.pipeline() if self._d.name == "postgresql" else contextlib.nullcontext()
        with pipeline:
            for index, (item_id, version, partner_key) in stamps.items():
                db_id = self._m.db_id(item_id)
                cursor = self._d.cursor(self._c)
                cursor.execute(
                    self._d.sql(self._q.stamp),
                    (
                        partner_key,
                        db_id,
                        self._user,
                        db_id,
                        self._version_param(version),
                        *self._q.alive_params,
                    ),
                )
                cursors[index] = cursor
        done: dict[int, Item] = {}
        for index, cursor in cursors.items():
            if cursor.rowcount == 1:
                item_id, _version, partner_key = stamps[index]
                stamped = attrs.evolve(self._seen[item_id], partner_key=partner_key)
                done[index] = self._remember(stamped)
        return done

