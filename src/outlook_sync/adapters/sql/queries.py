"""The SQL text ``SqlCalendar`` runs, built once from a validated mapping.

Every identifier comes from :class:`~outlook_sync.adapters.sql.mapping.SqlMapping`
(validated plain identifiers) and goes through
:func:`~outlook_sync.sql.dialect.quote`; every value is a ``?`` parameter.
Queries that list activities all have the same shape::

    SELECT <columns> FROM participants p JOIN activities a ON a.id = p.activity_id
    WHERE p.user_id = ? AND <condition>

or, when the user is a column of the activity row (no participants table)::

    SELECT <columns> FROM activities a WHERE a.owner = ? AND <condition>

so a user's sync only ever sees that user's rows.
"""

from __future__ import annotations

from typing import Any

from outlook_sync.adapters.sql.mapping import SqlMapping
from outlook_sync.adapters.sql.rows import RowCodec
from outlook_sync.sql.dialect import Dialect, quote

__all__ = ["ActivityQueries"]


class ActivityQueries:
    """The statements for one mapping and dialect (attributes hold SQL text)."""

    def __init__(self, mapping: SqlMapping, dialect: Dialect, codec: RowCodec) -> None:
        m, a = mapping, mapping.activities
        acts = m.table(a.table)
        self.activities = acts
        #: The user is a column of the activity row (no participants table).
        self.single = m.participants is None
        soft = "NULL" if m.soft_delete is None else f"a.{quote(m.soft_delete.column)}"
        if m.participants is None:
            assert a.owner is not None
            assert a.partner_key is not None
            source = f"{acts} a WHERE a.{quote(a.owner)} = ?"
            partner = f"a.{quote(a.partner_key)}"
        else:
            p = m.participants
            source = (
                f"{m.table(p.table)} p JOIN {acts} a ON a.{quote(a.id)} = p.{quote(p.activity_id)}"
                f" WHERE p.{quote(p.user_id)} = ?"
            )
            partner = f"p.{quote(p.partner_key)}"
        select = f"SELECT {codec.select_list()}, {soft} FROM {source}"
        # No ORDER BY: it would tempt planners into a full scan in id order; the
        # calendar sorts the rows instead.
        self.all = select
        self.changed = f"{select} AND a.{quote(a.changed_at)} >= ?"
        self.unlinked = f"{select} AND {dialect.unlikely(f'{partner} IS NULL')}"
        self.one = f"{select} AND a.{quote(a.id)} = ?"
        self.head = (
            f"SELECT a.{quote(a.version)}, {partner}, {soft} FROM {source}"
            f" AND a.{quote(a.id)} = ?"
        )
        self.by_partner_key = f"{select} AND {partner} = ?"
        self.now = f"SELECT {dialect.now_sql}"
        log = m.deletion_log
        self.removed = (
            None
            if log is None
            else f"SELECT {quote(log.activity_id)} FROM {m.table(log.table)}"
            f" WHERE {quote(log.user_id)} = ? AND {quote(log.deleted_at)} >= ?"
        )
        #: activities that exist (not soft-deleted), whoever they belong to; completed
        #: with ``AND <id condition>`` (see :attr:`alive_params`)
        self.existing_prefix = f"SELECT a.{quote(a.id)} FROM {acts} a WHERE 1 = 1"
        self.activity_id = f"a.{quote(a.id)}"
        now = codec.now_sql()
        where_version = f" WHERE {quote(a.id)} = ? AND {quote(a.version)} = ?"
        stamp = f"{quote(a.version)} = {quote(a.version)} + 1, {quote(a.changed_at)} = {now}"
        self.update_prefix = f"UPDATE {acts} SET "
        self.update_suffix = f", {stamp}{where_version}"
        self.delete = f"DELETE FROM {acts}{where_version}"
        if m.soft_delete is not None:
            value = now if m.soft_delete.kind == "timestamp" else "?"
            self.soft_delete = (
                f"UPDATE {acts} SET {quote(m.soft_delete.column)} = {value}, {stamp}{where_version}"
            )
            self.undelete = (
                f"UPDATE {acts} SET {quote(m.soft_delete.column)} = ?, {stamp}"
                f" WHERE {quote(a.id)} = ?"
            )
        self.add_participant: str | None = None
        self.leave: str | None = None
        self.others: str | None = None
        self.insert_columns = (quote(a.version), quote(a.changed_at))
        self.insert_values = ("1", now)
        alive = ""
        self.alive_params: tuple[Any, ...] = ()
        if m.soft_delete is not None:
            column = f"a.{quote(m.soft_delete.column)}"
            if m.soft_delete.kind == "timestamp":
                alive = f" AND {column} IS NULL"
            else:
                alive = f" AND ({column} IS NULL OR {column} <> ?)"
                self.alive_params = (m.soft_delete.deleted_value,)
        self.existing_prefix += alive
        #: `` AND <the activity "a" is not soft-deleted>`` (empty without soft delete),
        #: as in :attr:`stamp`; its parameters are :attr:`alive_params`
        self.alive = alive
        if m.participants is None:
            assert a.owner is not None
            assert a.partner_key is not None
            # Params as in the participants form: (key, id, user, id, version, *alive).
            self.set_partner = (
                f"UPDATE {acts} SET {quote(a.partner_key)} = ?"
                f" WHERE {quote(a.id)} = ? AND {quote(a.owner)} = ?"
            )
            self.stamp = (
                f"{self.set_partner} AND EXISTS (SELECT 1 FROM {acts} a"
                f" WHERE a.{quote(a.id)} = ? AND a.{quote(a.version)} = ?{alive})"
            )
            return
        p = m.participants
        parts = m.table(p.table)
        self.set_partner = (
            f"UPDATE {parts} SET {quote(p.partner_key)} = ?"
            f" WHERE {quote(p.activity_id)} = ? AND {quote(p.user_id)} = ?"
        )
        self.stamp = (
            f"{self.set_partner} AND EXISTS (SELECT 1 FROM {acts} a"
            f" WHERE a.{quote(a.id)} = ? AND a.{quote(a.version)} = ?{alive})"
        )
        self.add_participant = (
            f"INSERT INTO {parts} ({quote(p.activity_id)}, {quote(p.user_id)},"
            f" {quote(p.partner_key)}) VALUES (?, ?, ?)"
        )
        self.leave = (
            f"DELETE FROM {parts} WHERE {quote(p.activity_id)} = ? AND {quote(p.user_id)} = ?"
        )
        self.others = (
            f"SELECT count(*) FROM {parts}"
            f" WHERE {quote(p.activity_id)} = ? AND {quote(p.user_id)} <> ?"
        )
