"""Many writes at once (the :class:`~outlook_sync.protocols.BulkWriter` capability).

A mixin of :class:`~outlook_sync.adapters.sql.SqlCalendar`: the common case of a large
sync -- stamping partner keys on activities just listed, content unchanged -- runs as
one batch of guarded statements (on PostgreSQL one ``UPDATE ... FROM unnest(...)``
statement whose ``RETURNING`` names the stamps it settled, or, for a mapping whose
column types leave doubt, a statement per stamp in one pipeline round trip); everything
else goes through the calendar's own ``create``/``update``, one at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import attrs

from outlook_sync.adapters.sql.mapping import SqlMapping
from outlook_sync.adapters.sql.queries import ActivityQueries
from outlook_sync.errors import BackendError, ConfigurationError
from outlook_sync.model import Event, Item
from outlook_sync.sql.dialect import Dialect, quote

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
    #: the statement of ``_stamp_unnest`` (or ``None``: not for this mapping), once built
    _stamp_unnest_built: tuple[str | None] | None = None

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
        unchanged -- runs as one batch of guarded statements (one statement on
        PostgreSQL). Anything else, and any request the batch could not settle, goes
        through :meth:`update` on its own.
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
        changed: list[int] | None = None
        if self._d.name == "postgresql":
            changed = self._stamp_unnest(stamps)
        if changed is None:
            changed = self._stamp_each(stamps)
        done: dict[int, Item] = {}
        for index in changed:
            item_id, _db_id, _version, partner_key = stamps[index]
            done[index] = self._remember(_with_partner_key(self._seen[item_id], partner_key))
        return done

    def _stamp_each(self, stamps: dict[int, tuple[str, Any, str, str]]) -> list[int]:
        """One guarded statement per stamp; the indexes whose statement changed one row."""
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
        return changed

    def _stamp_unnest(self, stamps: dict[int, tuple[str, Any, str, str]]) -> list[int] | None:
        """PostgreSQL: the same guarded stamps as one statement per chunk.

        ``UPDATE ... FROM unnest(...) WITH ORDINALITY ... RETURNING`` the ordinal of every
        participants row it changed: a stamp counts as done, as in :meth:`_stamp_each`,
        when its guard changed exactly one row. ``None`` (use :meth:`_stamp_each`) when
        the mapped columns' types leave doubt that the arrays compare as the single
        statement's parameters do, or when two stamps name one activity (one
        ``UPDATE ... FROM`` changes a row once, a statement per stamp twice).
        """
        sql = self._stamp_unnest_sql()
        if sql is None:
            return None
        db_ids = [str(stamp[1]) for stamp in stamps.values()]
        if len(set(db_ids)) != len(db_ids):
            return None
        version_param = self._version_param
        alive = self._q.alive_params
        indexes = list(stamps)
        changed: list[int] = []
        cursor = self._d.cursor(self._c)
        size = self._d.chunk_size
        for start in range(0, len(indexes), size):
            part = indexes[start : start + size]
            keys: list[str] = []
            versions: list[str] = []
            for index in part:
                _item_id, _db_id, version, partner_key = stamps[index]
                keys.append(partner_key)
                versions.append(str(version_param(version)))
            ids = db_ids[start : start + size]
            cursor.execute(sql, (keys, ids, ids, versions, self._user, *alive))
            counts: dict[int, int] = {}
            for (ordinal,) in cursor.fetchall():
                counts[ordinal] = counts.get(ordinal, 0) + 1
            changed.extend(part[n - 1] for n, count in sorted(counts.items()) if count == 1)
        return changed

    def _stamp_unnest_sql(self) -> str | None:
        """The statement of :meth:`_stamp_unnest` for this mapping, or ``None``.

        Built once from the mapping, identifiers through :func:`quote` as in
        :attr:`ActivityQueries.stamp`. Each array travels as ``text[]`` (binary, ``%b``)
        and is cast to its column's type (a domain's base type), so every value is read
        by the column type's own input, as the single statement's untyped parameter is.
        The integer ids and expected versions the single statement sends as integers
        need numeric columns; anything else keeps the statement per stamp.
        """
        if self._stamp_unnest_built is not None:
            return self._stamp_unnest_built[0]
        m, p, a = self._m, self._m.participants, self._m.activities
        sql: str | None = None
        if p is not None and not self._q.single:
            parts = self._column_types(m.table(p.table), (p.activity_id, p.partner_key))
            acts = self._column_types(m.table(a.table), (a.id, a.version))
            key, pid = parts.get(p.partner_key), parts.get(p.activity_id)
            aid, version = acts.get(a.id), acts.get(a.version)
            numeric_ids = m.id_type == "integer"
            if (
                key is not None
                and pid is not None
                and aid is not None
                and version is not None
                and version[1] == "N"
                and (not numeric_ids or (pid[1] == "N" and aid[1] == "N"))
            ):
                arrays = ", ".join(f"%b::text[]::{t[0]}[]" for t in (key, pid, aid, version))
                sql = (
                    f"UPDATE {m.table(p.table)} AS p SET {quote(p.partner_key)} = s.k"
                    f" FROM unnest({arrays}) WITH ORDINALITY AS s (k, pid, aid, v, n)"
                    + self._d.sql(
                        f" WHERE p.{quote(p.activity_id)} = s.pid AND p.{quote(p.user_id)} = ?"
                        f" AND EXISTS (SELECT 1 FROM {m.table(a.table)} a"
                        f" WHERE a.{quote(a.id)} = s.aid AND a.{quote(a.version)} = s.v"
                        f"{self._q.alive}) RETURNING s.n"
                    )
                )
        self._stamp_unnest_built = (sql,)
        return sql

    def _column_types(self, table: str, columns: Sequence[str]) -> dict[str, tuple[str, str]]:
        """PostgreSQL: ``column -> (quoted type name, type category)`` of a table's columns.

        A domain is its base type; a column whose type is not a plain base type (an
        array, a composite, a pseudo-type, a type name that is no plain identifier) is
        left out.
        """
        rows = self._d.execute(
            self._c,
            "SELECT a.attname, n.nspname, t.typname, t.typcategory"
            " FROM pg_catalog.pg_attribute a"
            " JOIN pg_catalog.pg_type d ON d.oid = a.atttypid"
            " JOIN pg_catalog.pg_type t"
            " ON t.oid = CASE WHEN d.typtype = 'd' THEN d.typbasetype ELSE d.oid END"
            " JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace"
            " WHERE a.attrelid = to_regclass(?) AND a.attnum > 0 AND NOT a.attisdropped"
            " AND a.attname = ANY(?) AND t.typtype = 'b' AND t.typcategory <> 'A'",
            (table, list(columns)),
        ).fetchall()
        found: dict[str, tuple[str, str]] = {}
        for name, schema, type_name, category in rows:
            try:
                found[name] = (f"{quote(schema)}.{quote(type_name)}", str(category))
            except ConfigurationError:
                continue
        return found


def _evolved(item: Item, partner_key: str) -> Item:
    return attrs.evolve(item, partner_key=partner_key)


def _rebuilt(item: Item, partner_key: str) -> Item:
    return Item(id=item.id, version=item.version, event=item.event, partner_key=partner_key,
                changed=item.changed)


#: ``item`` with another partner key: ``attrs.evolve``, or (cheaper, the same while
#: these are Item's fields) Item built from its fields
_with_partner_key: Callable[[Item, str], Item] = (
    _rebuilt
    if tuple(field.name for field in attrs.fields(Item)) == ("id", "version", "event",
                                                             "partner_key", "changed")
    else _evolved
)
