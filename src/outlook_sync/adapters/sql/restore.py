"""Restore (the :class:`~outlook_sync.protocols.ItemRestorer` capability) and identity.

A mixin of :class:`~outlook_sync.adapters.sql.SqlCalendar`. ``restore`` brings back an
activity the sync deleted as *the same activity*: the same id and every column of the
row, the host's own ones (customer, contact, project) included, from the archive the
delete filled (``archive.py``) or by clearing the soft-delete column; the restored
content goes on top and this user's participation comes back with the new partner key.
What could not come back (a column the table no longer has, the id when another row
took it meanwhile) is named in the result.

``calendar_identity`` names the database and the user without any secret:
``sql:sqlite:/abs/path/file.db#activities/anna`` or
``sql:postgresql:host:5432/dbname/schema.activities/anna``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

from outlook_sync.adapters.sql.archive import Archive, insert_sql
from outlook_sync.adapters.sql.columns import Catalog
from outlook_sync.adapters.sql.mapping import SqlMapping
from outlook_sync.adapters.sql.queries import ActivityQueries
from outlook_sync.adapters.sql.rows import RowCodec
from outlook_sync.errors import ItemNotFoundError, ItemRejectedError
from outlook_sync.model import Event, Item
from outlook_sync.sql.dialect import Dialect, quote

__all__ = ["Restoring"]

_T = TypeVar("_T")


class Restoring:
    """``restore``, the archive hook ``_keep`` and ``calendar_identity``."""

    _c: Any
    _d: Dialect
    _m: SqlMapping
    _q: ActivityQueries
    _codec: RowCodec
    _catalog: Catalog
    _archive: Archive | None
    _user: str | int
    _side: str

    def _write(self, what: str, item_id: str | None, body: Callable[[], _T]) -> _T:
        raise NotImplementedError

    def _read(self, what: str, body: Callable[[], _T], *, listing: bool = False) -> _T:
        raise NotImplementedError

    def _rows(self, sql: str, params: Any) -> list[Any]:
        raise NotImplementedError

    def _values(self, event: Event, item_id: str | None) -> dict[str, Any]:
        raise NotImplementedError

    def _read_back(self, item_id: str) -> Item:
        raise NotImplementedError

    def _server_now(self) -> dt.datetime:
        raise NotImplementedError

    # -- keeping ---------------------------------------------------------------------

    def _keep(self, item_id: str, db_id: Any, *, activity: bool) -> None:
        """Archive the activity row (``activity``) and the user's participants row."""
        if self._archive is None:
            return
        a, p = self._m.activities, self._m.participants
        row = (
            (f"SELECT * FROM {self._q.activities} WHERE {quote(a.id)} = ?", (db_id,))
            if activity
            else None
        )
        part = (
            None
            if p is None
            else (
                f"SELECT * FROM {self._m.table(p.table)}"
                f" WHERE {quote(p.activity_id)} = ? AND {quote(p.user_id)} = ?",
                (db_id, self._user),
            )
        )
        self._archive.keep(self._c, item_id, self._user, activity=row, participant=part)

    # -- restoring -------------------------------------------------------------------

    def restore(
        self, item_id: str, event: Event, *, partner_key: str
    ) -> tuple[Item, tuple[str, ...]]:
        """Bring back the activity ``item_id`` the sync deleted, as the same activity.

        Returns:
            The restored item and the names of what could not be restored.

        Raises:
            ItemNotFoundError: nothing was kept for it (no archive entry, no soft-deleted
                row): the caller creates it anew.
            ItemRejectedError: the database refused the restore, or the id is on the
                user's calendar as another activity.
            BusyError, PermissionDeniedError, BackendUnavailableError: as for writes.
        """
        values = self._values(event, item_id)
        return self._write(
            f"restoring activity {item_id}",
            item_id,
            lambda: self._restore(item_id, values, partner_key),
        )

    def _not_found(self, item_id: str, why: str) -> ItemNotFoundError:
        return ItemNotFoundError(
            f"activity {item_id} cannot be restored: {why}", side=self._side, item_id=item_id
        )

    def _restore(
        self, item_id: str, values: dict[str, Any], partner_key: str
    ) -> tuple[Item, tuple[str, ...]]:
        db_id = self._m.db_id(item_id)
        if db_id is None:
            raise self._not_found(item_id, "not an id of this database")
        head = self._rows(self._q.head, (self._user, db_id))
        soft = self._m.soft_delete
        if head and (soft is None or head[0][-1] is None or not self._soft_deleted(head[0][-1])):
            if self._codec.partner(head[0][1]) == partner_key:
                return self._read_back(item_id), ()  # restored already (a lost reply)
            raise ItemRejectedError(
                f"activity {item_id} is on the calendar: nothing to restore",
                side=self._side,
                item_id=item_id,
            )
        kept = None if self._archive is None else self._archive.take(self._c, item_id, self._user)
        if head and soft is not None:  # soft-deleted: the row is all there
            self._undelete(db_id, values, partner_key)
            return self._read_back(item_id), ()
        if kept is None:
            raise self._not_found(item_id, "nothing was kept of it (no archive entry)")
        activity, participant = kept
        lost: list[str] = []
        new_id: Any = db_id
        if activity is not None:
            new_id, lost = self._insert_activity(db_id, activity, values, partner_key)
        elif not self._rows(
            f"SELECT 1 FROM {self._q.activities} WHERE {quote(self._m.activities.id)} = ?",
            (db_id,),
        ):
            raise self._not_found(item_id, "the shared activity itself is gone")
        if self._m.participants is not None:
            self._insert_participant(new_id, participant, partner_key)
        return self._read_back(str(new_id)), tuple(lost)

    def _soft_deleted(self, raw: Any) -> bool:
        soft = self._m.soft_delete
        return soft is not None and (soft.kind == "timestamp" or raw == soft.deleted_value)

    def _undelete(self, db_id: Any, values: dict[str, Any], partner_key: str) -> None:
        soft = self._m.soft_delete
        assert soft is not None
        alive = soft.alive_value
        if alive is None and soft.kind == "flag":
            if isinstance(soft.deleted_value, bool):
                alive = not soft.deleted_value
            elif isinstance(soft.deleted_value, int) and soft.deleted_value != 0:
                alive = 0
        self._d.execute(self._c, self._q.undelete, (alive, db_id))
        a = self._m.activities
        if values:
            sets = ", ".join(f"{quote(name)} = ?" for name in values)
            self._d.execute(
                self._c,
                f"UPDATE {self._q.activities} SET {sets} WHERE {quote(a.id)} = ?",
                [*values.values(), db_id],
            )
        self._d.execute(self._c, self._q.set_partner, (partner_key, db_id, self._user))

    def _insert_activity(
        self, db_id: Any, archived: dict[str, Any], values: dict[str, Any], partner_key: str
    ) -> tuple[Any, list[str]]:
        a, info = self._m.activities, self._catalog.activities
        lost = sorted(name for name in archived if name not in info.kinds)
        row = {
            name: value
            for name, value in archived.items()
            if name in info.kinds and name not in info.generated
        }
        row.update(values)
        version = archived.get(a.version)
        row[a.version] = version + 1 if isinstance(version, int) else 1
        now = self._server_now()
        row[a.changed_at] = self._codec.watermark(now, now)
        if a.owner is not None and a.partner_key is not None:
            row[a.owner] = self._user
            row[a.partner_key] = partner_key
        taken = self._rows(
            f"SELECT 1 FROM {self._q.activities} WHERE {quote(a.id)} = ?", (db_id,)
        )
        if taken:  # another activity has the id now: come back under a new one
            row.pop(a.id, None)
            lost.append("id")
        overriding = self._d.name == "postgresql" and a.id in row and a.id in info.identity_always
        sql, params = insert_sql(self._q.activities, row, overriding=overriding, returning=a.id)
        return self._rows(sql, params)[0][0], lost

    def _insert_participant(
        self, activity_id: Any, archived: dict[str, Any] | None, partner_key: str
    ) -> None:
        p = self._m.participants
        assert p is not None
        assert self._catalog.participants is not None
        kinds = self._catalog.participants.kinds
        row = {k: v for k, v in (archived or {}).items() if k in kinds}
        row.update({p.activity_id: activity_id, p.user_id: self._user, p.partner_key: partner_key})
        columns = ", ".join(quote(name) for name in row)
        marks = ", ".join("?" * len(row))
        self._d.execute(
            self._c,
            f"INSERT INTO {self._m.table(p.table)} ({columns}) VALUES ({marks})",
            list(row.values()),
        )

    # -- identity --------------------------------------------------------------------

    def calendar_identity(self) -> str:
        """``sql:<database>/<table>/<user>``: which calendar this is, with no secret in it.

        Raises:
            BackendUnavailableError: the database cannot be asked.
        """
        return self._read("reading the database identity", self._identity)

    def _identity(self) -> str:
        table = self._m.activities.table
        if self._d.name == "sqlite":
            rows = self._rows("PRAGMA database_list", ())
            path = next((str(r[2]) for r in rows if r[1] == "main"), "")
            where = f"sqlite:{path}" if path else f"sqlite:memory-{id(self._c):x}"
            return f"sql:{where}#{table}/{self._user}"
        info = self._c.info
        schema = self._m.schema or self._rows("SELECT current_schema()", ())[0][0]
        return f"sql:postgresql:{info.host}:{info.port}/{info.dbname}/{schema}.{table}/{self._user}"
