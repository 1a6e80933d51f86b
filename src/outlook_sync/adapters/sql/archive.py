"""What a sync deletion took away, kept so that ``restore`` brings back the same activity.

Theory of operation
-------------------
When the sync deletes an activity (hard delete) the adapter first copies the *whole*
row -- every column, also the host's own ones the model does not carry (customer,
contact, project) -- and the user's participants row into ``outlook_sync_activity_archive``
(created by :func:`~outlook_sync.adapters.sql.upgrade`, component ``saljstod_archive``),
in the same transaction as the delete. When the sync only takes the user off a shared
activity, just the participants row is kept. ``restore`` inserts the row again with the
same id and every column that still exists, with the restored content on top, and
re-adds the participants row with the new partner key; the archive entry goes.

With a soft-delete column nothing needs copying: the row stays, and restore clears
the column. Without the archive table (a host that did not run ``upgrade``) a hard-deleted
activity cannot be restored by the adapter (``ItemNotFoundError``; the engine then
creates it anew from its deleted-items log).

Values are stored as JSON with a type tag each (``["dt", "2024-03-04T09:00:00+01:00"]``),
so dates, times, decimals and bytes come back as the same Python values and the
driver binds them as before. Entries older than ``keep`` are purged on each delete.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
from collections.abc import Mapping, Sequence
from typing import Any

from outlook_sync.sql.dialect import Dialect, quote

__all__ = ["Archive", "decode_row", "encode_row"]

_ENCODERS: tuple[tuple[type, str, Any], ...] = (
    (bool, "b", lambda v: v),
    (int, "i", lambda v: v),
    (float, "f", repr),
    (str, "s", lambda v: v),
    (dt.datetime, "dt", lambda v: v.isoformat()),
    (dt.date, "d", lambda v: v.isoformat()),
    (dt.time, "t", lambda v: v.isoformat()),
    (dt.timedelta, "td", lambda v: v.total_seconds()),
    (decimal.Decimal, "dec", str),
    (bytes, "x", lambda v: base64.b64encode(v).decode("ascii")),
    (memoryview, "x", lambda v: base64.b64encode(bytes(v)).decode("ascii")),
)
_DECODERS: dict[str, Any] = {
    "b": bool,
    "i": int,
    "f": float,
    "s": str,
    "dt": dt.datetime.fromisoformat,
    "d": dt.date.fromisoformat,
    "t": dt.time.fromisoformat,
    "td": lambda v: dt.timedelta(seconds=v),
    "dec": decimal.Decimal,
    "x": base64.b64decode,
    "o": str,
}


def _encode(value: Any) -> Any:
    if value is None:
        return None
    for kind, tag, convert in _ENCODERS:
        if isinstance(value, kind):
            return [tag, convert(value)]
    return ["o", str(value)]  # anything else (uuid, json, arrays...): its text form


def encode_row(row: Mapping[str, Any]) -> str:
    """A row as tagged JSON."""
    return json.dumps({name: _encode(value) for name, value in row.items()}, ensure_ascii=False)


def decode_row(text: str) -> dict[str, Any]:
    """The row :func:`encode_row` stored."""
    data = json.loads(text)
    return {
        name: None if value is None else _DECODERS[value[0]](value[1])
        for name, value in data.items()
    }


def _row(cursor: Any) -> dict[str, Any] | None:
    found = cursor.fetchone()
    if found is None:
        return None
    return {column[0]: value for column, value in zip(cursor.description, found, strict=True)}


class Archive:
    """Keeps and hands back deleted rows for one activities table (see the module doc)."""

    TABLE = "outlook_sync_activity_archive"

    def __init__(self, dialect: Dialect, table: str, qualified: str, keep: dt.timedelta) -> None:
        self._d = dialect
        self._key = table
        self._table = qualified
        self._keep = keep

    def keep(
        self,
        connection: Any,
        activity_id: str,
        user: str | int,
        *,
        activity: tuple[str, Any] | None,
        participant: tuple[str, Sequence[Any]] | None,
    ) -> None:
        """Copy the rows the two ``(SELECT *, params)`` queries find into the archive."""
        now = dt.datetime.now(dt.UTC)
        row = None if activity is None else _row(self._d.execute(connection, *activity))
        part = None if participant is None else _row(self._d.execute(connection, *participant))
        self._d.execute(
            connection,
            f"DELETE FROM {self._table} WHERE archived_at < ?",
            ((now - self._keep).isoformat(),),
        )
        self._d.execute(
            connection,
            f"INSERT INTO {self._table} (activity_table, activity_id, user_name, activity_row,"
            " participant_row, archived_at) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (activity_table, activity_id, user_name) DO UPDATE SET"
            " activity_row = excluded.activity_row, participant_row = excluded.participant_row,"
            " archived_at = excluded.archived_at",
            (
                self._key,
                activity_id,
                str(user),
                None if row is None else encode_row(row),
                None if part is None else encode_row(part),
                now.isoformat(),
            ),
        )

    def take(
        self, connection: Any, activity_id: str, user: str | int
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None] | None:
        """``(activity row, participants row)`` kept for the pair, or ``None``; removes it."""
        key = (self._key, activity_id, str(user))
        found = self._d.execute(
            connection,
            f"SELECT activity_row, participant_row FROM {self._table}"
            " WHERE activity_table = ? AND activity_id = ? AND user_name = ?",
            key,
        ).fetchone()
        if found is None:
            return None
        self._d.execute(
            connection,
            f"DELETE FROM {self._table}"
            " WHERE activity_table = ? AND activity_id = ? AND user_name = ?",
            key,
        )
        return (
            None if found[0] is None else decode_row(found[0]),
            None if found[1] is None else decode_row(found[1]),
        )


def insert_sql(
    table: str, row: Mapping[str, Any], *, overriding: bool, returning: str
) -> tuple[str, list[Any]]:
    """``INSERT INTO table (...) VALUES (...) RETURNING returning`` for ``row``."""
    columns = ", ".join(quote(name) for name in row)
    marks = ", ".join("?" * len(row))
    override = " OVERRIDING SYSTEM VALUE" if overriding else ""
    return (
        f"INSERT INTO {table} ({columns}){override} VALUES ({marks}) RETURNING {quote(returning)}",
        list(row.values()),
    )
