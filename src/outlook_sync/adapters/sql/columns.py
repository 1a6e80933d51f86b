"""What the mapped columns really are, read from the database's catalog once.

A mapping is checked against the tables when :class:`~outlook_sync.adapters.sql.SqlCalendar`
is built, so a layout the adapter cannot read faithfully is refused at configuration
time, never discovered at sync time:

- a missing table or column;
- a start/end column holding only dates (``DATE``) without ``start_time``/``end_time``
  (it would read a 09:30 visit as midnight);
- a timestamp without time zone (PostgreSQL) without ``naive_time_zone``;
- a yes/no column of a character type without a :class:`~outlook_sync.adapters.sql.Flag`
  codec (integer columns get ``Flag(1, 0)`` by themselves: written in their own type);
- a view as the activities table on SQLite (its ``INSTEAD OF`` triggers report no
  changed rows and no new id; map the base tables instead -- ``docs/sql.md``).

PostgreSQL answers from ``pg_attribute`` (type, identity, generated); SQLite from
``PRAGMA table_info`` (declared type; SQLite's own affinity rules classify it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from outlook_sync.adapters.sql.mapping import CONTENT_FIELDS, Flag, SqlMapping
from outlook_sync.errors import ConfigurationError
from outlook_sync.sql.dialect import Dialect, quote

__all__ = ["ARCHIVE_TABLE", "Catalog", "TableInfo", "read_catalog"]

#: Where the adapter keeps the full rows of activities the sync deleted (for restore).
ARCHIVE_TABLE = "outlook_sync_activity_archive"

_FLAGS = ("all_day", "private")


@attrs.frozen(kw_only=True)
class TableInfo:
    """One table or view: column name -> kind, and what restore must leave out."""

    kinds: Mapping[str, str]
    view: bool = False
    #: PostgreSQL ``GENERATED ALWAYS AS IDENTITY`` columns (need OVERRIDING SYSTEM VALUE).
    identity_always: frozenset[str] = frozenset()
    #: Computed columns: never written.
    generated: frozenset[str] = frozenset()


@attrs.frozen(kw_only=True)
class Catalog:
    """The activities (and participants) tables, and whether the archive exists."""

    activities: TableInfo
    participants: TableInfo | None
    archive: bool
    #: ``changed_at`` holds wall times without offset (in the mapping's naive zone).
    changed_at_naive: bool = False

    def kind(self, column: str) -> str:
        """The kind of an activities column (``"unknown"`` if not classified)."""
        return self.activities.kinds.get(column, "unknown")


def _pg_kind(type_name: str) -> str:
    name = type_name.lower()
    if name.startswith("timestamp") and name.endswith("with time zone"):
        return "timestamptz"
    if name.startswith("timestamp"):
        return "timestamp"
    if name == "date":
        return "date"
    if name.startswith("time"):
        return "time"
    if name in ("smallint", "integer", "bigint"):
        return "integer"
    if name == "boolean":
        return "boolean"
    if name.startswith(("character", "text", "varchar")):
        return "text"
    return "other"


def _sqlite_kind(declared: str) -> str:
    name = declared.upper().strip()
    if name == "DATE":
        return "date"
    if name == "TIME":
        return "time"
    if "INT" in name:
        return "integer"
    if any(word in name for word in ("CHAR", "CLOB", "TEXT")):
        return "text"
    if name in ("BOOLEAN", "BOOL"):
        return "boolean"
    return "unknown"


def _existing(
    connection: Any, dialect: Dialect, mapping: SqlMapping, table: str, key: str, what: str
) -> TableInfo:
    """The catalog's view of a mapped table that must exist.

    Raises:
        ConfigurationError: no such table (``key`` names the setting).
    """
    info = _table_info(connection, dialect, mapping.table(table), table)
    if info is None:
        raise ConfigurationError(f"{key}: no {what} {table!r} in the database", key=key)
    return info


def _table_info(connection: Any, dialect: Dialect, qualified: str, name: str) -> TableInfo | None:
    if dialect.name == "postgresql":
        rows = dialect.execute(
            connection,
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attidentity,"
            " a.attgenerated, c.relkind FROM pg_catalog.pg_attribute a"
            " JOIN pg_catalog.pg_class c ON c.oid = a.attrelid"
            " WHERE a.attrelid = to_regclass(?) AND a.attnum > 0 AND NOT a.attisdropped",
            (qualified,),
        ).fetchall()
        if not rows:
            return None
        return TableInfo(
            kinds={r[0]: _pg_kind(r[1]) for r in rows},
            view=rows[0][4] in ("v", "m"),
            identity_always=frozenset(r[0] for r in rows if r[2] == "a"),
            generated=frozenset(r[0] for r in rows if r[3] not in ("", None)),
        )
    rows = dialect.execute(connection, f"PRAGMA table_xinfo({quote(name)})").fetchall()
    if not rows:
        return None
    kind = dialect.execute(
        connection, "SELECT type FROM sqlite_master WHERE name = ?", (name,)
    ).fetchone()
    return TableInfo(
        kinds={r[1]: _sqlite_kind(r[2] or "") for r in rows if r[6] in (0, 1)},
        view=kind is not None and kind[0] == "view",
        generated=frozenset(r[1] for r in rows if r[6] not in (0, 1)),
    )


def read_catalog(connection: Any, dialect: Dialect, mapping: SqlMapping) -> Catalog:
    """Read the mapped tables' columns; refuse a mapping that does not fit them.

    Raises:
        ConfigurationError: see the module docstring; ``key`` names the setting.
    """
    a = mapping.activities
    acts = _existing(connection, dialect, mapping, a.table, "activities.table", "table or view")
    parts = None
    p = mapping.participants
    if p is not None:
        parts = _existing(connection, dialect, mapping, p.table, "participants.table",
                          "table or view")
        for field in ("activity_id", "user_id", "partner_key"):
            _require(parts, getattr(p, field), f"participants.{field}", p.table)
    fields = ("id", "version", "changed_at", "created_by", "owner", "partner_key")
    for field in (*fields, *CONTENT_FIELDS):
        column = getattr(a, field)
        if column is not None:
            _require(acts, column, f"activities.{field}", a.table)
    if mapping.soft_delete is not None:
        _require(acts, mapping.soft_delete.column, "soft_delete.column", a.table)
    log = mapping.deletion_log
    if log is not None:
        info = _existing(connection, dialect, mapping, log.table, "deletion_log.table", "table")
        for field in ("activity_id", "user_id", "deleted_at"):
            _require(info, getattr(log, field), f"deletion_log.{field}", log.table)
        naive = info.kinds.get(log.deleted_at) == "timestamp"
        if dialect.name == "postgresql" and naive != log.naive:
            raise ConfigurationError(
                f"deletion_log.deleted_at: column {log.deleted_at!r} is a timestamp "
                f"{'without' if naive else 'with'} time zone; set deletion_log.naive = "
                f"{'true' if naive else 'false'}",
                key="deletion_log.naive",
            )
    archive = _table_info(connection, dialect, mapping.table(ARCHIVE_TABLE), ARCHIVE_TABLE)
    catalog = Catalog(
        activities=acts,
        participants=parts,
        archive=archive is not None,
        changed_at_naive=_changed_at_naive(connection, dialect, mapping, acts),
    )
    _check_fit(catalog, dialect, mapping)
    return catalog


def _changed_at_naive(
    connection: Any, dialect: Dialect, mapping: SqlMapping, acts: TableInfo
) -> bool:
    column = mapping.activities.changed_at
    if dialect.name == "postgresql":
        return acts.kinds.get(column) == "timestamp"
    if mapping.naive_time_zone is None:
        return False
    # SQLite has no timestamp types: the newest stored value tells (through the index)
    row = dialect.execute(
        connection,
        f"SELECT {quote(column)} FROM {mapping.table(mapping.activities.table)}"
        f" ORDER BY {quote(column)} DESC LIMIT 1",
    ).fetchone()
    if row is None or not isinstance(row[0], str):
        return True  # an empty table: the mapping's naive zone is all there is to go on
    text = row[0].strip()
    return not (text.endswith(("Z", "z")) or (text[-6:-5] in ("+", "-") and text[-3:-2] == ":"))


def _require(info: TableInfo, column: str, key: str, table: str) -> None:
    if column not in info.kinds:
        raise ConfigurationError(f"{key}: table {table!r} has no column {column!r}", key=key)


def _check_fit(catalog: Catalog, dialect: Dialect, mapping: SqlMapping) -> None:
    a = mapping.activities
    if catalog.activities.view and dialect.name == "sqlite":
        raise ConfigurationError(
            f"activities.table: {a.table!r} is a view; SQLite reports no changed rows and no "
            "new id for writes through INSTEAD OF triggers, so map its base table instead "
            "(views work on PostgreSQL)",
            key="activities.table",
        )
    if a.start_time is None:
        for field in ("starts_at", "ends_at"):
            if catalog.kind(getattr(a, field)) == "date":
                raise ConfigurationError(
                    f"activities.{field}: column {getattr(a, field)!r} holds dates only; name "
                    "the time columns too (activities.start_time / end_time), or every "
                    "activity would read as midnight",
                    key=f"activities.{field}",
                )
    if mapping.naive_time_zone is None:
        for field in ("starts_at", "ends_at", "changed_at"):
            if catalog.kind(getattr(a, field)) == "timestamp":
                raise ConfigurationError(
                    f"activities.{field}: column {getattr(a, field)!r} is a timestamp without "
                    "time zone; set naive_time_zone to the zone its wall times are in",
                    key="naive_time_zone",
                )
    for field in _FLAGS:
        column = getattr(a, field)
        if column is not None and field not in mapping.codecs and catalog.kind(column) == "text":
            raise ConfigurationError(
                f"activities.{field}: column {column!r} is a character column; say which "
                f"values mean yes and no (flags.{field} = [\"J\", \"N\"], or codecs)",
                key=f"flags.{field}",
            )


def flag_codecs(catalog: Catalog, mapping: SqlMapping) -> dict[str, Flag]:
    """``Flag(1, 0)`` for yes/no fields whose column is an integer and has no codec."""
    found: dict[str, Flag] = {}
    for field in _FLAGS:
        column = getattr(mapping.activities, field)
        if column is not None and field not in mapping.codecs and catalog.kind(column) == "integer":
            found[field] = Flag(1, 0)
    return found
