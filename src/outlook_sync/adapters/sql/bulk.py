"""Many writes at once (the :class:`~outlook_sync.protocols.BulkWriter` capability).

A mixin of :class:`~outlook_sync.adapters.sql.SqlCalendar`: the common case of a large
sync -- stamping partner keys on activities just listed, content unchanged -- runs as
one batch of guarded statements (one round trip on PostgreSQL, through a pipeline);
everything else goes through the calendar's own ``create``/``update``, one at a time.
"""

from __future__ import annotations

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
        #: index -> (item id, database id, expected version, partner key)
        stamps: dict[int, tuple[str, Any, str, str]] = {}
        seen, db_id_of = self._seen, self._m.db_id
        if not self._q.single:  # a stamp on the activity row may bump its version
            for index, (item_id, event, version, partner_key) in enumerate(requests):
                cached = seen.get(item_id)
                if (
                    cached is not None
                    and cached.version == version
                    and (cached.event is event or cached.event == event)
                    and partner_key
                ):
                    db_id = db_id_of(item_id)
                    if db_id is not None:
                        stamps[index] = (item_id, db_id, version, partner_key)
        done: dict[int, Item] = {}
        if stamps:
            try:
                done = self._write("stamping partner keys", None, lambda: self._stamp_all(stamps))
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

    def _stamp_all(self, stamps: dict[int, tuple[str, Any, str, str]]) -> dict[int, Item]:
        """Run the guarded stamps; the items stamped (one row changed), by request index."""
        sql = self._d.sql(self._q.stamp)
        user, alive, version_param = self._user, self._q.alive_params, self._version_param
        changed: list[int] = []
        if self._d.name == "postgresql":
            # one round trip: every statement is sent before any result is read
            cursors: dict[int, Any] = {}
            with self._c.pipeline():
                for index, (_item_id, db_id, version, partner_key) in stamps.items():
                    cursor = self._d.cursor(self._c)
                    cursor.execute(
                        sql, (partner_key, db_id, user, db_id, version_param(version), *alive)
                    )
                    cursors[index] = cursor
            changed = [index for index, cursor in cursors.items() if cursor.rowcount == 1]
        else:
            cursor = self._d.cursor(self._c)  # in process: each count is read at once
            for index, (_item_id, db_id, version, partner_key) in stamps.items():
                cursor.execute(
                    sql, (partner_key, db_id, user, db_id, version_param(version), *alive)
                )
                if cursor.rowcount == 1:
                    changed.append(index)
        done: dict[int, Item] = {}
        for index in changed:
            item_id, _db_id, _version, partner_key = stamps[index]
            done[index] = self._remember(_with_partner_key(self._seen[item_id], partner_key))
        return done


def _evolved(item: Item, partner_key: str) -> Item:
    return attrs.evolve(item, partner_key=partner_key)


def _rebuilt(item: Item, partner_key: str) -> Item:
    return Item(id=item.id, version=item.version, event=item.event, partner_key=partner_key)


#: ``item`` with another partner key: ``attrs.evolve``, or (cheaper, the same while
#: these are Item's fields) Item built from its fields
_with_partner_key: Callable[[Item, str], Item] = (
    _rebuilt
    if tuple(field.name for field in attrs.fields(Item)) == ("id", "version", "event",
                                                             "partner_key")
    else _evolved
)
